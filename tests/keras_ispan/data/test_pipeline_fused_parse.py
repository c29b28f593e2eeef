"""`make_dataset` reads each clip inside the per-clip transform, from the file or from the `cache` of
serialized records: seeded training streams stay reproducible, evaluation batches are the same with and
without cache."""

import numpy as np

from keras_ispan.data.pipeline import PipelineConfig, make_dataset
from tests.keras_ispan.data.helpers import smooth_frames, write_dataset


def _dataset(tmp_path, split):
    clips = [(smooth_frames(n, 40, 52, seed=n), [n % 2]) for n in (6, 9, 4, 7, 5)]
    return write_dataset(tmp_path / "ds", clips, ["a", "b"], split=split, num_shards=2)


def test_seeded_training_stream_reproducible_with_and_without_cache(tmp_path):
    """The parse moves into the transform without cache: each variant must still give one stream per
    seed, covering every clip once per pass (5 clips, batches of 5)."""
    folder = _dataset(tmp_path, "train")
    base = dict(num_segments=3, image_size=24, batch_size=5, seed=11, shuffle_buffer=4, repeat=True)
    for cache in (False, True):
        runs = []
        for _ in range(2):
            it = iter(make_dataset(folder, "train", PipelineConfig(cache=cache, **base)))
            runs.append([next(it) for _ in range(2)])
        for (x0, y0), (x1, y1) in zip(*runs, strict=True):
            assert x0.shape == (5, 3, 24, 24, 3) and x0.dtype == np.uint8
            np.testing.assert_array_equal(x0.numpy(), x1.numpy())
            np.testing.assert_array_equal(y0.numpy(), y1.numpy())
            assert sorted(y0.numpy().tolist()) == [0, 0, 1, 1, 1]  # labels n % 2 of 6, 9, 4, 7, 5


def test_eval_batches_same_with_and_without_cache(tmp_path):
    folder = _dataset(tmp_path, "test")
    for crops in (1, 3):
        base = dict(num_segments=3, image_size=32, batch_size=5, training=False, crops=crops,
                    resize_ratio=1.25)  # fmt: skip
        plain = next(iter(make_dataset(folder, "test", PipelineConfig(**base))))
        cached = next(iter(make_dataset(folder, "test", PipelineConfig(cache=True, **base))))
        np.testing.assert_array_equal(plain[0].numpy(), cached[0].numpy())
        np.testing.assert_array_equal(plain[1].numpy(), cached[1].numpy())
