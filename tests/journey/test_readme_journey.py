"""The user's journey as the README writes it, each step a fresh process on the command line, each step
reading what the previous one wrote:

prepare.py (two real clips; skipped without ../shared) or the embedded data -> fit.py -> evaluate.py ->
predict.py --json -> export.py on the file fit.py wrote -> server.py -> client.py --json over REST
(uint8 and JPEG) and gRPC (uint8).

What must hold: the served answers equal `predict.py`'s for the same video (same top-1; every score
within 2e-3 for uint8 frames, 0.05 for JPEG frames, which are lossy).
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tests.ports import free_port
from tests.servers import ServerProcess

REPO = pathlib.Path(__file__).resolve().parents[2]
SHARED_CLIPS = REPO.parent / "shared" / "data" / "clips"
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
TINY = [
    "--epochs", "1", "--set", "data.image_size=32", "--set", "data.num_segments=4",
    "--set", "data.batch_size=4",
]  # fmt: skip
HANG_LIMIT_S = 900  # only against a hang; a slow but correct step is far below it

pytestmark = pytest.mark.slow


def run(*args, cwd=None):
    """Runs a README command; returns stdout. Fails naming the step, with its stderr."""
    command = [sys.executable, *map(str, args)]
    print("$", " ".join(map(str, args)), flush=True)
    try:
        done = subprocess.run(
            command, cwd=cwd or REPO, env=ENV, capture_output=True, text=True,
            timeout=HANG_LIMIT_S,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail(f"step hung for {HANG_LIMIT_S} s: {' '.join(map(str, args))}")
    assert done.returncode == 0, (
        f"{' '.join(map(str, args))} exited {done.returncode}:\n" + (done.stderr[-4000:])
    )
    return done.stdout


def write_video(path, seed=0, frames=24, size=(72, 96)):
    """A small H.264 video of smooth moving content (what a user's phone would give, only smaller)."""
    import av

    rng = np.random.default_rng(seed)
    h, w = size
    y, x = np.mgrid[0:h, 0:w]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=12)
        stream.height, stream.width, stream.pix_fmt = h, w, "yuv420p"
        phase = rng.random(3) * 6
        for t in range(frames):
            image = np.stack(
                [127 + 100 * np.sin(x / 9 + t / 3 + phase[c] + c * y / 17) for c in range(3)], -1
            )
            frame = av.VideoFrame.from_ndarray(image.astype(np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def start_server(config, log_path):
    """`serving/server.py --model_config_file=config` on free ports (`tests/servers.py`)."""
    grpc_port, rest_port = free_port(), free_port()
    command = [
        sys.executable, "serving/server.py", f"--port={grpc_port}",
        f"--rest_api_port={rest_port}", f"--model_config_file={config}",
    ]  # fmt: skip
    return ServerProcess("local", command, rest_port, grpc_port, log_path, env=ENV,
                         start_timeout_s=HANG_LIMIT_S)  # fmt: skip


def records(stdout):
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def assert_same_answer(served, local, atol):
    assert served["video"] == local["video"]
    assert served["top_k"][0]["class"] == local["top_k"][0]["class"], (served, local)
    local_scores = {t["class"]: t["score"] for t in local["top_k"]}
    for item in served["top_k"]:
        assert abs(item["score"] - local_scores[item["class"]]) <= atol, (served, local)
    assert served["frames_used"] == local["frames_used"]
    assert served["attention_shape"] == local["attention_shape"]


def journey(tmp_path, fit_args, videos):
    runs = tmp_path / "runs"
    run("training/fit.py", "--name", "journey", "--runs-dir", runs, *TINY, *fit_args)
    model = runs / "journey" / "best.keras"
    assert model.is_file()

    evaluated = run("training/evaluate.py", "--model", model, "--segments", "4")
    assert "top1" in evaluated

    local = records(run("training/predict.py", *videos, "--model", model, "--json"))
    assert [r["video"] for r in local] == [str(v) for v in videos]

    models = tmp_path / "models"
    run("serving/export.py", "--model", model, "--export-base", models, "--name", "ispan")
    assert (models / "ispan" / "1" / "saved_model.pb").is_file()

    server = start_server(models / "models.config", tmp_path / "server.log").wait_ready()
    try:
        for transport, fmt, atol in (
            (["--rest", server.rest], "uint8", 2e-3),
            (["--rest", server.rest], "jpeg", 0.05),
            (["--grpc", server.grpc], "uint8", 2e-3),
        ):
            served = records(
                run(
                    "serving/client.py",
                    *videos,
                    "--model",
                    "ispan",
                    *transport,
                    "--format",
                    fmt,
                    "--json",
                )  # fmt: skip
            )
            assert len(served) == len(local)
            for got, want in zip(served, local, strict=True):
                assert_same_answer(got, want, atol)
    finally:
        server.stop()


def test_journey_on_the_embedded_data(tmp_path):
    videos = [write_video(tmp_path / f"clip{i}.mp4", seed=i) for i in range(2)]
    fit_args = [
        "--set", "data.synthetic_train=24", "--set", "data.synthetic_val=12",
        "--set", "data.synthetic_test=12",
    ]  # fmt: skip
    journey(tmp_path, fit_args, videos)


def test_journey_on_real_clips(tmp_path):
    if not SHARED_CLIPS.is_dir():
        pytest.skip(f"real clips not found at {SHARED_CLIPS}")
    videos = tmp_path / "videos"
    picked = {"pool": "pool_cleaning.mp4", "basketball": "basketball_practice.mp4"}
    for label, name in picked.items():  # two videos a class, so that each split gets one
        (videos / label).mkdir(parents=True)
        for copy in ("a", "b"):  # copies in tmp, not in the project
            shutil.copy(SHARED_CLIPS / name, videos / label / f"{copy}_{name}")
    data = tmp_path / "data"
    run(
        "training/prepare.py", "--layout", "folders", "--videos", videos, "--output", data,
        "--short-side", "64", "--test-fraction", "0.5",
    )  # fmt: skip
    metadata = json.loads((data / "metadata.json").read_text())
    assert sorted(metadata["classes"]) == sorted(picked)
    assert metadata["counts"] == {"train": 2, "test": 2}, metadata["counts"]
    clips = [videos / label / f"a_{name}" for label, name in picked.items()]
    journey(tmp_path, ["--data", data, "--set", "data.batch_size=1"], clips)


def test_tuned_model_exports_and_predicts(tmp_path):
    """`tune.py` writes its best trial's model; `export.py` and `predict.py` read it in fresh processes."""
    run(
        "training/tune.py", "--max-trials", "1", "--epochs", "1", "--directory", tmp_path / "tuning",
        "--set", "data.synthetic_train=24", "--set", "data.synthetic_val=12",
        "--set", "data.synthetic_test=12", "--set", "data.image_size=32",
        "--set", "data.num_segments=2", "--set", "data.batch_size=4",
    )  # fmt: skip
    model = tmp_path / "tuning" / "ispan" / "best.keras"
    assert model.is_file()
    run("serving/export.py", "--model", model, "--export-base", tmp_path / "models", "--name", "t")
    assert (tmp_path / "models" / "t" / "1" / "saved_model.pb").is_file()
    video = write_video(tmp_path / "clip.mp4")
    (record,) = records(run("training/predict.py", video, "--model", model, "--json"))
    assert record["frames_used"] == 8 and len(record["top_k"]) == 5
