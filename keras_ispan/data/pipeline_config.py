"""`PipelineConfig`, the settings of the tf.data input pipeline (`keras_ispan.data.pipeline.make_dataset`).

Without TensorFlow, so that an application validates them (and reads their fields: the experiment
config's `data.` keys, `training/config/data.py`) before it imports TensorFlow;
`keras_ispan.data.pipeline` re-exports the class.
"""

import dataclasses

from keras_ispan.checks import check_integer
from keras_ispan.data.records import LABEL_SOURCES, READERS, RESIZE_IN
from keras_ispan.io.transform import DEFAULT_RESIZE_RATIO
from keras_ispan.options import MODALITIES

HOLDOUT_MODES = ("keep", "drop")


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """Input pipeline settings.

    Attributes:
        num_segments: `K` frames sampled per clip (TSN segments).
        image_size: `S`, the square crop side.
        batch_size: clips per global batch (divided by the replicas when `make_dataset` gets an
            `input_context`).
        training: random TSN sampling + augmentation and shuffling, else deterministic evaluation.
        multi_label, num_classes: None takes them from the dataset's metadata; a value must agree.
        crops: evaluation crops per clip, 1 (centre), 3 or 10 (see `eval_crops`).
        num_clips: evaluation temporal views per clip.
        cache: False, True (memory) or a file path prefix; caches the serialized records (before
            shuffling, sampling and augmentation).
        shuffle_buffer: clips in the shuffle buffer (training).
        seed: None, or an int that makes the training stream reproducible (order included).
        scales, max_distort, flip: TSN multi-scale crop and horizontal flip (training).
        resize_ratio: evaluation short side / `S` before the centre crop.
        data_service: None, or a tf.data service dispatcher address (`"grpc://host:port"`).
        drop_remainder: drop the last incomplete batch. repeat: repeat forever (after shuffling).
        dct_method: `tf.io.decode_jpeg` DCT method (`""` default, `"INTEGER_FAST"`).
        label_source: `"video"` (the record's labels) or `"frames"` (multi-label datasets with timed
            actions: the actions under the sampled frames, see `keras_ispan.data.clip_reader.clip_target`).
        reader: `"index"` reads each clip's context from the shard's index file and only its K
            sampled frames from the shard (`keras_ispan/data/shard_index.py`); `"records"` reads whole
            records; `"auto"` takes `"index"` when every shard of the split has a current index, the
            files are local and there is no `data_service` (index reads run Python code, which the
            tf.data service cannot ship to its workers).
        resize: where the pixel work on training crops runs: `"pipeline"` (resize to `S`, flip), or
            `"model"`: one crop size is drawn per batch, frames are `(batch, K, crop_h, crop_w, 3)`,
            neither resized nor flipped, and the model does both on the accelerator
            (`keras_ispan.models.with_frame_resize(model, flip=True)`); needs `flip=False` here.
            Evaluation always yields `S x S`.
        holdout: None, or `(fraction, seed, "keep" | "drop")`: a clip is held out when a stable
            hash of its `video_id` and `seed` (`holdout_mask`) falls below `fraction`; `"keep"`
            yields only the held-out clips, `"drop"` only the others. The same clips every run, on
            every machine; `"keep"` and `"drop"` of one split are disjoint and together the split
            (a validation split carved from `train`, see `training/data/datasets.py`).
        modality: `"rgb"` (frames), `"flow"` (flow stacks) or `"two_stream"` (both, a dict); flow
            needs a dataset with flow (`prepare.py --flow`, or `--add-flow DIR` afterwards).
        flow_length: `L`, flow steps stacked per sampled frame (`2L` channels), TSN's 5.
    """

    num_segments: int = 8
    image_size: int = 112
    batch_size: int = 8
    training: bool = True
    multi_label: bool | None = None
    num_classes: int | None = None
    crops: int = 1
    num_clips: int = 1
    cache: bool | str = False
    shuffle_buffer: int = 512
    seed: int | None = None
    scales: tuple = (1.0, 0.875, 0.75, 0.66)
    max_distort: int = 1
    flip: bool = True
    resize_ratio: float = DEFAULT_RESIZE_RATIO
    data_service: str | None = None
    drop_remainder: bool = False
    repeat: bool = False
    dct_method: str = ""
    label_source: str = "video"
    reader: str = "auto"
    resize: str = "pipeline"
    holdout: tuple | None = None
    modality: str = "rgb"
    flow_length: int = 5

    def __post_init__(self):
        _check_holdout(self.holdout)
        check_integer("flow_length", self.flow_length)
        if self.modality not in MODALITIES:
            raise ValueError(
                f"`modality` must be one of {MODALITIES}. Received: modality={self.modality!r}"
            )
        if self.modality != "rgb" and self.resize == "model":
            raise ValueError(
                "resize='model' resizes RGB frames in the model; flow stacks are resized in the "
                f"pipeline: use resize='pipeline'. Received: resize='model', modality={self.modality!r}"
            )
        for name in ("num_segments", "image_size", "batch_size", "num_clips", "shuffle_buffer"):
            check_integer(name, getattr(self, name))
        if self.num_classes is not None:
            check_integer("num_classes", self.num_classes)
        if self.crops not in (1, 3, 10):
            raise ValueError(f"`crops` must be 1, 3 or 10. Received: crops={self.crops!r}")
        if self.training and (self.crops != 1 or self.num_clips != 1):
            raise ValueError(
                "Multi-view (`crops`, `num_clips`) is for evaluation only. "
                f"Received: crops={self.crops}, num_clips={self.num_clips}, training=True"
            )
        object.__setattr__(self, "scales", tuple(float(s) for s in self.scales))
        if not self.scales or not all(0.0 < s <= 1.0 for s in self.scales):
            raise ValueError(f"`scales` must be values in (0, 1]. Received: scales={self.scales}")
        if not isinstance(self.max_distort, int) or self.max_distort < 0:
            raise ValueError(
                f"`max_distort` must be >= 0. Received: max_distort={self.max_distort}"
            )
        if not self.resize_ratio >= 1.0:
            raise ValueError(
                f"`resize_ratio` must be >= 1. Received: resize_ratio={self.resize_ratio}"
            )
        if self.label_source not in LABEL_SOURCES:
            raise ValueError(
                f"`label_source` must be one of {LABEL_SOURCES}. "
                f"Received: label_source={self.label_source!r}"
            )
        for name, allowed in (("reader", READERS), ("resize", RESIZE_IN)):
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"`{name}` must be one of {allowed}. Received: {name}={getattr(self, name)!r}"
                )
        if self.resize == "model" and self.flip and self.training:
            raise ValueError(
                "With resize='model' the model flips the clips (`with_frame_resize(model, "
                "flip=True)`): set flip=False for the pipeline. Received: resize='model', flip=True"
            )
        if self.reader == "index" and self.data_service:
            raise ValueError(
                "reader='index' cannot run through the tf.data service (its workers cannot run the "
                "Python range reads); use reader='records' or 'auto'. "
                f"Received: reader='index', data_service={self.data_service!r}"
            )
        if self.data_service is not None and not isinstance(self.data_service, str):
            raise ValueError(f"`data_service` must be an address. Received: {self.data_service!r}")

    @property
    def num_views(self):
        return 1 if self.training else self.num_clips * self.crops


def _check_holdout(holdout):
    if holdout is None:
        return
    ok = isinstance(holdout, tuple | list) and len(holdout) == 3
    if ok:
        fraction, seed, mode = holdout
        ok = 0 < fraction < 1 and isinstance(seed, int) and mode in HOLDOUT_MODES
    if not ok:
        raise ValueError(
            "`holdout` must be None or (fraction in (0, 1), int seed, 'keep' or 'drop'). "
            f"Received: holdout={holdout!r}"
        )
