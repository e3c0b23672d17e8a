"""Handlers of ``actionpose train / reproduce / figures / list``."""
from __future__ import annotations

import sys
from pathlib import Path

from actionpose.errors import DataError
from actionpose.train import experiments as X


def _check_data_root(root: Path) -> None:
    """Refuse a data root that fails ``actionpose data check`` (errors only, not warnings)."""
    from actionpose.data.check import check_tree

    report = check_tree(root)
    errors = [p for p in report["problems"] if p["severity"] == "error"]
    if errors:
        first = errors[0]
        raise DataError(first["path"], f"{first['problem']} ({len(errors)} error(s) in {root}; "
                                       f"`actionpose data check {root}` lists them)")


def config_from_args(args) -> X.TrainConfig:
    """The config ``actionpose train``'s arguments name (flags, then key=value overrides)."""
    overrides = X.parse_overrides(args.overrides)
    for key in ("split", "seed", "epochs", "device"):
        if getattr(args, key, None) is not None:
            overrides[key] = getattr(args, key)
    if args.deterministic:
        overrides["deterministic"] = True
    if args.data is not None:
        overrides["dataset"] = args.data if args.data in X.DATASETS else str(Path(args.data).resolve())
    return X.make_config(args.experiment, args.preset, **overrides)


def train(args) -> int:
    from actionpose.train.engine import fit
    from actionpose.train.runs import ensure_run, is_complete, run_dir

    cfg = config_from_args(args)
    if cfg.dataset not in X.DATASETS:
        _check_data_root(Path(cfg.dataset))
    folder = run_dir(cfg, args.out)
    if args.resume and is_complete(folder):
        ensure_run(cfg, args.out)  # reads it; refuses one finished under a different config
        print(f"{folder}: already complete", file=sys.stderr)
        return 0
    log = None
    if getattr(args, "tensorboard", False):  # the package is checked before anything is trained
        from actionpose.train.tensorboard import TensorBoardLog

        log = TensorBoardLog(folder)
    try:
        summary = fit(cfg, args.out, resume=args.resume, progress=not args.quiet, on_epoch=log)
    finally:
        if log is not None:
            log.close()
    if summary.get("complete"):
        final = summary["final"]
        print(f"{cfg.experiment} {cfg.run_name()}: test video acc {final['test_video_acc']:.3f} "
              f"(clip {final['test_clip_acc']:.3f}) in {summary['seconds_total']:.0f} s -> {folder}")
    return 0


def reproduce(args) -> int:
    """Train the report's runs, then check them against the committed records (see
    :mod:`actionpose.train.reproduction`)."""
    from actionpose.train.reproduction import reproduce as run

    return run(args)


def figures(args) -> int:
    """Tables and figures from a runs folder, or from the committed records when none is named."""
    from actionpose.report import write_report

    source = args.runs if args.runs is not None else Path(args.results) / "records"
    for path in write_report(source, args.results, args.out, getattr(args, "preset", None)):
        print(path)
    return 0


def list_experiments(args) -> int:
    print("experiments:")
    rows = X.describe()
    width = max(len(family) for _, family, _ in rows)
    for name, family, description in rows:
        print(f"  {name:<34} {family:<{width}} {description}")
    from actionpose.fuse import FUSED_PAIRS
    from actionpose.models.registry import FAMILIES

    print("fused pairs (two runs fused late: actionpose fuse --pair NAME):")
    for pair in FUSED_PAIRS.values():
        print(f"  {pair.name:<34} {pair.description}")
    print("families (pose modes they allow):")
    for fam in FAMILIES.values():
        print(f"  {fam.name:<34} {', '.join(fam.pose_modes):<45} {fam.description}")
    print("presets:")
    notes = {"smoke": "seconds per experiment; CI and nbval",
             "cpu": "narrow models, low resolution: minutes per run on 2 cores (default)",
             "paper": "the report's settings on JHMDB, for a GPU",
             "jhmdb": "pose-only on real JHMDB masks (defaults still to be chosen on validation)"}
    for name in X.PRESETS:
        print(f"  {name:<34} {notes.get(name, '')}")
    return 0
