"""Flow stacks in the pipeline: aligned with the RGB segments, same crop, same flip with the sign rule.

The test dataset encodes indices in pixels: frame t has red `8 t + 4`, flow step s has x `8 s + 4`
(both uniform), so a sampled frame and each step of its stack can be read back; frame green and flow
y share one ramp, so their crops (window, resize, flip) can be compared pixel by pixel.
"""

import json

import numpy as np
import pytest
import tensorflow as tf

from keras_ispan.data import augment, shard_index
from keras_ispan.data.pipeline import PipelineConfig, make_dataset
from keras_ispan.io.flow import flow_stack_indices
from keras_ispan.io.video import sample_clip_indices
from tests.keras_ispan.data.helpers import solid_frames, write_dataset

T, H, W, K, L, S = 20, 48, 64, 4, 3, 32


def _ramp():
    i, j = np.mgrid[0:H, 0:W]
    return np.round(40 + 170 * (0.3 * i / (H - 1) + 0.7 * j / (W - 1))).astype(np.uint8)


def coded_clip():
    ramp = _ramp()
    frames = np.zeros((T, H, W, 3), np.uint8)
    frames[..., 0] = (8 * np.arange(T) + 4)[:, None, None]
    frames[..., 1] = ramp
    frames[..., 2] = 128
    flow = np.zeros((T - 1, H, W, 2), np.uint8)
    flow[..., 0] = (8 * np.arange(T - 1) + 4)[:, None, None]
    flow[..., 1] = ramp
    return frames, flow


@pytest.fixture(scope="module")
def flow_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("flowds")
    frames, flow = coded_clip()
    clips = [(frames, [i % 2]) for i in range(4)]
    write_dataset(folder, clips, ["a", "b"], split="train", num_shards=2, flows=[flow] * 4)
    shard_index.ensure_indexes(folder)
    return folder


def check_view(rgb, flow, mirrored=None):
    """Asserts that a view's flow stacks belong to its frames; returns (frame indices, flipped)."""
    rgb, flow = rgb.astype(np.float64), flow.astype(np.float64)
    ts, flips = [], []
    for k in range(rgb.shape[0]):
        t = int(round((rgb[k, ..., 0].mean() - 4) / 8))
        green = rgb[k, ..., 1]
        flipped = green[:, 0].mean() > green[:, -1].mean()  # the ramp rises to the right
        if mirrored is not None:
            assert flipped == mirrored
        for i, s in enumerate(flow_stack_indices(T, t, L)):
            expected = 255 - (8 * s + 4) if flipped else 8 * s + 4
            assert abs(flow[k, ..., 2 * i].mean() - expected) < 1.5, (k, i, t, s)
            # the same window, resize and mirroring: y (never negated) equals the frames' ramp
            assert np.abs(flow[k, ..., 2 * i + 1] - green).mean() < 3.0
        ts.append(t)
        flips.append(flipped)
    return ts, flips


@pytest.mark.parametrize("reader", ["index", "records"])
def test_training_stacks_follow_the_sampled_frames(flow_dir, reader):
    config = PipelineConfig(
        num_segments=K, image_size=S, batch_size=2, training=True, seed=3, reader=reader,
        modality="two_stream", flow_length=L, scales=(1.0, 0.75, 0.5), max_distort=2,
    )  # fmt: skip
    flips, starts = [], set()
    for _ in range(3):
        for inputs, target in make_dataset(flow_dir, "train", config).as_numpy_iterator():
            assert inputs["rgb"].shape == (2, K, S, S, 3) and inputs["flow"].shape == (
                2,
                K,
                S,
                S,
                6,
            )
            assert inputs["flow"].dtype == np.uint8 and target.shape == (2,)
            for b in range(2):
                ts, fl = check_view(inputs["rgb"][b], inputs["flow"][b])
                flips += fl
                starts.update(ts)
    assert any(flips) and not all(flips)  # both cases were checked
    assert max(starts) >= T - L  # stacks clamped at the clip's end were checked


@pytest.mark.parametrize("crops", [1, 10])
def test_evaluation_views_share_frames_crops_and_flips(flow_dir, crops):
    clips = 2
    config = PipelineConfig(
        num_segments=K, image_size=S, batch_size=2, training=False, modality="two_stream",
        flow_length=L, crops=crops, num_clips=clips,
    )  # fmt: skip
    reference = sample_clip_indices(T, K, clips)  # NumPy, (clips, K)
    for inputs, _ in make_dataset(flow_dir, "train", config).as_numpy_iterator():
        views = clips * crops
        assert inputs["rgb"].shape == (2, views, K, S, S, 3)
        assert inputs["flow"].shape == (2, views, K, S, S, 2 * L)
        for v in range(views):
            mirrored = crops == 10 and v % crops >= 5
            ts, _ = check_view(inputs["rgb"][0, v], inputs["flow"][0, v], mirrored)
            assert ts == reference[v // crops].tolist()


def test_flow_modality_alone(flow_dir):
    config = PipelineConfig(num_segments=K, image_size=S, batch_size=4, training=False,
                            modality="flow", flow_length=2)  # fmt: skip
    flow, _ = next(make_dataset(flow_dir, "train", config).as_numpy_iterator())
    assert flow.shape == (4, K, S, S, 4)
    centres = sample_clip_indices(T, K, 1)[0]
    for k, t in enumerate(centres):
        assert flow[0, k, ..., 0].mean() == pytest.approx(8 * t + 4, abs=1.5)
        assert flow[0, k, ..., 2].mean() == pytest.approx(8 * min(t + 1, T - 2) + 4, abs=1.5)


def test_flip_flow_against_numpy():
    stacks = np.random.default_rng(0).integers(0, 256, (2, 5, 7, 6), dtype=np.uint8)
    expected = stacks[:, :, ::-1].copy()
    expected[..., 0::2] = 255 - expected[..., 0::2]
    assert np.array_equal(augment.flip_flow(tf.constant(stacks)).numpy(), expected)


def test_in_graph_stack_steps_equal_numpy():
    indices = np.array([[0, 5, 17, 18], [3, 4, 8, 9]], np.int32)
    got = augment.flow_stack_steps(indices, tf.constant([19, 10]), 4).numpy()
    assert np.array_equal(got[0], flow_stack_indices(20, indices[0], 4))
    assert np.array_equal(got[1], flow_stack_indices(11, indices[1], 4))


def test_flow_on_a_dataset_without_flow_names_the_folder_and_command(tmp_path):
    folder = write_dataset(tmp_path / "v3", [(solid_frames(6), [0]), (solid_frames(6), [1])],
                           ["a", "b"], split="train")  # fmt: skip
    config = PipelineConfig(num_segments=2, image_size=16, batch_size=2, modality="flow")
    with pytest.raises(ValueError) as error:
        make_dataset(folder, "train", config)
    message = str(error.value)
    assert str(folder) in message and f"python training/prepare.py --add-flow {folder}" in message
    with pytest.raises(ValueError, match="Received: modality='depth'"):
        PipelineConfig(modality="depth")


def test_a_version_3_dataset_still_trains_rgb(tmp_path):
    import keras

    clips = [(solid_frames(6, 32, 32, step=10 + 20 * (i % 2)), [i % 2]) for i in range(4)]
    folder = write_dataset(tmp_path / "v3", clips, ["a", "b"], split="train")
    meta = json.loads((folder / "metadata.json").read_text())
    meta["format_version"] = 3  # what a dataset written before flow existed says
    (folder / "metadata.json").write_text(json.dumps(meta))
    config = PipelineConfig(num_segments=2, image_size=16, batch_size=2, seed=0)
    ds = make_dataset(folder, "train", config)
    frames, target = next(ds.as_numpy_iterator())
    assert frames.shape == (2, 2, 16, 16, 3) and target.shape == (2,)
    model = keras.Sequential([
        keras.Input((2, 16, 16, 3)), keras.layers.Rescaling(1 / 255),
        keras.layers.GlobalAveragePooling3D(), keras.layers.Dense(2),
    ])  # fmt: skip
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(ds, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
