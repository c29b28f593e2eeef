"""Training crops and evaluation crops see objects at one scale (issue 17)."""

import pytest

from keras_ispan.io.transform import DEFAULT_RESIZE_RATIO
from training.config.core import apply_overrides, preset
from training.data.datasets import pipeline_config


class _Info:
    multi_label, num_classes = False, 3


def test_training_crops_default_to_the_evaluation_scale():
    config = preset("synthetic")
    train = pipeline_config(config, _Info, training=True)
    evaluation = pipeline_config(config, _Info, training=False)
    # evaluation: shorter side resized to S * ratio, centre S crop -> S / (S * ratio) of the side
    assert train.scales == pytest.approx((1.0 / evaluation.resize_ratio,))
    assert train.scales[0] == pytest.approx(224 / 256) and DEFAULT_RESIZE_RATIO == 256 / 224
    assert train.max_distort == 0 and config.train.precise_bn
    old = pipeline_config(apply_overrides(config, ["data.crop_scale=1.0"]), _Info, training=True)
    assert old.scales == (1.0,)
    jitter = pipeline_config(
        apply_overrides(config, ["data.scale_jitter=true"]), _Info, training=True
    )
    assert len(jitter.scales) == 4 and 224 / 256 in jitter.scales  # TSN's scales hold it


def test_crop_scale_is_validated():
    with pytest.raises(ValueError, match="data.crop_scale=1.5"):
        apply_overrides(preset("synthetic"), ["data.crop_scale=1.5"])
