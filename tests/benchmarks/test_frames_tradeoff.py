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
    from training.engine.datasets import synthetic_config

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
    for key in ("threshold", "mean_frames", "top1", "latency_ratio_to_t8", "stop_fractions"):
        assert key in result["recommended"]
    assert {"fixed_t8", "latency_ratio_recommended_to_t8", "command", "machine", "per_seed",
            "export_command", "grpc", "latency_backbones"} <= set(result)  # fmt: skip
    assert [r["frames"] for r in result["fixed_rows"]] == [1, 8]
    evaluation = run_evaluation(model, data, num_segments=8, log=lambda _: None)
    assert result["fixed_t8"]["top1"] == pytest.approx(evaluation["metrics"]["top1"])
    rows = {(r["schedule"], r["threshold"]): r for r in result["anytime_rows"]}
    for schedule in ("doubling", "every_frame"):
        never = rows[schedule, 1.01]  # threshold above 1: all 8 frames, the fixed prediction
        assert never["mean_frames"] == never["served_mean_frames"] == 8
        assert never["top1"] == pytest.approx(result["fixed_t8"]["top1"])
        assert rows[schedule, 0.0]["mean_frames"] == rows[schedule, 0.0]["served_mean_frames"] == 1
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
