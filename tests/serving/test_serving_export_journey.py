"""`serving/export.py` on the models users have: fit.py's best.keras, mixed precision, a user's compile.

Each export runs in a fresh process (as a user runs it); the SavedModel is then loaded here and compared
with `keras_ispan.models.load_classifier` + `eval_resize_and_crop` in this process. The `preprocess`
signature (the model input `serving_default` computes) is also compared with references that do not
use `eval_resize_and_crop`: an exact NumPy centre crop, and Pillow's bilinear resize.
"""

import json
import os
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from serving_utils import REPO_ROOT, random_frames, smooth_frames

from keras_ispan.export.saved_model import (
    INFO_FILE,
    SIGNATURES,
    ExportOptions,
    export_model,
    read_info,
)
from keras_ispan.io import frames_tf
from keras_ispan.io.transform import ClipTransform

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def _export_cli(model_path, base, *extra, name="ispan"):
    return subprocess.run(
        [sys.executable, "serving/export.py", "--model", str(model_path), "--export-base", str(base),
         "--name", name, "--warmup-frames", "2", *extra],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=900, env=ENV,
    )  # fmt: skip


def _check_export(model_path, version_dir, atol):
    """The exported `serving_default` and `preprocess` against `load_classifier` in this process."""
    from keras_ispan.models import classifier_info, export_outputs_model, load_classifier

    model = load_classifier(model_path)
    transform = classifier_info(model).transform
    outputs_model = export_outputs_model(model)
    loaded = tf.saved_model.load(str(version_dir))
    assert set(SIGNATURES) <= set(loaded.signatures)
    for steps, (h, w) in ((1, (45, 60)), (3, (120, 90)), (8, (73, 97))):
        frames = random_frames((2, steps, h, w, 3), seed=steps)
        pixels = frames_tf.eval_resize_and_crop(
            frames, transform.image_size, resize_ratio=transform.resize_ratio
        )
        ref = outputs_model(tf.cast(pixels, tf.float32), training=False)
        got = loaded.signatures["serving_default"](frames=tf.constant(frames))
        for name in ("logits", "probabilities", "attention"):
            assert got[name].dtype == tf.float32, name
            # float32 logits reach |50| after a short run: a few units in the last place of the
            # graph's other op order (7e-7 relative) exceed 1e-5 absolute, hence rtol as well
            np.testing.assert_allclose(
                got[name].numpy(), np.asarray(ref[name], np.float32), atol=atol, rtol=2e-6,
                err_msg=f"{name} T={steps}",
            )  # fmt: skip
        pre = loaded.signatures["preprocess"](frames=tf.constant(frames))
        np.testing.assert_array_equal(pre["frames"].numpy(), pixels.numpy())
        assert pre["frames"].dtype == tf.uint8
        assert pre["short_side"].numpy().tolist() == [transform.short_side] * 2
        assert pre["image_size"].numpy().tolist() == [transform.image_size] * 2
    return transform


@pytest.fixture(scope="module")
def fit_run(tmp_path_factory):
    """A run folder written by `python training/fit.py` (1 epoch on a tiny synthetic set, ~20 s)."""
    runs = tmp_path_factory.mktemp("runs")
    proc = subprocess.run(
        [sys.executable, "training/fit.py", "--name", "t", "--runs-dir", str(runs), "--epochs", "1",
         "--set", "data.synthetic_train=24", "--set", "data.synthetic_val=12",
         "--set", "data.synthetic_test=12"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=900, env=ENV,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (runs / "t" / "best.keras").is_file()
    return runs / "t"


@pytest.mark.slow
def test_export_cli_on_fit_best_keras(fit_run, tmp_path):
    """The user's journey: fit.py's best.keras (optimizer with a WarmupSchedule inside) exports."""
    model_path = fit_run / "best.keras"
    proc = _export_cli(model_path, tmp_path / "models")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    version_dir = tmp_path / "models" / "ispan" / "1"
    transform = _check_export(model_path, version_dir, atol=1e-5)
    assert f"short side to {transform.short_side} px" in proc.stdout
    info = read_info(version_dir)
    from keras_ispan.models import classifier_info, load_classifier

    model_info = classifier_info(load_classifier(model_path))
    assert info["class_names"] == list(model_info.class_names)
    assert info["multi_label"] is model_info.multi_label
    assert info["transform"] == model_info.transform.to_dict()
    assert ClipTransform.from_dict(info["transform"]) == model_info.transform
    assert set(info["signatures"]) == set(SIGNATURES)
    assert info["signatures"]["preprocess"]["outputs"]["frames"] == {
        "dtype": "uint8",
        "shape": [None, None, transform.image_size, transform.image_size, 3],
    }
    assert info["keras_ispan_version"]
    labels = (version_dir / "assets" / "labels.txt").read_text().splitlines()
    assert labels == list(model_info.class_names)


@pytest.mark.slow
def test_export_of_mixed_float16_model(tmp_path):
    from keras_ispan.models import build_classifier

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_classifier(
            3, backbone="small_cnn", image_size=32, class_names=["a", "b", "c"]
        )
        assert model.get_layer("backbone").compute_dtype == "float16"
        model.save(tmp_path / "mixed.keras")
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert keras.mixed_precision.global_policy().name == previous.name
    proc = _export_cli(tmp_path / "mixed.keras", tmp_path / "models")
    assert proc.returncode == 0, proc.stderr[-3000:]
    # The reference loads the same float16 layers: both sides compute in half precision.
    _check_export(tmp_path / "mixed.keras", tmp_path / "models" / "ispan" / "1", atol=1e-3)


@pytest.mark.slow
def test_export_of_user_model_compiled_with_a_schedule(tmp_path):
    from keras_ispan.models import build_classifier

    model = build_classifier(4, backbone="small_cnn", image_size=32, resize_ratio=1.25)
    schedule = keras.optimizers.schedules.CosineDecay(1e-3, 10)
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.save(tmp_path / "user.keras")
    proc = _export_cli(tmp_path / "user.keras", tmp_path / "models")
    assert proc.returncode == 0, proc.stderr[-3000:]
    transform = _check_export(tmp_path / "user.keras", tmp_path / "models" / "ispan" / "1", 1e-5)
    assert (transform.resize_ratio, transform.short_side) == (1.25, 40)  # the model's ratio
    assert read_info(tmp_path / "models" / "ispan" / "1")["class_names"] == ["0", "1", "2", "3"]


def _not_ispan_model(path):
    inputs = keras.Input((4,), name="x")
    keras.Model(inputs, keras.layers.Dense(2)(inputs)).save(path)


def _write(path, data):
    path.write_bytes(data)


@pytest.mark.slow
def test_export_cli_errors_are_one_line(tmp_path):
    _write(tmp_path / "model.h5", b"\x89HDF\r\n\x1a\n")
    _write(tmp_path / "garbage.keras", b"not a zip archive")
    _not_ispan_model(tmp_path / "dense.keras")
    cases = {
        "missing.keras": "file not found",
        "model.h5": "not a .keras model file",
        "garbage.keras": "not a Keras model file",
        "dense.keras": "not a keras-ispan classifier",
    }
    procs = {
        name: subprocess.Popen(
            [
                sys.executable,
                "serving/export.py",
                "--model",
                str(tmp_path / name),
                "--export-base",
                str(tmp_path / "models"),
            ],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )  # fmt: skip
        for name in cases
    }
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=900)
        assert proc.returncode == 2, (name, err[-2000:])
        assert "Traceback" not in err, (name, err[-2000:])
        lines = [line for line in err.splitlines() if line.startswith("export.py:")]
        assert len(lines) == 1, (name, err[-2000:])
        assert lines[0].startswith(f"export.py: error: --model {tmp_path / name}: "), lines
        assert cases[name] in lines[0], lines
        assert not out
    assert not (tmp_path / "models" / "ispan").exists()


def test_export_main_error_for_a_folder(tmp_path, capsys):
    from serving import export

    (tmp_path / "run.keras").mkdir()
    argv = ["--model", str(tmp_path / "run.keras"), "--export-base", str(tmp_path / "models")]
    assert export.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"export.py: error: --model {tmp_path / 'run.keras'}: is a folder; give the .keras file "
        "that training/fit.py or model.save writes"
    )


def test_resize_ratio_override_warns_and_is_recorded(tmp_path):
    from serving_utils import build_tiny_model

    model = build_tiny_model(seed=0)  # records 256/224
    with pytest.warns(UserWarning, match=r"resize_ratio=1\.5 overrides the model's 1\.14286"):
        result = export_model(
            model, tmp_path, options=ExportOptions(resize_ratio=1.5, warmup_num_frames=(1,))
        )
    assert result.transform == ClipTransform(32, 1.5)
    info = json.loads((result.version_dir / "assets.extra" / INFO_FILE).read_text())
    assert info["transform"]["short_side"] == 48
    pre = tf.saved_model.load(str(result.version_dir)).signatures["preprocess"]
    assert pre(frames=tf.zeros([1, 1, 1, 1, 3], tf.uint8))["short_side"].numpy().tolist() == [48]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the model's own ratio given explicitly: no warning
        export_model(
            model, tmp_path, options=ExportOptions(resize_ratio=256 / 224, warmup_num_frames=(1,))
        )


@pytest.fixture(scope="module")
def preprocess_fn(exported):
    _, result = exported
    return tf.saved_model.load(str(result.version_dir)).signatures["preprocess"], result.transform


@pytest.mark.parametrize("size", [(37, 50), (50, 37), (37, 37)])
def test_preprocess_is_the_numpy_centre_crop_when_no_resize_is_needed(preprocess_fn, size):
    """Frames whose short side is already the transform's: the model input is their exact crop."""
    fn, transform = preprocess_fn
    s, short = transform.image_size, transform.short_side
    assert short == 37
    frames = random_frames((2, 3, *size, 3), seed=sum(size))
    got = fn(frames=tf.constant(frames))["frames"].numpy()
    y, x = (size[0] - s) // 2, (size[1] - s) // 2
    np.testing.assert_array_equal(got, frames[:, :, y : y + s, x : x + s])


@pytest.mark.parametrize("size", [(120, 160), (45, 60), (240, 180), (20, 20)])
def test_preprocess_matches_pillow_bilinear(preprocess_fn, size):
    """An independent resize (Pillow's bilinear filter, antialiased when reducing) within 1 level."""
    image = pytest.importorskip("PIL.Image")
    fn, transform = preprocess_fn
    s, short = transform.image_size, transform.short_side
    frames = smooth_frames((1, 2, *size, 3), seed=1)
    h, w = size
    nh, nw = (short, round(w * short / h)) if h <= w else (round(h * short / w), short)
    ref = np.stack(
        [np.asarray(image.fromarray(f).resize((nw, nh), image.BILINEAR)) for f in frames[0]]
    )
    y, x = (nh - s) // 2, (nw - s) // 2
    ref = ref[:, y : y + s, x : x + s].astype(int)
    got = fn(frames=tf.constant(frames))["frames"].numpy()[0].astype(int)
    assert np.abs(got - ref).max() <= 1
    assert np.abs(got - ref).mean() < 0.3


@pytest.mark.parametrize("size", [(120, 160), (45, 60), (241, 180), (20, 20)])
def test_transport_frames_then_signature_is_the_transform(preprocess_fn, size):
    """What the client does: resize to the short side itself, send; the model input is unchanged."""
    fn, transform = preprocess_fn
    frames = random_frames((1, 3, *size, 3), seed=size[0])
    sent = frames_tf.transport_frames(frames, transform.short_side)
    assert min(sent.shape[2:4]) == transform.short_side and sent.dtype == tf.uint8
    direct = fn(frames=tf.constant(frames))["frames"].numpy()
    via_transport = fn(frames=sent)["frames"].numpy()
    np.testing.assert_array_equal(via_transport, direct)
