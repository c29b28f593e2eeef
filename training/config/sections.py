"""The sections of `training.config.core.TrainConfig`: frozen dataclasses validated on construction.

`DataConfig` (the `data.` keys) is made from the library's dataset settings in `training/config/data.py`.
"""

from __future__ import annotations

import dataclasses
import re

from keras_ispan.options import (
    BACKBONE_NAMES,
    BIAS_MODES,
    CLASSIFIER_INITIALIZERS,
    DIVERSITY_FORMS,
    DOWNSAMPLE_MODES,
    FUSION_MODES,
    HEADS,
    LR_SCHEDULES,
    MODALITIES,
    POOLING_MODES,
    STREAM_CALIBRATIONS,
    STREAM_FUSIONS,
)
from training.config.data import DataConfig

__all__ = [
    "BACKBONE_NAMES", "DataConfig", "EvalConfig", "ModelConfig", "OptimConfig", "OutputConfig", "TrainLoopConfig",
]  # fmt: skip

OPTIMIZERS = ("sgd", "adamw", "adam")
STRATEGIES = ("default", "mirrored", "multi_worker")
MIXED_PRECISION = ("auto", "on", "off")
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}. Received: {name}={value!r}")


def _positive(name: str, value, allow_zero: bool = False) -> None:
    if value is None:
        return
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}. Received: {name}={value!r}")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The classifier (`keras_ispan.models.build_classifier` arguments plus what is frozen).

    Args:
        backbone: a name in `keras_ispan.models.BACKBONES`.
        head: `ispan`, `single` (anchor-only attention, no losses), `tsn` (average consensus) or `gap`.
        levels: backbone layer names of the pyramid, shallow to deep; `None` uses the backbone's defaults.
        weights: `none`, `imagenet`, or a path to a backbone weights file.
        dropout: dropout before the classifier.
        downsample, fusion, bias, normalize_features: the ISPAN layer's options.
        attention_pooling: `l2` (the paper's `A X`) or `softmax` (`a X`, scale independent of T).
        interaction_weight: beta, weight of the PCA interaction loss (0 disables it).
        diversity_weight: gamma, weight of the level diversity loss (0 disables it).
        diversity_form: `paper` (the published `l_attn`, nearly constant: its gradient is about 1e-5 of the
            cross-entropy's) or `cosine` (scale-free, in [0, 1]: the mean cosine similarity between the fused
            and each level's attention map; use a larger `diversity_weight`, e.g. 0.1). See docs/METHOD.md.
        multi_label: sigmoid scores and sigmoid cross-entropy (Charades).
        freeze_backbone: train the head only.
        partial_bn: TSN's partial batch norm (Wang et al., ECCV 2016, Sec. 3.2): every BatchNormalization
            layer of the backbone but the first is frozen (inference mode: moving statistics, fixed scale
            and offset); the first keeps updating. For pretrained backbones on small datasets.
        frozen_bn: every BatchNormalization layer of the backbone frozen (inference mode, the pretrained
            statistics, scale and offset kept); the convolutions still train. For pretrained backbones.
        bn_momentum: momentum of the backbone's BatchNormalization moving statistics; `None` keeps the
            backbone's (Keras: 0.99, too slow for runs of a few hundred steps: the synthetic preset uses 0.9;
            with `train.precise_bn` the moving statistics are re-estimated before each validation and the
            momentum no longer changes what is evaluated).
        modality: `rgb` (frames), `flow` (TSN's stacked optical flow: the dataset must hold flow,
            `prepare.py --flow`) or `two_stream` (both, fused; `keras_ispan.models.build_two_stream`).
            With `weights`, the flow stream starts from them by cross-modality initialisation.
        flow_length: `L`, flow fields stacked per sampled segment (2L channels; TSN: 5).
        stream_fusion: `late` (weighted average of the streams' logits, TSN), `learned` (the same,
            weights learned) or `concat` (the streams' ISPAN features concatenated before one classifier).
        stream_weights: `(rgb, flow)` relative weights of late fusion (TSN: 1, 1.5).
        classifier_initializer: `glorot_uniform` (Keras' default), `glorot_over_sqrt_p` or `zeros` (every head
            starts at cross-entropy ln(classes); with Glorot the attention heads' sqrt(P) output scale makes it 12 to 15 on
            the hard synthetic data). Measured (issue 17): zeros removed ISPAN's one-class collapse on the hard
            data (3 seeds) but slowed learning on the embedded default (`fit.py`: test top-1 0.583 against
            0.967), so it is not the default. `glorot_over_sqrt_p` (the default): Glorot with its bound divided
            by sqrt(P), P = data.num_segments x the anchor level's positions per frame (Glorot for tsn, gap and
            softmax pooling); 3 seeds: ISPAN on the hard data 0.386 against 0.201 with Glorot, no run collapsed,
            default data 0.999 against 0.971. See `keras_ispan.models.build_classifier`.
        stream_calibration: `none` (TSN's fusion of the logits as they are; the default) or
            `temperature` (after training, each stream's logits are divided by a temperature fitted
            on the validation split, so that a confident stream that cannot know the answer does
            not drown the other; `training.evaluation.calibration`). Late fusion of a two-stream
            model only: refused with another modality or `concat`, which it could not change. `benchmarks/two_stream_study.py` measured no gain on the embedded data
            (one test clip either way), hence TSN's default.
    """

    backbone: str = "small_cnn"
    head: str = "ispan"
    levels: tuple[str, ...] | None = None
    weights: str = "none"
    dropout: float = 0.5
    downsample: str = "avg"
    fusion: str = "sum"
    bias: str = "position"
    attention_pooling: str = "l2"
    interaction_weight: float = 1e-4
    diversity_weight: float = 1e-3
    diversity_form: str = "paper"
    normalize_features: bool = True
    multi_label: bool = False
    freeze_backbone: bool = False
    partial_bn: bool = False
    frozen_bn: bool = False
    bn_momentum: float | None = None
    modality: str = "rgb"
    flow_length: int = 5
    stream_fusion: str = "late"
    stream_weights: tuple[float, ...] = (1.0, 1.5)
    classifier_initializer: str = "glorot_over_sqrt_p"
    stream_calibration: str = "none"

    def __post_init__(self):
        self._check_streams()
        if self.bn_momentum is not None and not 0.0 <= self.bn_momentum < 1.0:
            raise ValueError(
                f"model.bn_momentum must be in [0, 1) or null. Received: model.bn_momentum={self.bn_momentum}"
            )
        if self.partial_bn and self.frozen_bn:
            raise ValueError(
                "model.partial_bn and model.frozen_bn exclude each other (partial BN keeps the first layer "
                "updating). Received: model.partial_bn=True, model.frozen_bn=True"
            )
        backbones = BACKBONE_NAMES  # the registry's keys, without importing Keras
        if self.backbone not in backbones:
            import difflib

            close = difflib.get_close_matches(self.backbone, backbones, n=3)
            hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
            raise ValueError(
                f"model.backbone must be one of {list(backbones)}{hint}. "
                f"Received: model.backbone={self.backbone!r}"
            )
        _choice("model.head", self.head, HEADS)
        _choice("model.downsample", self.downsample, DOWNSAMPLE_MODES)
        _choice("model.fusion", self.fusion, FUSION_MODES)
        _choice("model.bias", self.bias, BIAS_MODES)
        _choice("model.attention_pooling", self.attention_pooling, POOLING_MODES)
        _choice("model.diversity_form", self.diversity_form, DIVERSITY_FORMS)
        _choice(
            "model.classifier_initializer", self.classifier_initializer, CLASSIFIER_INITIALIZERS
        )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(
                f"model.dropout must be in [0, 1). Received: model.dropout={self.dropout}"
            )
        _positive("model.interaction_weight", self.interaction_weight, allow_zero=True)
        _positive("model.diversity_weight", self.diversity_weight, allow_zero=True)
        if self.levels is not None and len(self.levels) == 0:
            raise ValueError(
                "model.levels must be null or a non-empty list. Received: model.levels=[]"
            )
        if not self.weights:
            raise ValueError(
                "model.weights must be 'none', 'imagenet' or a file path. Received: model.weights=''"
            )

    def _check_streams(self) -> None:
        _choice("model.modality", self.modality, MODALITIES)
        _choice("model.stream_fusion", self.stream_fusion, STREAM_FUSIONS)
        _choice("model.stream_calibration", self.stream_calibration, STREAM_CALIBRATIONS)
        if self.stream_calibration != "none" and (
            self.modality != "two_stream" or self.stream_fusion == "concat"
        ):  # refused, not ignored (it was skipped silently, or after training for concat)
            raise ValueError(
                "model.stream_calibration calibrates the late fusion of a two-stream model "
                "(model.modality=two_stream, model.stream_fusion late or learned). Received: "
                f"model.stream_calibration={self.stream_calibration!r} with "
                f"model.modality={self.modality!r}, model.stream_fusion={self.stream_fusion!r}"
            )
        _positive("model.flow_length", self.flow_length)
        weights = self.stream_weights
        if len(weights) != 2 or any(w <= 0 for w in weights):
            raise ValueError(
                "model.stream_weights must be two positive numbers (rgb, flow). "
                f"Received: model.stream_weights={list(weights)}"
            )

    def ignored_stream_keys(self) -> dict[str, object]:
        """The stream keys changed from their defaults that this model's modality has no use for:
        `flow_length`, `stream_fusion` and `stream_weights` on an RGB model, the fusion keys on a
        flow model (`{name: value}`, in field order; empty for a two-stream model).

        Checked on a merged request (`training.config.core.load_config`), not here: a config file
        may name them before the command line's `--modality two_stream` is merged over it."""
        unused = {"rgb": ("flow_length", "stream_fusion", "stream_weights"),
                  "flow": ("stream_fusion", "stream_weights")}.get(self.modality, ())  # fmt: skip
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        plain = lambda v: tuple(v) if isinstance(v, list | tuple) else v  # noqa: E731 (JSON lists)
        return {name: getattr(self, name) for name in unused
                if plain(getattr(self, name)) != plain(defaults[name])}  # fmt: skip

    @property
    def weights_argument(self) -> str | None:
        """`weights` as `build_classifier` takes it (`None` for `"none"`)."""
        return None if self.weights.lower() == "none" else self.weights


@dataclasses.dataclass(frozen=True)
class OptimConfig:
    """Optimiser, schedule and loss options.

    Args:
        optimizer: `sgd` (with `momentum`, `nesterov`), `adamw` or `adam`.
        learning_rate: peak learning rate (after warmup), for the global batch size.
        weight_decay: decoupled weight decay (biases and normalisation scales/offsets excluded).
        schedule: `constant`, `step` (multiply by `step_gamma` at each epoch in `step_epochs`) or `cosine`
            (to `min_lr_ratio * learning_rate` at the end of training).
        warmup_epochs: linear warmup from 0 over this many epochs (may be fractional).
        clipnorm: clip each gradient to this L2 norm; `None` disables clipping.
        label_smoothing: label smoothing of the (sigmoid) cross-entropy.
    """

    optimizer: str = "adamw"
    learning_rate: float = 3e-3
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 1e-4
    schedule: str = "cosine"
    warmup_epochs: float = 1.0
    step_epochs: tuple[int, ...] = ()
    step_gamma: float = 0.1
    min_lr_ratio: float = 0.0
    clipnorm: float | None = 10.0
    label_smoothing: float = 0.0

    def __post_init__(self):
        _choice("optim.optimizer", self.optimizer, OPTIMIZERS)
        _choice("optim.schedule", self.schedule, LR_SCHEDULES)
        _positive("optim.learning_rate", self.learning_rate)
        _positive("optim.weight_decay", self.weight_decay, allow_zero=True)
        _positive("optim.warmup_epochs", self.warmup_epochs, allow_zero=True)
        _positive("optim.clipnorm", self.clipnorm)
        _positive("optim.step_gamma", self.step_gamma)
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(
                f"optim.momentum must be in [0, 1). Received: optim.momentum={self.momentum}"
            )
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(
                f"optim.label_smoothing must be in [0, 1). "
                f"Received: optim.label_smoothing={self.label_smoothing}"
            )
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ValueError(
                f"optim.min_lr_ratio must be in [0, 1]. Received: optim.min_lr_ratio={self.min_lr_ratio}"
            )
        if list(self.step_epochs) != sorted(self.step_epochs) or any(
            e <= 0 for e in self.step_epochs
        ):
            raise ValueError(
                f"optim.step_epochs must be increasing positive epochs. "
                f"Received: optim.step_epochs={list(self.step_epochs)}"
            )
        if self.schedule == "step" and not self.step_epochs:
            raise ValueError(
                "optim.step_epochs must list at least one epoch with schedule='step'. "
                "Received: optim.step_epochs=[]"
            )


@dataclasses.dataclass(frozen=True)
class TrainLoopConfig:
    """The training loop.

    Args:
        epochs: total epochs (a resumed run ends after the same number).
        seed: seed of Python, NumPy, Keras and the input pipeline.
        strategy: `default`, `mirrored` (one host, all local GPUs) or `multi_worker` (`TF_CONFIG`).
        mixed_precision: `auto` (mixed_float16 when a GPU is present), `on` (GPU required) or `off`.
        early_stopping_patience: epochs without improvement of `monitor` before stopping; 0 disables.
        monitor: the metric for the best checkpoint and early stopping (`val_accuracy`, `val_auc`,
            `val_loss`, ...).
        steps_per_epoch, validation_steps: limit the batches per epoch (`None`: whole split).
        verbose: Keras progress output (0 silent, 1 progress bar, 2 one line per epoch).
        sync_batch_norm: with several replicas, batch-norm statistics are computed over the global batch
            (synchronised), so every replica and worker keeps identical moving statistics.
        precise_bn: before each validation (and so in every checkpoint), re-estimate the backbone's
            updating batch-norm statistics as the population statistics of the training clips under the
            evaluation transform (`keras_ispan.models.precise_batch_norm`), so inference sees the
            statistics it normalises by; frozen layers keep theirs.
        precise_bn_batches: training batches used by `precise_bn` (at most the whole split).
    """

    epochs: int = 10
    seed: int = 0
    strategy: str = "default"
    mixed_precision: str = "auto"
    early_stopping_patience: int = 0
    monitor: str = "val_accuracy"
    steps_per_epoch: int | None = None
    validation_steps: int | None = None
    verbose: int = 1
    sync_batch_norm: bool = True
    precise_bn: bool = True
    precise_bn_batches: int = 20

    def __post_init__(self):
        _positive("train.epochs", self.epochs)
        _positive("train.precise_bn_batches", self.precise_bn_batches)
        _choice("train.strategy", self.strategy, STRATEGIES)
        _choice("train.mixed_precision", self.mixed_precision, MIXED_PRECISION)
        _positive("train.early_stopping_patience", self.early_stopping_patience, allow_zero=True)
        _positive("train.steps_per_epoch", self.steps_per_epoch)
        _positive("train.validation_steps", self.validation_steps)
        _choice("train.verbose", self.verbose, (0, 1, 2))
        if not self.monitor:
            raise ValueError("train.monitor must name a logged metric. Received: train.monitor=''")

    @property
    def monitor_mode(self) -> str:
        return "min" if self.monitor.endswith("loss") else "max"


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """Test protocol.

    Args:
        num_segments: frames per view at test time (TSN: 25).
        num_crops: spatial crops per clip: 1 (centre), 3 (along the long side) or 10 (TSN: 4 corners and
            the centre, and their flips).
        num_clips: temporal views per clip (each of `num_segments` frames).
        frames_sweep: numbers of frames for the frames sweep of `evaluate.py --sweep`.
        chunk_views: views passed through the model at once (bounds memory); a clip's views are averaged.
        top_k: `k` of the top-k accuracy.
        split: the split `run()` evaluates after training.
    """

    num_segments: int = 8
    num_crops: int = 1
    num_clips: int = 1
    frames_sweep: tuple[int, ...] = (1, 2, 4, 8, 16, 25)
    chunk_views: int = 10
    top_k: int = 5
    split: str = "test"

    def __post_init__(self):
        _positive("eval.num_segments", self.num_segments)
        _choice("eval.num_crops", self.num_crops, (1, 3, 10))
        _positive("eval.num_clips", self.num_clips)
        _positive("eval.chunk_views", self.chunk_views)
        _positive("eval.top_k", self.top_k)
        for value in self.frames_sweep:
            _positive("eval.frames_sweep", value)


@dataclasses.dataclass(frozen=True)
class OutputConfig:
    """Where the run folder goes and what is written.

    Args:
        runs_dir: parent folder of run folders.
        name: the run folder's name; `None` uses `<preset>-<UTC time>`. Re-running a name whose run was
            interrupted resumes it; a finished run is refused unless `overwrite`.
        preset: the preset the config started from (informational).
        export: also write a servable SavedModel with `keras_ispan.export.saved_model.export_model`.
        attention_format: `png` (a grid) or `gif` (one frame per sampled frame).
        tensorboard: write TensorBoard logs.
        overwrite: replace a finished run of the same name.
    """

    runs_dir: str = "runs"
    name: str | None = None
    preset: str = "synthetic"
    export: bool = False
    attention_format: str = "png"
    tensorboard: bool = True
    overwrite: bool = False

    def __post_init__(self):
        if self.name is not None and not _NAME_PATTERN.match(self.name):
            raise ValueError(
                "output.name must use letters, digits, '.', '_' and '-' only. "
                f"Received: output.name={self.name!r}"
            )
        _choice("output.attention_format", self.attention_format, ("png", "gif"))
