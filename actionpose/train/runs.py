"""Run folders: where a run lives, its checkpoints, its record files, and whether it is done.

A run lives in ``<out>/<experiment>/<dataset>-split<k>-seed<s>/``: config.json, metrics.csv (one
row per epoch), predictions.csv, confusion.csv, summary.json (``complete`` once finished),
last.pt and best.pt. Every file is written atomically (``actionpose.io``); a training process
holds the folder's ``.lock`` while it writes; checkpoints hold tensors and plain values only and
are loaded with ``weights_only=True``; a broken record is a one-line error naming the file.
"""
from __future__ import annotations

import csv
import dataclasses
import fcntl
import json
import os
import pickle
import random
import re
import socket
import sys
import time
import warnings
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

from actionpose.errors import CheckpointError, ConfigError, RunError
from actionpose.io import atomic_path
from actionpose.train.experiments import TrainConfig

METRIC_COLUMNS = [
    "epoch", "train_loss", "train_acc", "test_loss", "test_clip_acc", "test_video_acc",
    "test_video_top5", "lr", "skipped_steps", "seconds",
]
# Fields that may differ when resuming (they do not change what is computed): eval_every changes
# only which epochs' test cells metrics.csv fills, never the training or the final metrics.
RUNTIME_FIELDS = {"workers", "device", "compile", "eval_every"}
CONFIG_DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainConfig)
                   if f.default is not dataclasses.MISSING}
# Present only in runs with a validation split (val_fraction > 0); VAL_FILE is what fuse reads.
VAL_COLUMNS = ["val_loss", "val_clip_acc", "val_video_acc"]
VAL_FILE, VAL_VIDEOS = "val_predictions.csv", "val_videos.txt"
RECORD_FILES = ("metrics.csv", "predictions.csv", "confusion.csv", "summary.json", "last.pt")
VAL_RECORD_FILES = (VAL_FILE, VAL_VIDEOS, "best.pt")  # best.pt: the best validation epoch


def run_dir(cfg: TrainConfig, out: str | Path) -> Path:
    return Path(out) / cfg.experiment / cfg.run_name()


def is_complete(folder: Path) -> bool:
    path = folder / "summary.json"
    if not path.is_file():
        return False
    try:
        return bool(json.loads(path.read_text()).get("complete"))
    except (OSError, json.JSONDecodeError):
        return False


def prepare_run(folder: Path, cfg: TrainConfig, *, resume: bool, main: bool = True) -> dict[str, Any] | None:
    """Make ``folder`` ready for training ``cfg``; returns the checkpoint to resume from, if any.

    With ``resume``, ``last.pt`` is continued (refused if the folder's config differs). Without,
    an earlier attempt at the same config is cleared, but never another config's results (an
    override such as background_factor=0.1 keeps the preset's folder name). ``main``: this is the
    process that writes (rank 0): it takes the folder's lock (``lock_run``); the others only
    read the checkpoint.
    """
    if main:
        lock_run(folder)
    try:
        return _prepare_locked(folder, cfg, resume=resume, main=main)
    except BaseException:
        unlock_run(folder)  # refused: nothing of this run started
        raise


def _prepare_locked(folder: Path, cfg: TrainConfig, *, resume: bool, main: bool) -> dict[str, Any] | None:
    ckpt_path = folder / "last.pt"
    if resume and ckpt_path.is_file():
        diff = config_difference(read_record(folder / "config.json"), cfg.to_dict())
        if diff:
            raise ConfigError(f"{folder}: --resume refused, the run folder has a different config:\n  "
                              + "\n  ".join(diff))
        return load_checkpoint(ckpt_path)
    if not resume and (folder / "metrics.csv").exists() and main:
        diff = config_mismatch(folder, cfg)
        if diff:
            raise ConfigError(f"{folder}: holds a run with a different config, not replaced:\n  "
                              + "\n  ".join(diff) + "\n  pass --out elsewhere for this variant, or "
                              "move that run away")
        for name in (*RECORD_FILES, *VAL_RECORD_FILES):
            (folder / name).unlink(missing_ok=True)
    return None


def ensure_run(cfg: TrainConfig, out: str | Path = "runs", *, progress: bool = True,
               data_root: str | Path | None = None) -> dict[str, Any]:
    """The run's summary: read if complete, resumed if interrupted, trained otherwise. A complete
    run trained under another config (e.g. a preset changed since) is an error, not a result."""
    from actionpose.train.engine import fit

    folder = run_dir(cfg, out)
    if is_complete(folder):
        diff = config_mismatch(folder, cfg)
        if diff:
            raise ConfigError(f"{folder}: finished under a different config than asked for:\n  "
                              + "\n  ".join(diff) + "\n  move it away to train this one")
        return read_record(folder / "summary.json")
    return fit(cfg, out, resume=(folder / "last.pt").is_file(), progress=progress, data_root=data_root)


def load_run(folder: str | Path, *, checkpoint: str = "last.pt"):
    """(model in eval mode with the run's weights, its config, its test dataset)."""
    from actionpose.models.registry import build_model, heatmap_size
    from actionpose.data.roots import resolve_data_root
    from actionpose.train.engine import build_datasets

    folder = Path(folder)
    cfg = read_config(folder)
    state = load_checkpoint(folder / checkpoint)
    summary_path = folder / "summary.json"
    data_root = read_record(summary_path).get("data_root") if summary_path.is_file() else None
    root = Path(data_root) if data_root else resolve_data_root(cfg)
    _, test_ds = build_datasets(cfg, root, heatmap_size=heatmap_size(cfg))
    model = build_model(cfg, len(state["classes"]))
    model.load_state_dict(state["model"])
    return model.eval(), cfg, test_ds


# ---------------------------------------------------------------------------------------------
# one writer per run folder

LOCK_NAME = ".lock"
_HELD: dict[Path, IO[str]] = {}  # run folders this process holds, by resolved path


def lock_run(folder: Path) -> None:
    """Take ``folder``'s lock for this process, or raise RunError naming the process that holds it.

    The lock is a POSIX record lock (``lockf``) on ``folder/.lock``: the kernel drops it when the
    holder exits, however it dies, so a lock left by a killed process is simply taken over (said
    on stderr). Not ``flock``: forked DataLoader workers would share that lock and keep it alive
    for the seconds they take to notice a SIGKILLed parent. The file
    records the holder's pid, host and start time for the message. Taking a lock this process
    already holds is a no-op; ``unlock_run`` gives it back.
    """
    key = folder.resolve()
    if key in _HELD:
        return
    path = folder / LOCK_NAME
    while True:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fh = open(path, "a+")
        except OSError as exc:
            raise RunError(f"{folder}: cannot write the run folder ({exc.strerror})") from None
        try:
            fcntl.lockf(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (BlockingIOError, PermissionError):  # EAGAIN or EACCES: another process holds it
            holder = _holder(fh)
            fh.close()
            raise RunError(f"{folder}: in use by {holder}; another train of this experiment with the "
                           "same --out would mix two runs in one folder, so wait for it or stop it") from None
        try:
            same_file = os.fstat(fh.fileno()).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same_file = False
        if same_file:
            break
        fh.close()  # the holder removed the file as we opened it: lock the new one
    fh.seek(0)
    if fh.read().strip():  # the holder died without giving the lock back
        print(f"{folder}: taking over the lock of {_holder(fh)}, which has ended", file=sys.stderr)
    fh.seek(0)
    fh.truncate()
    fh.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                         "started": time.strftime("%Y-%m-%d %H:%M:%S")}) + "\n")
    fh.flush()
    _HELD[key] = fh


def unlock_run(folder: Path) -> None:
    """Give back ``folder``'s lock if this process holds it (the lock file is removed)."""
    fh = _HELD.pop(folder.resolve(), None)
    if fh is None:
        return
    (folder / LOCK_NAME).unlink(missing_ok=True)
    fcntl.lockf(fh, fcntl.LOCK_UN)
    fh.close()


def _holder(fh: IO[str]) -> str:
    """'pid N on HOST (started T)' from an open lock file."""
    fh.seek(0)
    try:
        info = json.loads(fh.read())
        return f"pid {info['pid']} on {info['host']} (started {info['started']})"
    except (ValueError, KeyError, TypeError):
        return "another process (its lock file names none)"


# ---------------------------------------------------------------------------------------------
# configs


def read_record(path: Path) -> dict[str, Any]:
    """A run folder's JSON record (config.json, summary.json); RunError names the file and what
    is wrong with it: missing, unreadable, not valid JSON (with the line), not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{path}: missing (deleted or never written; move the run folder away to "
                       "train it afresh)") from None
    except UnicodeDecodeError:
        raise RunError(f"{path}: not valid JSON (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise RunError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except OSError as exc:
        raise RunError(f"{path}: unreadable ({exc.strerror})") from None
    if not isinstance(data, dict):
        raise RunError(f"{path}: not a JSON object (holds a {type(data).__name__})")
    return data


def read_config(folder: Path) -> TrainConfig:
    """The config a run folder was trained under, checked as ``make_config`` checks one."""
    from actionpose.train.experiments import validate

    path = folder / "config.json"
    data = read_record(path)
    try:
        cfg = TrainConfig.from_dict(data)
        validate(cfg)
    except ConfigError as exc:
        raise RunError(f"{path}: {exc}") from None
    except TypeError as exc:  # a required key missing
        raise RunError(f"{path}: not a run config ({exc})") from None
    return cfg


def config_mismatch(folder: Path, cfg: TrainConfig) -> list[str]:
    """How the config saved in run ``folder`` differs from ``cfg`` (empty: the same run)."""
    return config_difference(read_record(folder / "config.json"), cfg.to_dict())


def config_difference(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Human-readable differences between two config dicts (runtime-only fields ignored)."""
    diff = []
    for key in sorted(set(a) | set(b)):
        if key in RUNTIME_FIELDS:
            continue
        # a key the run folder lacks was added to TrainConfig later: its default is what ran
        va, vb = a.get(key, CONFIG_DEFAULTS.get(key)), b.get(key, CONFIG_DEFAULTS.get(key))
        if isinstance(va, tuple):
            va = list(va)
        if isinstance(vb, tuple):
            vb = list(vb)
        if va != vb:
            diff.append(f"{key}: {va!r} (run folder) != {vb!r} (now)")
    return diff


# ---------------------------------------------------------------------------------------------
# checkpoints


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """torch.save to a temp file, then rename: a crash mid-write leaves the old file intact.

    torch writes through a Python file object so that a full disk surfaces as the OSError behind
    torch's own error, which :func:`actionpose.io.atomic_path` turns into a WriteError."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        torch.save(state, fh)


def save_checkpoints(folder: Path, state: dict[str, Any], *, improved: bool) -> None:
    """The epoch's ``best.pt`` when the validation accuracy ``improved`` (never the test
    accuracy: runs without a validation split write no ``best.pt``), then its ``last.pt``.

    Best first: a kill between the two leaves ``last.pt`` at the previous epoch, so a resume
    trains this epoch again and writes both anew. The other order would leave a ``last.pt``
    whose ``best_acc`` already counts this epoch while ``best.pt`` never received it.
    """
    if improved:
        save_checkpoint(folder / "best.pt", state)
    save_checkpoint(folder / "last.pt", state)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint at ``path``, unpickled with ``weights_only=True`` only.

    A checkpoint holds tensors and plain values (RNG states included, see ``rng_state``), so a
    file that needs any other Python object is refused: unpickling it could run code (a
    tampered file, or one written before the RNG states were stored as plain values).
    """
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        with warnings.catch_warnings():
            # a raw pickle (not torch's zip format) warns about its protocol before it is refused
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if found:
            raise CheckpointError(f"{path}: refused, not loaded: it needs {found.group(1)}, and "
                                  "unpickling that could run code (a tampered file, or a checkpoint "
                                  "from an older actionpose); move it away to train this run afresh") from None
        unsupported = re.search(r"Unsupported [^\n.]*", str(exc))
        raise CheckpointError(f"{path}: corrupt or unreadable checkpoint, not torch.save's format "
                              f"({unsupported.group(0) if unsupported else _one_line(exc)})") from None
    except Exception as exc:  # zip errors of a truncated or foreign file
        raise CheckpointError(f"{path}: corrupt or unreadable checkpoint ({_first_sentence(exc)})") from exc
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: not an actionpose checkpoint (holds a {type(state).__name__})")
    return state


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _first_sentence(exc: BaseException) -> str:
    return _one_line(exc).split(". ")[0].rstrip(".")


def rng_state() -> dict[str, Any]:
    """The global RNG states (python, numpy, torch, cuda) as tensors and plain values, so that
    the checkpoint holding them loads with ``weights_only=True``."""
    kind, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state = {"torch": torch.get_rng_state(),
             "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                       "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)},
             "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what ``rng_state`` returned."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ---------------------------------------------------------------------------------------------
# record files


def _write_metrics(path: Path, history: list[dict[str, Any]], *, validation: bool = False) -> None:
    """metrics.csv; ``validation``: with the :data:`VAL_COLUMNS` after the test columns' block."""
    columns = METRIC_COLUMNS + VAL_COLUMNS if validation else METRIC_COLUMNS
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            for row in history:
                writer.writerow({k: ("" if row[k] is None else row[k]) for k in columns})


def _write_val_videos(path: Path, videos: list[str], labels: list[int], classes: list[str]) -> None:
    """The carve: one ``<video> <class>`` line per validation video (sorted by video)."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text("".join(f"{v} {classes[y]}\n" for v, y in sorted(zip(videos, labels))))


def _write_predictions(path: Path, result: dict[str, Any], classes: list[str]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["video", "label", "prediction", *[f"score_{c}" for c in classes]])
            for name, label, pred, scores in zip(result["names"], result["labels"], result["preds"],
                                                 result["scores"]):
                writer.writerow([name, classes[label], classes[pred], *[f"{s:.6f}" for s in scores]])


def _write_confusion(path: Path, confusion: np.ndarray, classes: list[str]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["label \\ prediction", *classes])
            for cls, row in zip(classes, confusion):
                writer.writerow([cls, *row.tolist()])
