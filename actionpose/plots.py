"""The report's figures, regenerated from run folders (PNG for the README, SVG for papers).

Every figure shows test-split accuracy of the final epoch; bars are means over seeds with 95%
Student-t intervals, curves are means with 95% bands.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from actionpose.train.results import ci95, paired_difference

# Published JHMDB accuracies (mean of the 3 official splits), see DESIGN.md.
PUBLISHED_JHMDB = {
    "P-CNN (RGB+flow, GT pose parts)": 0.737,
    "Chained multi-stream": 0.761,
    "PoTion (pose only, estimated)": 0.679,
    "I3D + PoTion": 0.855,
}

# (figure file stem, title, experiments in order, dataset)
GROUPS = [
    ("c3d_pose", "C3D with and without pose", ["c3d", "c3d-pose"], "puppet"),
    ("attention_pose", "Attention pooling with and without pose",
     ["attention", "attention-pose", "attention-pose-reg"], "puppet"),
    ("two_stream_init", "Temporal stream: first-layer initialisation",
     ["two-stream-init-none", "two-stream-init-replicate", "two-stream-init-replicate_scaled",
      "two-stream-init-average"], "puppet"),
    ("two_stream_mask", "Two-stream with and without the puppet mask",
     ["two-stream", "two-stream-mask", "two-stream-flow"], "puppet"),
    ("actors_c3d_pose", "Real actors: C3D with and without pose", ["c3d", "c3d-pose"], "actors"),
    ("actors_two_stream_mask", "Real actors: two-stream with and without the puppet mask",
     ["two-stream", "two-stream-mask"], "actors"),
]


def _save(fig, out_dir: Path, stem: str) -> list[Path]:
    paths = []
    for ext in ("png", "svg"):
        path = out_dir / f"{stem}.{ext}"
        fig.savefig(path, dpi=120, bbox_inches="tight", metadata={"Date": None} if ext == "svg" else None)
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
        stats = [(epoch, *ci95(g[metric])) for epoch, g in
                 curves[curves["experiment"] == name].groupby("epoch")]
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
    labels, means, halves = [], [], []
    for exp in experiments:
        vals = sel.loc[sel["experiment"] == exp, "test_video_acc"]
        if len(vals) == 0:
            continue
        m, h = ci95(vals)
        label = f"{exp}\n(n={len(vals)})"
        if exp != experiments[0]:
            d = paired_difference(runs, experiments[0], exp, dataset)
            if d["n_pairs"] >= 2:
                label += f"\nΔ {d['delta_mean'] * 100:+.1f} ± {d['delta_ci95'] * 100:.1f} pt"
        labels.append(label)
        means.append(m)
        halves.append(0.0 if np.isnan(h) else h)
    colors = sns.color_palette(n_colors=max(len(labels), 1))
    ax_bar.bar(range(len(labels)), means, yerr=halves, capsize=4, color=colors)
    for i, exp in enumerate([e for e in experiments if (sel["experiment"] == e).any()]):
        vals = sel.loc[sel["experiment"] == exp, "test_video_acc"].to_numpy()
        ax_bar.scatter(np.full(len(vals), i), vals, color="k", s=10, zorder=3)
    ax_bar.set_xticks(range(len(labels)), labels, fontsize=8)
    ax_bar.set(title="final test accuracy (mean, 95% CI)", ylim=(0, 1))
    fig.suptitle(f"{title} — {dataset}")
    fig.tight_layout()
    return fig


def sweep_table(runs: pd.DataFrame, default_bias: float | None = None) -> pd.DataFrame:
    """Pose benefit (treatment - baseline, paired over seeds) per context bias, for every puppet
    comparison with sweep runs. Runs without an explicit bias count at ``default_bias`` (the
    preset's), so the report runs are the sweep's point there."""
    from actionpose.train.results import COMPARISONS

    if runs.empty or "context_bias" not in runs:
        return pd.DataFrame()
    runs = runs.copy()
    swept = runs[(runs["dataset"] == "puppet") & runs["context_bias"].notna()]
    if default_bias is not None:
        runs["context_bias"] = runs["context_bias"].fillna(default_bias)
    names = set(swept["experiment"])
    rows = []
    for comp in COMPARISONS:
        if comp.dataset != "puppet":
            continue
        if comp.baseline not in names or comp.treatment not in names:
            continue
        for bias in sorted(runs.loc[runs["dataset"] == "puppet", "context_bias"].dropna().unique()):
            d = paired_difference(runs, comp.baseline, comp.treatment, "puppet", context_bias=bias)
            if d["n_pairs"]:
                rows.append({"comparison": f"{comp.treatment} − {comp.baseline}", "context_bias": bias,
                             **{k: d[k] for k in ("n_pairs", "baseline_mean", "treatment_mean",
                                                  "delta_mean", "delta_ci95")}})
    return pd.DataFrame(rows)


def context_bias_figure(runs: pd.DataFrame, default_bias: float | None = None):
    """Pose benefit against the context bias of the training split (see ``sweep_table``)."""
    import matplotlib.pyplot as plt

    table = sweep_table(runs, default_bias)
    if table.empty:
        return None
    fig, (acc_ax, ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, g in table.groupby("comparison", sort=False):
        half = g["delta_ci95"].fillna(0).to_numpy()
        bars = ax.errorbar(g["context_bias"], g["delta_mean"] * 100, yerr=half * 100, marker="o",
                           capsize=4, label=f"{name} (seeds: {'/'.join(map(str, g['n_pairs']))})")
        color = bars[0].get_color()  # one colour per pair in both panels; baseline dashed
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
    """Pose-only on real JHMDB masks (official splits) next to published JHMDB numbers."""
    import matplotlib.pyplot as plt

    sel = runs[(runs["dataset"] == "jhmdb") & (runs["experiment"] == "pose-only")]
    if sel.empty:
        return None
    m, h = ci95(sel["test_video_acc"])
    names = [f"pose-only (ours, masks)\nn={len(sel)} runs"] + list(PUBLISHED_JHMDB)
    values = [m] + list(PUBLISHED_JHMDB.values())
    errs = [0 if np.isnan(h) else h] + [0] * len(PUBLISHED_JHMDB)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.barh(range(len(names)), values, xerr=errs, capsize=4,
            color=["tab:orange"] + ["tab:grey"] * len(PUBLISHED_JHMDB))
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.axvline(1 / 21, color="k", ls=":", lw=1, label="chance (1/21)")
    ax.set(xlim=(0, 1), xlabel="accuracy (mean of official splits)", title="JHMDB: pose alone")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def make_figures(results_dir: str | Path, out_dir: str | Path, preset: str | None = None) -> list[Path]:
    """Every figure that ``results_dir/runs.csv`` and ``curves.csv`` support (as written by
    :func:`actionpose.train.results.write_results`); returns the written paths."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.hashsalt"] = "actionpose"  # stable SVG ids: same runs, same bytes
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = pd.read_csv(results_dir / "runs.csv")
    curves_path = results_dir / "curves.csv"
    curves = pd.read_csv(curves_path) if curves_path.is_file() and curves_path.stat().st_size > 1 else pd.DataFrame()
    if preset is not None and not runs.empty:
        runs = runs[runs["preset"] == preset]
    base_runs = runs[runs["context_bias"].isna()] if not runs.empty else runs
    base_curves = curves[curves["context_bias"].isna()] if not curves.empty else curves
    if not base_curves.empty and not base_runs.empty:  # curves of the runs kept above only
        keep = base_runs[["experiment", "dataset", "split", "seed"]]
        base_curves = base_curves.merge(keep, on=["experiment", "dataset", "split", "seed"])
    written: list[Path] = []
    for stem, title, experiments, dataset in GROUPS:
        if base_runs.empty or not ((base_runs["dataset"] == dataset)
                                   & base_runs["experiment"].isin(experiments)).any():
            continue
        fig = comparison_figure(base_runs, base_curves, title, experiments, dataset)
        written += _save(fig, out_dir, stem)
        plt.close(fig)
    presets = set(runs["preset"]) if not runs.empty else set()
    default_bias = None
    if len(presets) == 1:  # the bias of the preset's puppet world, where runs name none
        from actionpose.data.synthetic import synth_config

        (name,) = presets
        default_bias = synth_config("cpu" if name == "paper" else name).context_bias
    for stem, maker in (("context_bias_sweep", lambda r: context_bias_figure(r, default_bias)),
                        ("pose_only_jhmdb", pose_only_figure)):
        fig = maker(runs) if not runs.empty else None
        if fig is not None:
            written += _save(fig, out_dir, stem)
            plt.close(fig)
    return written


# ---------------------------------------------------------------------------------------------
# pictures of data and models (notebooks)


def draw_skeleton(ax, joints: np.ndarray, confidence: np.ndarray | None = None, *, color="lime",
                  skeleton=None) -> None:
    """Draw one frame's joints (J, 2; 0-based, x = column) and limbs on ``ax``."""
    from actionpose.pose.skeletons import JHMDB15

    skeleton = skeleton or JHMDB15
    ok = np.isfinite(joints).all(axis=1)
    if confidence is not None:
        ok &= confidence > 0.1
    for a, b in skeleton.limbs:
        if ok[a] and ok[b]:
            ax.plot(joints[[a, b], 0], joints[[a, b], 1], color=color, lw=1.5)
    ax.scatter(joints[ok, 0], joints[ok, 1], s=8, color="red", zorder=3)


def show_clip(frames: np.ndarray, *, joints: np.ndarray | None = None, mask: np.ndarray | None = None,
              confidence: np.ndarray | None = None, n: int = 6, title: str = ""):
    """``n`` evenly spaced frames (T, H, W, 3 uint8) with joints (T, J, 2) and mask (T, H, W)."""
    import matplotlib.pyplot as plt

    T = len(frames)
    idx = np.linspace(0, T - 1, min(n, T)).round().astype(int)
    fig, axes = plt.subplots(1, len(idx), figsize=(2.4 * len(idx), 2.2), squeeze=False)
    for ax, t in zip(axes[0], idx):
        ax.imshow(frames[t])
        if mask is not None:
            ax.contour(mask[t] > 0.5, levels=[0.5], colors="yellow", linewidths=0.8)
        if joints is not None:
            draw_skeleton(ax, joints[t], None if confidence is None else confidence[t])
        ax.set_title(f"frame {t + 1}", fontsize=8)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def show_maps(maps: np.ndarray, *, titles: list[str] | None = None, background: np.ndarray | None = None,
              cmap: str = "magma", title: str = ""):
    """A row of 2-D maps (N, h, w), optionally over a background image (H, W, 3)."""
    import matplotlib.pyplot as plt

    N = len(maps)
    fig, axes = plt.subplots(1, N, figsize=(2.2 * N, 2.2), squeeze=False)
    for i, ax in enumerate(axes[0]):
        if background is not None:
            H, W = background.shape[:2]
            ax.imshow(background)
            ax.imshow(maps[i], cmap=cmap, alpha=0.6, extent=(-0.5, W - 0.5, H - 0.5, -0.5))
        else:
            ax.imshow(maps[i], cmap=cmap)
        if titles:
            ax.set_title(titles[i], fontsize=8)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def show_first_layer(weight: np.ndarray, frames: int, *, n_filters: int = 8, title: str = ""):
    """First-layer filters of a stacked-frame stream: rows = filters, columns = frames (RGB)."""
    import matplotlib.pyplot as plt

    w = np.asarray(weight, dtype=np.float32)[:n_filters]  # (O, 3F, k, k)
    O = len(w)
    w = w.reshape(O, frames, -1, w.shape[-2], w.shape[-1])
    fig, axes = plt.subplots(O, frames, figsize=(1.0 * frames, 1.0 * O), squeeze=False)
    for o in range(O):
        scale = np.abs(w[o]).max() + 1e-8
        for f in range(frames):
            img = w[o, f]
            img = np.transpose(img[:3], (1, 2, 0)) if img.shape[0] >= 3 else img[0]
            axes[o, f].imshow(np.clip(0.5 + 0.5 * img / scale, 0, 1), cmap=None if img.ndim == 3 else "gray")
            axes[o, f].axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    return fig
