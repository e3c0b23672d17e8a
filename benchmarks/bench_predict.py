"""``actionpose predict`` end to end (decode + MediaPipe + model + annotated H.264 write) against
real time, on the real videos of ../shared/realdata re-encoded at 320x240, 30 frames/s.

The model is the cpu preset's c3d-pose (8x64x64, channels/4, 21 classes) with its initial
weights: the time does not depend on what it learnt. Threads: torch's default (every core).
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks.common import REAL_TIME_FPS, measurement, real_videos_at_jhmdb_size


def run(smoke: bool) -> list[dict]:
    from actionpose.train.experiments import make_config
    from actionpose.use.model import model_from_config
    from actionpose.use.predict import predict

    preset = "smoke" if smoke else "cpu"
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench_predict_") as tmp:
        found = real_videos_at_jhmdb_size("bench_predict", Path(tmp) / "in", 10 if smoke else None)
        if found is None:
            return []
        src, _ = found
        model = model_from_config(make_config("c3d-pose", preset), [f"class{i}" for i in range(21)])
        for annotate in (False, True):
            frames = seconds = 0.0
            for video in sorted(src.iterdir()):
                t0 = time.perf_counter()
                [result] = predict(model, video, annotate=Path(tmp) / "out.mp4" if annotate else None)
                seconds += time.perf_counter() - t0
                frames += result["frames"]
            fps = frames / seconds
            what = "decode+MediaPipe+model" + ("+annotated H.264" if annotate else "")
            rows.append(measurement(
                f"predict 320x240 30 fps video, c3d-pose {preset} preset ({what})", fps, "frames/s",
                baseline=REAL_TIME_FPS, target=">= 1.0x real time (30 frames/s)",
                ratio=fps / REAL_TIME_FPS, met=fps >= REAL_TIME_FPS, frames=int(frames), seconds=seconds))
    return rows
