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
                          "--thresholds", "0.5", "1.01", "--repeats", "2",
                          "--out", str(tmp_path)])  # fmt: skip
    result = json.loads((tmp_path / "frames_tradeoff.json").read_text())
    assert (tmp_path / "frames_tradeoff.png").stat().st_size > 0
    for key in ("threshold", "mean_frames", "top1"):
        assert key in result["recommended"]
    assert {"fixed_t8", "latency_ratio_recommended_to_t8", "command", "machine"} <= set(result)
    assert [r["frames"] for r in result["fixed_rows"]] == [1, 8]
    evaluation = run_evaluation(model, data, num_segments=8, log=lambda _: None)
    assert result["fixed_t8"]["top1"] == pytest.approx(evaluation["metrics"]["top1"])
    never = result["anytime_rows"][-1]  # threshold above 1: all 8 frames, the fixed prediction
    assert never["mean_frames"] == 8 and never["top1"] == pytest.approx(result["fixed_t8"]["top1"])
    assert result["fixed_rows"][0]["latency_p50_ms"] > 0
