"""Pose extraction end to end (decode + MediaPipe + write) and person coverage on real videos.

The real videos of ../shared/realdata are first re-encoded at 320x240 (JHMDB's size; MJPG .avi,
untimed), then ``actionpose.extract.pipeline.extract`` runs over them, timed: frames/s against
real time (30 frames/s). A second row times extraction from the original files (1920x1080 and
426x240) resized to 320x240 on the way (``--size 240x320``), which adds full-HD decoding.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks.common import JHMDB_SIZE as SIZE, REAL_TIME_FPS, measurement, real_videos_at_jhmdb_size


def run(smoke: bool) -> list[dict]:
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench_pose_") as tmp:
        found = real_videos_at_jhmdb_size("bench_pose", Path(tmp) / "in", 5 if smoke else None)
        if found is None:
            return []
        src, realdata = found
        from actionpose.extract.pipeline import extract

        t0 = time.perf_counter()
        summary = extract(src, Path(tmp) / "out", progress=False)
        seconds = time.perf_counter() - t0
        fps = summary["frames"] / seconds
        rows.append(measurement(
            "pose extract 320x240 video end to end (decode+MediaPipe+write)", fps, "frames/s",
            baseline=REAL_TIME_FPS, target=">= 1.0x real time (30 frames/s)",
            ratio=fps / REAL_TIME_FPS, met=fps >= REAL_TIME_FPS,
            frames=summary["frames"], seconds=seconds, clips=summary["extracted"],
        ))
        for name, meta in sorted(summary["per_clip"].items()):
            rows.append(measurement(
                f"person fraction {name.split('/', 1)[1]}", meta["person_fraction"], "fraction",
                frames=meta["frames"],
            ))
        if not smoke:
            t0 = time.perf_counter()
            full = extract(realdata, Path(tmp) / "out_full", size=SIZE, progress=False)
            seconds = time.perf_counter() - t0
            fps = full["frames"] / seconds
            rows.append(measurement(
                "pose extract original videos (1080p/426x240) -> 320x240 end to end", fps, "frames/s",
                baseline=REAL_TIME_FPS, ratio=fps / REAL_TIME_FPS, frames=full["frames"], seconds=seconds,
            ))
    return rows
