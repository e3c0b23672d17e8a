"""Aggregation: confidence intervals, paired differences, verdicts, the README table."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from actionpose.train import results


def test_ci95_matches_student_t():
    mean, half = results.ci95([0.5, 0.6, 0.7])
    # t(0.975, 2) = 4.302653; sd = 0.1; half = t * sd / sqrt(3)
    assert mean == pytest.approx(0.6)
    assert half == pytest.approx(4.302653 * 0.1 / math.sqrt(3), rel=1e-5)
    assert math.isnan(results.ci95([0.4])[1])


def _runs(base, treat, dataset="puppet"):
    rows = []
    for seed, (a, b) in enumerate(zip(base, treat)):
        rows.append({"experiment": "c3d", "dataset": dataset, "split": 1, "seed": seed,
                     "context_bias": np.nan, "test_video_acc": a})
        rows.append({"experiment": "c3d-pose", "dataset": dataset, "split": 1, "seed": seed,
                     "context_bias": np.nan, "test_video_acc": b})
    return pd.DataFrame(rows)


def test_paired_difference_pairs_by_seed_and_judges():
    runs = _runs([0.50, 0.40, 0.60], [0.55, 0.46, 0.64])
    d = results.paired_difference(runs, "c3d", "c3d-pose", "puppet")
    assert d["n_pairs"] == 3 and d["delta_mean"] == pytest.approx(0.05)
    # the unpaired spread (0.1 between seeds) would hide a 5-point gain; pairing does not
    assert results.verdict(d) == "treatment better"
    worse = results.paired_difference(_runs([0.5, 0.4, 0.6], [0.3, 0.2, 0.45]), "c3d", "c3d-pose", "puppet")
    assert results.verdict(worse) == "treatment worse"
    mixed = results.paired_difference(_runs([0.5, 0.4, 0.6], [0.55, 0.35, 0.6]), "c3d", "c3d-pose", "puppet")
    assert results.verdict(mixed) == "no clear difference"
    one = results.paired_difference(_runs([0.5], [0.6]), "c3d", "c3d-pose", "puppet")
    assert results.verdict(one) == "too few runs"


def _row(delta, half, n=3):
    return {"n_pairs": n, "delta_mean": delta, "delta_ci95": half}


@pytest.mark.parametrize("expect, delta, half, holds", [
    ("better", 0.05, 0.02, "holds"),
    ("better", 0.05, 0.08, "not shown (CI spans 0)"),
    ("better", -0.05, 0.02, "does not hold (opposite)"),
    ("not better", 0.05, 0.02, "does not hold (treatment better)"),
    ("not better", 0.05, 0.08, "not shown (CI too wide)"),
    ("not better", 0.01, 0.03, "holds"),
    ("not better", -0.05, 0.02, "holds"),
    ("not worse", -0.01, 0.02, "holds"),
    ("not worse", -0.03, 0.05, "not shown (CI too wide)"),
    ("not worse", -0.20, 0.05, "does not hold (treatment worse)"),
])
def test_claim_holds_reads_the_ci_in_the_claims_direction(expect, delta, half, holds):
    assert results.claim_holds(_row(delta, half), expect) == holds


def test_claim_holds_needs_two_pairs_and_a_known_direction():
    assert results.claim_holds(_row(0.3, float("nan"), n=1), "better") == "too few runs"
    with pytest.raises(ValueError, match="expect must be"):
        results.claim_holds(_row(0.1, 0.01), "helps")


def test_report_markdown_lists_each_claim_with_its_numbers():
    text = results.report_markdown(_runs([0.50, 0.40, 0.60], [0.55, 0.46, 0.64]))
    assert "pose (background weakening) helps C3D slightly" in text
    assert "c3d: 50.0 ± " in text and "| 3 | treatment better | holds |" in text


def test_sweep_table_pairs_each_bias_and_counts_report_runs_at_the_default_bias():
    from actionpose import plots

    rows = []
    for bias, gain in ((np.nan, 0.10), (0.0, 0.02), (0.8, 0.20)):
        for seed in range(2):
            for exp, acc in (("attention", 0.5), ("attention-pose", 0.5 + gain + 0.01 * seed)):
                rows.append({"experiment": exp, "dataset": "puppet", "split": 1, "seed": seed,
                             "context_bias": bias, "test_video_acc": acc})
    table = plots.sweep_table(pd.DataFrame(rows), default_bias=0.25)
    assert list(table["context_bias"]) == [0.0, 0.25, 0.8]
    assert set(table["comparison"]) == {"attention-pose − attention"}
    assert np.allclose(table["delta_mean"], [0.025, 0.105, 0.205])
    assert list(table["n_pairs"]) == [2, 2, 2]
    # without a default bias, the report runs stay out of the sweep
    assert list(plots.sweep_table(pd.DataFrame(rows))["context_bias"]) == [0.0, 0.8]
    assert plots.context_bias_figure(pd.DataFrame(rows), 0.25) is not None


def test_paired_difference_keeps_the_sweep_and_presets_apart():
    runs = _runs([0.50, 0.40, 0.60], [0.55, 0.46, 0.64])
    swept = _runs([0.20, 0.30, 0.10], [0.90, 0.80, 0.70]).assign(context_bias=0.8)
    both = pd.concat([runs, swept], ignore_index=True)
    # the default compares the preset's own world; a bias picks the sweep's runs at it
    assert results.paired_difference(both, "c3d", "c3d-pose", "puppet")["delta_mean"] == pytest.approx(0.05)
    assert results.paired_difference(both, "c3d", "c3d-pose", "puppet",
                                     context_bias=0.8)["delta_mean"] == pytest.approx(0.6)
    table = results.compare_all(both)
    assert table.loc[table["key"] == "c3d-pose", "delta_mean"].item() == pytest.approx(0.05)
    # two presets' runs with the same seeds cannot be paired: an error, not an average
    mixed = pd.concat([runs.assign(preset="cpu"), runs.assign(preset="smoke")], ignore_index=True)
    with pytest.raises(results.ConfigError, match=r"c3d on puppet: several runs share .*--preset cpu"):
        results.paired_difference(mixed, "c3d", "c3d-pose", "puppet")
