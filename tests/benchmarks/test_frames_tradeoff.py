"""`benchmarks/frames_tradeoff.py` (issue 15) on a tiny model and dataset with reduced settings."""

import json

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A 3-class synthetic dataset (6 test clips of 8 frames) and an untrained classifier for it."""
    import keras

    from keras_ispan.data.pipeline import read_dataset_info
    from keras_ispan.data.synthetic import generate_synthetic_dataset
    from keras_ispan.models import build_classifier
    from training.config.core import TrainConfig
    from training.data.datasets import synthetic_config

    data = tmp_path_factory.mktemp("tiny_data")
    sizes = {"classes": 3, "train": 3, "val": 3, "test": 6, "frames": 8, "size": 40}
    config = TrainConfig.from_dict({"data": {f"synthetic_{k}": v for k, v in sizes.items()}})
    generate_synthetic_dataset(data, synthetic_config(config), log=None)
    keras.utils.set_random_seed(0)
    classes = list(read_dataset_info(data).classes)
    model = build_classifier(3, backbone="small_cnn", image_size=32, class_names=classes)
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    model.save(path)
    return path, data


def test_json_keys_and_t8_equals_evaluation(tiny, tmp_path):
    from benchmarks import frames_tradeoff
    from training.evaluation.multiview import run_evaluation

    model, data = tiny
    frames_tradeoff.main(["--model", str(model), "--data", str(data), "--frames", "1", "8",
                          "--thresholds", "0", "1.01", "--repeats", "2",
                          "--latency-backbones", "small_cnn:32", "--out", str(tmp_path)])  # fmt: skip
    result = json.loads((tmp_path / "frames_tradeoff.json").read_text())
    assert (tmp_path / "frames_tradeoff.png").stat().st_size > 0
    for key in ("threshold", "mean_frames", "top1", "latency_ratio_to_t8", "stop_fractions",
                "criterion"):  # fmt: skip
        assert key in result["recommended"]
    assert result["recommended"]["criterion"] in ("top1", "margin")
    assert {"fixed_t8", "latency_ratio_recommended_to_t8", "command", "machine", "per_seed",
            "export_command", "grpc", "latency_backbones"} <= set(result)  # fmt: skip
    assert [r["frames"] for r in result["fixed_rows"]] == [1, 8]
    evaluation = run_evaluation(model, data, num_segments=8, log=lambda _: None)
    assert result["fixed_t8"]["top1"] == pytest.approx(evaluation["metrics"]["top1"])
    rows = {(r["schedule"], r["criterion"], r["threshold"]): r for r in result["anytime_rows"]}
    for schedule in ("doubling", "every_frame"):
        for criterion in ("top1", "margin"):
            never = rows[schedule, criterion, 1.01]  # above 1: all 8 frames, the fixed prediction
            assert never["mean_frames"] == never["served_mean_frames"] == 8
            assert never["top1"] == pytest.approx(result["fixed_t8"]["top1"])
            first = rows[schedule, criterion, 0.0]
            assert first["mean_frames"] == first["served_mean_frames"] == 1
    paired = result["per_seed"][0]["paired"]  # 6 test clips: the counts add up
    assert paired["clips"] == 6 and result["clips"] == {"test": 6, "val": 3}
    assert paired["reference_top1"] == pytest.approx(result["fixed_t8"]["top1"])
    assert paired["difference"] * 6 == pytest.approx(
        paired["only_this_right"] - paired["only_reference_right"]
    )
    assert result["recommended"]["threshold"] in (0.0, 1.01)
    assert result["selected_on"] == ["val"] and "selection" in result["recommended"]
    assert f"--anytime-threshold {result['recommended']['threshold']:g}" in result["export_command"]
    for row in result["fixed_rows"]:
        assert row["latency_p50_ms"] > 0 and 0 < row["grpc_p50_ms"] <= row["grpc_p95_ms"]
    grpc = result["grpc"]  # the export's default threshold is applied to requests without one
    assert grpc["anytime"]["default_threshold_applied"] == pytest.approx(
        result["recommended"]["threshold"]
    )
    assert grpc["anytime"]["mean_frames"] == pytest.approx(result["recommended"]["mean_frames"])
    big = result["latency_backbones"][0]
    assert [r["frames"] for r in big["rows"]] == [1, 2, 4, 8]  # the stops (1 or 8) and the levels
    assert big["fixed_t8_p50_ms"] > 0 and big["expected_anytime_ms"] > 0


def test_batched_steps_equal_the_library(tiny):
    """`tradeoff_eval.anytime_steps` (batched) equals `AnytimeClassifier.predict` per clip."""
    import numpy as np

    from benchmarks.tradeoff_eval import anytime_steps
    from keras_ispan.io.coarse_to_fine import coarse_to_fine_segments
    from keras_ispan.models import AnytimeClassifier, load_classifier
    from training.evaluation.multiview import _view_datasets

    model_path, data = tiny
    model = load_classifier(model_path)
    views = _view_datasets(model, data, "test", 4)
    clips, steps, labels = anytime_steps(model, lambda k: views(k, 1, 1), 8, keep_clips=2)
    assert steps.shape == (6, 8, 3) and labels.shape == (6,) and len(clips) == 2
    frames = np.concatenate([np.asarray(f) for f, _ in views(8, 1, 1)])
    anytime, order = AnytimeClassifier(model), coarse_to_fine_segments(8)
    for clip, expected in zip(frames, steps):
        result = anytime.predict(clip[order], 2.0, order=np.arange(8), check_points="every_frame")
        np.testing.assert_allclose(result.step_probabilities, expected, atol=1e-5)
    np.testing.assert_array_equal(clips[1], np.clip(np.round(frames[1][order]), 0, 255))


def test_paired_difference_by_hand():
    from benchmarks.tradeoff_eval import paired_difference, pooled_difference

    this = [True, True, False, True, False]
    reference = [True, False, True, True, True]  # differences 0, +1, -1, 0, -1
    got = paired_difference(this, reference)
    assert (got["top1"], got["reference_top1"], got["difference"]) == (0.6, 0.8, -0.2)
    assert got["difference_se"] == pytest.approx(0.7**0.5 / 5**0.5)  # sample variance of d: 2.8 / 4
    assert got["top1_se"] == pytest.approx((0.6 * 0.4 / 5) ** 0.5)
    assert (got["only_this_right"], got["only_reference_right"]) == (1, 2)
    pooled = pooled_difference([this, reference], [reference, reference])  # d: -0.2, then 0
    assert pooled["difference"] == pytest.approx(-0.1) and pooled["seeds"] == 2
