"""``actionpose reproduce``: train the report's runs into a runs folder, then check each finished
run against its committed record (``results/records``).

A run is *identical* to its record when every column of metrics.csv but ``seconds`` is equal
(the test and validation columns at the epochs both evaluated: see ``eval_every``).
Otherwise the difference in final test video accuracy is judged against the experiment's
seed-to-seed spread: within it when |Δ| <= 2 SD of the committed seeds' accuracies (same
experiment, data, preset and context bias). Runs whose numerics depend on the CPU are named with
the reason, read from their config and summary: bf16 autocast on CPU (oneDNN picks its kernels by
instruction set) and Farneback optical flow (OpenCV's SIMD paths). A record without config.json
(backfilled from the tables) is compared on its metrics only.
"""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from actionpose.errors import DataError
from actionpose.train import experiments as X

SPREAD_SDS = 2.0  # a difference within this many seed SDs is ordinary seed-to-seed variation
RUN_KEYS = ("seconds", "experiment", "dataset", "split", "seed", "preset", "context_bias")
SPREAD_RULE = f"|Δ| <= {SPREAD_SDS:g} SD of the committed seeds"
COLUMNS = ["experiment", "dataset", "run", "status", "committed_acc", "reproduced_acc", "delta_pt",
           "committed_seeds", "spread_pt", "within_spread", "cpu_dependent", "record", "detail"]


def reproduce(args) -> int:
    """Every report run at ``--preset`` for ``--seeds`` seeds (only those without a committed
    record with ``--missing``); finished runs are skipped, interrupted ones resumed; then the
    results tables and figures of the runs (under OUT/report unless --results/--figures say
    otherwise), and the check against the committed records."""
    from actionpose.paths import shared_jhmdb
    from actionpose.train.runs import is_complete, run_dir

    started = time.perf_counter()
    have_jhmdb = shared_jhmdb() is not None or "ACTIONPOSE_JHMDB" in os.environ
    if not have_jhmdb:
        print("reproduce: ../shared/jhmdb not found: skipping the real-actor and JHMDB runs",
              file=sys.stderr)
    data = None if args.data is None else str(Path(args.data).resolve())
    records_dir = Path(getattr(args, "records", None) or "results/records")
    plan = X.report_plan(args.preset, args.seeds, only=args.only, data=data,
                         sweep=args.sweep or (), have_jhmdb=have_jhmdb,
                         sweep_pair=tuple(getattr(args, "sweep_pair", None) or X.SWEEP_PAIR))
    if getattr(args, "missing", False):
        plan = [cfg for cfg in plan if not record_dir(cfg, records_dir).is_dir()]
    jobs = getattr(args, "jobs", 1) or 1
    print(f"reproduce: {len(plan)} runs at preset {args.preset}"
          + (" without a committed record" if getattr(args, "missing", False) else "")
          + (f", {jobs} side by side" if jobs > 1 else ""), file=sys.stderr)
    stale = stale_runs(plan, args.out)
    if stale:
        listed = "\n  ".join(stale[:20]) + (f"\n  ... and {len(stale) - 20} more" if len(stale) > 20 else "")
        print(f"reproduce: {len(stale)} finished run(s) under {args.out} were trained with another "
              f"config than {args.preset!r} gives now; they would be reported as if they were "
              f"current. Move them out of {args.out} to re-train them (nothing was deleted):\n  {listed}",
              file=sys.stderr)
        return 2
    if not plan:
        print("reproduce: nothing to train", file=sys.stderr)
        return 0
    started_at = time.time()
    tagged = [(f"[{i}/{len(plan)}] {cfg.experiment} {cfg.run_name()}", cfg)
              for i, cfg in enumerate(plan, start=1)]
    todo = []
    for tag, cfg in tagged:
        if is_complete(run_dir(cfg, args.out)):
            print(f"{tag}: done, skipped", file=sys.stderr)
        else:
            todo.append((tag, cfg))
    failed = train_all(todo, args.out, jobs=jobs, quiet=args.quiet)
    if failed:
        listed = "\n  ".join(failed)
        print(f"reproduce: {len(failed)} run(s) failed (their logs):\n  {listed}", file=sys.stderr)
        return 1
    from actionpose.train.commands import figures

    # the runs' own tables go beside them: a partial reproduction (one seed, --only) must never
    # overwrite the committed tables, which `actionpose figures` rebuilds from the records
    report = Path(args.out) / "report"
    figures_args = type("A", (), {"runs": args.out, "out": args.figures or str(report / "figures"),
                                  "results": args.results or str(report / "results"),
                                  "preset": args.preset})
    figures(figures_args)
    table = check_against_records([run_dir(cfg, args.out) for cfg in plan], records_dir)
    report_check(table, Path(args.out) / "reproduction.csv")
    minutes = (time.perf_counter() - started) / 60
    log_reproduce(Path(args.out), plan, started_at, minutes, trained=len(todo), jobs=jobs,
                  seeds=args.seeds, preset=args.preset,
                  whole_plan=not args.only and not args.sweep and data is None
                  and not getattr(args, "missing", False))
    print(f"reproduce: finished in {minutes:.1f} min", file=sys.stderr)
    return 0


def record_dir(cfg, records_dir: str | Path) -> Path:
    """Where the committed record of ``cfg``'s run lives."""
    return Path(records_dir) / cfg.experiment / X.dataset_label(cfg.dataset) / cfg.run_name()


def train_all(todo: list, out: str, *, jobs: int = 1, quiet: bool = False) -> list[str]:
    """Train ``todo`` [(tag, cfg)], in this process (``jobs`` 1) or side by side; returns the
    logs of failed runs (a run in this process that fails raises)."""
    from actionpose.train.runs import ensure_run

    if jobs > 1:
        return run_side_by_side(todo, jobs, out) if todo else []
    for tag, cfg in todo:
        print(tag, file=sys.stderr, flush=True)
        ensure_run(cfg, out, progress=not quiet)
    return []


def stale_runs(plan: list, out: str) -> list[str]:
    """Finished runs of ``plan`` whose config.json differs from the plan's config (e.g. a preset
    changed since they were trained): "folder: key: old != new" for each."""
    from actionpose.train.runs import config_mismatch, is_complete, run_dir

    stale = []
    for cfg in plan:
        folder = run_dir(cfg, out)
        diff = config_mismatch(folder, cfg) if is_complete(folder) else []
        if diff:
            stale.append(f"{folder}: " + "; ".join(diff))
    return stale


def log_reproduce(out: Path, plan: list, started_at: float, minutes: float, *, trained: int,
                  jobs: int, seeds: int, preset: str, whole_plan: bool) -> None:
    """Append this call's wall time to ``OUT/reproduce_log.jsonl`` (read by the benchmarks:
    the issue-8 target is the wall time of a from-scratch ``--seeds 1``)."""
    from actionpose.train.runs import run_dir

    generated = set()
    for cfg in plan:  # embedded datasets (re)generated by this call
        try:
            root = json.loads((run_dir(cfg, out) / "summary.json").read_text()).get("data_root")
        except (OSError, ValueError):
            continue
        info = Path(root or "") / "synth_info.json"
        if root and info.is_file() and info.stat().st_mtime >= started_at:
            generated.add(root)
    record = {"preset": preset, "seeds": seeds, "jobs": jobs, "whole_plan": whole_plan,
              "runs_planned": len(plan), "runs_trained": trained, "minutes": round(minutes, 2),
              "datasets_generated": sorted(generated), "cpu_count": os.cpu_count(),
              "finished_at": time.strftime("%Y-%m-%d %H:%M:%S")}
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "reproduce_log.jsonl", "a") as fh:
        fh.write(json.dumps(record) + "\n")


def train_command(cfg: X.TrainConfig, out: str | Path) -> list[str]:
    """The `actionpose train` command line that trains exactly ``cfg``: its flags, plus a
    key=value override for every field the flags alone would build differently (context bias,
    the pose-quality knob, any other override)."""
    cmd = [sys.executable, "-m", "actionpose", "train", cfg.experiment, "--preset", cfg.preset,
           "--data", cfg.dataset, "--split", str(cfg.split), "--seed", str(cfg.seed), "--out", str(out)]
    plain = X.make_config(cfg.experiment, cfg.preset, seed=cfg.seed, split=cfg.split, dataset=cfg.dataset)
    for field in dataclasses.fields(cfg):
        value = getattr(cfg, field.name)
        if value == getattr(plain, field.name):
            continue
        if isinstance(value, str):
            text = value
        else:
            text = json.dumps(list(value) if isinstance(value, tuple) else value)
        cmd.append(f"{field.name}={text}")
    return cmd


def run_side_by_side(todo: list, jobs: int, out: str) -> list[str]:
    """Train ``todo`` [(tag, cfg)] in ``jobs`` child processes at a time (`actionpose train
    --resume`, cores/jobs threads each, one loader worker); returns the logs of failed runs.
    Datasets are generated first, here, so that no two children build the same one."""
    from actionpose.data.roots import resolve_data_root
    from actionpose.extract.estimated import build
    from actionpose.train.runs import run_dir

    seen = set()
    for _, cfg in todo:
        if (cfg.dataset, cfg.context_bias, cfg.preset) not in seen:
            seen.add((cfg.dataset, cfg.context_bias, cfg.preset))
            resolve_data_root(cfg, estimate=build)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    pending, running, failed = list(todo), [], []
    while pending or running:
        while pending and len(running) < jobs:
            tag, cfg = pending.pop(0)
            folder = run_dir(cfg, out)
            folder.mkdir(parents=True, exist_ok=True)
            log = folder / "train.log"
            cmd = [*train_command(cfg, out), "--resume", "--quiet", "workers=1"]
            with open(log, "w") as fh:
                proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
            print(f"{tag}: started (log {log})", file=sys.stderr, flush=True)
            running.append((tag, log, proc))
        time.sleep(0.5)
        for item in list(running):
            tag, log, proc = item
            if proc.poll() is None:
                continue
            running.remove(item)
            if proc.returncode == 0:
                print(f"{tag}: finished", file=sys.stderr, flush=True)
            else:
                failed.append(str(log))
                print(f"{tag}: FAILED (exit {proc.returncode}, see {log})", file=sys.stderr, flush=True)
    return failed


# ---------------------------------------------------------------------------------------------
# the check against the committed records


def cpu_dependence(config: dict, summary: dict) -> str:
    """Why this run's numerics depend on the CPU it trained on ("" when they need not): bf16
    autocast on CPU, or whether ``amp=auto`` picks bf16 at all, and Farneback flow."""
    from actionpose.models.registry import get_family

    reasons = []
    on_cpu = str(summary.get("device", "cpu")).startswith("cpu")
    if on_cpu and summary.get("amp") == "bfloat16":
        reasons.append("trained under bf16 autocast on CPU: oneDNN chooses its bf16 kernels by "
                       "the CPU's instruction set")
    elif (on_cpu and config.get("amp") == "auto" and not config.get("deterministic")
          and get_family(config["family"]).cpu_bf16):
        reasons.append("amp=auto picks bf16 only on CPUs with AVX512-BF16 or AMX: fp32 here, "
                       "bf16 (oneDNN kernels chosen by instruction set) on such a CPU")
    if config.get("temporal_input") == "flow":
        reasons.append("Farneback optical flow via OpenCV, whose SIMD code paths differ by CPU")
    return "; ".join(reasons)


def _metrics_equal(run: pd.DataFrame, record: pd.DataFrame) -> tuple[bool, str]:
    if len(run) != len(record):
        return False, f"{len(run)} epochs vs {len(record)} in the record"
    # read_record adds the run's keys to its curves; compare the metrics.csv columns only
    columns = [c for c in record.columns if c in run.columns and c not in RUN_KEYS]
    a = run[columns].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    b = record[columns].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    # an epoch that one side did not evaluate (eval_every: its test and validation cells all
    # empty) is compared on the other columns only
    evaluated = [i for i, c in enumerate(columns) if c.startswith(("test_", "val_"))]
    if evaluated:
        skipped = np.isnan(a[:, evaluated]).all(axis=1) | np.isnan(b[:, evaluated]).all(axis=1)
        same[np.ix_(skipped, evaluated)] = True
    differ = [c for c, ok in zip(columns, same.all(axis=0)) if not ok]
    if not differ:
        return True, ""
    first = int(np.flatnonzero(~same.all(axis=1))[0])
    return False, f"{', '.join(differ)} differ from epoch {int(run['epoch'].iloc[first])}"


def check_run(folder: Path, records_dir: Path, committed: pd.DataFrame | None) -> dict:
    """One run folder against its record: a row of ``reproduction.csv``."""
    from actionpose.report import pose_quality
    from actionpose.report.records import read_record
    from actionpose.train.runs import config_difference
    from actionpose.train.runs import read_record as read_json

    found = read_record(folder)
    if found is None:
        raise DataError(folder / "summary.json", "not a finished run")
    run, run_metrics = found
    config, summary = read_json(folder / "config.json"), read_json(folder / "summary.json")
    row = dict.fromkeys(COLUMNS, "")
    row.update({"experiment": run["experiment"], "dataset": run["dataset"], "run": folder.name,
                "reproduced_acc": run["test_video_acc"],
                "cpu_dependent": cpu_dependence(config, summary)})
    target = records_dir / run["experiment"] / run["dataset"] / folder.name
    if not (target / "summary.json").is_file():
        row.update(status="no record", record=str(target))
        return row
    rec, rec_metrics = read_record(target)
    row.update(record=str(target), committed_acc=rec["test_video_acc"],
               delta_pt=(run["test_video_acc"] - rec["test_video_acc"]) * 100)
    if (target / "config.json").is_file():
        diff = [d.replace(" (now)", " (record)") for d in
                config_difference(config, read_json(target / "config.json"))]
        if diff:
            row.update(status="config differs", detail="; ".join(diff))
            return row
    else:
        row["detail"] = "backfilled record: metrics only"
    recorded_amp = read_json(target / "summary.json").get("amp")
    if recorded_amp and summary.get("amp") and recorded_amp != summary["amp"]:
        row["detail"] = f"trained in {summary['amp']}, the record in {recorded_amp}"
    equal, how = _metrics_equal(run_metrics, rec_metrics)
    if equal:
        row["status"] = "identical"
        return row
    row["detail"] = "; ".join(d for d in (row["detail"], how) if d)
    row["status"] = "differs"
    if committed is not None:
        bias = rec["context_bias"]
        seeds = committed[(committed["experiment"] == rec["experiment"])
                          & (committed["dataset"] == rec["dataset"])
                          & (committed["preset"] == rec["preset"])
                          & (committed["context_bias"].isna() if pd.isna(bias)
                             else committed["context_bias"] == bias)
                          & pose_quality.selected(committed, pose_quality.setting(rec))]["test_video_acc"]
        row["committed_seeds"] = len(seeds)
        if len(seeds) >= 2:
            spread = SPREAD_SDS * float(seeds.std(ddof=1))
            row["spread_pt"] = spread * 100
            row["within_spread"] = abs(row["delta_pt"]) <= spread * 100
    return row


def check_against_records(folders: list[Path], records_dir: str | Path) -> pd.DataFrame:
    """Every finished run among ``folders`` against its committed record under ``records_dir``
    (one row each, :data:`COLUMNS`); unfinished folders are left out."""
    from actionpose.report.records import load_runs
    from actionpose.train.runs import is_complete

    records_dir = Path(records_dir)
    committed = load_runs(records_dir) if records_dir.is_dir() else None
    rows = [check_run(Path(f), records_dir, committed) for f in folders if is_complete(Path(f))]
    return pd.DataFrame(rows, columns=COLUMNS)


def _line(row: dict) -> str:
    text = f"{row['experiment']} {row['dataset']} {row['run']}: {row['status']}"
    if row["status"] == "differs":
        text += (f": test video acc {row['reproduced_acc'] * 100:.1f} vs {row['committed_acc'] * 100:.1f}"
                 f" committed ({row['delta_pt']:+.1f} pt)")
        if row["within_spread"] == "":
            text += f", spread unknown ({row['committed_seeds'] or 0} committed seed(s))"
        else:
            text += (f", {'within' if row['within_spread'] else 'OUTSIDE'} the seed spread"
                     f" ({SPREAD_RULE}: {row['spread_pt']:.1f} pt)")
    if row["detail"] and row["status"] != "identical":
        text += f" [{row['detail']}]"
    if row["cpu_dependent"]:
        text += f"; CPU-dependent: {row['cpu_dependent']}"
    return text


def report_check(table: pd.DataFrame, path: Path) -> str:
    """Print one line per run and a summary line; write the table to ``path``; return the
    summary line."""
    from actionpose.io import atomic_path

    for row in table.to_dict("records"):
        print(f"reproduce: {_line(row)}", file=sys.stderr)
    counts = table["status"].value_counts()
    differ = table[table["status"] == "differs"]
    within = int((differ["within_spread"] == True).sum())  # noqa: E712 ("" when unknown)
    outside = int((differ["within_spread"] == False).sum())  # noqa: E712
    summary = (f"reproduce: {len(table)} run(s) checked against the records: "
               f"{counts.get('identical', 0)} identical, {len(differ)} differ ({within} within the "
               f"seed spread, {outside} outside; {SPREAD_RULE}), "
               f"{counts.get('config differs', 0)} with another config, "
               f"{counts.get('no record', 0)} without a record; "
               f"{int((table['cpu_dependent'] != '').sum())} CPU-dependent; see {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    print(summary, file=sys.stderr)
    return summary
