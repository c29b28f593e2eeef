"""`training/evaluate.py`'s reports as a user reads them, in a fresh process (user review): a class
mismatch names every class or says how many more, top-k is reported only when k < the number of
classes (with the reason in the table), and the frames sweep says which views it used."""

import json

import numpy as np
import pytest

from tests.cli.scripts import assert_one_line_error, run_script
from tests.tiny_files import save_tiny_classifier


def _fake_dataset(path, classes):
    """A dataset folder as far as the class check reads it (it fails before any clip is read)."""
    path.mkdir()
    (path / "labels.txt").write_text("".join(f"{c}\n" for c in classes))
    (path / "metadata.json").write_text(json.dumps({"classes": classes, "counts": {"test": 1}}))
    return path


@pytest.mark.slow  # about 25 s on the shared 2 cores: TensorFlow's import and the model's load
def test_class_mismatch_says_how_many_more(tmp_path):
    model_classes = [f"model_{i:02d}" for i in range(17)]  # 12 beyond the 5 shown
    data_classes = ["x", "y", "z"] + model_classes[:2]  # short: all listed
    model = save_tiny_classifier(tmp_path / "m.keras", classes=model_classes)
    data = _fake_dataset(tmp_path / "other", data_classes)
    out = tmp_path / "eval"
    done = run_script("training/evaluate.py", "--model", model, "--data", data, "--out", out)
    line = assert_one_line_error(done, "evaluate.py", "disagree", f"{model} (17)", "(5)")
    shown = ", ".join(repr(c) for c in model_classes[2:7])
    assert f"only in the model: [{shown}, ... and 10 more]" in line
    assert "only in the dataset: ['x', 'y', 'z']" in line
    assert not out.exists()


@pytest.mark.slow
def test_top_k_and_sweep_views_are_stated(tiny_data_dir, tmp_path):
    classes = json.loads((tiny_data_dir / "metadata.json").read_text())["classes"]
    model = save_tiny_classifier(tmp_path / "m.keras", classes=classes)
    out = tmp_path / "eval"
    done = run_script("training/evaluate.py", "--model", model, "--data", tiny_data_dir,
                      "--segments", "2", "--crops", "3", "--sweep", "1,2", "--out", out)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((out / "evaluation.json").read_text())
    assert len(classes) == 3 and "top5" not in summary["metrics"]  # always 1 with 3 classes
    assert all("top5" not in row for row in summary["frames_sweep"])
    assert summary["protocol"]["sweep_views"] == {"crops": 1, "clips": 1}
    assert "top5                  not reported: 3 classes" in done.stdout
    assert "frames sweep (1 crop x 1 clip per T):" in done.stdout


def test_table_reports_top_k_below_the_number_of_classes():
    from training.evaluation.metrics import summarize
    from training.evaluation.multiview import format_summary

    scores = np.array([[0.5, 0.3, 0.2], [0.5, 0.3, 0.2]])  # label 1 is second: top-1 0.5, top-2 1
    metrics = summarize(scores, np.array([0, 1]), top_k=2)
    summary = {"model": "m", "dataset": "d", "split": "test", "metrics": metrics,
               "protocol": {"num_segments": 2, "crops": 1, "clips": 1, "top_k": 2},
               "frames_sweep": []}  # fmt: skip
    table = format_summary(summary)
    assert "top1                  0.5000" in table and "top2                  1.0000" in table
    assert "not reported" not in table


def test_frames_sweep_traces_the_model_once(monkeypatch):
    """Every T of a sweep reuses one score function: one trace, not one per T (TensorFlow warned of
    retracing on the README's `--sweep 1,2,4,8,16,25`)."""
    import tensorflow as tf

    from keras_ispan.models import build_classifier
    from training.evaluation import multiview

    made = []
    real = multiview._score_function

    def spy(model, multi_label):
        made.append(real(model, multi_label))
        return made[-1]

    monkeypatch.setattr(multiview, "_score_function", spy)
    model = build_classifier(2, backbone="small_cnn", image_size=32)
    rng = np.random.default_rng(0)

    def make(t):
        frames = rng.integers(0, 256, size=(2, t, 32, 32, 3), dtype=np.uint8)
        return tf.data.Dataset.from_tensors((frames, np.array([0, 1])))

    rows = multiview.frames_sweep(model, make, (1, 2, 4), multi_label=False, log=lambda _: None)
    assert [row["frames"] for row in rows] == [1, 2, 4]
    assert len(made) == 1
    (function,) = made[0].functions.values()
    assert function.experimental_get_tracing_count() == 1
