"""``actionpose seeds``: add seeds to a claim's pair until the report's stopping rule ends it.

A claim is a comparison of the report (``actionpose.report.comparisons``, by key), or a point of
the context-bias sweep as ``KEY@BIAS`` (e.g. ``c3d-pose@0.8``). ``--plan`` prints what the rule
expects to train, from the committed records alone; ``--until-decided`` trains one seed of the
pair at a time (each side whose record is missing), copies the finished runs into the records
and re-reads them, until the rule (:mod:`actionpose.report.stopping`) says which ended it.
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from actionpose.errors import ConfigError, DataError, TrainingError
from actionpose.report.comparisons import COMPARISONS, Comparison
from actionpose.report.records import collect, load_runs, run_folders
from actionpose.report.stats import paired_difference
from actionpose.report.stopping import MAX_SEEDS, Stopping, stopping
from actionpose.train import experiments as X
from actionpose.train.reproduction import record_dir, train_all

RUN_COLUMNS = ["experiment", "dataset", "split", "seed", "preset", "context_bias", "test_video_acc"]


@dataclass(frozen=True)
class Claim:
    """A comparison of the report, on the preset's own world (``bias`` None) or a sweep point."""

    comparison: Comparison
    bias: float | None = None

    @property
    def name(self) -> str:
        return self.comparison.key + ("" if self.bias is None else f"@{self.bias:g}")

    def config(self, experiment: str, preset: str, seed: int) -> X.TrainConfig:
        return X.make_config(experiment, preset, seed=seed, split=1,
                             dataset=self.comparison.dataset, context_bias=self.bias)


def parse_claims(names: list[str]) -> list[Claim]:
    """``KEY`` or ``KEY@BIAS`` for each name; ``all`` is every comparison of the report."""
    keys = {c.key: c for c in COMPARISONS}
    claims = []
    for name in names:
        if name == "all":
            claims += [Claim(c) for c in COMPARISONS]
            continue
        key, _, bias = name.partition("@")
        if key not in keys:
            raise ConfigError(f"--claim {name!r}: unknown claim; choose from {', '.join(keys)} "
                              "(or KEY@BIAS for a context-bias sweep point, or all)")
        try:
            value = None if not bias else float(bias)
        except ValueError:
            raise ConfigError(f"--claim {name!r}: the context bias after @ must be a number") from None
        if value is not None and not (0 <= value <= 1 and keys[key].dataset == "puppet"):
            raise ConfigError(f"--claim {name!r}: a sweep point needs a puppet-world claim and a "
                              "bias in [0, 1]")
        claims.append(Claim(keys[key], value))
    return list(dict.fromkeys(claims))


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
    d = paired_difference(runs, comp.baseline, comp.treatment, comp.dataset, context_bias=claim.bias)
    return d, stopping(d, comp.expect)


def paired_seeds(runs: pd.DataFrame, claim: Claim) -> set[int]:
    comp = claim.comparison
    sel = runs[(runs["dataset"] == comp.dataset) & (runs["split"] == 1)]
    sel = sel[sel["context_bias"].isna() if claim.bias is None else sel["context_bias"] == claim.bias]
    sides = [set(sel.loc[sel["experiment"] == e, "seed"].astype(int)) for e in (comp.baseline, comp.treatment)]
    return sides[0] & sides[1]


def next_seeds(runs: pd.DataFrame, claim: Claim, count: int) -> list[int]:
    """The ``count`` smallest seeds the pair lacks."""
    have, seeds, seed = paired_seeds(runs, claim), [], 0
    while len(seeds) < count:
        if seed not in have:
            seeds.append(seed)
        seed += 1
    return seeds


def missing_configs(claim: Claim, seeds: list[int], preset: str, records_dir: Path) -> list[X.TrainConfig]:
    """The runs of ``claim``'s pair at ``seeds`` whose record does not exist."""
    comp = claim.comparison
    cfgs = [claim.config(e, preset, s) for s in seeds for e in (comp.baseline, comp.treatment)]
    return [cfg for cfg in cfgs if not record_dir(cfg, records_dir).is_dir()]


def describe(claim: Claim, d: dict, rule: Stopping) -> str:
    text = f"{claim.name} ({claim.comparison.dataset}): {rule.state}"
    if d["n_pairs"] >= 2:
        text += f"; Δ {d['delta_mean'] * 100:+.1f} ± {d['delta_ci95'] * 100:.1f} pt"
        text += f", ±5 pt needs about {rule.for_half_width:.0f} seeds"
    return text


def plan(claims: list[Claim], preset: str, records_dir: Path) -> list[tuple[str, X.TrainConfig]]:
    """Print each claim's state and the runs the rule expects it to need; return them
    [(claim, config)], each run once."""
    runs = committed_runs(records_dir, preset)
    todo: dict[tuple, tuple[str, X.TrainConfig]] = {}
    for claim in claims:
        d, rule = state(runs, claim)
        more = int(rule.needed) - rule.seeds if rule.open else 0
        cfgs = missing_configs(claim, next_seeds(runs, claim, more), preset, records_dir) if more else []
        print(f"seeds: {describe(claim, d, rule)}"
              + (f"; would train seed(s) {', '.join(str(s) for s in sorted({c.seed for c in cfgs}))}:"
                 f" {len(cfgs)} run(s) (more or fewer as the interval moves; at most {MAX_SEEDS} seeds)"
                 if cfgs else ""))
        for cfg in cfgs:
            todo.setdefault((cfg.experiment, cfg.dataset, cfg.context_bias, cfg.seed), (claim.name, cfg))
    print(f"seeds: {len(todo)} run(s) planned at preset {preset}", file=sys.stderr)
    return list(todo.values())


def until_decided(claim: Claim, preset: str, out: str | Path, records_dir: str | Path, *,
                  jobs: int = 1, quiet: bool = False,
                  train: Callable[[list, str], list[str]] | None = None) -> Stopping:
    """Add one seed of the pair at a time (the sides without a record), copy the finished runs
    into the records, and re-read them, until the stopping rule ends the claim. Each stop is
    appended to ``OUT/seeds_log.jsonl``."""
    from actionpose.train.runs import run_dir

    records_dir, out = Path(records_dir), Path(out)
    train = train or (lambda todo, out_dir: train_all(todo, out_dir, jobs=jobs, quiet=quiet))
    while True:
        runs = committed_runs(records_dir, preset)
        d, rule = state(runs, claim)
        print(f"seeds: {describe(claim, d, rule)}", file=sys.stderr, flush=True)
        if not rule.open:
            break
        (seed,) = next_seeds(runs, claim, 1)
        cfgs = missing_configs(claim, [seed], preset, records_dir)
        if not cfgs:
            folder = record_dir(claim.config(claim.comparison.baseline, preset, seed), records_dir)
            raise DataError(folder.parent, f"the records of seed {seed} exist but are not both "
                                           "finished runs; move the unfinished one away")
        failed = train([(f"{claim.name} seed {seed}: {c.experiment} {c.run_name()}", c) for c in cfgs], str(out))
        if failed:
            raise TrainingError(f"seeds: {len(failed)} run(s) of {claim.name} failed; see {', '.join(failed)}")
        collect(out, records_dir, folders=[run_dir(cfg, out) for cfg in cfgs])
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "seeds_log.jsonl", "a") as fh:
        fh.write(json.dumps({"claim": claim.name, "preset": preset, "seeds": rule.seeds,
                             "stopped_by": rule.state, "delta_mean": d["delta_mean"],
                             "delta_ci95": d["delta_ci95"],
                             "finished_at": time.strftime("%Y-%m-%d %H:%M:%S")}) + "\n")
    return rule


def main(args) -> int:
    """``actionpose seeds --claim KEY[@BIAS] (--plan | --until-decided)``."""
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
