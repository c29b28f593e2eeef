"""Fixtures of the tuning tests: a tiny synthetic dataset on disk (3 classes, 6 frames of 32x32)."""

import pytest


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    from keras_ispan.data.synthetic import SyntheticConfig, generate_synthetic_dataset

    config = SyntheticConfig(
        num_classes=3, train=12, val=6, test=6, num_frames=6, image_size=32, target_size=6,
        distractor_size=4, num_distractors=1, clips_per_shard=12,
    )  # fmt: skip
    return generate_synthetic_dataset(tmp_path_factory.mktemp("data") / "tiny", config, log=None)
