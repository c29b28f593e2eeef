"""training/synthetic.py: deterministic clips, the standard format, reuse by config, CLI."""

import json
import pathlib
import sys

import numpy as np
import pytest

from keras_ispan.data.pipeline import PipelineConfig, make_dataset, read_dataset_info
from keras_ispan.data.synthetic import (
    SyntheticConfig,
    clip_rng,
    generate_synthetic_dataset,
    render_clip,
    shape_mask,
    split_labels,
)
from tests import hang

SYNTHETIC_SCRIPT = pathlib.Path(__file__).resolve().parents[3] / "training" / "synthetic.py"

TINY = dict(
    num_classes=3, train=6, val=0, test=3, num_frames=6, image_size=32,
    target_size=10, distractor_size=6, num_distractors=2, clips_per_shard=4,
)  # fmt: skip


def test_class_shapes_differ_and_labels_are_balanced():
    cfg = SyntheticConfig(**TINY)
    masks = [shape_mask(name, 16) for name in cfg.classes]
    for i in range(len(masks)):
        for j in range(i + 1, len(masks)):
            assert np.abs(masks[i] - masks[j]).mean() > 0.05
    assert np.bincount(split_labels(cfg, "train"), minlength=3).tolist() == [2, 2, 2]


def test_generate_writes_standard_format_and_reuses(tmp_path):
    cfg = SyntheticConfig(**TINY)
    out = generate_synthetic_dataset(tmp_path / "syn", cfg, log=None)
    info = read_dataset_info(out)
    assert info.classes == ("disk", "square", "triangle") and not info.multi_label
    assert info.counts == {"train": 6, "test": 3} and info.num_shards == {"train": 2, "test": 1}
    assert json.loads((out / "metadata.json").read_text())["synthetic_config"] == cfg.to_json()
    config = PipelineConfig(num_segments=4, image_size=32, batch_size=3, training=False)
    x, y = next(iter(make_dataset(out, "test", config)))
    assert x.shape == (3, 4, 32, 32, 3)
    expected = split_labels(cfg, "test")
    assert sorted(y.numpy().tolist()) == sorted(expected.tolist())
    # same config: reused without rewriting
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    lines = []
    generate_synthetic_dataset(out, cfg, log=lines.append)
    assert "reusing" in lines[0]
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == mtimes
    # another config: regenerated in place
    generate_synthetic_dataset(out, SyntheticConfig(**TINY | dict(test=4)), log=None)
    assert read_dataset_info(out).counts["test"] == 4


def test_refuses_a_folder_that_is_not_synthetic(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("precious")
    with pytest.raises(ValueError, match="mine is not empty"):
        generate_synthetic_dataset(tmp_path / "mine", SyntheticConfig(**TINY), log=None)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "precious"


@pytest.mark.parametrize(
    "kwargs, name",
    [(dict(num_classes=9), "num_classes"), (dict(train=0), "train"),
     (dict(target_visible=(0.5, 0.2)), "target_visible"), (dict(target_size=100), "target_size")],
)  # fmt: skip
def test_config_errors(kwargs, name):
    with pytest.raises(ValueError, match=f"{name}="):
        SyntheticConfig(**TINY | kwargs)


def test_cli_writes_dataset(tmp_path):
    args = [sys.executable, str(SYNTHETIC_SCRIPT), "--output", str(tmp_path / "cli")]
    for key, value in TINY.items():
        args += [f"--{key}", str(value)]
    result = hang.run(args, step="synthetic.py --output", capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert read_dataset_info(tmp_path / "cli").counts == {"train": 6, "test": 3}


@pytest.mark.slow
def test_video_files_convert_back_to_the_same_clips(tmp_path):
    """Synthetic MP4 files -> prepare (folders layout with split folders) -> same classes and counts,
    and frames close to the TFRecord originals (H.264 crf 18 + JPEG: mean error below 6 levels)."""
    from keras_ispan.data.convert import ConvertConfig, convert_dataset

    cfg = SyntheticConfig(**TINY | dict(image_size=48, target_size=12))
    out = generate_synthetic_dataset(tmp_path / "syn", cfg, write_videos=True, log=None)
    assert len(list((out / "videos").rglob("*.mp4"))) == 9
    conv = tmp_path / "conv"
    convert_dataset(
        ConvertConfig(videos=out / "videos", output=conv, short_side=None, workers=1), log=None
    )
    a, b = read_dataset_info(out), read_dataset_info(conv)
    assert a.classes == b.classes and a.counts == b.counts
    config = PipelineConfig(
        num_segments=6, image_size=48, batch_size=3, training=False, resize_ratio=1.0
    )
    xa, ya = next(iter(make_dataset(out, "test", config)))
    xb, yb = next(iter(make_dataset(conv, "test", config)))
    # the same clips (order may differ): match by label then compare frames
    ref = {int(y): x for x, y in zip(xa.numpy().astype(int), ya.numpy(), strict=True)}
    for x, y in zip(xb.numpy().astype(int), yb.numpy(), strict=True):
        assert np.abs(x - ref[int(y)]).mean() < 6.0


def test_default_clips_are_byte_identical_to_those_before_the_difficulty_dial():
    """The README's figures were measured on this data: sha256 of 12 clips computed with the generator
    before `same_color_distractors` and `background_speed` existed (commit d0d1617)."""
    import hashlib

    digest = hashlib.sha256()
    for cfg, split in (
        (SyntheticConfig(), "train"),
        (SyntheticConfig(image_size=64, target_size=13, distractor_size=9), "test"),
    ):
        for i in range(6):
            frames, _ = render_clip(cfg, i % 6, clip_rng(cfg, split, i))
            digest.update(frames.tobytes())
    assert digest.hexdigest() == "4de4a49ee99afa2198766366e472b487a3e0033c055305e7412e60d9fd75ccc8"
    # the fingerprint hashes the settings as they were written before the dial (no new keys) and the
    # record format (version 4 since issue 16's flow, so a cached copy is regenerated once for that)
    earlier = {
        "num_classes": 6, "train": 300, "val": 60, "test": 90, "num_frames": 16, "image_size": 112,
        "target_size": 22, "target_visible": [0.3, 0.6], "num_distractors": 4,
        "distractor_size": 15, "noise": 8.0, "clutter": 0.6, "seed": 0, "fps": 8.0,
        "jpeg_quality": 90, "clips_per_shard": 100, "format": 4,
    }  # fmt: skip
    text = json.dumps(earlier, sort_keys=True)
    assert SyntheticConfig().fingerprint() == hashlib.sha256(text.encode()).hexdigest()[:12]


def test_same_colored_distractors_share_the_actor_color_and_the_hard_setting():
    from keras_ispan.data.synthetic import DIFFICULTIES, difficulty_fields

    base = TINY | dict(noise=0.0, num_distractors=0, target_size=12, clutter=0.0)
    plain, (first, visible) = render_clip(
        SyntheticConfig(**base), 0, clip_rng(SyntheticConfig(**base), "train", 0)
    )
    crowded_cfg = SyntheticConfig(**base | dict(same_color_distractors=2))
    crowded, window = render_clip(crowded_cfg, 0, clip_rng(crowded_cfg, "train", 0))
    assert window == (first, visible)  # drawn after the actor: the actor is unchanged
    # the actor's colour is the brightest of the clip; without look-alikes no frame outside its
    # window holds it, with them every frame does
    color = plain.reshape(-1, 3)[np.argmax(plain.reshape(-1, 3).sum(-1))]
    near = [
        (np.abs(f.astype(int) - color).sum(-1) <= 30).sum(axis=(1, 2)) for f in (plain, crowded)
    ]
    hidden = [i for i in range(6) if not first <= i < first + visible]
    assert hidden and all(near[0][i] == 0 for i in hidden)
    assert all(near[1][i] > 0 for i in range(6))
    assert difficulty_fields("hard", 64)["target_size"] == round(14 * 64 / 112)
    assert set(DIFFICULTIES["hard"]) == set(DIFFICULTIES["default"])
    with pytest.raises(ValueError, match="difficulty='extreme'"):
        difficulty_fields("extreme")
    with pytest.raises(ValueError, match="same_color_distractors=-1"):
        SyntheticConfig(same_color_distractors=-1)


def test_difficulty_keys_reach_the_generator():
    from training.config.core import load_config
    from training.data.datasets import synthetic_config

    default = synthetic_config(load_config(preset="synthetic"))
    assert (default.target_size, default.same_color_distractors) == (13, 0)
    hard = synthetic_config(
        load_config(
            preset="synthetic",
            overrides=[
                "data.synthetic_difficulty=hard",
                "data.synthetic_same_color_distractors=5",
                "data.synthetic_target_visible=[0.1,0.2]",
            ],
        )  # fmt: skip
    )
    assert (hard.target_size, hard.same_color_distractors, hard.background_speed) == (8, 5, 4.0)
    assert hard.target_visible == (0.1, 0.2)
    with pytest.raises(ValueError, match="data.synthetic_difficulty"):
        load_config(preset="synthetic", overrides=["data.synthetic_difficulty=extreme"])
