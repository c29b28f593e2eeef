"""What a run records in its flow and two-stream models beyond training: the flow settings of its
dataset (`record_flow_settings`, at build time) and the streams' calibration at the end of the run
(`calibrate_best`, `model.stream_calibration`).

`calibrate_best` fits each stream's temperature on the validation split
(`training.evaluation.calibration.calibrate_two_stream`), sets it in the best model's `LateFusion`
layer and saves `best.keras` again, so that the test evaluation, `evaluate.py`, `predict.py` and the
export all fuse calibrated logits. Refitting is idempotent (the temperatures are fitted on each
stream's own logits), so a resumed run that calibrates again gets the same model.
"""

from __future__ import annotations

from keras_ispan.io.atomic import atomic_path
from keras_ispan.models import is_two_stream
from training.data import datasets

__all__ = ["calibrate_best", "record_flow_settings"]


def record_flow_settings(flow_model, info) -> None:
    """Records in `flow_model` how the flow of the dataset described by `info` (its `metadata`) was
    computed (`keras_ispan.io.transform.FlowSettings.from_dataset_metadata`), so that
    `predict.py` and the serving client compute the same flow. A dataset info without metadata (a
    test's stand-in) records nothing."""
    from keras_ispan.io.transform import FlowSettings
    from keras_ispan.models import set_flow_settings

    metadata = getattr(info, "metadata", None)
    if metadata is not None:
        set_flow_settings(flow_model, FlowSettings.from_dataset_metadata(metadata))


def calibrate_best(model, config, run_dir, data_dir, info, log) -> dict | None:
    """Calibrates `model` (the run's best two-stream model, loaded from `run_dir/best.keras`) in place
    and rewrites `best.keras`; returns `{"rgb": T, "flow": T, "split": name}`, or None when there is
    nothing to calibrate (one stream, `model.stream_calibration=none`, `concat` fusion, or no
    validation split: then it logs why)."""
    from training.evaluation.calibration import calibrate_two_stream

    if not is_two_stream(model) or config.model.stream_calibration == "none":
        return None
    if config.model.stream_fusion == "concat":
        log(
            "[run] model.stream_calibration: concat fusion has no stream logits to calibrate; skipped"
        )
        return None
    split = datasets.validation_split(info, config)
    if split is None:
        log("[run] model.stream_calibration: no validation split to fit temperatures on; skipped")
        return None
    dataset = datasets.eval_dataset(config, data_dir, split)
    temperatures = calibrate_two_stream(model, dataset, multi_label=info.multi_label)
    with atomic_path(run_dir / "best.keras", suffix=".keras") as tmp:
        model.save(tmp)
    log(
        f"[run] stream temperatures fitted on '{split}': RGB {temperatures['rgb']:.3g}, "
        f"flow {temperatures['flow']:.3g} (late fusion of logits / T; best.keras updated)"
    )
    warning = sharpening_warning(temperatures, split, int(info.counts.get(split, 0)))
    if warning:
        log(warning)
    return {**temperatures, "split": split}


def sharpening_warning(temperatures, split, clips) -> str | None:
    """A warning naming each stream whose fitted temperature reached the lower bound of
    `TEMPERATURE_RANGE` (its logits sharpened, the opposite of what calibration is for: the sign of a
    validation split too small to calibrate on), or None."""
    from training.evaluation.calibration import TEMPERATURE_RANGE

    low = TEMPERATURE_RANGE[0]
    sharpened = [f"{name} T={t:.3g}" for name, t in temperatures.items() if t <= low * 1.01]
    if not sharpened:
        return None
    return (
        f"[run] warning: model.stream_calibration: {', '.join(sharpened)} reached the lower bound "
        f"{low} (logits sharpened {1 / low:.0f}x) on {clips} '{split}' clips: too few to calibrate "
        "on; consider model.stream_calibration=none or a larger validation split"
    )
