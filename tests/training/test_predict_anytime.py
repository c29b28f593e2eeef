"""`predict.py --anytime` (issue 15): frames coarse to fine, early stop, frames used and latency."""

import json

import pytest

from tests.tiny_files import save_tiny_classifier, write_marked_video


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return save_tiny_classifier(tmp_path_factory.mktemp("model") / "tiny.keras")


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_marked_video(tmp_path_factory.mktemp("videos") / "plain.mp4")


def _run(capsys, *argv):
    from training import predict

    status = predict.main([*map(str, argv)])
    return status, capsys.readouterr()


def test_anytime_json_reports_frames_used_and_latency(model_path, video, capsys):
    status, out = _run(capsys, video, "--model", model_path, "--anytime", "--threshold", "0",
                       "--max-frames", "4", "--json")  # fmt: skip
    assert status == 0, out.err
    record = json.loads(out.out)
    assert record["frames_used"] == 1 and len(record["frame_indices"]) == 1
    assert record["latency_ms"] > 0 and record["attention_shape"][0] == 1
    assert record["anytime"]["stopped"] == "confident"
    assert record["anytime"]["max_frames"] == 4


def test_anytime_above_1_equals_the_fixed_prediction(model_path, video, capsys):
    status, out = _run(capsys, video, "--model", model_path, "--anytime", "--threshold", "2",
                       "--max-frames", "4", "--json")  # fmt: skip
    assert status == 0, out.err
    anytime = json.loads(out.out)
    status, out = _run(capsys, video, "--model", model_path, "--frames", "4", "--json")
    fixed = json.loads(out.out)
    assert anytime["frames_used"] == 4 and anytime["anytime"]["stopped"] == "exhausted"
    assert sorted(anytime["frame_indices"]) == fixed["frame_indices"]
    assert [c["class"] for c in anytime["top_k"]] == [c["class"] for c in fixed["top_k"]]
    for a, f in zip(anytime["top_k"], fixed["top_k"]):
        assert abs(a["score"] - f["score"]) < 1e-5


def test_anytime_frames_alone_sets_the_frames_at_most(model_path, video, capsys):
    status, out = _run(capsys, video, "--model", model_path, "--anytime", "--threshold", "2",
                       "--frames", "4", "--json")  # fmt: skip
    assert status == 0, out.err
    record = json.loads(out.out)
    assert record["anytime"]["max_frames"] == 4 and record["frames_used"] == 4


def test_margin_criterion_reports_the_margin(model_path, video, capsys):
    """`--criterion margin`: the confidence is the top-1 score minus the second (all 4 frames)."""
    status, out = _run(capsys, video, "--model", model_path, "--anytime", "--criterion", "margin",
                       "--threshold", "2", "--max-frames", "4", "--json")  # fmt: skip
    assert status == 0, out.err
    record = json.loads(out.out)
    scores = [c["score"] for c in record["top_k"]]
    assert record["anytime"]["criterion"] == "margin" and record["frames_used"] == 4
    assert record["anytime"]["confidence"] == pytest.approx(scores[0] - scores[1], abs=1e-5)


def test_anytime_budget_and_text_output(model_path, video, capsys):
    status, out = _run(capsys, video, "--model", model_path, "--anytime", "--threshold", "2",
                       "--budget-ms", "0.000001")  # fmt: skip
    assert status == 0, out.err
    assert "anytime: 1 of 8 frames (budget)" in out.out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--threshold", "0.5"], "--threshold needs --anytime"),
        (["--anytime", "--threshold", "-1"], "Received: threshold=-1.0"),
        (["--anytime", "--max-frames", "0"], "Received: max_frames=0"),
        (["--anytime", "--budget-ms", "0"], "Received: budget_ms=0.0"),
        (["--anytime", "--window", "2"], "Received: window=2.0"),
        (["--criterion", "margin"], "--criterion needs --anytime"),
    ],
)
def test_bad_anytime_arguments_are_one_line_errors(model_path, video, capsys, argv, message):
    status, out = _run(capsys, video, "--model", model_path, *argv)
    assert status == 2 and message in out.err and out.err.count("\n") == 1
