"""Tables of the report: per-experiment summaries, the paired comparisons, the README's results
table, the context-bias sweep, per-class and per-video views of two experiments."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from actionpose.pose.knob import PoseQuality
from actionpose.report import pose_quality
from actionpose.report.comparisons import (COMPARISONS, STUDY, STUDY_BIAS_MODES, STUDY_MODES,
                                            shown_by_report)
from actionpose.report.records import load_predictions, load_runs
from actionpose.report.stats import (
    METRIC, binomial_se, ci95, ci95_over_splits, claim_holds, ols_slope, paired_deltas,
    paired_difference, paired_sides, verdict)
from actionpose.report.stopping import stopping


def summarise(runs: pd.DataFrame, metric: str = METRIC) -> pd.DataFrame:
    """Mean, 95% CI (over seeds, or over split means), run and split counts, and the mean
    per-run test-set standard error, per (experiment, dataset, preset, context_bias) and, where
    ``runs`` has the pose-quality columns, per setting of the knob."""
    keys = ["experiment", "dataset", "preset", "context_bias"]
    keys += [c for c in pose_quality.COLUMNS if c in runs]
    rows = []
    for key, group in runs.groupby(keys, dropna=False, sort=True):
        mean, half = ci95_over_splits(group[metric], group["split"])
        se = binomial_se(group[metric], group["test_videos"]) if "test_videos" in group else [np.nan]
        rows.append({**dict(zip(keys, key)), "n": len(group), "mean": mean, "ci95": half,
                     "seconds_mean": float(group["seconds"].mean()),
                     "n_splits": group["split"].nunique(), "test_se_mean": float(np.mean(se))})
    return pd.DataFrame(rows, columns=keys + ["n", "mean", "ci95", "seconds_mean", "n_splits",
                                             "test_se_mean"])


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
        row["claim_holds_99"] = claim_holds({**row, "delta_ci95": row["delta_ci99"]}, comp.expect)
        rule = stopping(row, comp.expect)
        row.update({"seeds": rule.seeds, "stopping": rule.state, "seeds_needed": rule.needed,
                    "seeds_for_5pt": rule.for_half_width})
        rows.append(row)
    return pd.DataFrame(rows)


STUDY_COLUMNS = ["key", "group", "dataset", "baseline", "treatment", "context_bias", "pose_quality",
                 *pose_quality.COLUMNS, "n_pairs", "baseline_mean", "baseline_ci95", "treatment_mean",
                 "treatment_ci95", "delta_mean", "delta_ci95", "verdict", "stopping", "seeds_needed",
                 "stream", "stream_mean", "stream_ci95", "annotated_mean", "vs_annotated_mean",
                 "vs_annotated_ci95", "vs_annotated_pairs", "treatment_seconds", "in_report"]


def study_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Issue 18's study (:data:`~actionpose.report.comparisons.STUDY`): per point with runs on
    both sides, treatment − baseline paired by seed (the treatment at its pose quality, the
    baseline clean), what the difference says, the stopping rule's state, a fused pair's pose
    stream alone (mean over the same seeds, at the same setting), on estimated pose the same mode
    on the annotated pose paired by seed (``vs_annotated``: estimated − annotated), the treatment's
    mean seconds per run (a fused pair's: both of its runs) and whether the report's own tables
    show it."""
    rows = []
    for point in STUDY:
        d = paired_difference(runs, point.baseline, point.treatment, point.dataset,
                              context_bias=point.context_bias, pose_quality=point.quality,
                              baseline_dataset=point.baseline_dataset)
        if not d["n_pairs"]:
            continue
        _, b, common = paired_sides(runs, point.baseline, point.treatment, point.dataset,
                                    point.context_bias, point.quality, point.baseline_dataset)
        gap = {"treatment_mean": np.nan, "delta_mean": np.nan, "delta_ci95": np.nan, "n_pairs": 0}
        if point.baseline_dataset != point.dataset:
            gap = paired_difference(runs, point.treatment, point.treatment, point.dataset,
                                    context_bias=point.context_bias, baseline_dataset=point.baseline_dataset)
            gap["treatment_mean"] = gap["baseline_mean"]  # the annotated side, over the same seeds
        stream = (np.nan, np.nan)
        if point.stream is not None:
            _, s, _ = paired_sides(runs, point.stream, point.stream, point.dataset,
                                   point.context_bias, point.quality)
            s = s[s.index.isin(common)]
            if len(s):
                stream = ci95_over_splits(s[METRIC], s.index.get_level_values("split"))
        rule = stopping(d, point.expect)
        rows.append({"key": point.key, "group": point.group, "dataset": point.dataset,
                     "baseline": point.baseline, "treatment": point.treatment,
                     "context_bias": np.nan if point.context_bias is None else point.context_bias,
                     "pose_quality": (point.quality or PoseQuality()).label,
                     **pose_quality.values(point.quality),
                     **{k: d[k] for k in ("n_pairs", "baseline_mean", "baseline_ci95", "treatment_mean",
                                          "treatment_ci95", "delta_mean", "delta_ci95")},
                     "verdict": verdict(d), "stopping": rule.state, "seeds_needed": rule.needed,
                     "stream": point.stream or "", "stream_mean": stream[0], "stream_ci95": stream[1],
                     "annotated_mean": gap["treatment_mean"], "vs_annotated_mean": gap["delta_mean"],
                     "vs_annotated_ci95": gap["delta_ci95"], "vs_annotated_pairs": gap["n_pairs"],
                     "treatment_seconds": float(b.loc[common, "seconds"].mean()) if "seconds" in b else np.nan,
                     "in_report": shown_by_report(point)})
    return pd.DataFrame(rows, columns=STUDY_COLUMNS)


def _pct(mean: float, half: float) -> str:
    if np.isnan(mean):
        return "–"
    return f"{mean * 100:.1f}" + ("" if np.isnan(half) else f" ± {half * 100:.1f}")


def report_markdown(runs: pd.DataFrame) -> str:
    """The README's results table: each claim of the report, both accuracies, the paired
    difference with its 95% CI over seeds, the number of paired seeds, the test set's own
    binomial standard error per run, whether the claim holds, and which stopping rule ended its
    seeds (or how many it is expected to need)."""
    table = compare_all(runs[runs["context_bias"].isna()] if "context_bias" in runs else runs)
    lines = ["| claim (report) | data | baseline | treatment | Δ (treatment − baseline) | seeds "
             "| test-set SE per run (baseline / treatment) | difference | claim | seeds: stopping rule "
             "| Δ at 99% | claim at 99% |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in table.to_dict("records"):
        se = f"{row['baseline_test_se'] * 100:.1f} / {row['treatment_test_se'] * 100:.1f} pt"
        lines.append(
            f"| {row['claim']} | {row['dataset']} | {row['baseline']}: {_pct(row['baseline_mean'], row['baseline_ci95'])}"
            f" | {row['treatment']}: {_pct(row['treatment_mean'], row['treatment_ci95'])}"
            f" | {_pct(row['delta_mean'], row['delta_ci95'])} pt | {row['n_pairs']} | {se}"
            f" | {row['verdict']} | {row['claim_holds']} | {row['stopping']}"
            f" | {_pct(row['delta_mean'], row['delta_ci99'])} pt | {row['claim_holds_99']} |")
    return "\n".join(lines) + "\n" + sweep_markdown(runs)


def _sweep(runs: pd.DataFrame) -> tuple[pd.DataFrame, list, list[float]]:
    """The runs with every puppet run at a bias (runs without an explicit one count at the bias
    of the world they trained on, ``world_context_bias``), the puppet comparisons that have
    sweep runs on both sides, and the biases."""
    if runs.empty or "context_bias" not in runs:
        return runs, [], []
    swept = runs[(runs["dataset"] == "puppet") & runs["context_bias"].notna()]
    runs = runs.copy()
    if "world_context_bias" in runs:
        runs["context_bias"] = runs["context_bias"].fillna(runs["world_context_bias"])
    names = set(swept["experiment"])
    comps = [c for c in COMPARISONS
             if c.dataset == "puppet" and c.baseline in names and c.treatment in names]
    biases = sorted(runs.loc[runs["dataset"] == "puppet", "context_bias"].dropna().unique())
    return runs, comps, biases


def sweep_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Pose benefit (treatment - baseline, paired over seeds) per context bias, for every puppet
    comparison with sweep runs; the report runs are the sweep's point at their world's bias."""
    runs, comps, biases = _sweep(runs)
    rows = []
    for comp in comps:
        for bias in biases:
            d = paired_difference(runs, comp.baseline, comp.treatment, "puppet", context_bias=bias)
            if d["n_pairs"]:
                rows.append({"comparison": f"{comp.treatment} − {comp.baseline}", "context_bias": bias,
                             **{k: d[k] for k in ("n_pairs", "baseline_mean", "treatment_mean",
                                                  "delta_mean", "delta_ci95")},
                             "stopping": stopping(d, comp.expect).state})
    return pd.DataFrame(rows)


SLOPE_COLUMNS = ["comparison", "baseline", "treatment", "biases", "n_deltas", "slope", "slope_ci95",
                 "intercept", "low_bias", "high_bias", "interaction_pairs", "interaction_mean", "interaction_ci95"]


def _slope_row(runs: pd.DataFrame, baseline: str, treatment: str, biases) -> dict | None:
    """``treatment`` − ``baseline``'s per-seed Δs fitted on the bias (runs as :func:`_sweep`
    leaves them), or None with fewer than two biases."""
    deltas = {b: paired_deltas(runs, baseline, treatment, "puppet", context_bias=b) for b in biases}
    deltas = {b: d for b, d in deltas.items() if len(d)}
    if len(deltas) < 2:
        return None
    x = np.concatenate([np.full(len(d), b) for b, d in deltas.items()])
    y = np.concatenate([d.to_numpy() for d in deltas.values()])
    slope, half = ols_slope(x, y)
    low, high = min(deltas), max(deltas)
    interaction = (deltas[high] - deltas[low]).dropna()  # aligned on (split, seed)
    mean, ihalf = ci95(interaction)
    return {"comparison": f"{treatment} − {baseline}", "baseline": baseline,
            "treatment": treatment, "biases": " ".join(f"{b:g}" for b in deltas),
            "n_deltas": len(x), "slope": slope, "slope_ci95": half,
            "intercept": float(y.mean() - slope * x.mean()), "low_bias": low,
            "high_bias": high, "interaction_pairs": len(interaction),
            "interaction_mean": mean, "interaction_ci95": ihalf}


def sweep_slopes(runs: pd.DataFrame) -> pd.DataFrame:
    """Does the pose benefit grow with the context bias? Per sweep comparison: the least-squares
    slope of the per-seed Δ on the bias b (Δ per unit of b) with its 95% interval (Student t,
    n - 2 dof over the n per-seed Δs), and the interaction Δ(highest b) − Δ(lowest b), paired by
    seed, with its 95% t interval."""
    runs, comps, biases = _sweep(runs)
    rows = [_slope_row(runs, comp.baseline, comp.treatment, biases) for comp in comps]
    return pd.DataFrame([r for r in rows if r is not None], columns=SLOPE_COLUMNS)


def study_slopes(runs: pd.DataFrame) -> pd.DataFrame:
    """:func:`sweep_slopes` for each mode of the study's bias group against its no-pose baseline
    (fused pairs included): which mode survives misleading context? The mode's clean point at
    the preset's own world is one more bias."""
    runs, _, biases = _sweep(runs)
    rows = [_slope_row(runs, STUDY_MODES[mode], mode, biases) for mode in STUDY_BIAS_MODES] if biases else []
    return pd.DataFrame([r for r in rows if r is not None], columns=SLOPE_COLUMNS)


def _slope_words(row: dict) -> str:
    return (f"slope of Δ on b {_pct(row['slope'], row['slope_ci95'])} pt per unit of b "
            f"(least squares over {row['n_deltas']} per-seed Δs, 95% t interval, n − 2 dof); "
            f"Δ({row['high_bias']:g}) − Δ({row['low_bias']:g}) = "
            f"{_pct(row['interaction_mean'], row['interaction_ci95'])} pt "
            f"(paired by seed, {row['interaction_pairs']} seeds)")


def sweep_markdown(runs: pd.DataFrame) -> str:
    """One line per sweep comparison: its slope and interaction (see :func:`sweep_slopes`) and
    the stopping state of each of its points."""
    lines = []
    points = sweep_table(runs)
    for row in sweep_slopes(runs).to_dict("records"):
        states = points[points["comparison"] == row["comparison"]]
        lines.append(
            f"- Context-bias sweep, {row['comparison']} (b = {row['biases'].replace(' ', ', ')}): "
            f"{_slope_words(row)}; seeds per point: "
            + "; ".join(f"b = {b:g}: {state}" for b, state in zip(states["context_bias"], states["stopping"])))
    return "\n" + "\n".join(lines) + "\n" if lines else ""


def study_markdown(study: pd.DataFrame, slopes: pd.DataFrame | None = None) -> str:
    """Issue 18's study (:func:`study_table`) as the README's table "how to feed pose, when":
    per point, both means, the paired Δ with its 95% interval over seeds, the seeds, what the
    interval says, the stopping rule's state and, for a fused pair, its pose stream alone; then
    each mode's Δ against the context bias (:func:`study_slopes`)."""
    if study.empty:
        return ""
    lines = ["| point (treatment vs baseline) | world | pose | baseline | treatment | Δ (treatment − baseline) "
             "| seeds | difference | seeds: stopping rule | pose stream alone |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in study.to_dict("records"):
        world = row["dataset"] + ("" if pd.isna(row["context_bias"]) else f", b = {row['context_bias']:g}")
        stream = f"{row['stream']}: {_pct(row['stream_mean'], row['stream_ci95'])}" if row["stream"] else "–"
        pose = row["pose_quality"]
        if row["group"] == "estimated":
            pose = "estimated" + (f" ({_pct(row['vs_annotated_mean'], row['vs_annotated_ci95'])} pt vs annotated, "
                                  f"{row['vs_annotated_pairs']} seeds)" if row["vs_annotated_pairs"] else "")
        lines.append(
            f"| {row['treatment']} vs {row['baseline']} | {world} | {pose} "
            f"| {_pct(row['baseline_mean'], row['baseline_ci95'])} | {_pct(row['treatment_mean'], row['treatment_ci95'])} "
            f"| {_pct(row['delta_mean'], row['delta_ci95'])} pt | {row['n_pairs']} | {row['verdict']} "
            f"| {row['stopping']} | {stream} |")
    if slopes is not None and len(slopes):
        lines += ["", "Which mode survives misleading context (Δ against the puppet world's context bias b):"]
        lines += [f"- {row['comparison']} (b = {row['biases'].replace(' ', ', ')}): {_slope_words(row)}"
                  for row in slopes.to_dict("records")]
    return "\n## Issue 18's study: how to feed pose\n\n" + "\n".join(lines) + "\n"


def per_class_delta(runs: pd.DataFrame, baseline: str, treatment: str, dataset: str) -> pd.DataFrame:
    """Per-class test accuracy of both experiments (pooled over seeds) and their difference."""
    rows = []
    for name in (baseline, treatment):
        p = load_predictions(runs, name, dataset)
        rows.append((p["label"] == p["prediction"]).groupby(p["label"]).mean().rename(name))
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


@dataclass(frozen=True)
class Paired:
    """``treatment`` against ``baseline``: one row per (split, seed) pair, the paired difference
    with its interval, what the difference says and, for a claim of the report, whether it holds."""

    table: pd.DataFrame
    difference: dict
    verdict: str
    claim: str | None

    def __str__(self) -> str:
        d = self.difference
        text = (f"{d['treatment']} − {d['baseline']} on {d['dataset']}: "
                f"{_pct(d['delta_mean'], d['delta_ci95'])} pt over {d['n_pairs']} pairs: {self.verdict}")
        return text + (f"; claim: {self.claim}" if self.claim else "")


def compare(source, baseline: str, treatment: str, dataset: str = "puppet",
            preset: str | None = None, context_bias: float | None = None,
            pose_quality: PoseQuality | None = None) -> Paired:
    """Pair ``treatment`` with ``baseline`` on ``dataset``; ``source`` is a runs folder, a
    records folder or a runs table. ``context_bias=None`` compares the preset's own world;
    ``pose_quality`` takes the treatment's runs at that setting of the knob (None: clean pose),
    against the baseline's clean runs (see :func:`stats.paired_difference`)."""
    runs = source if isinstance(source, pd.DataFrame) else load_runs(Path(source), preset)
    if preset is not None:
        runs = runs[runs["preset"] == preset]
    d = paired_difference(runs, baseline, treatment, dataset, context_bias=context_bias,
                          pose_quality=pose_quality)
    a, b, _ = paired_sides(runs, baseline, treatment, dataset, context_bias, pose_quality)
    cols = ["split", "seed", METRIC] + (["test_video_se"] if "test_video_se" in runs else [])
    # a mode against its own clean runs: the sides are told apart by the setting
    side_b = treatment if treatment != baseline else f"{treatment} {(pose_quality or PoseQuality()).label}"
    table = a.reset_index()[cols].merge(b.reset_index()[cols], on=["split", "seed"],
                                        suffixes=(f" {baseline}", f" {side_b}"))
    table["delta"] = table[f"{METRIC} {side_b}"] - table[f"{METRIC} {baseline}"]
    comp = next((c for c in COMPARISONS if (c.baseline, c.treatment, c.dataset)
                 == (baseline, treatment, dataset)), None)
    clean = pose_quality is None or pose_quality.is_perfect
    claim = claim_holds(d, comp.expect) if comp and context_bias is None and clean else None
    return Paired(table.sort_values(["split", "seed"]).reset_index(drop=True), d, verdict(d), claim)


def compare_settings(baseline_source, treatment_source, metric: str = METRIC) -> pd.DataFrame:
    """The same runs trained under two settings (e.g. fp32 vs bf16: two runs or records folders):
    per (experiment, dataset, preset, split, context bias), Δ = treatment − baseline paired by
    seed, with its 95% t interval. Runs present on one side only are left out."""
    a, b = load_runs(baseline_source), load_runs(treatment_source)
    keys = ["experiment", "dataset", "preset", "context_bias",
            *[c for c in pose_quality.COLUMNS if c in a and c in b], "split", "seed"]
    both = a[keys + [metric]].merge(b[keys + [metric]], on=keys, suffixes=("_baseline", "_treatment"))
    rows = []
    for key, group in both.groupby(keys[:-1], dropna=False, sort=True):
        deltas = group[f"{metric}_treatment"] - group[f"{metric}_baseline"]
        mean, half = ci95(deltas)
        rows.append({**dict(zip(keys[:-1], key)), "n_pairs": len(group),
                     "baseline": float(group[f"{metric}_baseline"].mean()),
                     "treatment": float(group[f"{metric}_treatment"].mean()),
                     "delta": mean, "delta_ci95": half,
                     "deltas": " ".join(f"{d * 100:+.1f}" for d in deltas)})
    return pd.DataFrame(rows)

