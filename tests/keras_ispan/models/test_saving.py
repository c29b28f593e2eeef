"""`load_classifier`: the one inference loader. Files holding training-only objects (an optimizer with a
schedule of a package the loading process never imports), mixed precision, training wrappers, and clear
errors for files that are not keras-ispan classifiers."""

import json
import os
import subprocess
import sys
import textwrap
import zipfile

import keras
import numpy as np
import pytest

from keras_ispan.io.transform import ClipTransform
from keras_ispan.models import (
    build_classifier,
    classifier_info,
    load_classifier,
    with_frame_resize,
)
from tests.keras_ispan.helpers import to_numpy

CLIP = np.random.default_rng(0).integers(0, 256, (2, 4, 32, 32, 3)).astype("uint8")


def _classifier(**kwargs):
    return build_classifier(
        3, backbone="small_cnn", image_size=32, class_names=["a", "b", "c"], **kwargs
    )


def test_user_model_round_trip_and_info(tmp_path):
    model = _classifier(resize_ratio=1.25)
    path = tmp_path / "user.keras"
    model.save(path)
    loaded = load_classifier(path)
    np.testing.assert_allclose(to_numpy(loaded(CLIP)), to_numpy(model(CLIP)), atol=1e-6)
    info = classifier_info(loaded)
    assert info.class_names == ("a", "b", "c") and info.multi_label is False
    assert info.transform == ClipTransform(32, 1.25) and info.transform.short_side == 40
    assert info.num_classes == 3 and info.image_size == 32
    assert getattr(loaded, "optimizer", None) is None  # uncompiled: no training configuration


def test_default_ratio_is_tsn():
    assert classifier_info(_classifier()).transform.resize_ratio == pytest.approx(256 / 224)


@pytest.mark.tf_only
def test_fresh_process_loads_a_file_with_a_foreign_schedule(tmp_path):
    """A schedule class registered only in the saving process (as `fit.py`'s `WarmupSchedule` was before it moved to the library) is in
    the file's compile config; a process that imports only `keras_ispan` must still load the model."""

    @keras.saving.register_keras_serializable(package="only_in_this_process")
    class LocalSchedule(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            return 1e-3

        def get_config(self):
            return {}

    model = _classifier()
    model.compile(optimizer=keras.optimizers.AdamW(LocalSchedule()), loss="mse")
    model.fit(CLIP, np.zeros((2, 3)), epochs=1, verbose=0)  # optimizer variables in the file too
    path = tmp_path / "trained.keras"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        assert "LocalSchedule" in archive.read("config.json").decode()
    np.save(tmp_path / "clip.npy", CLIP)
    np.save(tmp_path / "want.npy", to_numpy(model(CLIP)))
    script = textwrap.dedent(
        f"""
        import numpy as np
        from keras_ispan.models import load_classifier
        model = load_classifier({str(path)!r})
        got = np.asarray(model(np.load({str(tmp_path / "clip.npy")!r})))
        np.testing.assert_allclose(got, np.load({str(tmp_path / "want.npy")!r}), atol=1e-5)
        print("LOADED")
        """
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=900
    )
    assert done.returncode == 0 and "LOADED" in done.stdout, done.stderr[-3000:]


@pytest.mark.tf_only
def test_mixed_precision_model_loads(tmp_path):
    previous = keras.mixed_precision.global_policy()
    try:
        keras.mixed_precision.set_global_policy("mixed_float16")
        model = _classifier()
        path = tmp_path / "mixed.keras"
        model.save(path)
        want = to_numpy(model(CLIP))
    finally:
        keras.mixed_precision.set_global_policy(previous)
    loaded = load_classifier(path)
    assert loaded.get_layer("preprocessing").compute_dtype == "float16"
    np.testing.assert_allclose(to_numpy(loaded(CLIP)), want, atol=1e-3)


def test_frame_resize_wrapper_gives_the_classifier(tmp_path):
    model = _classifier()
    path = tmp_path / "wrapped.keras"
    with_frame_resize(model, flip=True).save(path)
    loaded = load_classifier(path)
    assert tuple(loaded.input_shape) == (None, None, 32, 32, 3)
    np.testing.assert_allclose(to_numpy(loaded(CLIP)), to_numpy(model(CLIP)), atol=1e-6)


def test_errors_name_the_file_and_the_missing_piece(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.keras"):
        load_classifier(tmp_path / "missing.keras")
    text = tmp_path / "text.keras"
    text.write_text("not a model")
    with pytest.raises(ValueError, match=r"text\.keras is not a Keras model file"):
        load_classifier(text)
    archive = tmp_path / "archive.keras"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("hello.txt", "hi")
    with pytest.raises(ValueError, match=r"archive\.keras.*lacks \['config\.json'"):
        load_classifier(archive)
    with pytest.raises(ValueError, match="not a file"):
        load_classifier(tmp_path)

    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    plain_path = tmp_path / "plain.keras"
    plain.save(plain_path)
    with pytest.raises(ValueError, match=r"plain\.keras.*not a keras-ispan classifier"):
        load_classifier(plain_path)
    assert load_classifier(plain_path, check=False).output_shape == (None, 2)

    foreign = tmp_path / "foreign.keras"
    with zipfile.ZipFile(plain_path) as source, zipfile.ZipFile(foreign, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name == "config.json":
                config = json.loads(data)
                layer = config["config"]["layers"][-1]
                layer.update(
                    class_name="FancyDense", module="their_package", registered_name="x>Fancy"
                )
                data = json.dumps(config).encode()
            target.writestr(name, data)
    with pytest.raises(ValueError, match=r"foreign\.keras uses the class 'FancyDense'"):
        load_classifier(foreign)
