"""Export: layout, atomic versions, configs, and exported-vs-in-process numbers in a clean process."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from serving_utils import CLASS_NAMES, IMAGE_SIZE, random_frames, smooth_frames
from tensorflow_serving.apis import predict_pb2

from keras_ispan.export import server_configs as configs
from keras_ispan.export import warmup
from keras_ispan.export.saved_model import (
    SIGNATURES,
    ExportConfig,
    ExportOptions,
    ModelFileError,
    check_model_name,
    export_model,
    next_version,
)
from keras_ispan.io import frames_tf

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter where `keras` and `keras_ispan` cannot be imported at all: blocker
# packages that raise ImportError come first on PYTHONPATH (`import tensorflow` alone would otherwise
# import Keras, so a plain `sys.modules` check could not tell).
_CLEAN_LOAD = r"""
import sys
for blocked in ("keras", "keras_ispan"):
    try:
        __import__(blocked)
        raise SystemExit(f"{blocked} is importable: the test would prove nothing")
    except ImportError:
        pass
import numpy as np
import tensorflow as tf
path, inputs_file, outputs_file = sys.argv[1:]
loaded = tf.saved_model.load(path)
inputs = np.load(inputs_file, allow_pickle=True)
results = {}
for key in inputs.files:
    signature, _ = key.split("__")
    out = loaded.signatures[signature](frames=tf.constant(inputs[key]))
    for name, value in out.items():
        results[f"{key}__{name}"] = value.numpy()
bad = sorted(m for m in sys.modules if m.split(".")[0] in ("keras", "keras_ispan", "tf_keras"))
assert not bad, f"imported {bad}"
np.savez(outputs_file, **results)
print("CLEAN_OK", len(results))
"""


def _reference(model, pixels):
    from keras_ispan.models import export_outputs_model

    out = export_outputs_model(model)(pixels, training=False)
    return {k: np.asarray(v) for k, v in out.items()}


def _eval_pixels(frames):
    from keras_ispan.io.frames_tf import eval_resize_and_crop

    return tf.cast(eval_resize_and_crop(frames, IMAGE_SIZE), tf.float32).numpy()


def test_layout_assets_warmup_and_configs(exported):
    base, result = exported
    vdir = base / "ispan" / "1"
    assert result.version == 1 and result.version_dir == vdir
    assert (vdir / "saved_model.pb").is_file() and (vdir / "variables").is_dir()
    assert (vdir / "assets" / "labels.txt").read_text().split("\n")[:-1] == CLASS_NAMES
    assert [p.name for p in (base / "ispan").iterdir()] == ["1"]  # no temp folder left
    requests = warmup.read_warmup(vdir)
    assert sorted(r.model_spec.signature_name for r in requests) == sorted(SIGNATURES)
    assert all(isinstance(r, predict_pb2.PredictRequest) for r in requests)
    assert all(r.model_spec.name == "ispan" for r in requests)
    config = configs.read_model_server_config(base / "models.config")
    (entry,) = config.model_config_list.config
    assert (entry.name, entry.base_path, entry.model_platform) == (
        "ispan",
        str(base.resolve() / "ispan"),
        "tensorflow",
    )
    assert entry.model_version_policy.latest.num_versions == 1
    batching = configs.parse_text_proto(base / "batching.config", configs.BatchingParameters)
    assert batching.max_batch_size.value == 8
    monitoring = configs.parse_text_proto(base / "monitoring.config", configs.MonitoringConfig)
    assert monitoring.prometheus_config.enable
    assert f"--model_config_file={base.resolve()}/models.config" in result.docker_command
    assert result.docker_command.startswith("docker run")


@pytest.mark.slow
def test_clean_process_matches_in_process(exported, tiny_model, tmp_path):
    """T = 1, 8, 25 through each signature, loaded where Keras and keras_ispan are never imported."""
    _, result = exported
    inputs, refs = {}, {}
    for steps in (1, 8, 25):
        raw = random_frames((2, steps, 45, 60, 3), seed=steps)
        pixels = (
            np.random.default_rng(steps).uniform(0, 255, (2, steps, 32, 32, 3)).astype("float32")
        )
        smooth = smooth_frames((2, steps, 45, 60, 3), seed=steps)
        jpegs = np.array(
            [[tf.io.encode_jpeg(f, quality=95).numpy() for f in clip] for clip in smooth],
            dtype=object,
        )
        inputs[f"serving_default__{steps}"] = raw
        inputs[f"preprocess__{steps}"] = raw
        inputs[f"serve_preprocessed__{steps}"] = pixels
        inputs[f"serve_jpeg__{steps}"] = jpegs
        refs[f"serving_default__{steps}"] = _reference(tiny_model, _eval_pixels(raw))
        refs[f"serve_preprocessed__{steps}"] = _reference(tiny_model, pixels)
        refs[f"serve_jpeg__{steps}"] = _reference(tiny_model, _eval_pixels(smooth))
        refs[f"decoded_jpeg__{steps}"] = _reference(
            tiny_model, _eval_pixels(frames_tf.decode_jpeg_frames(jpegs))
        )
    np.savez(tmp_path / "in.npz", **inputs)
    script = tmp_path / "clean_load.py"
    script.write_text(_CLEAN_LOAD)
    for name in ("keras", "keras_ispan", "tf_keras"):
        (tmp_path / "blocked" / name).mkdir(parents=True)
        (tmp_path / "blocked" / name / "__init__.py").write_text(
            f"raise ImportError('{name} blocked')"
        )
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "blocked")}
    proc = subprocess.run(
        [sys.executable, str(script), str(result.version_dir), str(tmp_path / "in.npz"),
         str(tmp_path / "out.npz")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0 and "CLEAN_OK" in proc.stdout, proc.stderr[-3000:]
    out = np.load(tmp_path / "out.npz", allow_pickle=True)
    for steps in (1, 8, 25):  # the model input serving_default computes, without Keras
        raw = inputs[f"preprocess__{steps}"]
        np.testing.assert_array_equal(out[f"preprocess__{steps}__frames"], _eval_pixels(raw))
        assert out[f"preprocess__{steps}__short_side"].tolist() == [37, 37]
    for key, ref in refs.items():
        steps = int(key.split("__")[1])
        # JPEG vs the original pixels: quality-95 loss (measured ~2e-3 on logits); vs the same
        # JPEG bytes decoded in-process: exact path.
        exact = not key.startswith("serve_jpeg")
        tol = 1e-5 if exact else 1e-2
        key = key.replace("decoded_jpeg", "serve_jpeg")
        for name in ("logits", "probabilities", "attention"):
            got = out[f"{key}__{name}"]
            assert got.shape == ref[name].shape, (key, name)
            np.testing.assert_allclose(got, ref[name], atol=tol, rtol=0, err_msg=f"{key} {name}")
        assert out[f"{key}__attention"].shape[1] == steps
        if exact:
            order = np.argsort(-ref["probabilities"], axis=-1, kind="stable")
            expected = np.array(CLASS_NAMES)[order]
            got = np.vectorize(bytes.decode)(out[f"{key}__top_k_classes"])
            np.testing.assert_array_equal(got, expected)
            np.testing.assert_allclose(
                out[f"{key}__top_k_scores"], np.take_along_axis(ref["probabilities"], order, -1),
                atol=1e-6,
            )  # fmt: skip


@pytest.mark.slow
def test_saved_model_cli_lists_signatures(exported):
    _, result = exported
    cli = pathlib.Path(sys.executable).with_name("saved_model_cli")
    if not cli.exists():
        pytest.skip("saved_model_cli not installed beside the interpreter")
    proc = subprocess.run(
        [str(cli), "show", "--dir", str(result.version_dir), "--all"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    blocks = {}
    for block in proc.stdout.split("signature_def['")[1:]:
        name, body = block.split("'", 1)
        blocks[name] = body
    assert set(SIGNATURES) <= set(blocks)
    expected_inputs = {
        "serving_default": ("DT_UINT8", "(-1, -1, -1, -1, 3)"),
        "serve_jpeg": ("DT_STRING", "(-1, -1)"),
        "serve_preprocessed": ("DT_FLOAT", f"(-1, -1, {IMAGE_SIZE}, {IMAGE_SIZE}, 3)"),
    }
    for name, (dtype, shape) in expected_inputs.items():
        inputs = blocks[name].split("output(s):")[0]
        assert "inputs['frames']" in inputs and dtype in inputs and shape in inputs, name
        for output in ("logits", "probabilities", "attention", "top_k_classes", "top_k_scores"):
            assert f"outputs['{output}']" in blocks[name], (name, output)
        assert "tensorflow/serving/predict" in blocks[name]


@pytest.mark.slow
def test_versions_are_new_folders_never_overwritten(exported, tiny_model, tmp_path):
    base = tmp_path / "base"
    first = export_model(tiny_model, base, name="m", options=ExportOptions(warmup_num_frames=(2,)))
    second = export_model(tiny_model, base, name="m", options=ExportOptions(warmup_num_frames=(2,)))
    assert (first.version, second.version) == (1, 2)
    before = sorted(p.name for p in (base / "m" / "1").rglob("*"))
    with pytest.raises(FileExistsError, match=str(base / "m" / "1")):
        export_model(tiny_model, base, name="m", version=1)
    assert sorted(p.name for p in (base / "m" / "1").rglob("*")) == before
    assert sorted(p.name for p in (base / "m").iterdir()) == ["1", "2"]  # temp folder removed
    (base / "m" / "7").mkdir()
    (base / "m" / "notaversion").mkdir()
    assert next_version(base / "m") == 8


def test_models_config_keeps_other_models_and_rejects_bad_files(tmp_path):
    path = tmp_path / "models.config"
    configs.write_models_config(path, "a", "/x/a")
    configs.write_models_config(path, "b", "/x/b")
    names = [c.name for c in configs.read_model_server_config(path).model_config_list.config]
    assert names == ["a", "b"]
    path.write_text("model_config_list { config { nam: 'a' } }")
    with pytest.raises(ValueError, match=str(path)):
        configs.write_models_config(path, "c", "/x/c")
    assert path.read_text() == "model_config_list { config { nam: 'a' } }"  # untouched


def test_multi_label_gives_per_class_sigmoid_scores(tmp_path):
    from serving_utils import build_tiny_model

    model = build_tiny_model(seed=3, multi_label=True)
    result = export_model(model, tmp_path, name="ml", options=ExportOptions(warmup_num_frames=(2,)))
    loaded = tf.saved_model.load(str(result.version_dir))
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 3, 32, 32, 3)).astype("float32")
    out = loaded.signatures["serve_preprocessed"](frames=tf.constant(pixels))
    logits = out["logits"].numpy()
    np.testing.assert_allclose(out["probabilities"].numpy(), 1 / (1 + np.exp(-logits)), atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"top_k": 0}, "top_k"),
        ({"resize_ratio": 0.5}, "resize_ratio"),
        ({"warmup_num_frames": ()}, "warmup_num_frames"),
        ({"anytime_criterion": "probability"}, "anytime_criterion"),
    ],
)
def test_export_options_errors(kwargs, match):
    with pytest.raises(ValueError, match=f"{match}.*Received: {match}="):
        ExportOptions(**kwargs)


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden", "x y"])
def test_model_names_that_could_be_paths_are_rejected(name):
    with pytest.raises(ValueError, match="Received: name="):
        check_model_name(name)


def test_export_config_errors(tmp_path):
    with pytest.raises(ModelFileError, match="missing.keras: file not found"):
        ExportConfig(str(tmp_path / "missing.keras"), str(tmp_path))
    (tmp_path / "model.h5").write_bytes(b"")
    with pytest.raises(ValueError, match="not a .keras model file"):
        ExportConfig(str(tmp_path / "model.h5"), str(tmp_path))


@pytest.mark.slow
def test_export_cli(tiny_model, tmp_path):
    model_path = tmp_path / "tiny.keras"
    tiny_model.save(model_path)
    proc = subprocess.run(
        [sys.executable, "serving/export.py", "--model", str(model_path), "--export-base",
         str(tmp_path / "models"), "--name", "ispan", "--warmup-frames", "2"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "docker run" in proc.stdout and "tensorflow/serving" in proc.stdout
    loaded = tf.saved_model.load(str(tmp_path / "models" / "ispan" / "1"))
    pixels = np.random.default_rng(0).uniform(0, 255, (1, 2, 32, 32, 3)).astype("float32")
    got = loaded.signatures["serve_preprocessed"](frames=tf.constant(pixels))["logits"].numpy()
    np.testing.assert_allclose(got, _reference(tiny_model, pixels)["logits"], atol=1e-5)
    assert json.loads(json.dumps(proc.stdout))  # printable
