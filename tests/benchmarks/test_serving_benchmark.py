"""`benchmarks/serving.py` still runs end to end: tiny counts, every path and the hot-reload row."""

import json
import pathlib
import subprocess
import sys

import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_serving")

REPO = pathlib.Path(__file__).resolve().parents[2]
PATHS = {
    "in-process SavedModel (uint8)", "REST uint8 (JSON)", "REST JPEG (JSON b64)", "gRPC uint8",
    "gRPC JPEG",
}  # fmt: skip


@pytest.mark.slow
def test_serving_benchmark_tiny_run(tmp_path):
    out = tmp_path / "serving.json"
    proc = subprocess.run(
        [sys.executable, "benchmarks/serving.py", "--requests=4", "--sequential=1",
         "--concurrency=2", "--reload-clients=2", "--reload-lead=0.5", f"--output={out}"],
        cwd=REPO, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert {r["path"] for r in result["rows"]} == PATHS
    assert all(r["errors"] == 0 and r["p50_ms"] > 0 for r in result["rows"])
    assert result["short_side_source"] == "preprocess"
    assert result["frames_shape"][1:3].count(result["short_side"]) == 1
    reload = result["hot_reload"]
    assert reload["errors"] == 0
    assert reload["version_before"] == [1] and reload["version_after"] == [2]
    assert reload["reload_p50_ms"] > 0 and reload["reload_p99_ms"] >= reload["reload_p50_ms"]
