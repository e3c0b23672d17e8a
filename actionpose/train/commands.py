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
    from actionpose.train.engine import fit, is_complete, run_dir

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
    from actionpose.train.engine import ensure_run, is_complete, run_dir

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
    todo = []
    for i, cfg in enumerate(plan, start=1):
        tag = f"[{i}/{len(plan)}] {cfg.experiment} {cfg.run_name()}"
        if is_complete(run_dir(cfg, args.out)):
            print(f"{tag}: done, skipped", file=sys.stderr)
        elif jobs == 1:
            print(tag, file=sys.stderr, flush=True)
            ensure_run(cfg, args.out, progress=not args.quiet)
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
    print(f"reproduce: finished in {(time.perf_counter() - started) / 60:.1f} min", file=sys.stderr)
    return 0


def _run_side_by_side(todo: list, jobs: int, out: str) -> list[str]:
    """Train ``todo`` [(tag, cfg)] in ``jobs`` child processes at a time (`actionpose train
    --resume`, cores/jobs threads each, one loader worker); returns the logs of failed runs.
    Datasets are generated first, here, so that no two children build the same one."""
    import os
    import subprocess

    from actionpose.train.engine import resolve_data_root, run_dir

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
    from actionpose import plots
    from actionpose.train.results import write_results

    preset = getattr(args, "preset", None)
    paths = write_results(args.runs, args.results, preset)
    made = plots.make_figures(args.results, args.out, preset)
    for p in list(paths.values()) + made:
        print(p)
    return 0


def list_experiments(args) -> int:
    print("experiments:")
    for name, family, description in X.describe():
        print(f"  {name:<34} {family:<11} {description}")
    print("presets:")
    notes = {"smoke": "seconds per experiment; CI and nbval",
             "cpu": "narrow models, low resolution: minutes per run on 2 cores (default)",
             "paper": "the report's settings on JHMDB, for a GPU"}
    for name in X.PRESETS:
        print(f"  {name:<34} {notes.get(name, '')}")
    return 0
