"""The search machinery on a tiny stand-in model: 2-trial search, summary, best config, resume, bad input."""

import json
import os
import subprocess
import sys

import pytest

from tests.training.tuning import tiny_tuning
from training.config.core import load_config
from training.tuning.search import TuneConfig, run_search, trial_rows


def _tune(tmp_path, **kwargs):
    values = {
        "max_trials": 2,
        "directory": str(tmp_path / "search"),
        "tune": ("learning_rate", "dropout", "num_segments"),
        "space": {"num_segments": [2, 3]},
        "epochs": 1,
    }
    values.update(kwargs)
    return TuneConfig(**values)


def _begins(project_dir):
    lines = (project_dir / "ispan_runs.jsonl").read_text().splitlines()
    return [json.loads(line)["trial_id"] for line in lines]


def test_two_trial_search_summary_and_best_config(tmp_path, capsys):
    tune = _tune(tmp_path)
    result = run_search(tiny_tuning.base_config(), tune, **tiny_tuning.search_kwargs())
    rows = trial_rows(tune.project_dir)
    assert [row["status"] for row in rows] == ["COMPLETED", "COMPLETED"]
    # The score KerasTuner recorded equals the best epoch value our own record read from the history.
    for row in rows:
        run = json.loads(
            (tune.project_dir / f"trial_{row['trial_id']}" / "ispan_run.json").read_text()
        )
        assert run["tuner_id"] == "tuner0"
        assert row["score"] == pytest.approx(run["best_value"])
    best = max(rows, key=lambda row: row["score"])
    assert result.best_values == best["values"]
    # Trial 0 is the baseline: the training config as given (the backbone's default pyramid).
    base = tiny_tuning.base_config()
    assert rows[0]["values"]["learning_rate"] == base.optim.learning_rate
    assert rows[0]["values"]["dropout"] == base.model.dropout
    assert rows[0]["values"]["num_segments"] == base.data.num_segments
    assert rows[0]["values"]["levels"] == ",".join(tiny_tuning.DEFAULT_LEVELS)
    assert rows[1]["values"] != rows[0]["values"]
    summary = json.loads((tune.project_dir / "summary.json").read_text())
    assert [r["trial_id"] for r in summary["rows"]] == [r["trial_id"] for r in rows]
    table = (tune.project_dir / "summary.txt").read_text()
    assert "learning_rate" in table and "val_accuracy" in table
    assert table.splitlines()[3].startswith(best["trial_id"])  # best first, after title/header/rule
    # The best config is a training config the training loader reads unchanged, with the best values.
    config = load_config(result.best_config_path)
    assert config.optim.learning_rate == pytest.approx(best["values"]["learning_rate"])
    assert config.model.dropout == pytest.approx(best["values"]["dropout"])
    assert config.data.num_segments == best["values"]["num_segments"]
    assert config.train.epochs == tiny_tuning.base_config().train.epochs
    assert config.model.levels == tiny_tuning.DEFAULT_LEVELS  # not tuned: the backbone default
    assert "trial" in capsys.readouterr().out
    # The best trial's model is saved for export and prediction, with its best checkpoint's weights.
    assert result.best_model_path == tune.output_dir / "best.keras"
    from keras_ispan.models import load_classifier

    model = load_classifier(result.best_model_path, check=False)
    assert model.get_layer("logits").units == tiny_tuning.NUM_CLASSES


def test_interrupted_search_resumes_without_repeating_finished_trials(tmp_path):
    tune = _tune(tmp_path, max_trials=3)
    calls = {"n": 0}

    def interrupting(config):
        calls["n"] += 1
        if calls["n"] == 3:  # preflight, trial 0, then trial 1 is interrupted
            raise KeyboardInterrupt
        return tiny_tuning.make_datasets(config)

    kwargs = {**tiny_tuning.search_kwargs(), "make_datasets": interrupting}
    with pytest.raises(KeyboardInterrupt):
        run_search(tiny_tuning.base_config(), tune, **kwargs)
    first = trial_rows(tune.project_dir)
    assert [row["status"] for row in first] == ["COMPLETED", "RUNNING"]
    finished = (tune.project_dir / "trial_0" / "trial.json").read_text()

    run_search(tiny_tuning.base_config(), tune, **tiny_tuning.search_kwargs())
    rows = trial_rows(tune.project_dir)
    assert [row["status"] for row in rows] == ["COMPLETED"] * 3
    assert _begins(tune.project_dir) == ["0", "1", "1", "2"]  # trial 0 ran once; 1 was re-run
    assert (tune.project_dir / "trial_0" / "trial.json").read_text() == finished
    assert rows[1]["values"] == first[1]["values"]  # the interrupted trial kept its values


def test_resuming_with_another_space_is_refused(tmp_path):
    tune = _tune(tmp_path, max_trials=1)
    run_search(tiny_tuning.base_config(), tune, **tiny_tuning.search_kwargs())
    changed = _tune(tmp_path, max_trials=1, space={"num_segments": [2, 4]})
    with pytest.raises(ValueError, match=r"different space.*num_segments"):
        run_search(tiny_tuning.base_config(), changed, **tiny_tuning.search_kwargs())
    assert _begins(tune.project_dir) == ["0"]
    overwritten = _tune(tmp_path, max_trials=1, space={"num_segments": [2, 4]}, overwrite=True)
    run_search(tiny_tuning.base_config(), overwritten, **tiny_tuning.search_kwargs())
    assert _begins(tune.project_dir) == ["0"]  # a fresh search folder
    with pytest.raises(ValueError, match="different space"):  # which now records the new space
        run_search(tiny_tuning.base_config(), tune, **tiny_tuning.search_kwargs())


@pytest.mark.parametrize("tuner", ["bayesian", pytest.param("hyperband", marks=pytest.mark.slow)])
def test_other_tuners(tmp_path, tuner):
    tune = _tune(tmp_path, tuner=tuner, epochs=2, hyperband_factor=2)
    result = run_search(tiny_tuning.base_config(), tune, **tiny_tuning.search_kwargs())
    rows = trial_rows(tune.project_dir)
    assert len(rows) >= 2 and all(row["status"] == "COMPLETED" for row in rows)
    assert result.best_config_path.is_file()


@pytest.mark.parametrize("objective", ["val_acuracy", "top5"])
def test_unknown_objective_fails_before_any_trial(tmp_path, objective):
    tune = _tune(tmp_path, objective=objective)
    with pytest.raises(ValueError, match=f"objective '{objective}' names no metric"):
        run_search(tiny_tuning.base_config(), tune, **tiny_tuning.search_kwargs())
    assert not tune.project_dir.exists()


def test_empty_space_fails_before_any_trial(tmp_path):
    tune = _tune(tmp_path, tune=(), space={})
    with pytest.raises(ValueError, match="search space is empty"):
        run_search(tiny_tuning.base_config(), tune, **tiny_tuning.search_kwargs())
    assert not tune.project_dir.exists()


def test_loss_objective_is_minimised(tmp_path):
    tune = _tune(tmp_path, objective="val_loss")
    result = run_search(tiny_tuning.base_config(), tune, **tiny_tuning.search_kwargs())
    rows = trial_rows(tune.project_dir)
    assert result.best_values == min(rows, key=lambda row: row["score"])["values"]


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"train.mixed_precision": "on"}, "needs a GPU"),
        ({"train.strategy": "multi_worker"}, "chief/worker mode"),
    ],
)
def test_unsupported_training_settings_fail_before_any_trial(tmp_path, overrides, message):
    if message == "needs a GPU":
        import tensorflow as tf

        if tf.config.list_physical_devices("GPU"):
            pytest.skip("a GPU is visible")
    tune = _tune(tmp_path)
    with pytest.raises(ValueError, match=message):
        run_search(tiny_tuning.base_config(**overrides), tune, **tiny_tuning.search_kwargs())
    assert not tune.project_dir.exists()


@pytest.mark.slow
def test_mirrored_trials_train_on_every_local_device(tmp_path):
    directory = tmp_path / "search"
    command = [sys.executable, "tests/training/tuning/tiny_tuning.py", "mirrored", str(directory)]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(tiny_tuning.REPO)}
    done = subprocess.run(
        command, cwd=tiny_tuning.REPO, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    replicas = (directory / "replicas.txt").read_text().split()
    # Our pre-flight build and KerasTuner's space discovery build outside the strategy; each trial's
    # model is built under it, with 2 replicas, and so is the best trial's model rebuilt from its
    # checkpoint to write best.keras.
    assert replicas == ["1", "1", "2", "2", "2"], replicas
    assert [row["status"] for row in trial_rows(directory / "ispan")] == ["COMPLETED"] * 2


def test_search_restores_the_global_random_state(tmp_path):
    # every trial calls keras.utils.set_random_seed; after the search the caller's state is back
    import random

    import numpy as np
    import tensorflow as tf

    random.seed(123)
    np.random.seed(123)  # noqa: NPY002
    tf.random.set_seed(None)
    expected = (random.random(), np.random.random())  # noqa: NPY002
    random.seed(123)
    np.random.seed(123)  # noqa: NPY002
    run_search(tiny_tuning.base_config(), _tune(tmp_path), **tiny_tuning.search_kwargs())
    assert (random.random(), np.random.random()) == expected  # noqa: NPY002
    assert tf.compat.v1.get_seed(None) == (None, None)
