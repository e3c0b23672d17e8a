"""Issue 18's study as figures, drawn from its table (``results/study.csv``, see
:func:`actionpose.report.tables.study_table`): each mode's paired difference to its no-pose
baseline (mean over seeds with its 95% interval), at clean pose on each world, against the pose
quality knob, and against the puppet world's context bias. A figure is drawn only when the table
holds its points; a curve's clean point is the mode's row of the ``modes`` group."""
from __future__ import annotations

import numpy as np
import pandas as pd

from actionpose.report.comparisons import STUDY_MODES

# x of the quality figure: the knob's column each degraded point moves (one panel each)
QUALITY_AXES = {"pose_jitter": "joint jitter (fraction of the person's height)",
                "pose_miss_rate": "missed frames (rate)"}
# one colour per mode in every figure (the study's modes in registry order)
MODE_COLOURS = {mode: f"C{i}" for i, mode in enumerate(STUDY_MODES)}
VERDICT_COLOURS = {"treatment better": "tab:green", "treatment worse": "tab:red",
                   "no clear difference": "tab:grey", "too few runs": "white"}


def _fit_means(ax, rows: pd.DataFrame, margin: float = 30.0) -> None:
    """Scale the y axis to the means (± ``margin`` points): a 2-seed interval can be 100+
    points wide and would flatten every curve; such bars run off the axes."""
    means = rows["delta_mean"].to_numpy(dtype=float) * 100
    ax.set_ylim(max(-100.0, np.nanmin(means) - margin), min(100.0, np.nanmax(means) + margin))


def _errorbar(ax, x, rows: pd.DataFrame, mode: str, label: str | None = None) -> None:
    ax.errorbar(np.asarray(x, dtype=float), rows["delta_mean"].to_numpy(dtype=float) * 100,
                yerr=np.nan_to_num(rows["delta_ci95"].to_numpy(dtype=float)) * 100, capsize=3,
                marker="o", label=label or mode, color=MODE_COLOURS.get(mode, "k"))


def _slope_label(fit) -> str:
    half = "" if np.isnan(fit["slope_ci95"]) else f" ± {fit['slope_ci95'] * 100:.1f}"
    return f"{fit['slope'] * 100:+.1f}{half}"


def modes_figure(study: pd.DataFrame):
    """Δ (mode − its baseline) per mode at clean pose, one panel per world; bar colour: what the
    interval says; the label names the baseline and the paired seeds."""
    import matplotlib.pyplot as plt

    rows = study[study["group"].isin(("modes", "estimated"))]  # estimated pose: one more world
    if rows.empty:
        return None
    worlds = list(dict.fromkeys(rows["dataset"]))
    heights = [len(rows[rows["dataset"] == w]) for w in worlds]
    fig, axes = plt.subplots(len(worlds), 1, figsize=(7, 1.2 + 0.45 * sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights}, sharex=True)
    for ax, world in zip(axes[:, 0], worlds):
        sel = rows[rows["dataset"] == world].reset_index(drop=True)
        y = np.arange(len(sel))[::-1]
        ax.barh(y, sel["delta_mean"].to_numpy(dtype=float) * 100,
                xerr=np.nan_to_num(sel["delta_ci95"].to_numpy(dtype=float)) * 100, capsize=3,
                color=[VERDICT_COLOURS.get(v, "white") for v in sel["verdict"]], edgecolor="k", lw=0.6)
        ax.set_yticks(y, [f"{r.treatment} vs {r.baseline} ({r.n_pairs} seeds)" for r in sel.itertuples()],
                      fontsize=8)
        ax.axvline(0, color="k", lw=0.8)
        ax.set_title(f"{world}: feeding pose vs the same model without it", fontsize=9)
    axes[-1, 0].set_xlabel("Δ test video accuracy, mode − baseline (points; 95% interval over seeds)")
    handles = [plt.Rectangle((0, 0), 1, 1, facecolor=c, edgecolor="k", lw=0.6) for c in VERDICT_COLOURS.values()]
    axes[0, 0].legend(handles, list(VERDICT_COLOURS), fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def quality_figure(study: pd.DataFrame):
    """Δ against the pose-quality knob, one curve per mode, one panel per knob setting moved
    (jitter, missed frames); the clean point (x = 0) is the mode's ``modes`` row on the puppet world."""
    import matplotlib.pyplot as plt

    degraded = study[study["group"] == "quality"]
    if degraded.empty:
        return None
    clean = study[(study["group"] == "modes") & (study["dataset"] == "puppet")]
    axes_used = [c for c in QUALITY_AXES if c in degraded and (degraded[c] > 0).any()]
    fig, axes = plt.subplots(1, len(axes_used), figsize=(5 * len(axes_used), 3.6), squeeze=False)
    for ax, column in zip(axes[0], axes_used):
        moved = degraded[degraded[column] > 0]
        for mode, group in moved.groupby("treatment", sort=True):
            curve = pd.concat([clean[clean["treatment"] == mode], group]).sort_values(column)
            _errorbar(ax, curve[column], curve, mode)
        ax.axhline(0, color="k", lw=0.8)
        ax.set(xlabel=QUALITY_AXES[column])
        _fit_means(ax, pd.concat([clean[clean["treatment"].isin(moved["treatment"])], moved]))
        ax.legend(fontsize=7)
    axes[0, 0].set_ylabel("Δ vs no-pose baseline (points)")
    fig.suptitle("puppet world: how good must pose be? (pose degraded, frames untouched;\n"
                 "intervals wider than the axes run off them)", fontsize=10)
    fig.tight_layout()
    return fig


def bias_figure(study: pd.DataFrame, world_bias: float | None, slopes: pd.DataFrame | None = None):
    """Δ against the puppet world's context bias, one curve per mode; the modes' clean rows sit
    at the preset's own world (``world_bias``; omitted when unknown); a mode's label gives its
    slope (``slopes``: :func:`~actionpose.report.tables.study_slopes`)."""
    import matplotlib.pyplot as plt

    swept = study[study["group"] == "bias"]
    if swept.empty:
        return None
    clean = study[(study["group"] == "modes") & (study["dataset"] == "puppet")].copy()
    clean["context_bias"] = world_bias
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for mode, group in swept.groupby("treatment", sort=True):
        here = clean[clean["treatment"] == mode] if world_bias is not None else clean.iloc[:0]
        curve = pd.concat([here, group]).sort_values("context_bias")
        fit = slopes[slopes["treatment"] == mode] if slopes is not None else pd.DataFrame()
        label = f"{mode}: slope {_slope_label(fit.iloc[0])} pt per unit b" if len(fit) else mode
        _errorbar(ax, curve["context_bias"], curve, mode, label)
    ax.axhline(0, color="k", lw=0.8)
    _fit_means(ax, pd.concat([clean, swept]))
    ax.set(xlabel="context bias of the puppet world (0: background says nothing)",
           ylabel="Δ vs no-pose baseline (points)", title="which mode survives misleading context?")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def own_world_bias(runs: pd.DataFrame) -> float | None:
    """The context bias of the puppet world that runs without a sweep bias trained on (when
    they share one), where the bias curves put the modes' clean rows; None otherwise."""
    if "world_context_bias" not in runs:
        return None
    own = runs[(runs["dataset"] == "puppet") & runs["context_bias"].isna()]["world_context_bias"].dropna().unique()
    return float(own[0]) if len(own) == 1 else None


def study_figures(study: pd.DataFrame, world_bias: float | None = None,
                  slopes: pd.DataFrame | None = None) -> list[tuple[str, object]]:
    """[(stem, figure)] of every study figure the table supports."""
    figs = [("study_modes", modes_figure(study)), ("study_quality", quality_figure(study)),
            ("study_bias", bias_figure(study, world_bias, slopes))]
    return [(stem, fig) for stem, fig in figs if fig is not None]
