"""`client.py --anytime` on a flow or two-stream model: a one-line error naming the model, before the
video is decoded or a request is sent (those exports have no `serve_anytime`)."""

import pytest

from serving.client_anytime import classify_video_anytime


class _FlowModelClient:
    model = "motion-2s"

    def __init__(self):
        self.sent = []

    def flow_channels(self):
        return 10  # serving_default takes flow: 2L channels

    def transport(self, short_side=None):
        raise AssertionError("nothing past the modality check may run")

    def predict_signature(self, name, inputs):
        self.sent.append(name)
        raise AssertionError("no request may be sent")


def test_anytime_on_a_model_that_reads_flow_is_a_clear_error(tmp_path):
    client = _FlowModelClient()
    with pytest.raises(ValueError, match=r"--anytime: model 'motion-2s' reads optical flow") as e:
        classify_video_anytime(client, tmp_path / "missing.mp4")
    assert "\n" not in str(e.value) and "serve_anytime" in str(e.value)
    assert client.sent == []


def test_client_criteria_are_the_library_s():
    """The client names the criteria without importing Keras: the same names as the library."""
    from keras_ispan.models.anytime import CRITERIA
    from serving.client_anytime import CRITERIA as CLIENT_CRITERIA

    assert CLIENT_CRITERIA == CRITERIA


def test_rgb_frames_alone_to_a_model_that_reads_flow_are_refused():
    import numpy as np

    from serving.client_base import _ClientBase

    class Client(_ClientBase):
        model = "motion-2s"
        sent = []

        def signatures(self):
            return {"serving_default": {"frames": [-1] * 5, "flow": [-1, -1, -1, -1, 10]},
                    "serve_jpeg": {"frames": [-1, -1], "flow": [-1, -1, 10]}}  # fmt: skip

        def predict_signature(self, name, inputs):
            self.sent.append(name)
            raise AssertionError("no request may be sent")

    client = Client()
    frames = np.zeros((1, 2, 8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match=r"model 'motion-2s' reads optical flow \(10 flow") as e:
        client.predict(frames, fmt="uint8")
    assert "['flow', 'frames']" in str(e.value) and "Received: inputs=['frames']" in str(e.value)
    assert client.sent == []


def test_client_py_refuses_anytime_on_a_flow_model_once_before_any_video(monkeypatch, capsys):
    """`client.py a.mp4 b.mp4 --anytime` on a flow model: one usage error (exit 2), not one per video."""
    import types

    from serving import client as client_py

    class FakeGrpc(_FlowModelClient):
        def __init__(self, address, **kwargs):
            super().__init__()
            self.model = kwargs["model"]

        def transport(self, short_side=None):
            return types.SimpleNamespace(short_side=64, note=None)

        def close(self):
            pass

    monkeypatch.setattr(client_py, "GrpcClient", FakeGrpc)
    status = client_py.main(
        ["a.mp4", "b.mp4", "--model", "motion-2s", "--grpc", "h:1", "--anytime"]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert len(err) == 1 and "model 'motion-2s' reads optical flow" in err[0], err
