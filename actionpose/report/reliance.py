"""Context reliance in the report: how much of a model's attribution falls on the person.

``actionpose explain --test-split RUN`` writes ``RUN/context_reliance.csv`` (one row per test
video: the share of its Grad-CAM or attention map inside the person mask, ``context_reliance``,
and the mask's share of the pixels, ``mask_fraction``); ``actionpose records collect`` copies it
into the run's record. A run's context reliance is the mean over its test videos. Here, from the
runs or records that carry one:

- :func:`summary_table`: per experiment (dataset, preset, context bias), the mean over seeds with
  its 95% interval (:func:`~actionpose.report.stats.ci95_over_splits`);
- :func:`pairs_table`: with vs without pose, for each comparison of the report whose baseline
  reads no pose and whose treatment does, paired by (split, seed) with the paired 95% interval
  (:func:`~actionpose.report.stats.paired_difference`), on the preset's own world and at each
  context bias of the sweep;
- :func:`reliance_figure`: both as a figure.

Records without the file are left out; without any, nothing here is written
(:func:`~actionpose.report.publish.write_report` skips it).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from actionpose.errors import DataError
from actionpose.io import atomic_path
from actionpose.report.comparisons import COMPARISONS
from actionpose.report.stats import ci95_over_splits, paired_difference

RELIANCE_FILE = "context_reliance.csv"
METRIC = "context_reliance"
TABLES = ("context_reliance.csv", "context_reliance_pairs.csv")
COLUMNS = ["experiment", "dataset", "preset", "split", "seed", "context_bias", "world_context_bias",
           "pose", "videos", "context_reliance", "mask_fraction", "path"]
PAIR_COLUMNS = ["preset", "key", "baseline", "treatment", "dataset", "context_bias", "n_pairs",
                "baseline_mean", "baseline_ci95", "treatment_mean", "treatment_ci95", "delta_mean",
                "delta_ci95", "baseline_mask_fraction", "treatment_mask_fraction", "difference"]


def read_reliance(path: str | Path) -> pd.DataFrame:
    """A run's ``context_reliance.csv``; a malformed one is a DataError naming it."""
    path = Path(path)
    try:
        df = pd.read_csv(path)
    except (OSError, pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(path, f"malformed CSV ({str(exc).splitlines()[0]})") from exc
    missing = sorted({"video", METRIC, "mask_fraction"} - set(df.columns))
    if missing or df.empty:
        raise DataError(path, f"missing column(s) {missing}" if missing else "no test videos")
    for col in (METRIC, "mask_fraction"):
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna() & df[col].notna()
        if bad.any() or ((values < 0) | (values > 1)).any():
            raise DataError(path, f"{col} must be a share in [0, 1] (row {int(np.argmax(bad | (values < 0) | (values > 1))) + 2})")
        df[col] = values
    return df


def _pose(folder: Path) -> str | None:
    from actionpose.report.records import _read_json

    config = folder / "config.json"
    if config.is_file():
        return _read_json(config).get("pose")
    return (_read_json(folder / "summary.json").get("config") or {}).get("pose")


def load_reliance(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per run of ``runs`` (as :func:`~actionpose.report.records.load` reads them) whose
    folder holds ``context_reliance.csv``: its mean over the test videos (videos without any
    attribution left out), the mean mask fraction and the run's pose mode."""
    rows = []
    for row in runs.to_dict("records"):
        folder = Path(row["path"])
        if not (folder / RELIANCE_FILE).is_file():
            continue
        df = read_reliance(folder / RELIANCE_FILE)
        shares = df[METRIC].dropna()
        rows.append({**{k: row.get(k) for k in COLUMNS if k in row}, "pose": _pose(folder),
                     "videos": len(df), METRIC: float(shares.mean()) if len(shares) else np.nan,
                     "mask_fraction": float(df["mask_fraction"].mean())})
    return pd.DataFrame(rows, columns=COLUMNS)


def summary_table(rel: pd.DataFrame) -> pd.DataFrame:
    """Mean context reliance per (experiment, dataset, preset, context bias) with its 95% interval
    over seeds (or over split means), runs, mean mask fraction and test videos per run."""
    keys = ["experiment", "dataset", "preset", "context_bias"]
    rows = []
    for key, g in rel.dropna(subset=[METRIC]).groupby(keys, dropna=False, sort=True):
        mean, half = ci95_over_splits(g[METRIC], g["split"])
        rows.append({**dict(zip(keys, key)), "pose": g["pose"].iloc[0], "n": len(g), "mean": mean,
                     "ci95": half, "mask_fraction": float(g["mask_fraction"].mean()),
                     "videos": float(g["videos"].mean())})
    return pd.DataFrame(rows, columns=keys + ["pose", "n", "mean", "ci95", "mask_fraction", "videos"])


def _pose_comparisons(rel: pd.DataFrame) -> list:
    """The report's comparisons whose baseline reads no pose and whose treatment does (by the
    runs' own configs), both with context reliance."""
    pose = rel.dropna(subset=["pose"]).groupby("experiment")["pose"].first().to_dict()
    return [c for c in COMPARISONS if pose.get(c.baseline) == "none"
            and pose.get(c.treatment) not in (None, "none")]


def _difference(d: dict) -> str:
    if d["n_pairs"] < 2 or math.isnan(d["delta_ci95"]):
        return "too few runs"
    lo, hi = d["delta_mean"] - d["delta_ci95"], d["delta_mean"] + d["delta_ci95"]
    return "more on the person" if lo > 0 else "less on the person" if hi < 0 else "no clear difference"


def pairs_table(rel: pd.DataFrame) -> pd.DataFrame:
    """With vs without pose: treatment − baseline context reliance, paired by (split, seed), per
    preset, on the preset's own world (``context_bias`` empty) and at each bias of the sweep (the
    preset's runs counting at their world's bias, as the accuracy sweep does)."""
    from actionpose.report.tables import _sweep

    rel = rel.dropna(subset=[METRIC])
    rows = []
    for preset in sorted(rel["preset"].dropna().unique()):
        sel = rel[rel["preset"] == preset]
        comps = _pose_comparisons(sel)
        swept, sweep_comps, biases = _sweep(sel)
        points = [(c, None, sel) for c in comps]
        points += [(c, b, swept) for c in sweep_comps if c in comps for b in biases]
        for comp, bias, runs in points:
            d = paired_difference(runs, comp.baseline, comp.treatment, comp.dataset, metric=METRIC,
                                  context_bias=bias)
            if not d["n_pairs"]:
                continue
            fractions = {}
            for side, name in (("baseline", comp.baseline), ("treatment", comp.treatment)):
                g = runs[(runs["experiment"] == name) & (runs["dataset"] == comp.dataset)]
                g = g[g["context_bias"].isna()] if bias is None else g[g["context_bias"] == bias]
                fractions[f"{side}_mask_fraction"] = float(g["mask_fraction"].mean())
            rows.append({"preset": preset, "key": comp.key, "context_bias": np.nan if bias is None else bias,
                         **{k: d[k] for k in PAIR_COLUMNS if k in d}, **fractions,
                         "difference": _difference(d)})
    return pd.DataFrame(rows, columns=PAIR_COLUMNS)


def tables(rel: pd.DataFrame) -> dict[str, str]:
    """The CSV texts of :data:`TABLES` (none without context reliance)."""
    if rel.empty or rel[METRIC].isna().all():
        return {}
    return {TABLES[0]: summary_table(rel).to_csv(index=False), TABLES[1]: pairs_table(rel).to_csv(index=False)}


def _pct(mean: float, half: float) -> str:
    if np.isnan(mean):
        return "–"
    return f"{mean * 100:.1f}" + ("" if np.isnan(half) else f" ± {half * 100:.1f}")


def reliance_markdown(rel: pd.DataFrame) -> str:
    """The report's paragraph on context reliance (empty without it)."""
    if not tables(rel):
        return ""
    lines = ["", "Context reliance (share of the Grad-CAM / attention map inside the person mask over "
             "each run's test videos, `actionpose explain --test-split`; mean ± 95% CI over seeds, "
             "Δ paired by seed):", "",
             "| data | preset | context bias | baseline | treatment | Δ (treatment − baseline) | seeds "
             "| mask's share of the pixels | difference |", "|---|---|---|---|---|---|---|---|---|"]
    for r in pairs_table(rel).to_dict("records"):
        bias = "own world" if np.isnan(r["context_bias"]) else f"{r['context_bias']:g}"
        lines.append(f"| {r['dataset']} | {r['preset']} | {bias} | {r['baseline']}: "
                     f"{_pct(r['baseline_mean'], r['baseline_ci95'])} % | {r['treatment']}: "
                     f"{_pct(r['treatment_mean'], r['treatment_ci95'])} % | "
                     f"{_pct(r['delta_mean'], r['delta_ci95'])} pt | {r['n_pairs']} | "
                     f"{r['baseline_mask_fraction'] * 100:.1f} / {r['treatment_mask_fraction'] * 100:.1f} % "
                     f"| {r['difference']} |")
    return "\n".join(lines) + "\n"


def reliance_figure(rel: pd.DataFrame):
    """Left: mean context reliance (95% CI, seeds as dots, the mask's share of the pixels as a red
    tick) of each with/without-pose pair on the preset's own world, the paired Δ above it, and of
    any other experiment with context reliance; right, when the sweep has it at two biases or
    more: context reliance against the context bias (baseline dashed, treatment solid).
    None without context reliance."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import seaborn as sns

    rel = rel.dropna(subset=[METRIC])
    if rel.empty:
        return None
    pairs = pairs_table(rel)
    base = rel[rel["context_bias"].isna()]
    groups, used = [], set()
    for r in pairs[pairs["context_bias"].isna()].to_dict("records"):
        sel = base[(base["preset"] == r["preset"]) & (base["dataset"] == r["dataset"])]
        delta = (f"Δ {r['delta_mean'] * 100:+.1f}" + ("" if np.isnan(r["delta_ci95"]) else
                                                       f" ± {r['delta_ci95'] * 100:.1f}") + " pt")
        groups.append((f"{r['dataset']}, {r['preset']}", [(e, sel[sel["experiment"] == e])
                                                         for e in (r["baseline"], r["treatment"])], delta))
        used |= {(r["preset"], r["dataset"], r["baseline"]), (r["preset"], r["dataset"], r["treatment"])}
    for (preset, dataset, exp), g in base.groupby(["preset", "dataset", "experiment"], sort=True):
        if (preset, dataset, exp) not in used:
            groups.append((f"{dataset}, {preset}", [(exp, g)], ""))
    sweep = pairs[pairs["context_bias"].notna()]
    swept = [k for k, g in sweep.groupby(["preset", "key"], sort=True) if g["context_bias"].nunique() >= 2]
    panels = int(bool(groups)) + int(bool(swept))
    if not panels:
        return None
    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 3.8), squeeze=False)
    axes = list(axes[0])
    if groups:
        ax = axes.pop(0)
        x, ticks, labels = 0.0, [], []
        colors = {"none": "tab:grey"}
        for title, members, delta in groups:
            start = x
            for exp, g in members:
                mean, half = ci95_over_splits(g[METRIC], g["split"])
                pose = g["pose"].iloc[0]
                ax.bar(x, mean, yerr=0 if np.isnan(half) else half, capsize=4, width=0.8,
                       color=colors.get(pose, "tab:orange"), alpha=0.8)
                ax.plot(np.full(len(g), x), g[METRIC], "k.", ms=4, zorder=3)
                ax.plot([x - 0.4, x + 0.4], [g["mask_fraction"].mean()] * 2, "r-", lw=1.2)
                ticks.append(x)
                labels.append(f"{exp}\n({title}, n={len(g)})")
                x += 1.0
            if delta:
                ax.text((start + x - 1) / 2, 0.97, delta, ha="center", va="top", fontsize=8,
                        transform=ax.get_xaxis_transform())
            x += 0.6
        ax.set_xticks(ticks, labels, fontsize=7, rotation=30, ha="right")
        ax.set(ylim=(0, 1), ylabel="attribution inside the person mask")
        ax.set_title("context reliance, with (orange) vs without (grey) pose\n(red: the mask's share of "
                     "the pixels; Δ paired by seed)", fontsize=9)
    if swept:
        ax = axes.pop(0)
        palette = sns.color_palette(n_colors=len(swept))
        for (preset, key), color in zip(swept, palette):
            g = sweep[(sweep["preset"] == preset) & (sweep["key"] == key)].sort_values("context_bias")
            for side, style in (("baseline", "o--"), ("treatment", "o-")):
                ax.errorbar(g["context_bias"], g[f"{side}_mean"], yerr=g[f"{side}_ci95"].fillna(0),
                            fmt=style, color=color, capsize=3, label=f"{g[side].iloc[0]} ({preset})")
        ax.set(xlabel="context bias of the training split", ylabel="attribution inside the person mask",
               ylim=(0, 1))
        ax.set_title("context reliance across the context-bias sweep\n(dashed: without pose; mean, 95% CI)",
                     fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def save_figure(fig, out_dir: str | Path, stem: str) -> list[Path]:
    """``stem``.png and .svg in ``out_dir`` (no dates or versions in the files), then close it."""
    import matplotlib
    import matplotlib.pyplot as plt

    from actionpose.report.figures import METADATA

    paths = []
    with matplotlib.rc_context({"svg.hashsalt": "actionpose"}):
        for ext in ("png", "svg"):
            path = Path(out_dir) / f"{stem}.{ext}"
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=ext, dpi=120, bbox_inches="tight", metadata=METADATA[ext])
            paths.append(path)
    plt.close(fig)
    return paths
