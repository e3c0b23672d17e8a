"""The report's figures, drawn from run records (PNG for the README, SVG for papers).

Every figure shows test-split accuracy of the final epoch; bars are means over seeds with 95%
Student-t intervals, curves are means with 95% bands. Files carry no dates or versions, so the
same records give the same bytes.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from actionpose.report import pose_quality
from actionpose.report.comparisons import figure_groups
from actionpose.report.records import Records
from actionpose.report.stats import ci95, ci95_over_splits, paired_difference
from actionpose.report.tables import sweep_slopes, sweep_table

# Published JHMDB accuracies (mean of the 3 official splits).
PUBLISHED_JHMDB = {
    "P-CNN (RGB+flow, GT pose parts)": 0.737,
    "Chained multi-stream": 0.761,
    "PoTion (pose only, estimated)": 0.679,
    "I3D + PoTion": 0.855,
}
METADATA = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None}}


def _save(fig, out_dir: Path, stem: str) -> list[Path]:
    paths = []
    for ext in ("png", "svg"):
        path = out_dir / f"{stem}.{ext}"
        fig.savefig(path, dpi=120, bbox_inches="tight", metadata=METADATA[ext])
        paths.append(path)
    return paths


def curve_bands(ax, curves: pd.DataFrame, metric: str, experiments: list[str] | None = None,
                *, legend: bool = True) -> None:
    """Per experiment: ``metric`` per epoch, mean over runs with its Student-t 95% band (the
    interval every table here uses; seaborn's default bootstrap band is random and too narrow
    for 3 seeds)."""
    import seaborn as sns

    if curves.empty:
        return
    names = [e for e in (experiments or sorted(set(curves["experiment"])))
             if e in set(curves["experiment"])]
    for name, color in zip(names, sns.color_palette(n_colors=max(len(names), 1))):
        # an epoch that some run did not evaluate (eval_every) is left out, so that every point
        # averages the same runs; the curve joins the points that remain
        stats = [(epoch, *ci95(g[metric])) for epoch, g in
                 curves[curves["experiment"] == name].groupby("epoch") if g[metric].notna().all()]
        if not stats:
            continue
        epoch, mean, half = (np.array(v, dtype=float) for v in zip(*stats))
        half = np.nan_to_num(half)
        ax.plot(epoch, mean, color=color, label=name)
        ax.fill_between(epoch, mean - half, mean + half, color=color, alpha=0.2, linewidth=0)
    ax.set(xlabel="epoch", ylabel=metric)
    if legend:
        ax.legend(fontsize=8)


def comparison_figure(runs: pd.DataFrame, curves: pd.DataFrame, title: str,
                      experiments: list[str], dataset: str):
    """Left: test accuracy per epoch (mean, 95% band); right: final accuracy bars with 95% CI and
    the paired difference to the first experiment."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, (ax_curve, ax_bar) = plt.subplots(1, 2, figsize=(10, 3.6))
    sel_curves = curves[curves["dataset"] == dataset] if not curves.empty else curves
    curve_bands(ax_curve, sel_curves, "test_video_acc", experiments)
    ax_curve.set(title="test accuracy per epoch", ylabel="test video accuracy", ylim=(0, 1))
    sel = runs[(runs["dataset"] == dataset) & runs["experiment"].isin(experiments)]
    shown = [e for e in experiments if (sel["experiment"] == e).any()]
    labels, means, halves = [], [], []
    for exp in shown:
        group = sel[sel["experiment"] == exp]
        m, h = ci95_over_splits(group["test_video_acc"], group["split"])
        label = f"{exp}\n(n={len(group)})"
        if exp != experiments[0]:
            d = paired_difference(runs, experiments[0], exp, dataset)
            if d["n_pairs"] >= 2:
                label += f"\nΔ {d['delta_mean'] * 100:+.1f} ± {d['delta_ci95'] * 100:.1f} pt"
        labels.append(label)
        means.append(m)
        halves.append(0.0 if np.isnan(h) else h)
    colors = sns.color_palette(n_colors=max(len(labels), 1))
    ax_bar.bar(range(len(labels)), means, yerr=halves, capsize=4, color=colors)
    for i, exp in enumerate(shown):
        vals = sel.loc[sel["experiment"] == exp, "test_video_acc"].to_numpy()
        ax_bar.scatter(np.full(len(vals), i), vals, color="k", s=10, zorder=3)
    ax_bar.set_xticks(range(len(labels)), labels, fontsize=8)
    ax_bar.set(title="final test accuracy (mean, 95% CI)", ylim=(0, 1))
    fig.suptitle(f"{title} — {dataset}")
    fig.tight_layout()
    return fig


def context_bias_figure(runs: pd.DataFrame):
    """Pose benefit against the context bias of the training split (see ``sweep_table``)."""
    import matplotlib.pyplot as plt

    table = sweep_table(runs)
    if table.empty:
        return None
    slopes = sweep_slopes(runs).set_index("comparison")
    fig, (acc_ax, ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, g in table.groupby("comparison", sort=False):
        half = g["delta_ci95"].fillna(0).to_numpy()
        bars = ax.errorbar(g["context_bias"], g["delta_mean"] * 100, yerr=half * 100, marker="o",
                           capsize=4, label=f"{name} (seeds: {'/'.join(map(str, g['n_pairs']))})")
        color = bars[0].get_color()  # one colour per pair in both panels; baseline dashed
        if name in slopes.index and not np.isnan(slopes.loc[name, "slope"]):
            fit = slopes.loc[name]
            b = np.array([g["context_bias"].min(), g["context_bias"].max()])
            ci = "" if np.isnan(fit["slope_ci95"]) else f" ± {fit['slope_ci95'] * 100:.1f}"
            ax.plot(b, (fit["intercept"] + fit["slope"] * b) * 100, ":", color=color,
                    label=f"least-squares fit: slope {fit['slope'] * 100:+.1f}{ci} pt per unit b")
        treatment, baseline = name.split(" − ")
        acc_ax.plot(g["context_bias"], g["baseline_mean"] * 100, "o--", color=color, label=baseline)
        acc_ax.plot(g["context_bias"], g["treatment_mean"] * 100, "o-", color=color, label=treatment)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(xlabel="context bias of the training split", ylabel="pose benefit (accuracy points)",
           title="Pose benefit vs context bias (puppet world)")
    acc_ax.set(xlabel="context bias of the training split", ylabel="test video accuracy (%)",
               title="Test accuracy (mean over seeds)")
    ax.legend(fontsize=7)
    acc_ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def pose_only_figure(runs: pd.DataFrame):
    """Pose-only on real JHMDB masks (official splits), one bar per preset, next to published
    JHMDB numbers; the interval is over the split means (runs of one split share its test set)."""
    import matplotlib.pyplot as plt

    sel = runs[(runs["dataset"] == "jhmdb") & (runs["experiment"] == "pose-only")]
    if sel.empty:
        return None
    ours = []
    for preset, group in sel.groupby("preset", sort=True):
        m, h = ci95_over_splits(group["test_video_acc"], group["split"])
        ours.append((f"pose-only, {preset} preset (ours, masks)\n"
                     f"{group['split'].nunique()} splits, {len(group)} runs", m, 0 if np.isnan(h) else h))
    names = [n for n, _, _ in ours] + list(PUBLISHED_JHMDB)
    values = [m for _, m, _ in ours] + list(PUBLISHED_JHMDB.values())
    errs = [h for _, _, h in ours] + [0] * len(PUBLISHED_JHMDB)
    fig, ax = plt.subplots(figsize=(7, 3 + 0.4 * len(ours)))
    ax.barh(range(len(names)), values, xerr=errs, capsize=4,
            color=["tab:orange"] * len(ours) + ["tab:grey"] * len(PUBLISHED_JHMDB))
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.axvline(1 / 21, color="k", ls=":", lw=1, label="chance (1/21)")
    ax.set(xlim=(0, 1), xlabel="accuracy (mean of official splits)", title="JHMDB: pose alone")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def render(records: Records, out_dir: str | Path) -> list[Path]:
    """Every figure the records support, written into ``out_dir``; returns the written paths."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # the report's figures show clean-pose runs (the study's degraded ones: study_table)
    runs = records.runs[pose_quality.selected(records.runs, None)]
    curves = records.curves[pose_quality.selected(records.curves, None)]
    base_runs = runs[runs["context_bias"].isna()]
    base_curves = curves[curves["context_bias"].isna()]
    written: list[Path] = []
    with matplotlib.rc_context({"svg.hashsalt": "actionpose"}):  # stable SVG ids
        figs = [(g.stem, comparison_figure(base_runs, base_curves, g.title, list(g.experiments), g.dataset))
                for g in figure_groups()
                if ((base_runs["dataset"] == g.dataset) & base_runs["experiment"].isin(g.experiments)).any()]
        figs += [("context_bias_sweep", context_bias_figure(runs)), ("pose_only_jhmdb", pose_only_figure(runs))]
        for stem, fig in figs:
            if fig is not None:
                written += _save(fig, out_dir, stem)
                plt.close(fig)
    return written
