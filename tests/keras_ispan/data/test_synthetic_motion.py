"""The motion variant of the synthetic dataset: classes differ only in frame order; flow tells them apart."""

import subprocess
import sys

import numpy as np
import pytest

from keras_ispan.data import synthetic
from keras_ispan.data.pipeline import PipelineConfig, make_dataset, read_dataset_info
from keras_ispan.data.synthetic_motion import MotionConfig, render_motion_clip
from keras_ispan.io.flow import clip_flow, dequantize_flow
from tests.conftest import REPO_ROOT

SMALL = MotionConfig(num_classes=4, image_size=32, target_size=8, distractor_size=5, num_frames=8,
                     train=8, val=0, test=4)  # fmt: skip


def test_a_class_is_its_partner_played_backwards():
    for index in range(4):
        for label in (0, 2):
            forward = render_motion_clip(SMALL, label, synthetic.clip_rng(SMALL, "train", index))
            backward = render_motion_clip(
                SMALL, label + 1, synthetic.clip_rng(SMALL, "train", index)
            )
            assert np.array_equal(backward, forward[::-1])  # the same set of frames
            assert not np.array_equal(backward, forward)


def test_flow_separates_the_directions():
    # the mean y-flow of the whole frame: positive for every downward clip, negative for upward
    for index in range(8):
        for label, sign in ((0, 1), (1, -1)):
            frames = render_motion_clip(SMALL, label, synthetic.clip_rng(SMALL, "test", index))
            flow = dequantize_flow(clip_flow(frames))
            assert sign * flow[..., 1].mean() > 0.3, (index, label)


def test_the_classes_survive_a_horizontal_flip():
    # the pipeline flips clips horizontally: a flipped downward clip is still downward
    frames = render_motion_clip(SMALL, 0, synthetic.clip_rng(SMALL, "test", 0))
    mirrored = dequantize_flow(clip_flow(frames[:, :, ::-1].copy()))
    assert mirrored[..., 1].mean() > 0.3


def test_bad_config_names_the_field():
    with pytest.raises(ValueError, match="Received: num_classes=3"):
        MotionConfig(num_classes=3)


def test_fit_config_key_generates_the_motion_dataset_with_flow(tmp_path, monkeypatch):
    from training.config.core import load_config
    from training.data.datasets import resolve_data_dir

    monkeypatch.setenv("KERAS_ISPAN_HOME", str(tmp_path))
    overrides = ["data.synthetic_variant=motion", "data.synthetic_train=4", "data.synthetic_val=0",
                 "data.synthetic_test=2", "data.synthetic_frames=6", "data.synthetic_size=32"]  # fmt: skip
    config = load_config(overrides=overrides)
    path = resolve_data_dir(config, log=None, flow=True)
    info = read_dataset_info(path)
    assert info.classes == ("downward", "upward") and info.flow["method"] == "farneback"
    assert path.parent == tmp_path / "datasets" and path.name.startswith("synthetic-motion-")
    assert resolve_data_dir(config, log=None, flow=True) == path  # cached: reused as is
    with pytest.raises(ValueError, match="Received: data.synthetic_classes=6"):
        load_config(overrides=["data.synthetic_variant=motion", "data.synthetic_classes=6"])


@pytest.mark.slow
def test_command_line_motion_with_flow_reads_as_two_streams(tmp_path):
    out = tmp_path / "motion"
    args = ["--variant", "motion", "--flow", "--output", str(out), "--train", "4", "--val", "0",
            "--test", "2", "--num_frames", "6", "--image_size", "32", "--target_size", "8",
            "--distractor_size", "5"]  # fmt: skip
    run = subprocess.run(
        [sys.executable, str(REPO_ROOT / "training" / "synthetic.py"), *args],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    config = PipelineConfig(num_segments=2, image_size=32, batch_size=2, training=False,
                            modality="two_stream", flow_length=2)  # fmt: skip
    inputs, target = next(make_dataset(out, "test", config).as_numpy_iterator())
    assert inputs["rgb"].shape == (2, 2, 32, 32, 3) and inputs["flow"].shape == (2, 2, 32, 32, 4)
    assert sorted(target.tolist()) == [0, 1]


def test_replacing_a_dataset_of_another_variant_is_logged(tmp_path):
    from keras_ispan.data.synthetic_motion import generate_motion_dataset

    small = {"train": 2, "val": 0, "test": 2, "image_size": 48, "num_frames": 4}
    lines = []
    generate_motion_dataset(tmp_path / "d", MotionConfig(**small), log=lines.append)
    assert not any("replacing the dataset" in line for line in lines), lines  # a new folder
    lines.clear()
    synthetic.generate_synthetic_dataset(
        tmp_path / "d", synthetic.SyntheticConfig(**small), log=lines.append
    )
    assert any(
        "replacing the dataset in" in line and "--variant motion" in line for line in lines
    ), lines
    assert (tmp_path / "d" / "labels.txt").read_text().split()[0] == "disk"
