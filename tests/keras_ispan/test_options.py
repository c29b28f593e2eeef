"""`keras_ispan.options`: the one home of the choice lists, importable without Keras."""

import subprocess
import sys

from keras_ispan import options


def test_options_and_the_config_do_not_import_keras():
    code = (
        "import sys, keras_ispan.options, training.config.core\n"
        "assert 'keras' not in sys.modules, sorted(m for m in sys.modules if 'keras' in m)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=".")


def test_the_backbone_registry_matches_backbone_names():
    from keras_ispan.models import BACKBONES

    assert tuple(BACKBONES) == options.BACKBONE_NAMES


def test_the_layers_models_config_and_tuner_use_the_same_tuples():
    from keras_ispan.layers import preprocessing, pyramid_attention, resampling
    from keras_ispan.models import HEADS
    from training.config import sections

    assert HEADS is options.HEADS
    assert resampling.DOWNSAMPLE_MODES is options.DOWNSAMPLE_MODES
    assert pyramid_attention.FUSION_MODES is options.FUSION_MODES
    assert pyramid_attention.BIAS_MODES is options.BIAS_MODES
    assert pyramid_attention.POOLING_MODES is options.POOLING_MODES
    assert preprocessing.PREPROCESSING_MODES is options.PREPROCESSING_MODES
    assert sections.BACKBONE_NAMES is options.BACKBONE_NAMES
    assert sections.HEADS is options.HEADS
