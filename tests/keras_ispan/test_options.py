"""`keras_ispan.options`: the one home of the choice lists, importable without Keras."""

import subprocess
import sys

import pytest

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


# `keras_ispan.options` name -> the modules (`module:attribute` where the name differs) that import it
IMPORTED = {
    "MODALITIES": [
        "keras_ispan.data.records",
        "keras_ispan.data.pipeline_config",
        "training.config.sections",
    ],
    "STREAMS": ["keras_ispan.models.two_stream", "keras_ispan.models.classifier"],
    "DIVERSITY_FORMS": ["keras_ispan.regularizers.diversity", "training.config.sections"],
    "FLOW_METHODS": ["keras_ispan.io.flow:METHODS"],
    "CHECK_POINTS": ["keras_ispan.io.coarse_to_fine", "benchmarks.frames_tradeoff:SCHEDULES"],
    "INCOMPLETE_POLICIES": ["keras_ispan.data.convert"],
    "SYNTHETIC_VARIANTS": ["training.config.data", "training.synthetic:VARIANTS"],
}
# `module flag` of a command line -> the `keras_ispan.options` name of its choices
COMMAND_LINES = {
    "training.fit --modality": "MODALITIES",
    "training.prepare --flow-method": "FLOW_METHODS",
    "training.prepare --incomplete": "INCOMPLETE_POLICIES",
    "training.synthetic --variant": "SYNTHETIC_VARIANTS",
    "serving.export --anytime-check-points": "CHECK_POINTS",
}


def test_the_data_io_and_export_modules_use_the_same_tuples():
    import importlib

    for name, places in IMPORTED.items():
        for place in places:
            module, _, attribute = place.partition(":")
            value = getattr(importlib.import_module(module), attribute or name)
            assert value is getattr(options, name), place


@pytest.mark.parametrize("command", COMMAND_LINES)
def test_the_command_lines_offer_the_same_choices(command, capsys):
    import importlib

    module, flag = command.split()
    with pytest.raises(SystemExit):
        importlib.import_module(module).parse_args([flag, "not-a-choice"])
    error = capsys.readouterr().err
    assert "invalid choice: 'not-a-choice'" in error
    offered = error.split("choose from", 1)[1]
    assert all(choice in offered for choice in getattr(options, COMMAND_LINES[command])), error
