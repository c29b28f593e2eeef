"""`benchmarks/precise_bn_cost.py`: the timer wraps the re-estimation for its scope only."""

import time

import pytest

pytest.importorskip("tensorflow")

from benchmarks import precise_bn_cost  # noqa: E402
from training.engine.batch_norm import PreciseBatchNorm  # noqa: E402


def test_estimates_are_timed_in_the_scope_and_the_method_restored(monkeypatch):
    calls = []
    monkeypatch.setattr(PreciseBatchNorm, "_estimate", lambda self: calls.append(time.sleep(0.05)))
    original = PreciseBatchNorm._estimate
    durations = []
    callback = PreciseBatchNorm(classifier=None, make_dataset=None, num_batches=1)
    with precise_bn_cost.timed_estimates(durations):
        callback._estimate()
        callback._estimate()
    assert len(calls) == 2 and len(durations) == 2 and min(durations) >= 0.05
    assert PreciseBatchNorm._estimate is original
    callback._estimate()
    assert len(durations) == 2


def test_phases_of_an_epoch():
    timer = precise_bn_cost.PhaseTimer()
    timer.on_epoch_begin(0)
    time.sleep(0.05)
    timer.on_test_begin()
    time.sleep(0.02)
    timer.on_test_end()
    timer.on_test_begin()  # a second evaluation in the epoch does not overwrite the first
    (row,) = timer.rows
    assert row["epoch"] == 1 and row["to_validation_s"] >= 0.05 and row["validation_s"] >= 0.02
