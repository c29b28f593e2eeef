"""keras_ispan/data/pipeline.py on tiny datasets the tests write: shapes, sampled frames, labels, determinism."""

import json

import numpy as np
import pytest
import tensorflow as tf

from keras_ispan.data import augment, records
from keras_ispan.data.clip_reader import parse_clip
from keras_ispan.data.pipeline import PipelineConfig, make_dataset, read_dataset_info
from keras_ispan.io.video import sample_clip_indices, sample_segment_indices
from tests.keras_ispan.data.helpers import crop_window, solid_frames, train_clip, write_dataset

STEP = 10  # frame i has value 5 + STEP * i; JPEG of a flat image decodes within +-2


def frame_index(images):
    """Recovers the source frame index of uint8 frames `(..., H, W, 3)` from their mean value."""
    return np.round((np.asarray(images, np.float64).mean(axis=(-3, -2, -1)) - 5) / STEP).astype(int)


@pytest.fixture
def tiny(tmp_path):
    clips = [(solid_frames(n, 32, 40, STEP), [c]) for n, c in [(12, 0), (5, 1), (3, 2), (9, 1)]]
    return write_dataset(tmp_path / "ds", clips, ["a", "b", "c"], split="test", num_shards=2), clips


def test_eval_samples_segment_centres_and_labels(tiny):
    folder, clips = tiny
    config = PipelineConfig(num_segments=4, image_size=16, batch_size=2, training=False)
    batches = list(make_dataset(folder, "test", config))
    frames = np.concatenate([b[0].numpy() for b in batches])
    labels = np.concatenate([b[1].numpy() for b in batches])
    assert frames.shape == (4, 4, 16, 16, 3) and frames.dtype == np.uint8
    assert batches[0][1].dtype == tf.int32
    # shards interleave deterministically: shard0 = clips 0, 2; shard1 = clips 1, 3
    order = [0, 1, 2, 3]
    got = {int(lab): frame_index(f).tolist() for f, lab in zip(frames, labels) if lab != 1}
    assert got[0] == sample_segment_indices(12, 4).tolist()
    assert got[2] == sample_segment_indices(3, 4).tolist()
    assert sorted(labels.tolist()) == sorted(clips[i][1][0] for i in order)


def test_eval_is_deterministic_across_passes(tiny):
    folder, _ = tiny
    config = PipelineConfig(num_segments=3, image_size=16, batch_size=3, training=False)
    ds = make_dataset(folder, "test", config)
    first = [(x.numpy(), y.numpy()) for x, y in ds]
    second = [(x.numpy(), y.numpy()) for x, y in ds]
    for (a, b), (c, d) in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)


def test_training_indices_in_segments_and_same_crop_for_all_frames(tmp_path):
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (1, 48, 64, 3), dtype=np.uint8)
    frames = np.repeat(base, 8, axis=0)  # identical frames: any crop/flip must be shared
    folder = write_dataset(tmp_path / "ds", [(frames, [0])], ["a"], split="train")
    config = PipelineConfig(num_segments=4, image_size=24, batch_size=1, seed=3, shuffle_buffer=2)
    for x, y in make_dataset(folder, "train", config).repeat(5):
        x = x.numpy()[0]
        assert x.shape == (4, 24, 24, 3)
        for t in range(1, 4):
            np.testing.assert_array_equal(x[t], x[0])
        assert y.numpy().tolist() == [0]


def test_training_sampled_frames_lie_in_their_segments(tmp_path):
    folder = write_dataset(tmp_path / "ds", [(solid_frames(10), [0])], ["a"], split="train")
    config = PipelineConfig(num_segments=4, image_size=16, batch_size=1, seed=0)
    seen = set()
    for x, _ in make_dataset(folder, "train", config).repeat(30):
        idx = frame_index(x.numpy()[0])
        assert 0 <= idx[0] < 2 and 2 <= idx[1] < 5 and 5 <= idx[2] < 7 and 7 <= idx[3] < 10
        seen.add(tuple(idx))
    assert len(seen) > 5


def test_seeded_training_stream_is_reproducible(tiny):
    folder, _ = tiny
    config = PipelineConfig(num_segments=4, image_size=16, batch_size=2, seed=7)
    a = [x.numpy() for x, _ in make_dataset(folder, "test", config)]
    b = [x.numpy() for x, _ in make_dataset(folder, "test", config)]
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)


def test_multi_label_targets(tmp_path):
    clips = [(solid_frames(4), [0, 2]), (solid_frames(4), [1]), (solid_frames(4), [])]
    folder = write_dataset(tmp_path / "ds", clips, ["a", "b", "c", "d"], multi_label=True)
    config = PipelineConfig(num_segments=2, image_size=16, batch_size=3, training=False)
    _, y = next(iter(make_dataset(folder, "test", config)))
    assert y.dtype == tf.float32
    np.testing.assert_array_equal(y.numpy(), [[1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]])


@pytest.mark.parametrize("crops, num_clips", [(3, 1), (10, 2), (1, 3)])
def test_multi_view_eval(tmp_path, crops, num_clips):
    folder = write_dataset(tmp_path / "ds", [(solid_frames(12, 40, 60), [0])], ["a"])
    config = PipelineConfig(
        num_segments=3,
        image_size=16,
        batch_size=1,
        training=False,
        crops=crops,
        num_clips=num_clips,
    )
    x, _ = next(iter(make_dataset(folder, "test", config)))
    assert x.shape == (1, crops * num_clips, 3, 16, 16, 3)
    expected = sample_clip_indices(12, 3, num_clips)  # views are clip-major
    for v in range(crops * num_clips):
        assert frame_index(x.numpy()[0, v]).tolist() == expected[v // crops].tolist()


def test_eval_clip_eager_equals_dataset_map(tiny):
    folder, _ = tiny
    raw = tf.data.TFRecordDataset(sorted(str(p) for p in folder.glob("test-*.tfrecord")))
    fn = lambda s: augment.eval_clip(  # noqa: E731
        parse_clip(s)["frames"], 4, 16, num_clips=2, crops=3, resize_ratio=1.2, dct_method=""
    )
    mapped = [x.numpy() for x in raw.map(fn)]
    eager = [fn(s).numpy() for s in raw]
    for a, b in zip(mapped, eager, strict=True):
        np.testing.assert_array_equal(a, b)


def test_train_clip_eager_equals_dataset_map(tiny):
    folder, _ = tiny
    raw = tf.data.TFRecordDataset(sorted(str(p) for p in folder.glob("test-*.tfrecord")))
    kw = dict(scales=(1.0, 0.75), max_distort=1, flip=True, dct_method="")
    seed = tf.constant([5, 6], tf.int64)
    fn = lambda s: train_clip(parse_clip(s)["frames"], 4, 16, seed, **kw)  # noqa: E731
    for a, s in zip(raw.map(fn), raw, strict=True):
        np.testing.assert_array_equal(a.numpy(), fn(s).numpy())


def test_multiscale_crop_window_sizes():
    scales = (1.0, 0.875, 0.75, 0.66)
    allowed_sizes = {int(48 * s) for s in scales}
    for i in range(40):
        y, x, h, w = crop_window(48, 64, scales, 1, tf.constant([i, 0])).numpy()
        assert h in allowed_sizes and w in allowed_sizes
        assert abs(sorted(allowed_sizes).index(h) - sorted(allowed_sizes).index(w)) <= 1
        assert (y, x) in {
            (0, 0),
            (0, 64 - w),
            (48 - h, 0),
            (48 - h, 64 - w),
            ((48 - h) // 2, (64 - w) // 2),
        }


def test_missing_or_invalid_dataset_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        read_dataset_info(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty is not a keras-ispan dataset"):
        read_dataset_info(tmp_path / "empty")
    folder = write_dataset(tmp_path / "ds", [(solid_frames(3), [0])], ["a"])
    with pytest.raises(ValueError, match="No train shards"):
        make_dataset(folder, "train", PipelineConfig())
    with pytest.raises(ValueError, match="split='dev'"):
        make_dataset(folder, "dev", PipelineConfig())
    meta = json.loads((folder / "metadata.json").read_text())
    with pytest.raises(ValueError, match="disagrees"):
        make_dataset(folder, "test", PipelineConfig(num_classes=meta["num_classes"] + 1))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(num_segments=0), "num_segments"),
        (dict(crops=5), "crops"),
        (dict(training=True, num_clips=2), "num_clips"),
        (dict(scales=(1.2,)), "scales"),
        (dict(image_size=-3), "image_size"),
    ],
)
def test_config_errors(kwargs, name):
    with pytest.raises(ValueError, match=f"{name}="):
        PipelineConfig(**kwargs)


def test_cache_gives_same_eval_batches(tiny, tmp_path):
    folder, _ = tiny
    base = dict(num_segments=4, image_size=16, batch_size=4, training=False)
    plain = next(iter(make_dataset(folder, "test", PipelineConfig(**base))))[0].numpy()
    for cache in (True, str(tmp_path / "cachefile")):
        ds = make_dataset(folder, "test", PipelineConfig(cache=cache, **base))
        for _ in range(2):
            np.testing.assert_array_equal(next(iter(ds))[0].numpy(), plain)


def test_training_crop_of_output_size_is_a_plain_slice(tmp_path):
    """Crop = output size: no resampling, the frames are slices of the decoded JPEGs at one of the 5
    TSN positions (crop decoding may differ from full decoding by chroma upsampling at crop edges)."""
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, (3, 48, 64, 3), dtype=np.uint8)
    folder = write_dataset(tmp_path / "ds", [(frames, [0])], ["a"], split="train")
    decoded = [tf.io.decode_jpeg(records.encode_jpeg(f, 95)).numpy().astype(int) for f in frames]
    config = PipelineConfig(num_segments=3, image_size=24, batch_size=1, seed=0,
                            scales=(0.5,), max_distort=0, flip=False)  # fmt: skip
    positions = [(0, 0), (0, 40), (24, 0), (24, 40), (12, 20)]
    seen = set()
    for x, _ in make_dataset(folder, "train", config).repeat(6):
        x = x.numpy()[0].astype(int)
        errors = [np.abs(x[0] - decoded[0][y : y + 24, z : z + 24]).mean() for y, z in positions]
        y0, x0 = positions[int(np.argmin(errors))]
        seen.add((y0, x0))
        for t in range(3):
            diff = np.abs(x[t] - decoded[t][y0 : y0 + 24, x0 : x0 + 24])
            assert diff.mean() < 1.0, diff.mean()
    assert len(seen) >= 2
