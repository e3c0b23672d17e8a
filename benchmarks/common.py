"""Timing helpers shared by the benchmark modules."""
from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Callable

REAL_TIME_FPS = 30.0
JHMDB_SIZE = (240, 320)  # (H, W): JHMDB's frame size


def median_seconds(fn: Callable[[], object], *, repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measurement(name: str, value: float, unit: str, *, baseline: float | None = None,
                target: str | None = None, ratio: float | None = None, met: bool | None = None,
                **extra) -> dict:
    """One row of the benchmark table."""
    row = {"name": name, "value": value, "unit": unit}
    for key, val in (("baseline", baseline), ("target", target), ("ratio", ratio), ("met", met)):
        if val is not None:
            row[key] = val
    row.update(extra)
    return row


def real_videos_at_jhmdb_size(module: str, dest: Path, max_frames: int | None) -> tuple[Path, Path] | None:
    """The real videos of ../shared/realdata re-encoded at 320x240, 30 frames/s, into ``dest``
    (untimed), with the realdata folder: (dest, realdata). None, after saying why on stdout, when
    MediaPipe or ../shared/realdata is missing (the pose benchmarks then skip)."""
    try:
        import mediapipe  # noqa: F401
    except ImportError:
        print(f"# {module}: mediapipe not installed (pip install actionpose[pose]); skipped")
        return None
    from actionpose.data import jhmdb
    from actionpose.extract.sources import resize
    from actionpose.paths import shared_realdata

    realdata = shared_realdata()
    if realdata is None:
        print(f"# {module}: ../shared/realdata not found; skipped")
        return None
    for v in sorted(p for p in realdata.iterdir() if p.suffix.lower() in jhmdb.VIDEO_EXTENSIONS):
        frames = resize(jhmdb.read_video(v, max_frames=max_frames), JHMDB_SIZE)
        jhmdb.write_video(dest / f"{v.stem}.avi", frames, fps=REAL_TIME_FPS)
    return dest, realdata
