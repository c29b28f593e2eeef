"""PNG plots of a run: training curves from the CSV log, the confusion matrix, the frames sweep.

Every figure is written atomically, with the umask's file mode (`keras_ispan.io.atomic.atomic_path`).
Figures are drawn on their own Agg canvas (`matplotlib.figure.Figure`, not `pyplot`), so importing this
module or plotting changes neither matplotlib's backend nor pyplot's list of open figures.
"""

from __future__ import annotations

import csv
import pathlib

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["plot_confusion", "plot_curves", "plot_frames_sweep", "read_csv_log"]


def _figure(figsize) -> Figure:
    """A figure on its own Agg canvas: no global backend, nothing for `pyplot` to close."""
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path) -> pathlib.Path:
    from keras_ispan.io.atomic import atomic_path  # here: importing `keras_ispan` loads Keras

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, bbox_inches="tight", format="png")
    return pathlib.Path(path)


def read_csv_log(path) -> dict[str, list[float]]:
    """The Keras `CSVLogger` file as columns; a resumed run's repeated epochs keep their last row."""
    rows: dict[int, dict[str, str]] = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            if row.get("epoch") in (None, "", "epoch"):
                continue
            rows[int(row["epoch"])] = row
    columns: dict[str, list[float]] = {}
    for epoch in sorted(rows):
        for key, value in rows[epoch].items():
            try:
                columns.setdefault(key, []).append(float(value))
            except (TypeError, ValueError):
                columns.setdefault(key, []).append(float("nan"))
    return columns


def plot_curves(history: dict[str, list[float]], path, title: str = "") -> pathlib.Path:
    """Loss, accuracy-like metrics and learning rate per epoch, train and validation side by side."""
    epochs = np.asarray(history.get("epoch", range(len(next(iter(history.values()), [])))))
    epochs = epochs + 1
    groups = [("loss", ["loss"])]
    metric_names = sorted(
        k
        for k in history
        if not k.startswith("val_") and k not in ("epoch", "loss", "lr", "learning_rate")
    )
    for name in metric_names:
        groups.append((name, [name]))
    lr_key = "lr" if "lr" in history else ("learning_rate" if "learning_rate" in history else None)
    if lr_key:
        groups.append(("learning rate", [lr_key]))
    fig = _figure((4 * len(groups), 3.2))
    axes = fig.subplots(1, len(groups), squeeze=False)
    for ax, (label, keys) in zip(axes[0], groups):
        for key in keys:
            ax.plot(epochs, history[key], marker="o", label="train" if key != lr_key else key)
            if f"val_{key}" in history:
                ax.plot(epochs, history[f"val_{key}"], marker="s", label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(label)
        ax.grid(alpha=0.3)
        if key != lr_key:
            ax.legend()
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_confusion(matrix, class_names, path, title: str = "confusion matrix") -> pathlib.Path:
    """Row-normalised confusion matrix (rows: true class) with the counts written in the cells."""
    matrix = np.asarray(matrix)
    totals = np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.45 * len(matrix) + 2)
    fig = _figure((size, size))
    ax = fig.subplots()
    ax.imshow(matrix / totals, cmap="Blues", vmin=0, vmax=1)
    names = list(class_names) if class_names else [str(i) for i in range(len(matrix))]
    ax.set_xticks(range(len(names)), names, rotation=90)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if len(matrix) <= 30:
        for i in range(len(matrix)):
            for j in range(len(matrix)):
                if matrix[i, j]:
                    dark = matrix[i, j] / totals[i, 0] > 0.5
                    ax.text(j, i, int(matrix[i, j]), ha="center", va="center",
                            color="white" if dark else "black", fontsize=8)  # fmt: skip
    ax.set_title(title)
    return _save(fig, path)


def plot_frames_sweep(rows, path, metric: str = "top1") -> pathlib.Path:
    """Accuracy (or mAP) against the number of frames T, log-scaled T axis."""
    frames = [row["frames"] for row in rows]
    values = [row[metric] for row in rows]
    fig = _figure((5, 3.5))
    ax = fig.subplots()
    ax.plot(frames, values, marker="o")
    ax.set_xscale("log", base=2)
    ax.set_xticks(frames, [str(f) for f in frames])
    ax.set_xlabel("frames per clip (T)")
    ax.set_ylabel(metric)
    ax.set_title("same weights, different numbers of frames")
    ax.grid(alpha=0.3)
    return _save(fig, path)
