"""Test helpers on public Keras APIs only (no `keras.src`)."""

import keras
import numpy as np
from keras import tree


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def assert_config_round_trip(layer, inputs, tmp_path, atol=1e-6):
    """`get_config` -> `from_config` and a `.keras` save/load give identical outputs."""
    expected = tree.map_structure(to_numpy, layer(inputs))
    clone = type(layer).from_config(layer.get_config())
    clone(inputs)
    clone.set_weights(layer.get_weights())
    assert clone.get_config() == layer.get_config()
    for got, want in zip(tree.flatten(clone(inputs)), tree.flatten(expected), strict=True):
        np.testing.assert_allclose(to_numpy(got), want, atol=atol)

    specs = tree.map_structure(lambda x: keras.Input(x.shape[1:], batch_size=None), inputs)
    model = keras.Model(specs, layer(specs))
    path = tmp_path / f"{layer.name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    for got, want in zip(tree.flatten(loaded(inputs)), tree.flatten(expected), strict=True):
        np.testing.assert_allclose(to_numpy(got), want, atol=atol)
    return loaded
