"""`PipelineConfig(resize="model")`: one TSN crop size per batch, crops left at that size, and after the
model-side `FrameResize` the same frames as the pipeline's own resize (within its uint8 rounding)."""

import json

import numpy as np
import pytest

from keras_ispan.data import shard_index
from keras_ispan.data.pipeline import PipelineConfig, make_dataset
from keras_ispan.layers import FrameResize
from tests.keras_ispan.data.helpers import smooth_frames, write_dataset

SCALES = (1.0, 0.875, 0.75, 0.66)


def _dataset(folder, sizes=((40, 56),) * 9, short_side=40):
    clips = [(smooth_frames(6 + i % 3, h, w, seed=i), [i % 3]) for i, (h, w) in enumerate(sizes)]
    write_dataset(folder, clips, ["a", "b", "c"], split="train", num_shards=2)
    if short_side:
        meta = json.loads((folder / "metadata.json").read_text())
        meta["settings"] = {"short_side": short_side}
        (folder / "metadata.json").write_text(json.dumps(meta))
    shard_index.ensure_indexes(folder)
    return folder


def _allowed_sizes(base, scales=SCALES, max_distort=1):
    sizes = [int(np.float32(base) * np.float32(s)) for s in scales]
    return {
        (sizes[i], sizes[j])
        for i in range(len(sizes))
        for j in range(len(sizes))
        if abs(i - j) <= max_distort
    }


@pytest.mark.parametrize("seed", [3, None])
def test_one_tsn_crop_size_per_batch(tmp_path, seed):
    """Every batch has one shape, a TSN size of the 40-pixel short side (worked out here by hand),
    and batches differ; with `seed=None` (unordered pipeline) too."""
    data_dir = _dataset(tmp_path / "ds")
    config = PipelineConfig(num_segments=4, image_size=32, batch_size=3, seed=seed, repeat=True,
                            resize="model", flip=False, shuffle_buffer=8)  # fmt: skip
    dataset = make_dataset(data_dir, "train", config)
    assert dataset.element_spec[0].shape.as_list() == [None, 4, None, None, 3]
    shapes = [tuple(frames.shape) for frames, _ in dataset.take(12)]
    assert all(s[:2] == (3, 4) and s[4] == 3 for s in shapes)
    assert _allowed_sizes(40) == {(40, 40), (40, 35), (35, 40), (35, 35), (35, 30), (30, 35),
                                  (30, 30), (30, 26), (26, 30), (26, 26)}  # fmt: skip
    assert {s[2:4] for s in shapes} <= _allowed_sizes(40)
    assert len({s[2:4] for s in shapes}) >= 3


def test_model_side_resize_matches_the_pipeline_resize(tmp_path):
    """With one scale (the same crop window in both modes), `FrameResize` of the model-mode crops
    equals the pipeline-mode frames within the pipeline's rounding to uint8."""
    data_dir = _dataset(tmp_path / "ds")
    common = dict(num_segments=4, image_size=32, batch_size=3, seed=11, scales=(0.75,),
                  max_distort=0, shuffle_buffer=8, flip=False)  # fmt: skip
    by_pipeline = list(make_dataset(data_dir, "train", PipelineConfig(**common)))
    by_model = list(make_dataset(data_dir, "train", PipelineConfig(resize="model", **common)))
    resize = FrameResize(32)
    assert len(by_model) == len(by_pipeline) == 3
    for (want, y1), (crops, y2) in zip(by_pipeline, by_model, strict=True):
        assert crops.shape[2:4] == (30, 30)  # int(40 * 0.75): not resized in the pipeline
        got = np.asarray(resize(crops.numpy()))
        assert np.abs(got - want.numpy().astype(np.float32)).max() <= 0.5 + 1e-3
        np.testing.assert_array_equal(y1, y2)


def test_clips_of_another_short_side_get_the_batch_size(tmp_path):
    """A clip whose short side is not the dataset's (48 instead of 40) is resized to the batch's
    crop size in the pipeline, so its batch still has one shape."""
    sizes = [(40, 56), (48, 48), (40, 40), (56, 48)] * 2
    data_dir = _dataset(tmp_path / "ds", sizes=sizes)
    config = PipelineConfig(num_segments=4, image_size=32, batch_size=4, seed=1, resize="model",
                            flip=False, shuffle_buffer=8)  # fmt: skip
    shapes = [tuple(f.shape) for f, _ in make_dataset(data_dir, "train", config)]
    assert len(shapes) == 2 and {s[2:4] for s in shapes} <= _allowed_sizes(40)


def test_model_resize_needs_a_known_short_side(tmp_path):
    data_dir = _dataset(tmp_path / "ds", short_side=None)
    with pytest.raises(ValueError, match=r"metadata.json records none.*Received: resize='model'"):
        make_dataset(data_dir, "train", PipelineConfig(resize="model", flip=False))
    with pytest.raises(ValueError, match=r"Received: resize='cpu'"):
        PipelineConfig(resize="cpu")
    with pytest.raises(ValueError, match=r"set flip=False.*Received: resize='model', flip=True"):
        PipelineConfig(resize="model")
