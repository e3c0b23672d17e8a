"""Build a world with estimated pose (:mod:`actionpose.data.estimated`): ``pose extract`` over an
embedded world's tree, its splits kept, then the estimate's agreement with the annotation."""
from __future__ import annotations

import fcntl
import os
import shutil
import time
from pathlib import Path

from actionpose.data.estimated import ESTIMATOR, MARKER
from actionpose.errors import DataError

__all__ = ["build"]


def build(source: Path, root: Path, *, estimator: str = ESTIMATOR, workers: int | None = None,
          progress: bool = True) -> Path:
    """``root``: ``source``'s clips with pose estimated from their frames (built on first use,
    resumed after a kill; a second process waits for the first). Returns ``root``."""
    root = Path(root)
    if (root / MARKER).is_file():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{root.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / MARKER).is_file():
            _build(Path(source), root, estimator, workers or os.cpu_count() or 1, progress)
    return root


def _build(source: Path, root: Path, estimator: str, workers: int, progress: bool) -> None:
    from actionpose.data import jhmdb
    from actionpose.data.estimated import mask_agreement
    from actionpose.data.synthetic import INFO_FILE
    from actionpose.extract.pipeline import extract
    from actionpose.io import write_json

    t0 = time.perf_counter()
    wanted = {(e.cls, e.video) for k in (1, 2, 3) for e in jhmdb.read_split(source, k)}
    summary = extract(source, root, estimator=estimator, workers=workers, progress=progress)
    if summary["clips"] != len(wanted):
        failed = "; ".join(f"{p}: {r}" for p, r in summary["skipped"][:3])
        raise DataError(root, f"pose estimated for {summary['clips']} of {len(wanted)} clips of {source}"
                        + (f" ({failed})" if failed else ""))
    shutil.copyfile(source / INFO_FILE, root / INFO_FILE)  # how the frames were made
    agreement = mask_agreement(source, root, sorted(wanted))
    write_json(root / MARKER, {
        "frames_from": str(source), "estimator": estimator, "clips": len(wanted),
        "seconds_last_call": time.perf_counter() - t0, "vs_annotated": agreement,
    })
