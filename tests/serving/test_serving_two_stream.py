"""Flow and two-stream exports: the SavedModel's signatures against the in-process model (uint8 within
1e-5, the transform's centre crop done with NumPy), the RGB-only signature against the RGB stream, the
grey-JPEG flow input (encoded with Pillow, one image per channel) against its decoded pixels, and what `keras_ispan.json` says."""

import io

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_ispan.export.saved_model import export_model, read_info
from keras_ispan.io.transform import FlowSettings
from keras_ispan.models import (
    build_classifier,
    build_two_stream,
    export_outputs_model,
    set_flow_settings,
    stream_classifier,
)

S, SHORT, OFFSET, L = 32, 40, 4, 2  # resize_ratio 1.25: short side 40, centre crop at 4
RNG = np.random.default_rng(3)
FRAMES = RNG.integers(0, 256, (2, 3, SHORT, 48, 3)).astype("uint8")
FLOW = RNG.integers(0, 256, (2, 3, SHORT, 48, 2 * L)).astype("uint8")
FLOW_SETTINGS = FlowSettings(short_side=36, fps=10.0)  # flow of frames 36 px high, at 10 fps


def _crop(x):
    left = (x.shape[3] - S) // 2
    return x[:, :, OFFSET : OFFSET + S, left : left + S]


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def _grey_jpeg(image):
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def _decode(data):  # TensorFlow's decoder, as in the signature (Pillow's differs by a few levels)
    return tf.io.decode_jpeg(data, channels=1).numpy()[..., 0]


@pytest.fixture(scope="module")
def two_stream_export(tmp_path_factory):
    from keras_ispan.export.saved_model import ExportOptions

    model = build_two_stream(
        3, flow_length=L, image_size=S, resize_ratio=1.25, class_names=list("abc")
    )
    set_flow_settings(model, FLOW_SETTINGS)  # as training records them from its dataset
    base = tmp_path_factory.mktemp("two_stream")
    result = export_model(model, base, name="ts", options=ExportOptions(warmup_num_frames=(2,)))
    return model, result, tf.saved_model.load(str(result.version_dir))


@pytest.mark.slow
def test_two_stream_export_matches_the_model(two_stream_export):
    model, result, loaded = two_stream_export
    assert {
        "serving_default",
        "serve_jpeg",
        "serve_preprocessed",
        "preprocess",
        "serve_rgb",
    } <= set(loaded.signatures)
    got = loaded.signatures["serving_default"](frames=tf.constant(FRAMES), flow=tf.constant(FLOW))
    want = export_outputs_model(model)({"rgb": _crop(FRAMES), "flow": _crop(FLOW)})
    for key in ("logits", "probabilities", "rgb_probabilities", "flow_probabilities", "attention"):
        np.testing.assert_allclose(got[key].numpy(), _numpy(want[key]), atol=1e-5, err_msg=key)
    rgb = loaded.signatures["serve_rgb"](frames=tf.constant(FRAMES))
    rgb_logits = _numpy(stream_classifier(model, "rgb")(_crop(FRAMES)))
    np.testing.assert_allclose(rgb["logits"].numpy(), rgb_logits, atol=1e-5)
    e = np.exp(rgb_logits - rgb_logits.max(-1, keepdims=True))
    np.testing.assert_allclose(
        rgb["probabilities"].numpy(), e / e.sum(-1, keepdims=True), atol=1e-5
    )
    info = read_info(result.version_dir)
    assert (info["modality"], info["flow_length"]) == ("two_stream", L)
    assert info["signatures"]["serving_default"]["inputs"]["flow"]["shape"][-1] == 2 * L
    assert "anytime" not in info  # no serve_anytime: no default threshold to record


@pytest.mark.slow
def test_two_stream_jpeg_signature_reads_grey_flow_jpegs(two_stream_export):
    _, _, loaded = two_stream_export
    flow_jpegs = np.empty(FLOW.shape[:2] + (2 * L,), dtype=object)
    frame_jpegs = np.empty(FRAMES.shape[:2], dtype=object)
    decoded = np.zeros_like(FLOW)
    for b in range(FLOW.shape[0]):
        for t in range(FLOW.shape[1]):
            frame_jpegs[b, t] = tf.io.encode_jpeg(FRAMES[b, t], quality=100).numpy()
            for c in range(2 * L):
                flow_jpegs[b, t, c] = _grey_jpeg(FLOW[b, t, ..., c])
                decoded[b, t, ..., c] = _decode(flow_jpegs[b, t, c])
    rgb = tf.io.decode_jpeg  # the RGB frames: TensorFlow's decoder on both sides
    rgb_decoded = np.stack([np.stack([rgb(j).numpy() for j in clip]) for clip in frame_jpegs])
    got = loaded.signatures["serve_jpeg"](
        frames=tf.constant(frame_jpegs.astype(bytes)), flow=tf.constant(flow_jpegs.astype(bytes))
    )
    want = loaded.signatures["serving_default"](
        frames=tf.constant(rgb_decoded), flow=tf.constant(decoded)
    )
    np.testing.assert_allclose(
        got["probabilities"].numpy(), want["probabilities"].numpy(), atol=1e-5
    )


def test_anytime_options_on_a_two_stream_export_are_an_error(tmp_path):
    from keras_ispan.export.saved_model import ExportOptions

    model = build_two_stream(2, flow_length=L, image_size=S, class_names=list("ab"))
    for options in (
        ExportOptions(anytime_threshold=0.5),
        ExportOptions(anytime_check_points="every_frame"),
        ExportOptions(anytime_criterion="margin"),
    ):
        with pytest.raises(ValueError, match="two_stream model.*Received: anytime_threshold="):
            export_model(model, tmp_path, name="ts", options=options)
    assert not (tmp_path / "ts").exists() or not any((tmp_path / "ts").iterdir())


@pytest.mark.slow
def test_flow_export_matches_the_model(tmp_path):
    from keras_ispan.export.saved_model import ExportOptions

    model = build_classifier(3, image_size=S, modality="flow", flow_length=L, resize_ratio=1.25)
    result = export_model(
        model, tmp_path, name="flow", options=ExportOptions(warmup_num_frames=(2,))
    )
    loaded = tf.saved_model.load(str(result.version_dir))
    got = loaded.signatures["serving_default"](flow=tf.constant(FLOW))
    np.testing.assert_allclose(got["logits"].numpy(), _numpy(model(_crop(FLOW))), atol=1e-5)
    assert "serve_rgb" not in loaded.signatures
    assert read_info(result.version_dir)["modality"] == "flow"


@pytest.mark.slow
def test_client_to_local_server_gives_predict_top1(two_stream_export, shared_clips, tmp_path):
    """`serving/client.py` computes flow with the conversion's code and sends both streams (uint8 and
    JPEG) to the development server: the same top-1 as `training/predict.py` on the `.keras` file."""
    import sys

    from serving.client import RestClient, classify_video
    from tests.ports import free_port
    from tests.servers import ServerProcess
    from training.evaluation.prediction import load_predictor, predict_video

    model, result, _ = two_stream_export
    model.save(tmp_path / "two_stream.keras")
    predictor = load_predictor(tmp_path / "two_stream.keras")
    video = shared_clips / "basketball_practice.mp4"
    reference = predict_video(predictor, video, num_frames=3, top_k=3)
    assert set(reference.streams) == {"rgb", "flow"}
    base = result.version_dir.parents[1]
    rest, grpc = free_port(), free_port()
    command = [sys.executable, "serving/server.py", f"--port={grpc}", f"--rest_api_port={rest}",
               f"--model_config_file={base / 'models.config'}"]  # fmt: skip
    server = ServerProcess("local", command, rest, grpc, tmp_path / "server.log")
    try:
        server.wait_ready(model="ts")
        client = RestClient(server.rest, "ts")
        assert client.flow_channels() == 2 * L
        assert client.flow_settings() == FLOW_SETTINGS  # learned from `preprocess`
        exact = classify_video(client, video, fmt="uint8", num_frames=3, top_k=3)
        lossy = classify_video(client, video, fmt="jpeg", num_frames=3, top_k=3)
        client.close()
    finally:
        server.stop()
    assert exact["frame_indices"] == [int(i) for i in reference.frame_indices]
    assert exact["streams"] == reference.to_json()["streams"] or _close_streams(
        exact["streams"], reference.to_json()["streams"]
    )
    assert read_info(result.version_dir)["flow_settings"] == FLOW_SETTINGS.to_dict()
    assert [e["class"] for e in exact["top_k"]] == [name for name, _ in reference.top_k]
    np.testing.assert_allclose(
        [e["score"] for e in exact["top_k"]], [s for _, s in reference.top_k], atol=1e-5
    )
    lossy_scores = {e["class"]: e["score"] for e in lossy["top_k"]}  # JPEG: close, not equal
    for name, score in reference.top_k:
        assert abs(lossy_scores[name] - score) < 0.05, (name, lossy_scores, reference.top_k)


def _close_streams(got, want):
    """The same classes in the same order per stream, scores within 1e-5."""
    assert set(got) == set(want) == {"rgb", "flow"}
    for stream in want:
        assert [e["class"] for e in got[stream]] == [e["class"] for e in want[stream]]
        np.testing.assert_allclose(
            [e["score"] for e in got[stream]], [e["score"] for e in want[stream]], atol=1e-5
        )
    return True
