"""A validation study: ``actionpose tune EXPERIMENT --grid key=v1,v2 ... [--plan]``.

Every combination of the grid's values is one variant: ``make_config`` of the experiment at the
preset with the overrides and that combination, trained (or read, if finished; resumed, if
interrupted) with a validation split carved from the training split. The table ranks the variants
by their final-epoch validation video accuracy, mean over seeds. It reads only the validation
records: the test split's numbers of these runs are never printed, so that a choice made from
the table is made on validation alone. ``--plan`` prints the variants and their run folders and
trains nothing. A preset without a validation split (one made for final runs on the whole
training split) gets ``val_fraction`` 0.2 here.

Each variant trains under ``OUT/<key=value,...>/`` (variants share a run name); the table
``OUT/tune-<experiment>-<preset>-split<K>.csv`` keeps the variants of earlier calls, so one study
may be trained a variant per process.
"""
from __future__ import annotations

import csv
import itertools
import re
import statistics
import sys
from pathlib import Path
from typing import Any

from actionpose.errors import ConfigError, RunError
from actionpose.io import atomic_path
from actionpose.train import experiments as X


def parse_grid(items: list[str]) -> list[tuple[str, list[Any]]]:
    """``["head=flatten,pool", "size=[48,48],[64,64]"]`` as (key, typed values); commas inside
    brackets do not split values."""
    grid: list[tuple[str, list[Any]]] = []
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--grid {item!r}: expected key=value1,value2,...")
        key, text = item.split("=", 1)
        texts = [t for t in re.split(r",(?![^\[]*\])", text) if t.strip()]
        if not texts:
            raise ConfigError(f"--grid {item!r}: no values")
        values = [next(iter(X.parse_overrides([f"{key}={t.strip()}"]).values())) for t in texts]
        key = key.strip().replace("-", "_")
        if key in dict(grid):
            raise ConfigError(f"--grid {key}: given twice")
        if len(set(map(repr, values))) != len(values):
            raise ConfigError(f"--grid {key}: a value is listed twice")
        grid.append((key, values))
    return grid


def variants(grid: list[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, the first key varying slowest."""
    keys = [k for k, _ in grid]
    return [dict(zip(keys, combo)) for combo in itertools.product(*(v for _, v in grid))]


def label(variant: dict[str, Any]) -> str:
    """A variant's folder name and table label, e.g. ``head=pool,crop=person``."""
    def text(v: Any) -> str:
        return "x".join(map(str, v)) if isinstance(v, (tuple, list)) else str(v)
    return ",".join(f"{k}={text(v)}" for k, v in variant.items()) or "preset"


# the validation share carved from each class's training videos when the preset has none (a preset
# for final runs trains on the whole training split)
TUNE_VAL_FRACTION = 0.2


def study(experiment: str, preset: str, grid, *, overrides: dict[str, Any], seeds: int
          ) -> list[tuple[str, list[X.TrainConfig]]]:
    """(label, one config per seed) of every variant; refuses a study without a validation split."""
    clash = sorted(set(overrides) & {k for k, _ in grid})
    if clash:
        raise ConfigError(f"{', '.join(clash)}: given both as an override and in --grid")
    if "val_fraction" not in overrides and not X.make_config(experiment, preset).val_fraction:
        overrides = {**overrides, "val_fraction": TUNE_VAL_FRACTION}
    plan = []
    for variant in variants(grid) or [{}]:
        cfgs = [X.make_config(experiment, preset, **{**overrides, **variant, "seed": seed})
                for seed in range(seeds)]
        if not cfgs[0].val_fraction:
            raise ConfigError("val_fraction=0: tune chooses on a validation split only; set "
                              "val_fraction (e.g. val_fraction=0.2) or use a preset that does")
        plan.append((label(variant), cfgs))
    return plan


def main(args) -> int:
    """``actionpose tune``: the plan, or train every variant and print validation accuracy."""
    from actionpose.train.runs import ensure_run, run_dir

    overrides = X.parse_overrides(args.overrides)
    overrides["split"] = args.split
    if args.data is not None:
        overrides["dataset"] = args.data if args.data in X.DATASETS else str(Path(args.data).resolve())
    plan = study(args.experiment, args.preset, parse_grid(args.grid), overrides=overrides, seeds=args.seeds)
    out = Path(args.out)
    if args.plan:
        for name, cfgs in plan:
            print(f"{name}: {len(cfgs)} run(s), e.g. {run_dir(cfgs[0], out / name)}")
        print(f"tune: {sum(len(c) for _, c in plan)} run(s) in {len(plan)} variant(s); val_fraction "
              f"{plan[0][1][0].val_fraction}, split {args.split}; nothing trained (--plan)")
        return 0
    rows = []
    for name, cfgs in plan:
        accs = [ensure_run(cfg, out / name, progress=not args.quiet)["final"]["val_video_acc"]
                for cfg in cfgs]
        rows.append((name, statistics.fmean(accs), accs))
    table = out / f"tune-{args.experiment}-{args.preset}-split{args.split}.csv"
    rows = _merge_table(table, rows)
    seeds = max(len(accs) for _, _, accs in rows)
    with atomic_path(table) as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["variant", "val_video_acc_mean", *[f"val_video_acc_seed{s}" for s in range(seeds)]])
            writer.writerows([name, f"{mean:.4f}", *[f"{a:.4f}" for a in accs]] for name, mean, accs in rows)
    print(f"{'variant':<48} val video acc (mean over {args.seeds} seed(s))")
    for name, mean, accs in rows:
        print(f"{name:<48} {100 * mean:5.1f}  ({', '.join(f'{100 * a:.1f}' for a in accs)})")
    print(f"tune: validation only (the test split is not shown); table in {table}", file=sys.stderr)
    return 0


def _merge_table(table: Path, rows: list[tuple[str, float, list[float]]]):
    """``rows`` plus the rows of the table's earlier variants (one study may take several calls),
    best validation accuracy first."""
    mine = {name for name, _, _ in rows}
    if table.is_file():
        try:
            with open(table, newline="") as fh:
                for row in csv.DictReader(fh):
                    if row["variant"] not in mine:
                        accs = [float(v) for k, v in row.items() if k.startswith("val_video_acc_seed") and v]
                        rows.append((row["variant"], float(row["val_video_acc_mean"]), accs))
        except KeyError as exc:
            raise RunError(f"{table}: not a tune table (no column {exc}); move it away to start a new one")
        except (OSError, ValueError, csv.Error) as exc:
            raise RunError(f"{table}: not a tune table ({exc}); move it away to start a new one")
    return sorted(rows, key=lambda r: (-r[1], r[0]))


__all__ = ["parse_grid", "variants", "label", "study", "main"]
