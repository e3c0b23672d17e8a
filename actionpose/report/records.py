"""Run records: the text files of finished runs, read from a runs folder or from the committed
records, and copied from the one into the other.

A run folder is ``<runs>/<experiment>/<run>/`` (written by training); a committed record is
``results/records/<experiment>/<dataset>/<run>/``. Both hold ``summary.json`` and ``metrics.csv``,
and ``config.json`` and ``predictions.csv`` when they were kept. A record without ``config.json``
(backfilled from tables) carries the config fields the report reads in its summary's ``config``.
The pose-quality knob's setting is read from the config (``report.pose_quality``: absent = clean
pose); the tables leave its columns out while every run is clean.
"""
from __future__ import annotations

import filecmp
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from actionpose.errors import ConfigError, DataError
from actionpose.io import atomic_dir
from actionpose.report import pose_quality
from actionpose.report.stats import binomial_se, wilson95

# val_*: the validation split carved from training (runs with val_fraction > 0): what choices
# such as fusion weights are made on, kept so that a record shows they never saw the test split
# context_reliance.csv: written beside a run by `actionpose explain --test-split` (report.reliance)
RECORD_FILES = ("config.json", "context_reliance.csv", "metrics.csv", "predictions.csv", "summary.json",
                "val_predictions.csv", "val_videos.txt")
SUMMARY_KEYS = ("experiment", "dataset", "split", "seed", "preset", "epochs", "final", "seconds_total")
PATTERNS = ("*/*/summary.json", "*/*/*/summary.json")  # run folders, records


@dataclass(frozen=True)
class Records:
    """Finished runs (one row each) and their learning curves (one row per run and epoch)."""

    runs: pd.DataFrame
    curves: pd.DataFrame


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(path, f"unreadable ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise DataError(path, f"corrupt JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise DataError(path, f"expected a JSON object, found {type(data).__name__}")
    return data


def _read_metrics(path: Path, epochs: int) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(path, "missing (a finished run has one row per epoch)")
    try:
        df = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(path, f"malformed CSV ({str(exc).splitlines()[0]})") from exc
    missing = sorted({"epoch", "test_video_acc"} - set(df.columns))
    if missing:
        raise DataError(path, f"missing column(s) {missing}")
    if len(df) != epochs:
        raise DataError(path, f"{len(df)} epoch rows, but summary.json says {epochs} epochs")
    # empty test cells: epochs that eval_every did not evaluate (the final epoch always is)
    if not pd.api.types.is_numeric_dtype(df["test_video_acc"]) or df["test_video_acc"].isna().iloc[-1]:
        raise DataError(path, "test_video_acc is not a number in every evaluated row, or the final "
                              "epoch's is missing")
    return df


def _read_predictions(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(path, f"malformed CSV ({str(exc).splitlines()[0]})") from exc
    missing = sorted({"video", "label", "prediction"} - set(df.columns))
    if missing or df.empty:
        raise DataError(path, f"missing column(s) {missing}" if missing else "no test videos")
    return df


def read_record(folder: Path) -> tuple[dict, pd.DataFrame] | None:
    """(run row, curve rows) of a finished run or record folder; None if it is not finished.
    Every malformed file is a DataError naming it."""
    summary_path = folder / "summary.json"
    s = _read_json(summary_path)
    if not s.get("complete"):
        return None
    missing = [k for k in SUMMARY_KEYS if k not in s]
    if missing or not isinstance(s["final"], dict) or "test_video_acc" not in s["final"]:
        raise DataError(summary_path, f"missing key(s) {missing or ['final.test_video_acc']}")
    config_path = folder / "config.json"
    if config_path.is_file():
        config = _read_json(config_path)
    elif isinstance(s.get("config"), dict):
        config = s["config"]
    else:
        raise DataError(config_path, "missing (a record without it needs a 'config' entry in summary.json)")
    curves = _read_metrics(folder / "metrics.csv", int(s["epochs"]))
    try:
        quality = pose_quality.from_config(config)  # the pose-quality knob; absent: clean pose
    except ConfigError as exc:
        raise DataError(config_path if config_path.is_file() else summary_path, str(exc)) from None
    override = config.get("context_bias")
    world = s.get("context_bias", override)  # the bias of the embedded world it trained on
    row = {"experiment": s["experiment"], "dataset": s["dataset"], "split": s["split"],
           "seed": s["seed"], "preset": s["preset"],
           "context_bias": np.nan if override is None else float(override),
           "background_factor": config.get("background_factor"), **quality,
           **s["final"], "seconds": s["seconds_total"], "peak_rss_gib": s.get("peak_rss_gib"),
           "epochs": s["epochs"], "test_videos": s.get("num_test_videos"),
           "world_context_bias": np.nan if world is None else float(world), "path": str(folder)}
    curves["context_bias"] = row["context_bias"]
    for key in ("experiment", "dataset", "split", "seed", "preset", *quality):
        curves[key] = row[key]
    return row, curves


def run_folders(root: str | Path) -> list[Path]:
    """Folders holding a summary.json under ``root``: run folders and records alike."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, "runs folder not found")
    return sorted({p.parent for pattern in PATTERNS for p in root.glob(pattern)})


def load(root: str | Path, preset: str | None = None) -> Records:
    """Every finished run (of ``preset`` if given) under ``root``, a runs folder or records
    folder. Malformed files are errors; finding nothing is an error that says what was sought."""
    root = Path(root)
    rows, frames, presets = [], [], set()
    for folder in run_folders(root):
        record = read_record(folder)
        if record is None:
            continue
        row, curves = record
        presets.add(row["preset"])
        if preset is None or row["preset"] == preset:
            rows.append(row)
            frames.append(curves)
    if not rows:
        wanted = "finished runs" + (f" of preset {preset!r}" if preset else "")
        found = f" (found runs of preset(s) {sorted(presets)})" if presets else ""
        raise DataError(root, f"no {wanted}: looked for {' and '.join(PATTERNS)} with "
                              f"\"complete\": true{found}")
    runs = pd.DataFrame(rows)
    runs["test_video_se"] = binomial_se(runs["test_video_acc"], runs["test_videos"])
    runs["test_video_lo"], runs["test_video_hi"] = wilson95(runs["test_video_acc"], runs["test_videos"])
    return Records(runs, pd.concat(frames, ignore_index=True))


def load_runs(root: str | Path, preset: str | None = None) -> pd.DataFrame:
    """One row per finished run under ``root`` (see :func:`load`)."""
    return load(root, preset).runs


def load_curves(root: str | Path, preset: str | None = None) -> pd.DataFrame:
    """Every finished run's metrics.csv under ``root``, stacked (see :func:`load`)."""
    return load(root, preset).curves


def load_predictions(runs: pd.DataFrame, experiment: str, dataset: str) -> pd.DataFrame:
    """predictions.csv of every run of ``experiment`` on ``dataset``, stacked (column ``seed``)."""
    frames = []
    for row in runs[(runs["experiment"] == experiment) & (runs["dataset"] == dataset)].itertuples():
        path = Path(row.path) / "predictions.csv"
        if not path.is_file():
            raise DataError(path, "missing: this run's per-video predictions were not kept")
        df = _read_predictions(path)
        df["seed"], df["split"] = row.seed, row.split
        frames.append(df[["video", "label", "prediction", "seed", "split"]])
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["video", "label", "prediction", "seed", "split"])


def collect(runs_dir: str | Path, records_dir: str | Path, replace: bool = False,
            folders: list[Path] | None = None, presets: Iterable[str] | None = None) -> list[Path]:
    """Copy the text records of every finished run under ``runs_dir`` (of those in ``folders``
    if given) into ``records_dir/<experiment>/<dataset>/<run>/``. A record that exists with other
    content is refused (all of them listed, nothing written) unless ``replace``; a record that only
    lacks files its run has gained since (``context_reliance.csv``, computed after training) is
    completed, not refused. ``presets``: copy only runs of these presets (all if None).
    Returns the written folders."""
    runs = load(runs_dir).runs
    if presets is not None:
        runs = runs[runs["preset"].isin(list(presets))]
    if folders is not None:
        wanted = {Path(f).resolve() for f in folders}
        runs = runs[[Path(p).resolve() in wanted for p in runs["path"]]]
    plan = []
    for row in runs.itertuples():
        source = Path(row.path)
        if (source / "predictions.csv").is_file():
            _read_predictions(source / "predictions.csv")
        target = Path(records_dir) / row.experiment / row.dataset / source.name
        names = [n for n in RECORD_FILES if (source / n).is_file()]
        held = sorted(p.name for p in target.iterdir()) if target.is_dir() else []
        agree = set(held) <= set(names) and all(filecmp.cmp(source / n, target / n, shallow=False)
                                                for n in held)
        if not (agree and set(held) == set(names)):
            plan.append((source, target, names, target.exists() and not agree))
    clash = [str(t) for _, t, _, differs in plan if differs]
    if clash and not replace:
        raise DataError(clash[0], f"a record with other content exists ({len(clash)} in all); "
                                  "pass --replace to overwrite them")
    for source, target, names, _ in plan:
        with atomic_dir(target) as tmp:
            for name in names:
                shutil.copyfile(source / name, tmp / name)
    return [t for _, t, _, _ in plan]


def collect_main(args) -> int:
    """``actionpose records collect RUNS_DIR``."""
    presets = args.preset or None
    if presets is None:  # smoke runs are checks of the code, not results: never copied unasked
        presets = sorted(set(load(args.runs).runs["preset"]) - {"smoke"})
    written = collect(args.runs, args.to, replace=args.replace, presets=presets)
    print(f"records: {len(written)} run(s) copied into {args.to} (preset(s): "
          f"{', '.join(presets) or 'none'}; smoke runs only with --preset smoke)", file=sys.stderr)
    for path in written:
        print(path)
    return 0
