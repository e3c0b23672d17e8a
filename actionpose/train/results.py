"""Run folders -> tables: per-run summaries, learning curves, means with 95% CIs, paired deltas.

Accuracy is always the final epoch's test-split video accuracy. Confidence intervals are
Student-t intervals over seeds (and splits where several are run); paired differences pair the
two experiments' runs with the same dataset, split and seed.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from actionpose.errors import ConfigError, DataError

METRIC = "test_video_acc"


@dataclass(frozen=True)
class Comparison:
    """One claim of the report: ``treatment`` vs ``baseline`` on ``dataset``."""

    key: str
    title: str
    baseline: str
    treatment: str
    dataset: str
    claim: str
    expect: str = "better"  # what the claim predicts for the treatment: better | not better | not worse


COMPARISONS: list[Comparison] = [
    Comparison("c3d-pose", "C3D: background weakening", "c3d", "c3d-pose", "puppet",
               "pose (background weakening) helps C3D slightly"),
    Comparison("attention-pose", "Attention pooling: heatmaps into top-down attention",
               "attention", "attention-pose", "puppet",
               "pose (heatmaps) helps attention pooling slightly"),
    Comparison("attention-pose-reg", "Attention pooling: pose-regularised attention",
               "attention", "attention-pose-reg", "puppet",
               "(Girdhar & Ramanan, beyond the report) pose as an auxiliary target helps"),
    Comparison("init-replicate", "Temporal stream: replicate vs random first layer",
               "two-stream-init-none", "two-stream-init-replicate", "puppet",
               "replicating the ImageNet first layer F times beats a random first layer"),
    Comparison("init-replicate_scaled", "Temporal stream: replicate/F vs random first layer",
               "two-stream-init-none", "two-stream-init-replicate_scaled", "puppet",
               "(I3D inflation, beyond the report)"),
    Comparison("init-average", "Temporal stream: average vs random first layer",
               "two-stream-init-none", "two-stream-init-average", "puppet",
               "(TSN cross-modality init, beyond the report)"),
    Comparison("two-stream-mask", "Two-stream: puppet-mask background weakening",
               "two-stream", "two-stream-mask", "puppet",
               "weakening the background does not work well in two-stream", "not better"),
    Comparison("two-stream-flow", "Two-stream: stacked RGB vs optical flow temporal stream",
               "two-stream-flow", "two-stream", "puppet",
               "stacked RGB replaces optical flow without losing accuracy", "not worse"),
    Comparison("c3d-pose-actors", "C3D: background weakening (real actors)", "c3d", "c3d-pose",
               "actors", "pose (background weakening) helps C3D slightly"),
    Comparison("two-stream-mask-actors", "Two-stream: puppet mask (real actors)", "two-stream",
               "two-stream-mask", "actors",
               "weakening the background does not work well in two-stream", "not better"),
]

# What "no meaningful difference" allows (accuracy, on the 95% CI bound): a treatment "not worse"
# than its baseline may lose at most this much, one "not better" may gain at most this much.
EQUIVALENCE_MARGIN = 0.05


def ci95(values) -> tuple[float, float]:
    """Mean and half-width of the 95% Student-t interval (half-width NaN for one value)."""
    from scipy import stats

    x = np.asarray(list(values), dtype=float)
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return float("nan"), float("nan")
    if len(x) == 1:
        return float(x[0]), float("nan")
    half = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return float(x.mean()), float(half)


def load_runs(runs_dir: str | Path, preset: str | None = None) -> pd.DataFrame:
    """One row per complete run under ``runs_dir`` (``<experiment>/<run>/summary.json``),
    only those of ``preset`` if given."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise DataError(runs_dir, "runs folder not found")
    rows = []
    for path in sorted(runs_dir.glob("*/*/summary.json")):
        try:
            s = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise DataError(path, f"corrupt summary ({exc})") from exc
        if not s.get("complete") or (preset is not None and s["preset"] != preset):
            continue
        config = json.loads((path.parent / "config.json").read_text())
        rows.append({
            "experiment": s["experiment"], "dataset": s["dataset"], "split": s["split"],
            "seed": s["seed"], "preset": s["preset"], "context_bias": config.get("context_bias"),
            "background_factor": config.get("background_factor"),
            **s["final"], "seconds": s["seconds_total"], "peak_rss_gib": s.get("peak_rss_gib"),
            "epochs": s["epochs"], "path": str(path.parent),
        })
    columns = ["experiment", "dataset", "split", "seed", "preset", "context_bias",
               "background_factor", "test_video_acc", "test_clip_acc", "seconds", "path"]
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=columns)


def load_curves(runs_dir: str | Path, preset: str | None = None) -> pd.DataFrame:
    """Every run's metrics.csv, stacked, with experiment/dataset/split/seed columns."""
    frames = []
    for path in sorted(Path(runs_dir).glob("*/*/metrics.csv")):
        summary = path.parent / "summary.json"
        if not summary.is_file():
            continue
        s = json.loads(summary.read_text())
        if not s.get("complete") or (preset is not None and s["preset"] != preset):
            continue
        config = json.loads((path.parent / "config.json").read_text())
        df = pd.read_csv(path)
        df["context_bias"] = config.get("context_bias")
        df["experiment"], df["dataset"], df["split"], df["seed"], df["preset"] = (
            s["experiment"], s["dataset"], s["split"], s["seed"], s["preset"])
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def summarise(runs: pd.DataFrame, metric: str = METRIC) -> pd.DataFrame:
    """Mean, 95% CI and run count per (experiment, dataset, context_bias)."""
    rows = []
    if runs.empty:
        return pd.DataFrame(columns=["experiment", "dataset", "n", "mean", "ci95", "seconds_mean"])
    keys = ["experiment", "dataset", "preset", "context_bias"]
    for key, group in runs.groupby(keys, dropna=False, sort=True):
        mean, half = ci95(group[metric])
        rows.append({**dict(zip(keys, key)), "n": len(group), "mean": mean, "ci95": half,
                     "seconds_mean": float(group["seconds"].mean())})
    return pd.DataFrame(rows)


def paired_difference(runs: pd.DataFrame, baseline: str, treatment: str, dataset: str,
                      metric: str = METRIC, context_bias=None) -> dict:
    """treatment - baseline, paired on (split, seed): mean, 95% CI, pairs, and the two means.
    ``context_bias=None`` compares the runs on the preset's own world (no ``context_bias`` set),
    a number the sweep runs at that bias. Runs that would pair ambiguously (two runs of one side
    with the same split and seed, e.g. of two presets) are an error, never averaged."""
    sel = runs[runs["dataset"] == dataset]
    if "context_bias" in sel:
        sel = sel[sel["context_bias"].isna() if context_bias is None else sel["context_bias"] == context_bias]
    a = sel[sel["experiment"] == baseline].set_index(["split", "seed"])[metric]
    b = sel[sel["experiment"] == treatment].set_index(["split", "seed"])[metric]
    for name, side in ((baseline, a), (treatment, b)):
        if side.index.has_duplicates:
            twice = sorted(set(side.index[side.index.duplicated()]))
            presets = sorted(set(sel["preset"])) if "preset" in sel else []
            raise ConfigError(f"{name} on {dataset}: several runs share (split, seed) {twice[:3]}"
                              + (f" (presets {presets}: choose one, e.g. --preset cpu)"
                                 if len(presets) > 1 else "") + "; cannot pair them")
    common = a.index.intersection(b.index)
    diffs = (b.loc[common] - a.loc[common]).to_numpy(dtype=float)
    mean, half = ci95(diffs)
    base_mean, base_ci = ci95(a.loc[common]) if len(common) else (float("nan"),) * 2
    treat_mean, treat_ci = ci95(b.loc[common]) if len(common) else (float("nan"),) * 2
    return {"baseline": baseline, "treatment": treatment, "dataset": dataset, "n_pairs": len(common),
            "baseline_mean": base_mean, "baseline_ci95": base_ci,
            "treatment_mean": treat_mean, "treatment_ci95": treat_ci,
            "delta_mean": mean, "delta_ci95": half}


def verdict(row: dict) -> str:
    """Plain words for a paired difference: a CI that excludes 0 is a difference."""
    if row["n_pairs"] < 2 or np.isnan(row["delta_ci95"]):
        return "too few runs"
    lo, hi = row["delta_mean"] - row["delta_ci95"], row["delta_mean"] + row["delta_ci95"]
    if lo > 0:
        return "treatment better"
    if hi < 0:
        return "treatment worse"
    return "no clear difference"


def claim_holds(row: dict, expect: str) -> str:
    """Whether the paired difference supports the claim, which predicts ``expect`` for the
    treatment: "better" (CI above 0), "not better" (CI below +EQUIVALENCE_MARGIN), "not worse"
    (CI above -EQUIVALENCE_MARGIN). An interval too wide to decide says so."""
    if expect not in ("better", "not better", "not worse"):
        raise ValueError(f"expect must be 'better', 'not better' or 'not worse', got {expect!r}")
    if row["n_pairs"] < 2 or np.isnan(row["delta_ci95"]):
        return "too few runs"
    lo, hi = row["delta_mean"] - row["delta_ci95"], row["delta_mean"] + row["delta_ci95"]
    if expect == "better":
        return "holds" if lo > 0 else ("does not hold (opposite)" if hi < 0 else "not shown (CI spans 0)")
    if expect == "not better":
        if hi < EQUIVALENCE_MARGIN:
            return "holds"
        return "does not hold (treatment better)" if lo > 0 else "not shown (CI too wide)"
    if lo > -EQUIVALENCE_MARGIN:
        return "holds"
    return "does not hold (treatment worse)" if hi < 0 else "not shown (CI too wide)"


def compare_all(runs: pd.DataFrame) -> pd.DataFrame:
    """Every report comparison that has runs on both sides."""
    rows = []
    for comp in COMPARISONS:
        row = paired_difference(runs, comp.baseline, comp.treatment, comp.dataset)
        if row["n_pairs"] == 0:
            continue
        row.update({"key": comp.key, "title": comp.title, "claim": comp.claim})
        row["verdict"] = verdict(row)
        row["claim_holds"] = claim_holds(row, comp.expect)
        rows.append(row)
    return pd.DataFrame(rows)


def write_results(runs_dir: str | Path, out_dir: str | Path, preset: str | None = None) -> dict[str, Path]:
    """Write results/runs.csv, summary.csv, comparisons.csv, curves.csv from ``runs_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = load_runs(runs_dir, preset)
    paths = {
        "runs": out_dir / "runs.csv",
        "summary": out_dir / "summary.csv",
        "comparisons": out_dir / "comparisons.csv",
        "curves": out_dir / "curves.csv",
    }
    runs.drop(columns=["path"], errors="ignore").to_csv(paths["runs"], index=False)
    summarise(runs).to_csv(paths["summary"], index=False)
    compare_all(runs).to_csv(paths["comparisons"], index=False)
    load_curves(runs_dir, preset).to_csv(paths["curves"], index=False)
    paths["report"] = out_dir / "report.md"
    paths["report"].write_text(report_markdown(runs))
    return paths


def load_predictions(runs: pd.DataFrame, experiment: str, dataset: str) -> pd.DataFrame:
    """predictions.csv of every run of ``experiment`` on ``dataset``, stacked (column ``seed``)."""
    frames = []
    for row in runs[(runs["experiment"] == experiment) & (runs["dataset"] == dataset)].itertuples():
        df = pd.read_csv(Path(row.path) / "predictions.csv")
        df["seed"], df["split"] = row.seed, row.split
        frames.append(df[["video", "label", "prediction", "seed", "split"]])
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["video", "label", "prediction", "seed", "split"])


def per_class_delta(runs: pd.DataFrame, baseline: str, treatment: str, dataset: str) -> pd.DataFrame:
    """Per-class test accuracy of both experiments (pooled over seeds) and their difference."""
    rows = []
    for name in (baseline, treatment):
        p = load_predictions(runs, name, dataset)
        acc = (p["label"] == p["prediction"]).groupby(p["label"]).mean().rename(name)
        rows.append(acc)
    table = pd.concat(rows, axis=1)
    table["delta"] = table[treatment] - table[baseline]
    return table.sort_values("delta", ascending=False)


def disagreements(runs: pd.DataFrame, baseline: str, treatment: str, dataset: str,
                  seed: int = 0) -> pd.DataFrame:
    """Test videos the treatment gets right and the baseline wrong (same seed and split)."""
    a = load_predictions(runs, baseline, dataset)
    b = load_predictions(runs, treatment, dataset)
    a, b = a[a["seed"] == seed], b[b["seed"] == seed]
    m = a.merge(b, on=["video", "label", "split"], suffixes=(f"_{baseline}", f"_{treatment}"))
    right = (m[f"prediction_{treatment}"] == m["label"]) & (m[f"prediction_{baseline}"] != m["label"])
    return m[right].drop(columns=[c for c in m.columns if c.startswith("seed")])


def report_markdown(runs: pd.DataFrame) -> str:
    """The README's results table: each claim of the report, both accuracies, the paired
    difference with its 95% CI, the number of paired runs, and whether the claim holds."""
    table = compare_all(runs[runs["context_bias"].isna()] if "context_bias" in runs else runs)
    lines = ["| claim (report) | data | baseline | treatment | Δ (treatment − baseline) | runs | difference | claim |",
             "|---|---|---|---|---|---|---|---|"]

    def pct(mean, half):
        if np.isnan(mean):
            return "–"
        return f"{mean * 100:.1f}" + ("" if np.isnan(half) else f" ± {half * 100:.1f}")

    for row in table.to_dict("records"):
        lines.append(
            f"| {row['claim']} | {row['dataset']} | {row['baseline']}: {pct(row['baseline_mean'], row['baseline_ci95'])}"
            f" | {row['treatment']}: {pct(row['treatment_mean'], row['treatment_ci95'])}"
            f" | {pct(row['delta_mean'], row['delta_ci95'])} pt | {row['n_pairs']} | {row['verdict']} | {row['claim_holds']} |")
    return "\n".join(lines) + "\n"
