"""What an export is asked to do: `ExportOptions`, `ExportConfig` (a `.keras` file to export), and
`ExportResult`; a model file that cannot be exported raises `ModelFileError`.
"""

import dataclasses
import pathlib

from keras_ispan.export.server_configs import check_model_name
from keras_ispan.io.coarse_to_fine import check_schedule
from keras_ispan.io.transform import ClipTransform
from keras_ispan.models import load_classifier


@dataclasses.dataclass(frozen=True)
class ExportOptions:
    """How a model is exported.

    Args:
        top_k: how many top classes the signatures return (capped at the number of classes).
        resize_ratio: None (default) uses the ratio recorded in the model
            (`classifier_info(model).transform`); a number overrides it (a warning says so when it
            differs from the model's).
        warmup_num_frames: frame counts of the warmup requests (one request per signature and count).
        warmup_size: `(height, width)` of the raw warmup frames; None uses a 4:3 frame whose short
            side is the transform's.
        anytime_threshold: the default threshold of `serve_anytime`: applied in the graph to a
            request whose `threshold` is negative, and recorded in `keras_ispan.json`
            (`benchmarks/frames_tradeoff.py` recommends one; `serving/export.py
            --anytime-threshold`).
        anytime_check_points: when `serve_anytime` checks whether to stop: `"doubling"` (after
            1, 2, 4, 8, ... frames), `"every_frame"`, or increasing prefix lengths
            (`keras_ispan.io.coarse_to_fine.check_points`).
        anytime_criterion: what `serve_anytime` compares with the threshold: `"top1"` (the top-1
            probability) or `"margin"` (top-1 minus top-2), as `keras_ispan.models.
            AnytimeClassifier(criterion=...)`; recorded in `keras_ispan.json` and returned per
            clip (`serving/export.py --anytime-criterion`).
    """

    top_k: int = 5
    resize_ratio: float | None = None
    warmup_num_frames: tuple = (8,)
    warmup_size: tuple | None = None
    anytime_threshold: float = 0.9
    anytime_check_points: str | tuple = "doubling"
    anytime_criterion: str = "top1"

    def __post_init__(self):
        if not isinstance(self.top_k, int) or self.top_k < 1:
            raise ValueError(f"`top_k` must be a positive integer. Received: top_k={self.top_k}")
        if self.resize_ratio is not None and not self.resize_ratio >= 1.0:
            raise ValueError(
                f"`resize_ratio` must be >= 1 or None. Received: resize_ratio={self.resize_ratio}"
            )
        counts = tuple(self.warmup_num_frames)
        if not counts or not all(isinstance(t, int) and t >= 1 for t in counts):
            raise ValueError(
                "`warmup_num_frames` must be a non-empty tuple of positive integers. "
                f"Received: warmup_num_frames={self.warmup_num_frames}"
            )
        object.__setattr__(self, "warmup_num_frames", counts)
        if not (isinstance(self.anytime_threshold, int | float) and self.anytime_threshold >= 0):
            raise ValueError(
                "`anytime_threshold` must be a number >= 0. "
                f"Received: anytime_threshold={self.anytime_threshold!r}"
            )
        from keras_ispan.models.anytime import CRITERIA

        if self.anytime_criterion not in CRITERIA:
            raise ValueError(
                f"`anytime_criterion` must be one of {CRITERIA}. "
                f"Received: anytime_criterion={self.anytime_criterion!r}"
            )
        explicit = check_schedule(self.anytime_check_points)
        if explicit is not None:
            object.__setattr__(self, "anytime_check_points", explicit)


@dataclasses.dataclass(frozen=True)
class ExportResult:
    version_dir: pathlib.Path
    version: int
    signatures: tuple
    class_names: tuple
    models_config: pathlib.Path
    batching_config: pathlib.Path
    monitoring_config: pathlib.Path
    docker_command: str
    transform: ClipTransform | None = None
    info_file: pathlib.Path | None = None


class ModelFileError(ValueError):
    """A model file that cannot be exported: `path` and `reason` (what is wrong, without the path)."""

    def __init__(self, path, reason):
        self.path = str(path)
        self.reason = str(reason)
        super().__init__(f"{self.path}: {self.reason}")


def check_model_path(path):
    """Raises `ModelFileError` unless `path` names an existing `.keras` file."""
    path = pathlib.Path(path)
    if not path.exists():
        raise ModelFileError(path, "file not found")
    if path.is_dir():
        raise ModelFileError(
            path, "is a folder; give the .keras file that training/fit.py or model.save writes"
        )
    if path.suffix != ".keras":
        raise ModelFileError(
            path,
            f"not a .keras model file (the name ends in {path.suffix or 'no suffix'!r}); give the "
            ".keras file that training/fit.py or model.save writes",
        )
    return path


def load_model_file(path):
    """`keras_ispan.models.load_classifier(path)`, its errors as `ModelFileError`."""
    path = check_model_path(path)
    try:
        return load_classifier(path)
    except FileNotFoundError:
        raise ModelFileError(path, "file not found") from None
    except ValueError as error:
        raise ModelFileError(path, _without_path(str(error), path)) from None


def _without_path(message, path):
    """`message` without a leading mention of `path` (load_classifier's messages start with it)."""
    for prefix in (str(path), path.name):
        if message.startswith(prefix):
            message = message[len(prefix) :].lstrip(": ")
            break
    return message[3:] if message.startswith("is not ") else message


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    """What `serving/export.py` exports: a `.keras` file to `export_base/name/<version>`.

    Raises:
        ModelFileError (a `ValueError`): `model_path` is not an existing `.keras` file.
        ValueError: a bad `name` or `version`.
    """

    model_path: str
    export_base: str
    name: str = "ispan"
    version: int | None = None
    options: ExportOptions = dataclasses.field(default_factory=ExportOptions)

    def __post_init__(self):
        check_model_path(self.model_path)
        check_model_name(self.name)
        if self.version is not None and (not isinstance(self.version, int) or self.version < 1):
            raise ValueError(
                f"`version` must be a positive integer or None. Received: version={self.version}"
            )
