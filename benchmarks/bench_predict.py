"""``actionpose predict`` end to end (decode + MediaPipe + model + annotated H.264 write) against
real time, on the real videos of ../shared/realdata re-encoded at 320x240, 30 frames/s.

The model is the cpu preset's c3d-pose (8x64x64, channels/4, 21 classes) with its initial
weights: the time does not depend on what it learnt. Threads: torch's default (every core).
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks.common import measurement

REAL_TIME_FPS = 30.0
SIZE = (240, 320)


def run(smoke: bool) -> list[dict]:
    try:
        import mediapipe  # noqa: F401
    except ImportError:
        print("# bench_predict: mediapipe not installed (pip install actionpose[pose]); skipped")
        return []
    from actionpose.data import jhmdb
    from actionpose.extract.sources import resize
    from actionpose.paths import shared_realdata
    from actionpose.train.experiments import make_config
    from actionpose.use.model import model_from_config
    from actionpose.use.predict import predict

    realdata = shared_realdata()
    if realdata is None:
        print("# bench_predict: ../shared/realdata not found; skipped")
        return []
    preset = "smoke" if smoke else "cpu"
    model = model_from_config(make_config("c3d-pose", preset), [f"class{i}" for i in range(21)])
    videos = sorted(p for p in realdata.iterdir() if p.suffix.lower() in jhmdb.VIDEO_EXTENSIONS)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench_predict_") as tmp:
        src = Path(tmp) / "in"
        for v in videos:
            frames = resize(jhmdb.read_video(v, max_frames=10 if smoke else None), SIZE)
            jhmdb.write_video(src / f"{v.stem}.avi", frames, fps=REAL_TIME_FPS)
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
