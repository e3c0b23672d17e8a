"""Handlers of ``actionpose train / reproduce / figures / list``."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from actionpose.errors import DataError
from actionpose.train import experiments as X


def _check_data_root(root: Path) -> None:
    """Refuse a data root that fails ``actionpose data check`` (errors only, not warnings)."""
    from actionpose.data.check import check_tree

    report = check_tree(root)
    errors = [p for p in report["problems"] if p["severity"] == "error"]
    if errors:
        listed = "\n  ".join(f"{p['path']}: {p['problem']}" for p in errors[:10])
        raise DataError(root, f"fails `actionpose data check` with {len(errors)} error(s):\n  {listed}")


def train(args) -> int:
    from actionpose.train.engine import fit
    from actionpose.train.runs import ensure_run, is_complete, run_dir

    overrides = X.parse_overrides(args.overrides)
    for key in ("split", "seed", "epochs", "device"):
        if getattr(args, key, None) is not None:
            overrides[key] = getattr(args, key)
    if args.deterministic:
        overrides["deterministic"] = True
    if args.data is not None:
        overrides["dataset"] = args.data if args.data in X.DATASETS else str(Path(args.data).resolve())
    cfg = X.make_config(args.experiment, args.preset, **overrides)
    if cfg.dataset not in X.DATASETS:
        _check_data_root(Path(cfg.dataset))
    folder = run_dir(cfg, args.out)
    if args.resume and is_complete(folder):
        ensure_run(cfg, args.out)  # reads it; refuses one finished under a different config
        print(f"{folder}: already complete", file=sys.stderr)
        return 0
    summary = fit(cfg, args.out, resume=args.resume, progress=not args.quiet)
    if summary.get("complete"):
        final = summary["final"]
        print(f"{cfg.experiment} {cfg.run_name()}: test video acc {final['test_video_acc']:.3f} "
              f"(clip {final['test_clip_acc']:.3f}) in {summary['seconds_total']:.0f} s -> {folder}")
    return 0


def reproduce(args) -> int:
    """Every report run at ``--preset`` for ``--seeds`` seeds; finished runs are skipped,
    interrupted ones resumed; then the results tables and figures."""
    from actionpose.paths import shared_jhmdb
    from actionpose.train.runs import ensure_run, is_complete, run_dir

    started = time.perf_counter()
    have_jhmdb = shared_jhmdb() is not None or "ACTIONPOSE_JHMDB" in __import__("os").environ
    if not have_jhmdb:
        print("reproduce: ../shared/jhmdb not found: skipping the real-actor and JHMDB runs",
              file=sys.stderr)
    data = None if args.data is None else str(Path(args.data).resolve())
    plan = X.report_plan(args.preset, args.seeds, only=args.only, data=data,
                         sweep=args.sweep or (), have_jhmdb=have_jhmdb,
                         sweep_pair=tuple(getattr(args, "sweep_pair", None) or X.SWEEP_PAIR))
    jobs = getattr(args, "jobs", 1) or 1
    print(f"reproduce: {len(plan)} runs at preset {args.preset}"
          + (f", {jobs} side by side" if jobs > 1 else ""), file=sys.stderr)
    stale = _stale_runs(plan, args.out)
    if stale:
        listed = "\n  ".join(stale[:20]) + (f"\n  ... and {len(stale) - 20} more" if len(stale) > 20 else "")
        print(f"reproduce: {len(stale)} finished run(s) under {args.out} were trained with another "
              f"config than {args.preset!r} gives now; they would be reported as if they were "
              f"current. Move them out of {args.out} to re-train them (nothing was deleted):\n  {listed}",
              file=sys.stderr)
        return 2
    started_at = time.time()
    todo, trained = [], 0
    for i, cfg in enumerate(plan, start=1):
        tag = f"[{i}/{len(plan)}] {cfg.experiment} {cfg.run_name()}"
        if is_complete(run_dir(cfg, args.out)):
            print(f"{tag}: done, skipped", file=sys.stderr)
        elif jobs == 1:
            print(tag, file=sys.stderr, flush=True)
            ensure_run(cfg, args.out, progress=not args.quiet)
            trained += 1
        else:
            todo.append((tag, cfg))
    failed = _run_side_by_side(todo, jobs, args.out) if todo else []
    if failed:
        listed = "\n  ".join(failed)
        print(f"reproduce: {len(failed)} run(s) failed (their logs):\n  {listed}", file=sys.stderr)
        return 1
    figures_args = type("A", (), {"runs": args.out, "out": args.figures, "results": args.results,
                                  "preset": args.preset})
    figures(figures_args)
    minutes = (time.perf_counter() - started) / 60
    _log_reproduce(Path(args.out), plan, started_at, minutes, trained=trained + len(todo), jobs=jobs,
                   seeds=args.seeds, preset=args.preset,
                   whole_plan=not args.only and not args.sweep and data is None)
    print(f"reproduce: finished in {minutes:.1f} min", file=sys.stderr)
    return 0


def _stale_runs(plan: list, out: str) -> list[str]:
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


def _log_reproduce(out: Path, plan: list, started_at: float, minutes: float, *, trained: int,
                   jobs: int, seeds: int, preset: str, whole_plan: bool) -> None:
    """Append this call's wall time to ``OUT/reproduce_log.jsonl`` (read by the benchmarks:
    the issue-8 target is the wall time of a from-scratch ``--seeds 1``)."""
    import json
    import os

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


def _run_side_by_side(todo: list, jobs: int, out: str) -> list[str]:
    """Train ``todo`` [(tag, cfg)] in ``jobs`` child processes at a time (`actionpose train
    --resume`, cores/jobs threads each, one loader worker); returns the logs of failed runs.
    Datasets are generated first, here, so that no two children build the same one."""
    import os
    import subprocess

    from actionpose.train.engine import resolve_data_root
    from actionpose.train.runs import run_dir

    seen = set()
    for _, cfg in todo:
        if (cfg.dataset, cfg.context_bias, cfg.preset) not in seen:
            seen.add((cfg.dataset, cfg.context_bias, cfg.preset))
            resolve_data_root(cfg)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    pending, running, failed = list(todo), [], []
    while pending or running:
        while pending and len(running) < jobs:
            tag, cfg = pending.pop(0)
            folder = run_dir(cfg, out)
            folder.mkdir(parents=True, exist_ok=True)
            log = folder / "train.log"
            cmd = [sys.executable, "-m", "actionpose", "train", cfg.experiment, "--preset", cfg.preset,
                   "--data", cfg.dataset, "--split", str(cfg.split), "--seed", str(cfg.seed),
                   "--out", str(out), "--resume", "--quiet", "workers=1"]
            if cfg.context_bias is not None:
                cmd.append(f"context_bias={cfg.context_bias}")
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


def figures(args) -> int:
    """Tables and figures from a runs folder, or from the committed records when none is named."""
    from actionpose.report import write_report

    source = args.runs if args.runs is not None else Path(args.results) / "records"
    for path in write_report(source, args.results, args.out, getattr(args, "preset", None)):
        print(path)
    return 0


def list_experiments(args) -> int:
    print("experiments:")
    for name, family, description in X.describe():
        print(f"  {name:<34} {family:<11} {description}")
    from actionpose.models.registry import FAMILIES

    print("families (pose modes they allow):")
    for fam in FAMILIES.values():
        print(f"  {fam.name:<34} {', '.join(fam.pose_modes):<45} {fam.description}")
    print("presets:")
    notes = {"smoke": "seconds per experiment; CI and nbval",
             "cpu": "narrow models, low resolution: minutes per run on 2 cores (default)",
             "paper": "the report's settings on JHMDB, for a GPU"}
    for name in X.PRESETS:
        print(f"  {name:<34} {notes.get(name, '')}")
    return 0
