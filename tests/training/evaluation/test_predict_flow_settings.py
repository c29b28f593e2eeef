"""Flow at prediction equals flow in training: a flow model records its dataset's flow settings (short
side, frame rate, method, bound) and `predict.py` (`prediction.stream_inputs`) decodes the video with
them, so its flow stacks equal the dataset pipeline's for the same video within JPEG tolerance; the
old way (frames at the model's short side and the full frame rate) is measurably further off."""

import dataclasses

import numpy as np
import pytest

from keras_ispan.data.convert import convert_dataset
from keras_ispan.data.pipeline import PipelineConfig, make_dataset, read_dataset_info
from keras_ispan.io.transform import FlowSettings
from keras_ispan.models import build_classifier, classifier_info, load_classifier
from tests.keras_ispan.data.helpers import convert_config, write_video
from training.engine.streams import record_flow_settings
from training.evaluation.prediction import stream_inputs

K, S, L = 3, 32, 2


def _moving_frames(num_frames=24, height=72, width=96):
    """A smooth texture translating 3 px right and 1 px down per frame (25 fps)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    frames = []
    for t in range(num_frames):
        u, v = x - 3 * t, y - t
        image = 120 + 50 * np.sin(u / 6.0) * np.cos(v / 7.0) + 40 * np.sin((u + v) / 11.0)
        frames.append(np.stack([image, image * 0.8 + 20, 255 - image], -1))
    return np.clip(np.round(frames), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    root = tmp_path_factory.mktemp("flow_settings")
    video = root / "videos" / "move" / "clip.mp4"
    write_video(video, _moving_frames(), fps=25)
    data = root / "ds"
    config = convert_config(root / "videos", data, short_side=48, fps=12.5, flow=True,
                            val_fraction=0.0, test_fraction=0.0)  # fmt: skip
    convert_dataset(config, log=None)
    return video, data


def test_a_flow_model_records_its_datasets_flow_settings(converted, tmp_path):
    _, data = converted
    model = build_classifier(1, image_size=S, modality="flow", flow_length=L)
    assert classifier_info(model).flow_settings is None
    record_flow_settings(model, read_dataset_info(data))
    expected = FlowSettings(method="farneback", bound=20.0, short_side=48, fps=12.5)
    assert classifier_info(model).flow_settings == expected
    model.save(tmp_path / "m.keras")
    assert classifier_info(load_classifier(tmp_path / "m.keras")).flow_settings == expected


def test_predict_flow_equals_the_dataset_pipelines(converted):
    video, data = converted
    model = build_classifier(1, image_size=S, modality="flow", flow_length=L)
    record_flow_settings(model, read_dataset_info(data))
    info = classifier_info(model)
    config = PipelineConfig(num_segments=K, image_size=S, batch_size=1, training=False,
                            modality="flow", flow_length=L)  # fmt: skip
    pipeline, _ = next(make_dataset(data, "train", config).as_numpy_iterator())
    predicted = stream_inputs(info, video, K)[0]
    assert predicted.shape == pipeline.shape == (1, K, S, S, 2 * L)
    error = np.abs(predicted.astype(int) - pipeline.astype(int))
    assert error.mean() < 1.5  # the dataset's frames and flow went through JPEG
    # the old way: frames at the model's short side (37 px) and every frame (25 fps)
    old = stream_inputs(dataclasses.replace(info, flow_settings=None), video, K)[0]
    old_error = np.abs(old.astype(int) - pipeline.astype(int)).mean()
    assert old_error > 3 * error.mean()


@pytest.mark.parametrize(
    "flags, named", [(["--anytime"], "--anytime"), (["--window", "1"], "--window")]
)
def test_predict_names_the_flag_a_flow_model_cannot_take(converted, tmp_path, capsys, flags, named):
    """`predict.py --anytime` (or `--window`) on a flow model: one error naming the flag given."""
    from training import predict

    video, _ = converted
    path = tmp_path / "flow.keras"
    build_classifier(2, image_size=S, modality="flow", flow_length=L).save(path)
    status = predict.main([str(video), "--model", str(path), *flags])
    err = capsys.readouterr().err
    assert status != 0 and f"{named} takes an RGB model" in err and "is a flow model" in err
