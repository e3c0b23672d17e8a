"""``actionpose seeds``: add seeds to a claim's pair until the report's stopping rule ends it.

A claim is a comparison of the report (``actionpose.report.comparisons``, by key), a point of
the context-bias sweep as ``KEY@BIAS`` (e.g. ``c3d-pose@0.8``), or a point of issue 18's study
(``comparisons.STUDY``) as ``study:KEY`` (``study`` is all of it, ``study:GROUP`` one group:
modes, quality, bias). A study point's treatment runs at its pose quality, its baseline on clean
pose; a treatment that is a fused pair (``actionpose.fuse.FUSED_PAIRS``) trains both of its
runs as ordinary runs (the RGB side is the baseline's run) and is fused once both have finished,
into the record ``<pair>/<dataset>/<run>``. ``--plan`` prints what the rule expects to train,
from the committed records alone, and its cost in run-minutes (from the committed runs'
seconds); ``--until-decided`` trains one seed of the pair at a time (each run whose record is
missing, and a fused pair's side whose record kept no per-video scores), copies the finished
runs into the records and re-reads them, until the rule (:mod:`actionpose.report.stopping`)
says which ended it.
"""
from __future__ import annotations

import difflib
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from actionpose.errors import ConfigError, DataError, TrainingError
from actionpose.pose.knob import PoseQuality
from actionpose.report.comparisons import (COMPARISONS, STUDY, STUDY_GROUPS, Comparison,
                                           StudyComparison, study_points)
from actionpose.report.records import collect, load_runs, run_folders
from actionpose.report.stats import paired_deltas, paired_difference
from actionpose.report.stopping import MAX_SEEDS, Stopping, stopping
from actionpose.train import experiments as X
from actionpose.train.reproduction import record_dir, train_all

RUN_COLUMNS = ["experiment", "dataset", "split", "seed", "preset", "context_bias", "test_video_acc",
               "seconds"]


@dataclass(frozen=True)
class Claim:
    """A comparison of the report, on the preset's own world (``bias`` None) or a sweep point,
    or a point of the study (its bias and the treatment's pose ``quality`` its own)."""

    comparison: Comparison | StudyComparison
    bias: float | None = None
    quality: PoseQuality | None = None

    @classmethod
    def study(cls, point: StudyComparison) -> "Claim":
        return cls(point, point.context_bias, point.quality)

    @property
    def name(self) -> str:
        if isinstance(self.comparison, StudyComparison):
            return f"study:{self.comparison.key}"
        return self.comparison.key + ("" if self.bias is None else f"@{self.bias:g}")

    @property
    def pair(self):
        """The treatment's fused pair (:class:`actionpose.fuse.FusedPair`), or None."""
        from actionpose.fuse import FUSED_PAIRS

        return FUSED_PAIRS.get(self.comparison.treatment)

    def config(self, experiment: str, preset: str, seed: int,
               quality: PoseQuality | None = None) -> X.TrainConfig:
        comp = self.comparison
        dataset = comp.baseline_dataset if experiment == comp.baseline else comp.dataset
        return X.make_config(experiment, preset, seed=seed, split=1, dataset=dataset,
                             context_bias=self.bias, **(quality.config() if quality else {}))

    def pair_configs(self, preset: str, seed: int) -> tuple[X.TrainConfig, X.TrainConfig]:
        """The fused pair's two runs (the knob on the side that reads pose)."""
        from actionpose.fuse import pair_configs

        return pair_configs(self.pair.name, preset, seed, split=1, dataset=self.comparison.dataset,
                            context_bias=self.bias, **(self.quality.config() if self.quality else {}))

    def configs(self, preset: str, seed: int) -> tuple[X.TrainConfig, ...]:
        """The runs of one seed, each once: the baseline's (clean pose), then the treatment's at
        the claim's pose quality (a fused pair: both of its runs)."""
        comp = self.comparison
        cfgs = [self.config(comp.baseline, preset, seed)]
        if self.pair is None:
            cfgs.append(self.config(comp.treatment, preset, seed, self.quality))
        else:
            cfgs += self.pair_configs(preset, seed)
        return tuple(dict.fromkeys(cfgs))


def parse_claims(names: list[str]) -> list[Claim]:
    """``KEY`` or ``KEY@BIAS`` for each name; ``all`` is every comparison of the report;
    ``study``, ``study:GROUP`` and ``study:KEY`` name points of the study."""
    keys = {c.key: c for c in COMPARISONS}
    claims = []
    for name in names:
        if name == "all":
            claims += [Claim(c) for c in COMPARISONS]
            continue
        if name == "study" or name.startswith("study:"):
            claims += _study_claims(name)
            continue
        key, _, bias = name.partition("@")
        if key not in keys:
            raise ConfigError(f"--claim {name!r}: unknown claim; choose from {', '.join(keys)} "
                              "(or KEY@BIAS for a context-bias sweep point, or all; study, "
                              "study:GROUP or study:KEY for issue 18's study)")
        try:
            value = None if not bias else float(bias)
        except ValueError:
            raise ConfigError(f"--claim {name!r}: the context bias after @ must be a number") from None
        if value is not None and not (0 <= value <= 1 and keys[key].dataset == "puppet"):
            raise ConfigError(f"--claim {name!r}: a sweep point needs a puppet-world claim and a "
                              "bias in [0, 1]")
        claims.append(Claim(keys[key], value))
    return list(dict.fromkeys(claims))


def _study_claims(name: str) -> list[Claim]:
    key = name.partition(":")[2]
    points = study_points(key)
    if not points:
        close = difflib.get_close_matches(key, [c.key for c in STUDY], n=3, cutoff=0.5)
        raise ConfigError(f"--claim {name!r}: unknown study point; choose a group ({', '.join(STUDY_GROUPS)}) "
                          f"or a key{' such as ' + ', '.join(close) if close else ''} (`actionpose seeds "
                          "--claim study --plan` lists every key)")
    return [Claim.study(p) for p in points]


def committed_runs(records_dir: str | Path, preset: str) -> pd.DataFrame:
    """The finished runs of ``preset`` among the records (none when there are no records yet)."""
    records_dir = Path(records_dir)
    if not records_dir.is_dir() or not run_folders(records_dir):
        return pd.DataFrame(columns=RUN_COLUMNS)
    runs = load_runs(records_dir)
    return runs[runs["preset"] == preset]


def state(runs: pd.DataFrame, claim: Claim) -> tuple[dict, Stopping]:
    """The claim's paired difference over ``runs`` and its stopping state. A sweep point at the
    bias of the preset's own world is refused: the report runs are that point (see
    ``report.tables.sweep_table``), and explicit-bias runs there would be another set."""
    comp = claim.comparison
    if claim.bias is not None and "world_context_bias" in runs:
        own = runs[(runs["experiment"] == comp.baseline) & runs["context_bias"].isna()]
        if (own["world_context_bias"] == claim.bias).any():
            raise ConfigError(f"--claim {claim.name}: b = {claim.bias:g} is the world of the "
                              f"preset's own runs; use --claim {comp.key}")
    d = paired_difference(runs, comp.baseline, comp.treatment, comp.dataset, context_bias=claim.bias,
                          pose_quality=claim.quality, baseline_dataset=comp.baseline_dataset)
    return d, stopping(d, comp.expect)


def paired_seeds(runs: pd.DataFrame, claim: Claim) -> set[int]:
    comp = claim.comparison
    pairs = paired_deltas(runs, comp.baseline, comp.treatment, comp.dataset, context_bias=claim.bias,
                          pose_quality=claim.quality, baseline_dataset=comp.baseline_dataset).index
    return {int(seed) for split, seed in pairs if split == 1}


def next_seeds(runs: pd.DataFrame, claim: Claim, count: int) -> list[int]:
    """The ``count`` smallest seeds the pair lacks."""
    have, seeds, seed = paired_seeds(runs, claim), [], 0
    while len(seeds) < count:
        if seed not in have:
            seeds.append(seed)
        seed += 1
    return seeds


@dataclass(frozen=True)
class SeedWork:
    """What one seed of a claim still needs: the runs to train (into OUT), those of them whose
    record is missing (copied into the records once finished), and a fused pair's two runs to
    fuse once both have finished (when the pair's record is missing)."""

    seed: int
    train: tuple[X.TrainConfig, ...] = ()
    collect: tuple[X.TrainConfig, ...] = ()
    fuse: tuple[X.TrainConfig, X.TrainConfig] | None = None


def fused_record_dir(pair: str, cfg_b: X.TrainConfig, records_dir: str | Path) -> Path:
    """Where the committed record of a fused pair lives (named after its pose side's run)."""
    return Path(records_dir) / pair / X.dataset_label(cfg_b.dataset) / cfg_b.run_name()


def scored_folder(cfg: X.TrainConfig, records_dir: str | Path, out: str | Path | None) -> Path | None:
    """A finished run of ``cfg`` that kept its per-video scores (what fusion reads): its run
    folder under ``out``, else its full record (backfilled records kept none); None otherwise."""
    from actionpose.train.runs import is_complete, run_dir

    if out is not None and is_complete(run_dir(cfg, out)) and (run_dir(cfg, out) / "predictions.csv").is_file():
        return run_dir(cfg, out)
    record = record_dir(cfg, records_dir)
    if is_complete(record) and all((record / n).is_file() for n in ("predictions.csv", "config.json")):
        return record
    return None


def seed_work(claim: Claim, seed: int, preset: str, records_dir: str | Path,
              out: str | Path | None = None) -> SeedWork:
    """What ``seed`` of ``claim`` still needs (see :class:`SeedWork`). A fused pair's run
    whose record exists but kept no per-video scores is trained again for them (into ``out``,
    not recorded again)."""
    cfgs = claim.configs(preset, seed)
    missing = tuple(c for c in cfgs if not record_dir(c, records_dir).is_dir())
    fuse, again = None, ()
    if claim.pair is not None:
        sides = claim.pair_configs(preset, seed)
        if not fused_record_dir(claim.pair.name, sides[1], records_dir).is_dir():
            fuse = sides
            again = tuple(c for c in sides if c not in missing and scored_folder(c, records_dir, out) is None)
    return SeedWork(seed, tuple(c for c in cfgs if c in missing or c in again), missing, fuse)


def run_minutes(runs: pd.DataFrame, cfg: X.TrainConfig) -> float | None:
    """The median minutes of the committed runs of ``cfg``'s experiment on its data at its
    preset (the ``seconds`` of results/runs.csv; context bias and pose quality aside: the knob
    costs about 1 ms per clip), or None when none was trained yet."""
    if "seconds" not in runs:
        return None
    sel = runs[(runs["experiment"] == cfg.experiment) & (runs["dataset"] == X.dataset_label(cfg.dataset))
               & (runs["preset"] == cfg.preset)]
    return float(sel["seconds"].median()) / 60 if len(sel) else None


def cost_words(runs: pd.DataFrame, cfgs) -> str:
    """``cfgs``' cost in run-minutes, from the committed runs' timings, and the unmeasured."""
    minutes = [(cfg, run_minutes(runs, cfg)) for cfg in cfgs]
    measured = [m for _, m in minutes if m is not None]
    unmeasured = Counter(cfg.experiment for cfg, m in minutes if m is None)
    text = f"{sum(measured):.0f} run-minutes for the {len(measured)} with committed timings"
    if unmeasured:
        text += ("; unmeasured (no committed run of the experiment on that data): "
                 + ", ".join(f"{e} x{n}" for e, n in sorted(unmeasured.items())))
    return text


def describe(claim: Claim, d: dict, rule: Stopping) -> str:
    text = f"{claim.name} ({claim.comparison.dataset}): {rule.state}"
    if d["n_pairs"] >= 2:
        text += f"; Δ {d['delta_mean'] * 100:+.1f} ± {d['delta_ci95'] * 100:.1f} pt"
        text += f", ±5 pt needs about {rule.for_half_width:.0f} seeds"
    return text


def plan(claims: list[Claim], preset: str, records_dir: Path) -> list[tuple[str, X.TrainConfig]]:
    """Print each claim's state and the runs the rule expects it to need, then what one seed of
    the claims costs and what the planned runs cost (run-minutes from the committed runs'
    timings; see :func:`run_minutes`); return the planned runs [(claim, config)], each once."""
    runs = committed_runs(records_dir, preset)
    todo: dict[tuple, tuple[str, X.TrainConfig]] = {}
    fused: set[tuple] = set()
    for claim in claims:
        d, rule = state(runs, claim)
        more = int(rule.needed) - rule.seeds if rule.open else 0
        works = [seed_work(claim, s, preset, records_dir) for s in next_seeds(runs, claim, more)] if more else []
        cfgs = [c for w in works for c in w.train]
        fuses = [w for w in works if w.fuse is not None]
        seeds = sorted({w.seed for w in works if w.train or w.fuse})
        print(f"seeds: {describe(claim, d, rule)}"
              + (f"; would train seed(s) {', '.join(map(str, seeds))}: {len(cfgs)} run(s)"
                 + (f" and fuse {len(fuses)} pair(s)" if fuses else "")
                 + f" (more or fewer as the interval moves; at most {MAX_SEEDS} seeds)" if seeds else ""))
        for cfg in cfgs:
            todo.setdefault((cfg.experiment, cfg.dataset, cfg.run_name()), (claim.name, cfg))
        fused |= {(claim.pair.name, w.fuse[1].run_name()) for w in fuses}
    one_seed = list(dict.fromkeys(c for claim in claims for c in claim.configs(preset, 0)))
    pairs = {(claim.pair.name, claim.pair_configs(preset, 0)[1].run_name()) for claim in claims if claim.pair}
    print(f"cost: one seed of these {len(claims)} claim(s) is {len(one_seed)} run(s)"
          + (f" and {len(pairs)} fused pair(s) (fusing trains nothing)" if pairs else "")
          + f": {cost_words(runs, one_seed)}")
    print(f"cost: the {len(todo)} planned run(s)" + (f" and {len(fused)} fusion(s)" if fused else "")
          + f": {cost_words(runs, [cfg for _, cfg in todo.values()])}")
    print(f"seeds: {len(todo)} run(s) planned at preset {preset}", file=sys.stderr)
    return list(todo.values())


def fuse_seed(claim: Claim, sides: tuple[X.TrainConfig, X.TrainConfig], records_dir: str | Path,
              out: str | Path) -> Path:
    """Fuse one seed of ``claim``'s pair from its finished runs (under ``out``, else their full
    records) into ``OUT/fused/<pair>/<run>/``; returns that folder."""
    from actionpose.fuse import FUSED_DIR, fuse_folders

    folders = []
    for cfg in sides:
        folder = scored_folder(cfg, records_dir, out)
        if folder is None:
            raise DataError(record_dir(cfg, records_dir), f"no finished run of {cfg.experiment} with "
                            "per-video scores (predictions.csv) to fuse")
        folders.append(folder)
    return fuse_folders(claim.pair.name, *sides, folders, Path(out) / FUSED_DIR)


def _retrained_differs(cfg: X.TrainConfig, records_dir: Path, out: Path) -> str:
    """A warning when a run trained again for its scores ended elsewhere than its record."""
    from actionpose.train.runs import read_record, run_dir

    finals = [read_record(f / "summary.json")["final"]["test_video_acc"]
              for f in (run_dir(cfg, out), record_dir(cfg, records_dir))]
    if finals[0] == finals[1]:
        return ""
    return (f"seeds: warning: {cfg.experiment} {cfg.run_name()} trained again for its scores reached "
            f"{finals[0] * 100:.2f}%, its record {finals[1] * 100:.2f}% (the fused pair uses the new run)")


def until_decided(claim: Claim, preset: str, out: str | Path, records_dir: str | Path, *,
                  jobs: int = 1, quiet: bool = False,
                  train: Callable[[list, str], list[str]] | None = None) -> Stopping:
    """Add one seed of the pair at a time (the runs without a record; a fused pair's runs, then
    their fusion), copy the finished runs into the records, and re-read them, until the stopping
    rule ends the claim. Each stop is appended to ``OUT/seeds_log.jsonl``."""
    from actionpose.train.runs import run_dir

    records_dir, out = Path(records_dir), Path(out)
    train = train or (lambda todo, out_dir: train_all(todo, out_dir, jobs=jobs, quiet=quiet))
    last = None
    while True:
        runs = committed_runs(records_dir, preset)
        d, rule = state(runs, claim)
        print(f"seeds: {describe(claim, d, rule)}", file=sys.stderr, flush=True)
        if not rule.open:
            break
        (seed,) = next_seeds(runs, claim, 1)
        work = seed_work(claim, seed, preset, records_dir, out)
        first = record_dir(claim.configs(preset, seed)[0], records_dir)
        if seed == last:
            raise DataError(first.parent, f"seed {seed} of {claim.name} was trained and recorded but "
                                          "does not pair; its records disagree with the claim")
        if not work.train and work.fuse is None:
            raise DataError(first.parent, f"the records of seed {seed} exist but are not both "
                                          "finished runs; move the unfinished one away")
        if work.train:
            failed = train([(f"{claim.name} seed {seed}: {c.experiment} {c.run_name()}", c)
                            for c in work.train], str(out))
            if failed:
                raise TrainingError(f"seeds: {len(failed)} run(s) of {claim.name} failed; see {', '.join(failed)}")
        if work.collect:
            collect(out, records_dir, folders=[run_dir(cfg, out) for cfg in work.collect])
        if work.fuse is not None:
            for cfg in (c for c in work.train if c not in work.collect):
                warning = _retrained_differs(cfg, records_dir, out)
                if warning:
                    print(warning, file=sys.stderr, flush=True)
            collect(out, records_dir, folders=[fuse_seed(claim, work.fuse, records_dir, out)])
        last = seed
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "seeds_log.jsonl", "a") as fh:
        fh.write(json.dumps({"claim": claim.name, "preset": preset, "seeds": rule.seeds,
                             "stopped_by": rule.state, "delta_mean": d["delta_mean"],
                             "delta_ci95": d["delta_ci95"],
                             "finished_at": time.strftime("%Y-%m-%d %H:%M:%S")}) + "\n")
    return rule


def main(args) -> int:
    """``actionpose seeds --claim KEY[@BIAS] | study[:KEY|:GROUP] (--plan | --until-decided)``."""
    claims = parse_claims(args.claim)
    records_dir = Path(args.results) / "records"
    if args.plan:
        plan(claims, args.preset, records_dir)
        return 0
    for claim in claims:
        rule = until_decided(claim, args.preset, args.out, records_dir, jobs=args.jobs, quiet=args.quiet)
        print(f"{claim.name}: {rule.state} at {rule.seeds} seeds")
    print(f"seeds: records under {records_dir}; regenerate the tables with `actionpose figures`",
          file=sys.stderr)
    return 0
