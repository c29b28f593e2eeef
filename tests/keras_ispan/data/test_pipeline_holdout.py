"""`PipelineConfig.holdout`: a split carved by a stable hash of the video id, the same clips every run."""

import hashlib

import pytest
import tensorflow as tf

from keras_ispan.data.pipeline import PipelineConfig, count_clips, holdout_mask, make_dataset
from tests.keras_ispan.data.helpers import tiny_synthetic


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_synthetic(tmp_path_factory.mktemp("holdout") / "syn", train=24, test=3)


def _clips(data, reader, holdout=None):
    """The sorted digests of every clip's evaluation frames (one clip per batch)."""
    config = PipelineConfig(
        num_segments=2, image_size=24, batch_size=1, training=False, reader=reader, holdout=holdout
    )
    digests = [
        hashlib.sha1(x.numpy().tobytes()).hexdigest()
        for x, _ in make_dataset(data, "train", config)
    ]
    return sorted(digests)


@pytest.mark.parametrize("reader", ["index", "records"])
def test_keep_and_drop_are_disjoint_and_make_the_split(data, reader):
    every = _clips(data, reader)
    kept = _clips(data, reader, (0.3, 0, "keep"))
    dropped = _clips(data, reader, (0.3, 0, "drop"))
    assert len(set(every)) == len(every) == 24  # distinct clips
    assert kept and dropped and not set(kept) & set(dropped)
    assert sorted(kept + dropped) == every
    assert _clips(data, reader, (0.3, 0, "keep")) == kept  # the same clips every time
    config = PipelineConfig(training=False, reader=reader, holdout=(0.3, 0, "keep"))
    assert count_clips(data, "train", config) == len(kept)


def test_training_stream_drops_the_held_out_clips(data):
    config = PipelineConfig(
        num_segments=2, image_size=24, batch_size=4, seed=1, holdout=(0.3, 0, "drop")
    )
    labels = tf.concat([y for _, y in make_dataset(data, "train", config)], axis=0)
    kept = count_clips(data, "train", PipelineConfig(training=False, holdout=(0.3, 0, "keep")))
    assert int(labels.shape[0]) == 24 - kept


def test_mask_is_a_stable_hash_of_seed_and_id():
    ids = tf.constant([f"clip-{i}" for i in range(2000)])
    held = holdout_mask(ids, 0.1, 0).numpy()
    assert 150 < held.sum() < 250  # about the fraction
    assert (holdout_mask(ids, 0.1, 0).numpy() == held).all()
    assert (holdout_mask(ids, 0.1, 1).numpy() != held).any()  # the seed changes the clips
    assert holdout_mask(tf.constant("clip-7"), 0.1, 0).numpy() == held[7]


@pytest.mark.parametrize(
    "holdout", [(0.0, 0, "keep"), (1.0, 0, "keep"), (0.1, 0, "both"), (0.1, "0", "keep"), (0.1,)]
)
def test_bad_holdout_is_refused(holdout):
    with pytest.raises(ValueError, match="holdout"):
        PipelineConfig(holdout=holdout)
