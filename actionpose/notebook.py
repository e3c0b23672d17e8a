"""The study notebooks' one call per comparison: a baseline and its treatment(s) on one dataset at
one preset, their runs, learning curves and paired differences (``report.compare``).

Records first: where the committed records (``results/records``) hold the pair at the preset (the
cpu preset: they are the runs behind the README), they are read, every seed they hold, and nothing
is trained. Elsewhere (smoke in CI, paper) the missing runs are trained into the runs folder
(``ensure_run``: finished runs are reused) and read from there. Like the commands that chain
training and the report (``reproduce``, ``seeds``), this module uses both; the report itself never
imports the engine.

Per-class accuracy and the clips one model gets right need each run's ``predictions.csv``, which
the backfilled records do not keep: those views use the seeds that kept them, and say so in one
line when none did. Pictures from a run's weights need its checkpoint, which no record keeps: at a
records preset they use a finished local run of the same name only if it ends where its record does.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pandas as pd

from actionpose.errors import ConfigError, DataError
from actionpose.paths import REPO_ROOT, data_root, runs_root
from actionpose.report.records import read_record
from actionpose.report.pose_quality import selected as quality_selected
from actionpose.report.stats import METRIC, binomial_se, wilson95
from actionpose.report.tables import Paired, compare, disagreements, per_class_delta
from actionpose.train.experiments import dataset_label, make_config

RECORDS = REPO_ROOT / "results" / "records"
# seeds trained where the records do not hold the pair (a preset's default)
DEFAULT_SEEDS = {"smoke": 1, "cpu": 3, "paper": 3, "jhmdb": 3}
KEYS = ["split", "seed"]


@dataclass(frozen=True)
class PairRuns:
    """``baseline`` against each of ``treatments`` on ``dataset`` at ``preset``: the runs (only
    seeds paired with the baseline; the preset's own world), their curves, and one ``Paired`` per
    treatment. ``source`` is "records" (read from ``folder``, nothing trained) or "runs" (the
    runs folder ``runs_dir``, where local weights are looked for in either case)."""

    baseline: str
    treatments: tuple[str, ...]
    dataset: str
    preset: str
    source: str
    folder: Path
    runs_dir: Path
    runs: pd.DataFrame
    curves: pd.DataFrame
    paired: tuple[Paired, ...]

    @property
    def experiments(self) -> list[str]:
        return [self.baseline, *self.treatments]

    def seeds(self, experiment: str | None = None) -> list[int]:
        sel = self.runs if experiment is None else self.runs[self.runs["experiment"] == experiment]
        return sorted(int(s) for s in sel["seed"].unique())

    def __str__(self) -> str:
        where = ("the committed records" if self.source == "records" else "the runs folder")
        pairs = ", ".join(f"{p.difference['treatment']}: {p.difference['n_pairs']}" for p in self.paired)
        return (f"{' vs '.join(self.experiments)} on {self.dataset}, preset {self.preset}: "
                f"seeds {self.seeds()} read from {where} ({self.folder}); pairs per treatment: {pairs}")

    def summary(self) -> pd.DataFrame:
        """Final accuracy and training seconds per experiment: mean, SD and count over seeds."""
        return self.runs.groupby(["experiment", "dataset"])[
            [METRIC, "test_clip_acc", "seconds"]].agg(["mean", "std", "count"])

    def differences(self) -> pd.DataFrame:
        """One row per treatment: the paired difference to the baseline with its 95% interval,
        what it says, whether the report's claim holds, and the per-seed Δs in points."""
        rows = []
        for p in self.paired:
            d = p.difference
            rows.append({k: d[k] for k in ("baseline", "treatment", "n_pairs", "baseline_mean",
                                           "treatment_mean", "delta_mean", "delta_ci95")}
                        | {"verdict": p.verdict, "claim": p.claim,
                           "deltas (pt)": " ".join(f"{x * 100:+.1f}" for x in p.table["delta"])})
        return pd.DataFrame(rows)

    def figure(self, title: str):
        """Learning curves and final accuracy of every experiment (``figures.comparison_figure``)."""
        from actionpose.report.figures import comparison_figure

        return comparison_figure(self.runs, self.curves, title, self.experiments, self.dataset)

    # views that need predictions.csv

    def _treatment(self, treatment: str | None) -> str:
        if treatment is None:
            return self.treatments[0]
        if treatment not in self.treatments:
            raise ConfigError(f"{treatment!r} is not a treatment here ({', '.join(self.treatments)})")
        return treatment

    def predicted(self, treatment: str | None = None) -> pd.DataFrame:
        """The runs of the baseline and ``treatment`` at the (split, seed) pairs where both kept
        their predictions."""
        treatment = self._treatment(treatment)
        kept = self.runs[[(Path(p) / "predictions.csv").is_file() for p in self.runs["path"]]]
        sides = [kept[kept["experiment"] == e] for e in (self.baseline, treatment)]
        both = sides[0][KEYS].merge(sides[1][KEYS], on=KEYS)
        return pd.concat(sides).merge(both, on=KEYS)

    def _no_predictions(self, what: str, treatment: str) -> None:
        print(f"{what}: no seed of {self.baseline} and {treatment} on {self.dataset} kept its "
              f"predictions.csv ({len(self.seeds())} seed(s) read from the {self.source}; records "
              "backfilled from tables hold none): nothing to show")

    def per_class(self, treatment: str | None = None) -> pd.DataFrame | None:
        """Per-class test accuracy of the baseline and ``treatment``, pooled over the seeds that
        kept predictions, and their difference (None, said in one line, when none did)."""
        treatment = self._treatment(treatment)
        runs = self.predicted(treatment)
        if runs.empty:
            return self._no_predictions("per-class accuracy", treatment)
        seeds = sorted(int(s) for s in runs["seed"].unique())
        print(f"pooled over seed(s) {seeds}: those of {self.seeds()} whose runs kept predictions")
        return per_class_delta(runs, self.baseline, treatment, self.dataset)

    def wins(self, treatment: str | None = None, seed: int | None = None) -> pd.DataFrame | None:
        """Test videos ``treatment`` gets right and the baseline wrong, at ``seed`` (default: the
        first seed with predictions on both sides; None, said in one line, when there is none)."""
        treatment = self._treatment(treatment)
        runs = self.predicted(treatment)
        have = sorted(int(s) for s in runs["seed"].unique())
        if not have:
            return self._no_predictions("clips one model gets right", treatment)
        if seed is None:
            seed = have[0]
        elif seed not in have:
            print(f"seed {seed}: no predictions on both sides (kept for seeds {have})")
            return None
        table = disagreements(runs, self.baseline, treatment, self.dataset, seed=seed)
        print(f"seed {seed}: {len(table)} test videos {treatment} gets right and {self.baseline} wrong")
        return table

    def show_wins(self, treatment: str | None = None, seed: int | None = None, n: int = 3) -> list:
        """Frames and masks of the first ``n`` such videos, when the dataset is on this machine."""
        from actionpose.data import jhmdb
        from actionpose.report import pictures

        treatment = self._treatment(treatment)
        table = self.wins(treatment, seed)
        if table is None or table.empty:
            return []
        root = self.data_root(treatment)
        if root is None:
            print(f"the {self.dataset} dataset of preset {self.preset} is not on this machine: "
                  "no frames to show")
            return []
        figs = []
        for _, row in table.head(n).iterrows():
            frames = jhmdb.read_frames(jhmdb.frames_dir(root, row["label"], row["video"]))
            mask = jhmdb.read_mask(jhmdb.mask_path(root, row["label"], row["video"])).transpose(2, 0, 1)
            figs.append(pictures.show_clip(
                frames, mask=mask, n=5, title=f"{row['video']}: true {row['label']}, {self.baseline} "
                f"says {row[f'prediction_{self.baseline}']}, {treatment} says {row[f'prediction_{treatment}']}"))
        return figs

    def data_root(self, experiment: str | None = None) -> Path | None:
        """The dataset folder the runs of ``experiment`` read, if it exists here (never generated)."""
        experiment = experiment or self.baseline
        candidates = []
        if self.source == "runs":  # where each run read its data (a record's may name another machine's)
            for path in self.runs.loc[self.runs["experiment"] == experiment, "path"]:
                summary = json.loads((Path(path) / "summary.json").read_text())
                candidates += [Path(summary["data_root"])] if summary.get("data_root") else []
        candidates.append(_local_root(make_config(experiment, self.preset, dataset=self.dataset)))
        return next((c for c in candidates if c is not None and c.is_dir()), None)

    def weights(self, experiment: str, seed: int | None = None) -> Path | None:
        """A finished run folder of ``experiment`` at ``seed`` (default: its first) that holds
        ``last.pt``, for ``load_run``. Records hold no weights: at a records preset, the local run
        of the same name is used if it ends at its record's accuracy; otherwise None, said in a line."""
        seeds = self.seeds(experiment)
        seed = seeds[0] if seed is None and seeds else seed
        rows = self.runs[(self.runs["experiment"] == experiment) & (self.runs["seed"] == seed)]
        if rows.empty:
            print(f"{experiment}: no run at seed {seed}")
            return None
        row = rows.iloc[0]
        folder = Path(row["path"])
        if self.source == "records":
            folder = self.runs_dir / experiment / folder.name
            local = read_record(folder) if (folder / "summary.json").is_file() else None
            if local is None or local[0][METRIC] != row[METRIC]:
                print(f"{experiment} seed {seed}: its record keeps no weights, and no finished local "
                      f"run ends where it does ({folder}); `actionpose train {experiment} --preset "
                      f"{self.preset} --data {self.dataset} --seed {seed}` trains one")
                return None
        if not (folder / "last.pt").is_file():
            print(f"{experiment} seed {seed}: {folder} keeps no last.pt")
            return None
        return folder


def _local_root(cfg) -> Path | None:
    """The folder ``data.roots.resolve_data_root`` gives ``cfg`` on this machine, without
    generating an embedded world that is not there (None then)."""
    from actionpose.data.roots import EMBEDDED, resolve_data_root

    if cfg.dataset in EMBEDDED:  # the naming of data.roots._embedded_root
        preset = "cpu" if cfg.preset == "paper" else cfg.preset
        bias = "" if cfg.context_bias is None else f"-bias{cfg.context_bias:g}"
        root = data_root() / f"{cfg.dataset}-{preset}{bias}"
        return root if root.is_dir() else None
    try:
        return resolve_data_root(cfg)
    except DataError:
        return None


def _read(folders: Iterable[Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Runs and curves of the finished runs among ``folders`` (as ``report.records.load``)."""
    rows, frames = [], []
    for folder in folders:
        record = read_record(folder)
        if record is not None:
            rows.append(record[0])
            frames.append(record[1])
    runs = pd.DataFrame(rows)
    if not runs.empty:
        runs["test_video_se"] = binomial_se(runs[METRIC], runs["test_videos"])
        runs["test_video_lo"], runs["test_video_hi"] = wilson95(runs[METRIC], runs["test_videos"])
    return runs, pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _own_world(runs: pd.DataFrame, experiments: list[str], dataset: str, preset: str) -> pd.DataFrame:
    """The rows (runs or curves) of ``experiments`` on the preset's own world at clean pose: a
    context-bias sweep or a pose-quality run shares a clean run's split and seed."""
    if runs.empty:
        return runs
    return runs[runs["experiment"].isin(experiments) & (runs["dataset"] == dataset)
                & (runs["preset"] == preset) & runs["context_bias"].isna() & quality_selected(runs, None)]


def _pairs(runs: pd.DataFrame, baseline: str, treatments: tuple[str, ...]) -> dict[str, pd.DataFrame]:
    """(split, seed) keys each treatment shares with the baseline."""
    if runs.empty:
        return {t: pd.DataFrame(columns=KEYS) for t in treatments}
    base = runs.loc[runs["experiment"] == baseline, KEYS]
    return {t: base.merge(runs.loc[runs["experiment"] == t, KEYS], on=KEYS) for t in treatments}


def _holds(pairs: dict[str, pd.DataFrame], seeds: list[int] | None) -> bool:
    if seeds is None:
        return all(len(k) for k in pairs.values())
    return all(set(seeds) <= set(k["seed"].astype(int)) for k in pairs.values())


def pair_runs(baseline: str, treatment: str | Iterable[str], dataset: str = "puppet",
              preset: str = "cpu", seeds: int | Iterable[int] | None = None, *,
              records: str | Path | None = None, runs: str | Path | None = None,
              progress: bool = False) -> PairRuns:
    """``baseline`` against ``treatment`` (one experiment or several) on ``dataset`` at ``preset``.

    ``seeds``: a count (seeds 0..n-1), a list, or None: every seed the records hold, or the preset's
    default count (``DEFAULT_SEEDS``) where they do not hold the pair. The records (default
    ``results/records``) are read when they hold every treatment paired with the baseline (at the
    seeds asked for, if any); otherwise the runs are trained where missing into ``runs`` (default
    the runs folder, ``ACTIONPOSE_RUNS``) and read from there."""
    treatments = (treatment,) if isinstance(treatment, str) else tuple(treatment)
    experiments = [baseline, *treatments]
    wanted = None if seeds is None else (list(range(seeds)) if isinstance(seeds, int)
                                         else sorted(int(s) for s in seeds))
    records = Path(records) if records is not None else RECORDS
    runs = Path(runs) if runs is not None else runs_root()
    label = dataset_label(dataset)
    folders = sorted(p.parent for e in experiments for p in (records / e / label).glob("*/summary.json"))
    table, curves = _read(folders)
    table = _own_world(table, experiments, label, preset)
    if _holds(_pairs(table, baseline, treatments), wanted):
        source, folder = "records", records
    else:
        from actionpose.train.runs import ensure_run, run_dir  # at call time: the engine loads lazily

        source, folder = "runs", runs
        wanted = wanted if wanted is not None else list(range(DEFAULT_SEEDS.get(preset, 3)))
        configs = [make_config(e, preset, seed=s, dataset=dataset) for e in experiments for s in wanted]
        for cfg in configs:
            ensure_run(cfg, folder, progress=progress)
        table, curves = _read(run_dir(cfg, folder) for cfg in configs)
        table = _own_world(table, experiments, label, preset)
    if wanted is not None:
        table = table[table["seed"].isin(wanted)]
    pairs = _pairs(table, baseline, treatments)
    if not all(len(k) for k in pairs.values()):
        raise DataError(folder, f"no seed of {baseline} paired with each of {', '.join(treatments)} "
                                f"on {label} at preset {preset}")
    keep = [table[table["experiment"] == t].merge(pairs[t], on=KEYS) for t in treatments]
    keep.insert(0, table[table["experiment"] == baseline].merge(
        pd.concat(pairs.values()).drop_duplicates(), on=KEYS))
    table = pd.concat(keep, ignore_index=True).sort_values(["experiment", "split", "seed"])
    table = table.reset_index(drop=True)
    curves = _own_world(curves, experiments, label, preset)
    curves = curves.merge(table[["experiment", *KEYS]], on=["experiment", *KEYS])
    paired = tuple(compare(table, baseline, t, dataset=label, preset=preset) for t in treatments)
    return PairRuns(baseline, treatments, label, preset, source, folder, runs, table, curves, paired)
