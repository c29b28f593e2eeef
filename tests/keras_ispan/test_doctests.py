"""The docstring examples of the public API run and print what they say."""

import doctest
import importlib

import pytest

MODULES = [
    "keras_ispan.layers.pyramid_attention",
    "keras_ispan.layers.clip_flip",
    "keras_ispan.layers.frame_resize",
    "keras_ispan.models.resizing",
    "keras_ispan.layers.frame_wise",
    "keras_ispan.layers.preprocessing",
    "keras_ispan.regularizers.pca",
    "keras_ispan.regularizers.diversity",
    "keras_ispan.models.classifier",
    "keras_ispan.io.coarse_to_fine",
    "keras_ispan.io.video_windows",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted > 0, f"{name} has no example"
    assert result.failed == 0
