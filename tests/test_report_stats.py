"""Report statistics: intervals, paired differences, verdicts, claims, test-set uncertainty."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from actionpose.errors import ConfigError
from actionpose.report import stats


def test_ci95_matches_student_t():
    mean, half = stats.ci95([0.5, 0.6, 0.7])
    # t(0.975, 2) = 4.302653; sd = 0.1; half = t * sd / sqrt(3)
    assert mean == pytest.approx(0.6)
    assert half == pytest.approx(4.302653 * 0.1 / math.sqrt(3), rel=1e-5)
    assert math.isnan(stats.ci95([0.4])[1])


def test_the_99_percent_interval_guards_the_repeated_looks():
    # t(0.995, 2) = 9.924843: the same sd, a wider interval
    assert stats.ci95([0.5, 0.6, 0.7], level=0.99)[1] == pytest.approx(9.924843 * 0.1 / math.sqrt(3), rel=1e-5)
    d = stats.paired_difference(_runs([0.50, 0.40, 0.60, 0.45], [0.58, 0.44, 0.70, 0.50]),
                                "c3d", "c3d-pose", "puppet")
    assert d["delta_ci99"] > d["delta_ci95"] > 0
    assert stats.claim_holds(d, "better") == "holds"  # [+2.4, +11.1] at 95%, [-1.3, +14.8] at 99%
    assert stats.claim_holds({**d, "delta_ci95": d["delta_ci99"]}, "better") == "not shown (CI spans 0)"


def test_several_splits_are_averaged_before_the_interval():
    # 3 splits x 3 seeds: the interval is over the 3 split means, not the 9 runs
    values = [0.30, 0.31, 0.32, 0.40, 0.41, 0.42, 0.50, 0.51, 0.52]
    splits = [1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert stats.ci95_over_splits(values, splits) == pytest.approx(stats.ci95([0.31, 0.41, 0.51]))
    assert stats.ci95_over_splits(values[:3], splits[:3]) == pytest.approx(stats.ci95(values[:3]))


def test_test_set_uncertainty_is_binomial_with_a_wilson_interval():
    assert stats.binomial_se(0.5, 100) == pytest.approx(0.05)
    lo, hi = stats.wilson95(0.5, 100)
    assert (lo, hi) == pytest.approx((0.4038, 0.5962), abs=1e-4)
    lo, hi = stats.wilson95(1.0, 40)  # stays inside [0, 1], unlike the normal interval
    assert 0.9 < lo < 1.0 and hi == pytest.approx(1.0)


def _runs(base, treat, dataset="puppet"):
    rows = []
    for seed, (a, b) in enumerate(zip(base, treat)):
        for exp, acc in (("c3d", a), ("c3d-pose", b)):
            rows.append({"experiment": exp, "dataset": dataset, "split": 1, "seed": seed,
                         "context_bias": np.nan, "test_video_acc": acc, "test_videos": 100})
    return pd.DataFrame(rows)


def test_paired_difference_pairs_by_seed_and_judges():
    d = stats.paired_difference(_runs([0.50, 0.40, 0.60], [0.55, 0.46, 0.64]), "c3d", "c3d-pose", "puppet")
    assert d["n_pairs"] == 3 and d["delta_mean"] == pytest.approx(0.05)
    assert d["baseline_test_se"] == pytest.approx(np.mean([stats.binomial_se(a, 100) for a in (0.5, 0.4, 0.6)]))
    # the unpaired spread (0.1 between seeds) would hide a 5-point gain; pairing does not
    assert stats.verdict(d) == "treatment better"
    worse = stats.paired_difference(_runs([0.5, 0.4, 0.6], [0.3, 0.2, 0.45]), "c3d", "c3d-pose", "puppet")
    assert stats.verdict(worse) == "treatment worse"
    mixed = stats.paired_difference(_runs([0.5, 0.4, 0.6], [0.55, 0.35, 0.6]), "c3d", "c3d-pose", "puppet")
    assert stats.verdict(mixed) == "no clear difference"
    one = stats.paired_difference(_runs([0.5], [0.6]), "c3d", "c3d-pose", "puppet")
    assert stats.verdict(one) == "too few runs"


def test_paired_difference_keeps_the_sweep_and_presets_apart():
    runs = _runs([0.50, 0.40, 0.60], [0.55, 0.46, 0.64])
    swept = _runs([0.20, 0.30, 0.10], [0.90, 0.80, 0.70]).assign(context_bias=0.8)
    both = pd.concat([runs, swept], ignore_index=True)
    assert stats.paired_difference(both, "c3d", "c3d-pose", "puppet")["delta_mean"] == pytest.approx(0.05)
    assert stats.paired_difference(both, "c3d", "c3d-pose", "puppet",
                                   context_bias=0.8)["delta_mean"] == pytest.approx(0.6)
    mixed = pd.concat([runs.assign(preset="cpu"), runs.assign(preset="smoke")], ignore_index=True)
    with pytest.raises(ConfigError, match=r"c3d on puppet: several runs share .*--preset cpu"):
        stats.paired_difference(mixed, "c3d", "c3d-pose", "puppet")


def _interval(lo, hi, n=3):
    return {"n_pairs": n, "delta_mean": (lo + hi) / 2, "delta_ci95": (hi - lo) / 2}


@pytest.mark.parametrize("expect, lo, hi, holds", [
    # "better": Δ > 0
    ("better", 0.01, 0.09, "holds"),
    ("better", -0.03, 0.13, "not shown (CI spans 0)"),
    ("better", -0.07, -0.03, "does not hold (Δ below 0)"),
    # "not better": Δ < +5 pt, decided by +5 pt both ways
    ("not better", -0.07, 0.04, "holds"),
    ("not better", 0.043, 0.184, "not shown (CI spans +5 pt)"),  # two-stream-mask, puppet world
    ("not better", 0.06, 0.20, "does not hold (Δ above +5 pt)"),
    # "not worse": Δ > -5 pt, decided by -5 pt both ways
    ("not worse", -0.04, 0.07, "holds"),
    ("not worse", -0.08, -0.02, "not shown (CI spans -5 pt)"),
    ("not worse", -0.21, -0.16, "does not hold (Δ below -5 pt)"),
])
def test_claim_holds_decides_only_when_the_interval_clears_its_threshold(expect, lo, hi, holds):
    assert stats.claim_holds(_interval(lo, hi), expect) == holds


def test_claim_margin_is_one_parameter_used_both_ways():
    row = _interval(0.06, 0.09)
    assert stats.claim_holds(row, "not better") == "does not hold (Δ above +5 pt)"
    assert stats.claim_holds(row, "not better", margin=0.10) == "holds"
    assert stats.claim_holds(row, "not worse", margin=0.10) == "holds"
    assert stats.claim_holds(_interval(-0.15, -0.12), "not worse", margin=0.10) == "does not hold (Δ below -10 pt)"


def test_claim_holds_needs_two_pairs_and_a_known_direction():
    assert stats.claim_holds({"n_pairs": 1, "delta_mean": 0.3, "delta_ci95": float("nan")},
                             "better") == "too few runs"
    with pytest.raises(ValueError, match="expect must be one of"):
        stats.claim_holds(_interval(0.1, 0.2), "helps")


def test_seeds_for_half_width_solves_n_with_t_at_that_n():
    from actionpose.report.stopping import seeds_for_half_width

    # sd 9.78 pt (c3d-pose on the puppet world at 3 seeds): about 18 seeds for ±5 pt
    n = seeds_for_half_width(0.0978)
    t = __import__("scipy").stats.t.ppf
    assert t(0.975, n - 1) * 0.0978 / math.sqrt(n) <= 0.05 < t(0.975, n - 2) * 0.0978 / math.sqrt(n - 1)
    assert n == 18
    assert seeds_for_half_width(0.001) == 2 and seeds_for_half_width(0.0) == 2


@pytest.mark.parametrize("expect, lo, hi, n, state", [
    ("better", 0.01, 0.30, 3, "decided (interval one side)"),        # clears 0, however wide
    ("not better", 0.06, 0.40, 3, "decided (interval one side)"),    # clears +5 pt from above
    ("not worse", -0.21, -0.16, 3, "decided (interval one side)"),
    ("better", -0.02, 0.07, 4, "decided (half-width <= 5)"),         # spans 0 but ±4.5 pt
    ("not better", 0.01, 0.11, 10, "decided (half-width <= 5)"),     # width rule before the cap
    ("better", -0.10, 0.20, 10, "stopped (10 seeds)"),
    ("better", -0.10, 0.20, 12, "stopped (10 seeds)"),
])
def test_stopping_rule_says_which_rule_ended_the_claim(expect, lo, hi, n, state):
    from actionpose.report.stopping import stopping

    rule = stopping(_interval(lo, hi, n), expect)
    assert rule.state == state and rule.seeds == n and not rule.open


def test_an_open_claim_says_its_seeds_and_about_how_many_it_needs():
    from actionpose.report.stopping import MAX_SEEDS, seeds_for_half_width, stopping

    narrowish = stopping(_interval(-0.07, 0.13, 3), "better")  # ±10 pt at 3 seeds
    sd = 0.10 * math.sqrt(3) / __import__("scipy").stats.t.ppf(0.975, 2)
    assert narrowish.open and narrowish.needed == seeds_for_half_width(sd) < MAX_SEEDS
    assert narrowish.state == f"open (3 seeds; about {narrowish.needed:.0f} needed)"
    wide = stopping(_interval(-0.3, 0.3, 3), "better")  # the cap ends it before ±5 pt would
    assert wide.state == "open (3 seeds; about 10 needed)" and wide.for_half_width > MAX_SEEDS
    one = stopping({"n_pairs": 1, "delta_mean": 0.1, "delta_ci95": float("nan")}, "better")
    assert one.state == "open (1 seed; at least 2 needed)" and one.open
    with pytest.raises(ValueError, match="expect must be one of"):
        stopping(_interval(0.1, 0.2), "helps")
