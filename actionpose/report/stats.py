"""Statistics of the report: Student-t intervals over seeds (and splits), paired differences,
what a difference says, whether a claim holds, and the test set's own sampling uncertainty.

Accuracies are fractions in [0, 1]; every interval is a 95% interval given as (mean, half-width).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from actionpose.errors import ConfigError
from actionpose.pose.knob import PoseQuality
from actionpose.report.pose_quality import selected as quality_selected

METRIC = "test_video_acc"

# The difference (accuracy, on the 95% CI bound) that counts as meaningful: a claim that the
# treatment is "not better" (or "not worse") than its baseline is a claim that Δ stays below
# +MARGIN (or above -MARGIN). The same threshold decides for and against the claim.
MARGIN = 0.05

# The claims the report makes about Δ = treatment - baseline: the threshold, in units of the
# margin, and the side of it the claim predicts.
EXPECTATIONS = {"better": (0, "above"), "not better": (1, "below"), "not worse": (-1, "above")}


def ci95(values, level: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of the Student-t interval at ``level`` (95% unless asked; half-width
    NaN for one value)."""
    from scipy import stats

    x = np.asarray(list(values), dtype=float)
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return float("nan"), float("nan")
    if len(x) == 1:
        return float(x[0]), float("nan")
    half = stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return float(x.mean()), float(half)


def ci95_over_splits(values: pd.Series, splits: pd.Series, level: float = 0.95) -> tuple[float, float]:
    """:func:`ci95` over seeds, or over the split means when several splits were run: runs of
    one split share its test set, so they are not independent samples of the method."""
    values = pd.Series(np.asarray(values, dtype=float))
    splits = pd.Series(np.asarray(splits))
    if splits.nunique() > 1:
        return ci95(values.groupby(splits).mean(), level)
    return ci95(values, level)


def binomial_se(accuracy, n_test) -> np.ndarray:
    """Standard error of an accuracy measured on ``n_test`` test videos (binomial sampling of the
    test set, which the seed interval does not cover)."""
    p, n = np.asarray(accuracy, dtype=float), np.asarray(n_test, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(p * (1 - p) / n)


def wilson95(accuracy, n_test) -> tuple[np.ndarray, np.ndarray]:
    """Wilson 95% interval (low, high) of an accuracy on ``n_test`` test videos."""
    p, n = np.asarray(accuracy, dtype=float), np.asarray(n_test, dtype=float)
    z = 1.959963984540054
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def paired_sides(runs: pd.DataFrame, baseline: str, treatment: str, dataset: str, context_bias=None,
                 pose_quality: PoseQuality | None = None, baseline_dataset: str | None = None):
    """Both sides' runs indexed by (split, seed), and the pairs they share: the runs on
    ``dataset`` (the baseline's on ``baseline_dataset`` when given: the same frames with other
    pose) at ``context_bias`` (None: the preset's own world), the treatment's at
    ``pose_quality`` (None: clean pose) and the baseline's on clean pose (a no-pose baseline has
    no knob; a pose baseline is its clean run)."""
    sel = runs[runs["dataset"].isin({dataset, baseline_dataset or dataset})]
    if "context_bias" in sel:
        sel = sel[sel["context_bias"].isna() if context_bias is None else sel["context_bias"] == context_bias]
    a = sel[(sel["experiment"] == baseline) & (sel["dataset"] == (baseline_dataset or dataset))
            & quality_selected(sel, None)].set_index(["split", "seed"])
    b = sel[(sel["experiment"] == treatment) & (sel["dataset"] == dataset)
            & quality_selected(sel, pose_quality)].set_index(["split", "seed"])
    for name, side in ((baseline, a), (treatment, b)):
        if side.index.has_duplicates:
            twice = sorted(set(side.index[side.index.duplicated()]))
            presets = sorted(set(sel["preset"])) if "preset" in sel else []
            raise ConfigError(f"{name} on {dataset}: several runs share (split, seed) {twice[:3]}"
                              + (f" (presets {presets}: choose one, e.g. --preset cpu)"
                                 if len(presets) > 1 else "") + "; cannot pair them")
    return a, b, a.index.intersection(b.index)


def paired_deltas(runs: pd.DataFrame, baseline: str, treatment: str, dataset: str,
                  metric: str = METRIC, context_bias=None, pose_quality: PoseQuality | None = None,
                  baseline_dataset: str | None = None) -> pd.Series:
    """treatment - baseline per (split, seed) pair (see :func:`paired_difference`)."""
    a, b, common = paired_sides(runs, baseline, treatment, dataset, context_bias, pose_quality,
                                baseline_dataset)
    return _deltas(a, b, common, metric)


def _deltas(a: pd.DataFrame, b: pd.DataFrame, common, metric: str) -> pd.Series:
    return b.loc[common, metric].astype(float) - a.loc[common, metric].astype(float)


def paired_difference(runs: pd.DataFrame, baseline: str, treatment: str, dataset: str,
                      metric: str = METRIC, context_bias=None,
                      pose_quality: PoseQuality | None = None, baseline_dataset: str | None = None) -> dict:
    """treatment - baseline, paired on (split, seed): mean, 95% CI, pairs, and the two means.
    ``context_bias=None`` compares the runs on the preset's own world (no ``context_bias`` set),
    a number the sweep runs at that bias. ``pose_quality`` selects the treatment's runs at that
    setting of the pose-quality knob (None: clean pose), always against the baseline's clean
    runs, so a degraded pose mode pairs by seed with its no-pose baseline (and a mode with its
    own clean runs when ``baseline == treatment``). ``baseline_dataset``: the baseline's runs are
    on this dataset (the same frames with other pose: e.g. a mode on estimated vs annotated pose).
    Runs that would pair ambiguously (two runs of one side with the same split and seed, e.g. of
    two presets) are an error, never averaged."""
    a, b, common = paired_sides(runs, baseline, treatment, dataset, context_bias, pose_quality,
                                baseline_dataset)
    splits = common.get_level_values("split")
    diffs = _deltas(a, b, common, metric).to_numpy()
    mean, half = ci95_over_splits(diffs, splits)
    # the stopping rule looks after every added seed; 99% is a simple guard against those looks
    half99 = ci95_over_splits(diffs, splits, level=0.99)[1]
    nan2 = (float("nan"),) * 2
    base_mean, base_ci = ci95_over_splits(a.loc[common, metric], splits) if len(common) else nan2
    treat_mean, treat_ci = ci95_over_splits(b.loc[common, metric], splits) if len(common) else nan2

    def test_se(side):
        if "test_videos" not in side or not len(common):
            return float("nan")
        return float(np.mean(binomial_se(side.loc[common, metric], side.loc[common, "test_videos"])))

    return {"baseline": baseline, "treatment": treatment, "dataset": dataset, "n_pairs": len(common),
            "baseline_mean": base_mean, "baseline_ci95": base_ci,
            "treatment_mean": treat_mean, "treatment_ci95": treat_ci,
            "delta_mean": mean, "delta_ci95": half, "delta_ci99": half99,
            "baseline_test_se": test_se(a), "treatment_test_se": test_se(b)}


def ols_slope(x, y) -> tuple[float, float]:
    """Least-squares slope of ``y`` on ``x`` and its 95% half-width (Student t, n - 2 dof;
    NaN below three points or with a single x)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    sxx = float(((x - x.mean()) ** 2).sum()) if len(x) else 0.0
    if len(x) < 2 or sxx == 0:
        return float("nan"), float("nan")
    slope = float(((x - x.mean()) * (y - y.mean())).sum() / sxx)
    if len(x) < 3:
        return slope, float("nan")
    from scipy import stats

    residual = y - y.mean() - slope * (x - x.mean())
    se = math.sqrt(float((residual ** 2).sum()) / (len(x) - 2) / sxx)
    return slope, float(stats.t.ppf(0.975, len(x) - 2) * se)


def _decided(row: dict) -> bool:
    return row["n_pairs"] >= 2 and not math.isnan(row["delta_ci95"])


def verdict(row: dict) -> str:
    """Plain words for a paired difference: a CI that excludes 0 is a difference."""
    if not _decided(row):
        return "too few runs"
    lo, hi = row["delta_mean"] - row["delta_ci95"], row["delta_mean"] + row["delta_ci95"]
    if lo > 0:
        return "treatment better"
    if hi < 0:
        return "treatment worse"
    return "no clear difference"


def claim_threshold(expect: str, margin: float = MARGIN) -> float:
    """The Δ a claim predicting ``expect`` is decided at (0 or ±``margin``)."""
    if expect not in EXPECTATIONS:
        raise ValueError(f"expect must be one of {sorted(EXPECTATIONS)}, got {expect!r}")
    return EXPECTATIONS[expect][0] * margin


def claim_holds(row: dict, expect: str, margin: float = MARGIN) -> str:
    """Whether the paired difference supports a claim predicting ``expect`` for the treatment:
    "better" (Δ > 0), "not better" (Δ < +margin) or "not worse" (Δ > -margin). The claim holds
    when Δ's 95% interval lies wholly on the predicted side of that threshold, does not hold when
    it lies wholly on the other side, and is "not shown" when the interval contains it."""
    threshold = claim_threshold(expect, margin)
    if not _decided(row):
        return "too few runs"
    units, side = EXPECTATIONS[expect]
    lo, hi = row["delta_mean"] - row["delta_ci95"], row["delta_mean"] + row["delta_ci95"]
    words = "0" if units == 0 else f"{threshold * 100:+g} pt"
    if lo > threshold or hi < threshold:
        if (lo > threshold) == (side == "above"):
            return "holds"
        return f"does not hold (Δ {'below' if side == 'above' else 'above'} {words})"
    return f"not shown (CI spans {words})"
