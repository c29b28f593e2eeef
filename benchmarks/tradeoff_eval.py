"""What `benchmarks/frames_tradeoff.py` evaluates on: larger evaluation splits of the embedded data,
every test clip's anytime probabilities after each prefix, and the paired standard errors.

Larger splits (`--eval-clips N`): one clip of the embedded data is 1.7 points of a 60-clip split, too
coarse to tell a 1-point bar from half of it. `eval_data_dir` generates `N` validation and `N` test
clips with the embedded generator (`keras_ispan.data.synthetic`, the training run's settings) at
synthetic seed `seed + 1`. Every clip has its own generator, seeded by `(seed, split, index)`; the
training clips are split 0 ("train") of seed `seed`, these are splits 1 and 2 of seed `seed + 1`, so
none of them is a training clip (nor one of the original 60 validation or test clips), and they
follow the same distribution (the settings are the same but for the seed).
"""

import math

import numpy as np

EVAL_SEED_OFFSET = 1


def eval_data_dir(config, clips, log=print):
    """The folder of the larger evaluation splits of `config`'s embedded dataset: `clips` validation
    and test clips (and one training clip, never read) at synthetic seed `seed + EVAL_SEED_OFFSET`,
    generated once into the synthetic cache and reused (`training.data.datasets.resolve_data_dir`)."""
    from training.config.core import load_config
    from training.data import datasets

    data = config.data
    overrides = {
        "data.synthetic_seed": data.synthetic_seed + EVAL_SEED_OFFSET,
        "data.synthetic_train": 1,
        "data.synthetic_val": clips,
        "data.synthetic_test": clips,
        "data.data_dir": None,
    }
    base = {f"data.{k}": v for k, v in vars(data).items() if k.startswith("synthetic_")}
    return datasets.resolve_data_dir(
        load_config(preset="synthetic", overrides=base | overrides), log
    )


def anytime_steps(model, make, k=8, keep_clips=0):
    """Each clip's probabilities after every prefix of its `k` frames in coarse-to-fine order
    `(clips, k, classes)`, the labels, and the first `keep_clips` clips as uint8 (coarse-to-fine).

    The batched form of `keras_ispan.models.AnytimeClassifier.predict(clip, threshold=2,
    check_points="every_frame").step_probabilities` (its `frame_model` on the batch's frames in one
    call, its `head_model` on each prefix of their features): the backbone and the head see each
    clip alone (inference-mode batch norm), so the result is the same per clip; batching only makes
    thousands of clips affordable (`tests/benchmarks/test_frames_tradeoff.py` checks it)."""
    from keras_ispan.io.coarse_to_fine import coarse_to_fine_segments
    from keras_ispan.models import AnytimeClassifier

    anytime = AnytimeClassifier(model)
    order = coarse_to_fine_segments(k)
    clips, steps, labels = [], [], []
    for frames, batch_labels in make(k):
        frames = np.asarray(frames, dtype=np.float32)[:, order]
        features = anytime.frame_model.predict_on_batch(frames)
        features = features if isinstance(features, list | tuple) else [features]
        prefixes = [
            np.asarray(anytime.head_model.predict_on_batch([f[:, :n] for f in features])
                       ["probabilities"], dtype=np.float64)
            for n in range(1, k + 1)
        ]  # fmt: skip
        steps.append(np.stack(prefixes, axis=1))
        labels.append(np.asarray(batch_labels))
        if len(clips) < keep_clips:
            clips += list(np.clip(np.round(frames), 0, 255).astype(np.uint8))
    return clips[:keep_clips], np.concatenate(steps), np.concatenate(labels)


def paired_difference(correct, reference):
    """Top-1 of `correct` and `reference` (`(clips,)` bool, the same clips) with binomial standard
    errors, and their paired difference with its standard error (`std(d) / sqrt(n)` of the per-clip
    differences `d` in {-1, 0, 1}), and the clips each gets right that the other does not."""
    correct, reference = np.asarray(correct, bool), np.asarray(reference, bool)
    n = len(correct)
    diff = correct.astype(np.float64) - reference
    p, q = correct.mean(), reference.mean()
    return {
        "clips": int(n),
        "top1": float(p),
        "top1_se": math.sqrt(p * (1 - p) / n),
        "reference_top1": float(q),
        "reference_top1_se": math.sqrt(q * (1 - q) / n),
        "difference": float(diff.mean()),
        "difference_se": float(diff.std(ddof=1) / math.sqrt(n)) if n > 1 else None,
        "only_this_right": int(np.sum(correct & ~reference)),
        "only_reference_right": int(np.sum(reference & ~correct)),
    }


def pooled_difference(per_seed_correct, per_seed_reference):
    """The mean over seeds of the paired difference, with the standard error of the per-clip
    difference averaged over seeds (the seeds share the test clips, so their differences are not
    independent: the clip is the unit)."""
    diff = np.mean(
        [np.asarray(c, np.float64) - np.asarray(r, bool)
         for c, r in zip(per_seed_correct, per_seed_reference)], axis=0,
    )  # fmt: skip
    return {
        "seeds": len(per_seed_correct),
        "clips_per_seed": int(diff.size),
        "difference": float(diff.mean()),
        "difference_se": float(diff.std(ddof=1) / math.sqrt(diff.size)),
    }
