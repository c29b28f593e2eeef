"""What a finished search leaves: one row per trial read from its files, the summary table
(`summary.txt`, `summary.json`), the best trial's config (`best_config.json`) and model (`best.keras`)."""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import keras_tuner as kt

from keras_ispan.io.atomic import write_json_atomic, write_text_atomic
from training.config import core as config_lib

__all__ = [
    "best_row",
    "format_table",
    "save_best_model",
    "trial_rows",
    "write_best_config",
    "write_summary",
]


def write_summary(rows, specs, objective, output) -> dict:
    """Prints and writes the trial table (`summary.txt`, `summary.json`); returns the best row."""
    names = [name for name, spec in specs.items() if spec.tunable]
    table = format_table(rows, names, objective)
    print(table, flush=True)
    write_text_atomic(output / "summary.txt", table + "\n")
    write_json_atomic(
        output / "summary.json",
        {"objective": objective.name, "direction": objective.direction, "rows": rows},
        indent=2,
    )
    return best_row(rows, objective)


def write_best_config(hypermodel, best, user_config, output) -> pathlib.Path:
    """The best trial's training config, with the data and epochs the user gave (fit.py's own
    defaults, not the tuner's per-trial budget), as `best_config.json`."""
    best_config = hypermodel.config_for(dict(best["values"]))
    best_config = best_config.replace(
        data=dataclasses.replace(best_config.data, data_dir=user_config.data.data_dir),
        train=dataclasses.replace(best_config.train, epochs=user_config.train.epochs),
    )
    return config_lib.save_config(best_config, output / "best_config.json")


def save_best_model(tuner, path: pathlib.Path) -> pathlib.Path | None:
    """Saves the best trial's model (its best checkpoint) to `path` as `.keras`, atomically.

    The file is what `training/evaluate.py`, `training/predict.py` and `serving/export.py` load
    (`keras_ispan.models.load_classifier`); None when no trial completed.
    """
    from keras_ispan.io.atomic import atomic_path

    try:
        with warnings.catch_warnings():  # the checkpoint holds optimizer state the model needs not
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            models = tuner.get_best_models(1)
    except (IndexError, ValueError):  # no completed trial
        return None
    if not models:
        return None
    with atomic_path(path, suffix=".keras") as tmp:
        models[0].save(tmp)
    return path


def trial_rows(project_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """One row per trial of the search in `project_dir`, read from its files, in trial order."""
    project_dir = pathlib.Path(project_dir)
    rows = []
    paths = project_dir.glob("trial_*/trial.json")
    for path in sorted(paths, key=lambda p: (len(p.parent.name), p.parent.name)):
        state = json.loads(path.read_text())
        values = state["hyperparameters"]["values"]
        run = path.parent / "ispan_run.json"
        run_info = json.loads(run.read_text()) if run.is_file() else {}
        rows.append(
            {
                "trial_id": state["trial_id"],
                "status": state["status"],
                "score": state["score"],
                "tuner_id": run_info.get("tuner_id"),
                "seconds": run_info.get("seconds"),
                "values": values,
                "error": (state.get("message") or "").strip().splitlines()[-1:] or None,
            }
        )
    return rows


def best_row(rows: Sequence[Mapping[str, Any]], objective: kt.Objective) -> Mapping[str, Any]:
    done = [row for row in rows if row["status"] == "COMPLETED" and row["score"] is not None]
    if not done:
        statuses = {row["trial_id"]: row["status"] for row in rows}
        errors = [row["error"][0] for row in rows if row.get("error")]
        hint = f" First error: {errors[0]}" if errors else ""
        raise RuntimeError(f"No trial completed with a score (trial statuses: {statuses}).{hint}")
    pick = max if objective.direction == "max" else min
    return pick(done, key=lambda row: row["score"])


def format_table(
    rows: Sequence[Mapping[str, Any]], names: Sequence[str], objective: kt.Objective
) -> str:
    """The summary: one line per trial, best first, with its status, score, tuner and tuned values."""
    sign = -1.0 if objective.direction == "max" else 1.0

    def order(row):
        return (row["score"] is None, 0.0 if row["score"] is None else sign * row["score"])

    scored = sorted(rows, key=order)
    extra = [n for n in ("tuner/epochs",) if any(n in r["values"] for r in rows)]
    header = ["trial", "status", objective.name, "tuner", "seconds", *names, *extra]
    lines = [header]
    for row in scored:
        cells = [
            row["trial_id"],
            row["status"],
            "-" if row["score"] is None else f"{row['score']:.4f}",
            row["tuner_id"] or "-",
            "-" if row["seconds"] is None else f"{row['seconds']:.1f}",
        ]
        cells += [_cell(row["values"].get(name)) for name in [*names, *extra]]
        lines.append(cells)
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    text = [
        " | ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines
    ]
    text.insert(1, "-+-".join("-" * w for w in widths))
    return (
        f"Search summary ({len(rows)} trials, {objective.direction} {objective.name}):\n"
        + "\n".join(text)
    )


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)
