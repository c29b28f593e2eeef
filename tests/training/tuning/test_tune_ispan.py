"""The search over real ISPAN models and the real pipeline, on a tiny synthetic dataset."""

import json
import warnings

import keras
import keras_tuner as kt
import numpy as np
import pytest

from keras_ispan.models import get_backbone_spec
from tests.training.tuning.tiny_tuning import tiny_overrides
from training import fit, tune
from training.config.core import load_config
from training.tuning.hypermodel import ISPANHyperModel, default_space
from training.tuning.search import TuneConfig, training_functions, trial_rows


@pytest.mark.slow
def test_hypermodel_builds_compiles_and_trains_across_the_whole_space(tmp_path, tiny_data):
    config = load_config(overrides=tiny_overrides(tmp_path, tiny_data))
    resolved, build_model, make_datasets = training_functions(
        config, TuneConfig(directory=str(tmp_path))
    )
    spec = get_backbone_spec(config.model.backbone)
    specs = default_space(resolved.to_dict(), spec.candidates, spec.levels)
    hypermodel = ISPANHyperModel(resolved, specs, build_model, make_datasets)
    longest = max(len(s.values) for s in specs.values() if s.kind == "choice")
    seen = {name: set() for name in specs}
    for i in range(
        longest
    ):  # every choice of every hyperparameter at least once; ranges at both ends
        hp = kt.HyperParameters()
        hypermodel.declare(hp)
        for name, s in specs.items():
            if s.kind == "choice":
                hp.values[name] = s.values[i % len(s.values)]
            else:
                hp.values[name] = s.min_value if i % 2 == 0 else s.max_value
            seen[name].add(hp.values[name])
        model = hypermodel.build(hp)
        assert model.optimizer is not None and model.loss is not None  # compiled
        k = hp.values["num_segments"]
        frames = np.random.default_rng(i).integers(0, 255, (2, k, 32, 32, 3)).astype("uint8")
        logs = model.train_on_batch(frames, np.array([0, 1], "int32"), return_dict=True)
        assert np.isfinite(logs["loss"]), (hp.values, logs)
        assert keras.ops.shape(model(frames))[-1] == 3
    for name, s in specs.items():
        if s.kind == "choice":
            assert seen[name] == set(s.values), name


@pytest.mark.slow
def test_cli_search_then_fit_the_best_config(tmp_path, tiny_data, capsys, recwarn):
    warnings.simplefilter("always")  # a repeated warning is recorded too
    directory = tmp_path / "search"
    args = ["--directory", str(directory), "--max-trials", "2", "--epochs", "1"]
    args += ["--tune", "learning_rate,fusion,num_segments"]
    for item in tiny_overrides(tmp_path, tiny_data):
        args += ["--set", item]
    assert tune.main(args) == 0
    rows = trial_rows(directory / "ispan")
    assert [row["status"] for row in rows] == ["COMPLETED", "COMPLETED"]
    best_path = directory / "ispan" / "best_config.json"
    best = max(rows, key=lambda row: row["score"])
    config = load_config(best_path)
    assert config.model.fusion == best["values"]["fusion"]
    assert config.data.num_segments == best["values"]["num_segments"]
    assert config.optim.learning_rate == pytest.approx(best["values"]["learning_rate"])
    assert config.data.data_dir == str(tiny_data)
    output = capsys.readouterr()
    assert "Search summary (2 trials" in output.out
    # every batch ran: no "Your input ran out of data" (datasets of a length Keras knows)
    said = output.out + output.err + "\n".join(str(w.message) for w in recwarn)
    assert "ran out of data" not in said
    # fit.py takes the file unchanged: a 1-epoch run that evaluates and writes its metrics.
    assert fit.main(["--config", str(best_path), "--name", "best"]) == 0
    metrics = json.loads((tmp_path / "runs" / "best" / "metrics.json").read_text())
    assert metrics["epochs_completed"] == 1
    saved = json.loads((tmp_path / "runs" / "best" / "config.json").read_text())
    assert saved["model"]["fusion"] == best["values"]["fusion"]


def test_missing_data_folder_fails_before_any_trial(tmp_path, capsys):
    missing = tmp_path / "no-such-dataset"
    directory = tmp_path / "search"
    assert tune.main(["--data", str(missing), "--directory", str(directory)]) == 2
    err = capsys.readouterr().err
    assert "Dataset folder not found" in err and str(missing) in err
    assert not directory.exists()


def test_unknown_objective_on_the_real_model_fails_before_any_trial(tmp_path, tiny_data, capsys):
    directory = tmp_path / "search"
    args = ["--directory", str(directory), "--objective", "val_top1"]
    for item in tiny_overrides(tmp_path, tiny_data):
        args += ["--set", item]
    assert tune.main(args) == 2
    err = capsys.readouterr().err
    assert "'val_top1' names no metric" in err and "val_accuracy" in err
    assert not directory.exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--tune", ""], "search space is empty"),
        (["--tune", "fusoin"], "Unknown hyperparameter 'fusoin'"),
        (["--tuner", "grid"], None),
    ],
)
def test_bad_command_lines(tmp_path, tiny_data, capsys, args, message):
    directory = tmp_path / "search"
    full = ["--data", str(tiny_data), "--directory", str(directory), *args]
    if message is None:
        with pytest.raises(SystemExit):
            tune.main(full)
        return
    assert tune.main(full) == 2
    assert message in capsys.readouterr().err
    assert not directory.exists()
