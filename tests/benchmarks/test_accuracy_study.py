"""`benchmarks/accuracy_study.py`'s statistics: standard errors and paired differences by hand."""

import pytest

from benchmarks.accuracy_study import markdown, summarize


def _run(variant, seed, top1, difficulty="hard", majority=0.2, gap=-0.1):
    return {
        "variant": variant, "seed": seed, "difficulty": difficulty, "top1": top1,
        "mean_class_accuracy": top1, "test_clips": 300, "test_majority_share": majority,
        "train_gap": gap,
    }  # fmt: skip


def test_standard_errors_and_paired_differences_by_hand():
    runs = [_run("tsn", s, t) for s, t in enumerate((0.2, 0.3, 0.4))]
    runs += [_run("ispan3", s, t, majority=0.7) for s, t in enumerate((0.25, 0.4, 0.45))]
    runs += [
        _run("tsn", 0, 0.9, difficulty="default")
    ]  # another difficulty: never paired with hard
    rows = summarize(runs)
    tsn, ispan = rows[0], rows[1]
    assert (tsn["difficulty"], tsn["variant"], ispan["variant"]) == ("hard", "tsn", "ispan3")
    assert tsn["top1"] == pytest.approx(0.3) and tsn["top1_se"] == pytest.approx(0.1 / 3**0.5)
    assert "diff_vs_tsn" not in tsn
    # per-seed differences 0.05, 0.10, 0.05: mean 0.0667, sd 0.0289, s.e. 0.0289 / sqrt(3)
    assert ispan["diff_vs_tsn_per_seed"] == pytest.approx([0.05, 0.10, 0.05])
    assert ispan["diff_vs_tsn"] == pytest.approx(0.2 / 3)
    assert ispan["diff_vs_tsn_se"] == pytest.approx((0.05 / 3**0.5) / 3**0.5)
    assert ispan["binomial_se"] == pytest.approx((0.3667 * 0.6333 / 300) ** 0.5, rel=1e-3)
    assert ispan["max_test_majority_share"] == 0.7 and ispan["max_train_gap"] == -0.1
    assert rows[2]["difficulty"] == "default" and rows[2]["seeds"] == 1
    table = markdown(rows, None)
    assert "+0.067 ± 0.017" in table and "+0.050, +0.100, +0.050" in table


def test_the_classifier_initializer_of_each_row_is_shown():
    """Runs from before `model.classifier_initializer` existed used Glorot; a row mixing both says so."""
    runs = [_run("tsn", 0, 0.2), {**_run("ispan3", 0, 0.3), "classifier_initializer": "zeros"}]
    runs += [{**_run("ispan3", 1, 0.4), "classifier_initializer": "zeros"}, _run("single", 0, 0.3)]
    runs += [{**_run("single", 1, 0.3), "classifier_initializer": "zeros"}]
    rows = {r["variant"]: r for r in summarize(runs)}
    assert rows["tsn"]["classifier_initializer"] == "glorot_uniform"
    assert rows["ispan3"]["classifier_initializer"] == "zeros"
    assert rows["single"]["classifier_initializer"] == "glorot_uniform+zeros"
    assert "| 2 | zeros |" in markdown(list(rows.values()), None)
