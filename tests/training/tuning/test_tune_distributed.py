"""Distributed search: one chief (the oracle) and two workers, KerasTuner's own mode, on 127.0.0.1."""

import json
import os
import pathlib
import subprocess
import sys
import time

import pytest

from tests.ports import free_port
from tests.training.tuning.tiny_tuning import tiny_overrides
from training.tuning.search import trial_rows

REPO = pathlib.Path(__file__).resolve().parents[3]
TIMEOUT_S = 300


def start(command, tuner_id, port, log_dir):
    env = dict(os.environ)
    env.update(
        KERASTUNER_TUNER_ID=tuner_id,
        KERASTUNER_ORACLE_IP="127.0.0.1",
        KERASTUNER_ORACLE_PORT=str(port),
        CUDA_VISIBLE_DEVICES="",
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONPATH=str(REPO),
    )
    log = open(log_dir / f"{tuner_id}.log", "w")  # noqa: SIM115 - closed by the caller
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    return process, log


def run_cluster(commands_by_id, port, log_dir):
    """Starts every process, waits for all with one hard deadline, kills what is left; returns exit codes."""
    processes = {}
    try:
        for tuner_id, command in commands_by_id.items():
            processes[tuner_id] = start(command, tuner_id, port, log_dir)
        deadline = time.time() + TIMEOUT_S
        codes = {}
        for tuner_id, (process, _) in processes.items():
            try:
                codes[tuner_id] = process.wait(timeout=max(1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                codes[tuner_id] = "timeout"
        return codes
    finally:
        for process, log in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
            log.close()


def _logs(log_dir):
    return "\n".join(
        f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(log_dir.glob("*.log"))
    )


@pytest.mark.slow
def test_chief_and_two_workers_complete_every_trial(tmp_path):
    directory = tmp_path / "search"
    script = [sys.executable, "tests/training/tuning/tiny_tuning.py", str(directory), "4", "2"]
    codes = run_cluster(
        {"chief": script, "tuner0": script, "tuner1": script}, free_port(), tmp_path
    )
    assert codes == {"chief": 0, "tuner0": 0, "tuner1": 0}, _logs(tmp_path)
    project = directory / "ispan"
    rows = trial_rows(project)
    assert len(rows) == 4
    assert all(row["status"] == "COMPLETED" for row in rows), rows
    ran_by = [row["tuner_id"] for row in rows]
    assert set(ran_by) == {"tuner0", "tuner1"}, ran_by
    # The chief wrote the summary and the best config once every trial was done.
    summary = json.loads((project / "summary.json").read_text())
    assert len(summary["rows"]) == 4
    assert (project / "best_config.json").is_file()


@pytest.mark.slow
def test_readme_commands_chief_and_two_workers_on_the_real_model(tmp_path, tiny_data):
    """The README's commands: `python training/tune.py ...` in a chief and two workers."""
    directory = tmp_path / "search"
    command = [
        sys.executable,
        "training/tune.py",
        "--directory",
        str(directory),
        "--max-trials",
        "3",
    ]
    command += ["--epochs", "1", "--tune", "learning_rate,fusion"]
    for item in tiny_overrides(tmp_path, tiny_data):
        command += ["--set", item]
    codes = run_cluster(
        {"chief": command, "tuner0": command, "tuner1": command}, free_port(), tmp_path
    )
    assert codes == {"chief": 0, "tuner0": 0, "tuner1": 0}, _logs(tmp_path)
    rows = trial_rows(directory / "ispan")
    assert [row["status"] for row in rows] == ["COMPLETED"] * 3
    assert {row["tuner_id"] for row in rows} <= {"tuner0", "tuner1"}
    assert "Search summary (3 trials" in (tmp_path / "chief.log").read_text()
    assert (directory / "ispan" / "best_config.json").is_file()
