"""Predict actions in any video with a trained run or an exported model.

``actionpose predict RUN INPUT`` (INPUT as in ``pose extract``: a video, a folder of videos, or
a folder of frames). Each video is cut into sliding windows of ``window`` frames (``stride``
apart, the last one ending at the last frame); each window is sampled to the model's clip
length as test clips are (TSN segments) and preprocessed as in training: the full frame resized,
ImageNet-normalised. Pose, when the model reads it, is estimated on the fly as ``pose extract``
does (frames without a person: empty mask, NaN joints). A video's scores are the mean of its
windows' softmax. ``actionpose.predict(run, input)`` returns what ``--json`` writes under
"videos".
"""
from __future__ import annotations

import csv
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from actionpose.errors import ActionposeError, DataError
from actionpose.io import atomic_path, write_json

__all__ = ["DEFAULT_WINDOW", "Pose", "read_clip", "estimate_pose", "window_starts", "window_inputs",
           "predict_frames", "predict", "main"]

DEFAULT_WINDOW = 32  # about one second of video, the length of a typical JHMDB clip
BATCH = 8


@dataclass
class Pose:
    """Estimated pose of a video: JHMDB-15 ``joints`` (T, 15, 2) 0-based pixels, NaN without a
    person; ``confidence`` (T, 15); ``masks`` uint8 (T, H, W) in {0, 1}."""

    joints: np.ndarray
    confidence: np.ndarray
    masks: np.ndarray

    @property
    def person_fraction(self) -> float:
        return float((self.confidence.max(1) > 0).mean()) if len(self.confidence) else 0.0


def read_clip(src, max_side: int | None = 640, max_frames: int | None = None
              ) -> tuple[np.ndarray, float, str | None]:
    """(frames uint8 (T, H, W, 3), fps, warning) of a ``ClipSource``: at most ``max_frames``,
    downscaled to ``max_side``; the warning says when fewer frames decode than the header claims."""
    from actionpose.extract.sources import header_frames, read_source, resize

    frames = read_source(src, max_frames)
    fps, warning = 30.0, None
    if src.kind == "video":
        import cv2

        cap = cv2.VideoCapture(str(src.path))
        fps = float(cap.get(cv2.CAP_PROP_FPS)) or fps
        cap.release()
        claimed = header_frames(src.path)
        if claimed is not None and len(frames) < min(claimed, max_frames or claimed):
            warning = f"the header claims {claimed} frames but only {len(frames)} decode (truncated?)"
    h, w = frames.shape[1:3]
    if max_side is not None and max(h, w) > max_side:
        scale = max_side / max(h, w)
        frames = resize(frames, (max(2, round(h * scale)), max(2, round(w * scale))))
    return frames, fps, warning


def estimate_pose(frames: np.ndarray, estimator) -> Pose:
    """Pose of every frame with ``estimator`` (a ``PoseEstimator``), as extraction does."""
    from actionpose.extract.estimators import estimate_clip

    return Pose(*estimate_clip(estimator, frames))


def window_starts(num_frames: int, window: int, stride: int) -> list[int]:
    """Window starts covering ``num_frames`` frames; one window when the video is shorter."""
    last = max(num_frames - window, 0)
    starts = list(range(0, last + 1, stride))
    if starts[-1] != last:
        starts.append(last)
    return starts


def window_inputs(spec, frames: np.ndarray, pose: Pose | None, span: tuple[int, int]) -> dict[str, torch.Tensor]:
    """The model inputs (no batch axis) for frames ``span`` = (start, end) of a video: sampled
    to the model's clip length and preprocessed by the test clips' transform (whole frame)."""
    from actionpose.data.clips import to_float_inputs
    from actionpose.data.transforms import Clip, ClipTransform
    from actionpose.pose.skeletons import JHMDB15

    transform = ClipTransform.standard(train=False, num_frames=spec.num_frames, size=tuple(spec.size),
                                       heatmap_size=spec.heatmap_size, heatmap_sigma=spec.heatmap_sigma,
                                       uint8=True)
    start, end = span
    idx = start + transform.sample.indices(end - start, 0, None)
    wanted = {"video": "frames", "flow": "frames", "mask": "mask", "heatmaps": "joints", "joints": "joints",
              "joint_conf": "joints"}
    clip = Clip(frame_size=tuple(frames.shape[1:3]), wanted=tuple({wanted[n] for n in spec.inputs}),
                frames=torch.from_numpy(frames[idx]).permute(0, 3, 1, 2),
                flip_permutation=tuple(JHMDB15.flip_permutation()))
    if pose is not None:
        clip.mask = torch.from_numpy(pose.masks[idx] * np.uint8(255))[:, None]
        clip.joints, clip.conf = pose.joints[idx], pose.confidence[idx]
    out = transform(clip, None)
    if "flow" in spec.inputs:
        from actionpose.data.flow import farneback_flow

        out["flow"] = farneback_flow(out["video"].permute(1, 2, 3, 0).contiguous().numpy())
    out = to_float_inputs(out)
    return {k: out[k].float() for k in spec.inputs}  # joints: float32 like the model's weights


def predict_frames(model, frames: np.ndarray, pose: Pose | None, *, window: int = DEFAULT_WINDOW,
                   stride: int | None = None) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """(video probabilities (K,), window probabilities (N, K), window spans [(start, end)])."""
    spec = model.spec
    T = len(frames)
    stride = stride or max(1, window // 2)
    spans = [(s, min(s + window, T)) for s in window_starts(T, window, stride)]
    probs = []
    for i in range(0, len(spans), BATCH):
        items = [window_inputs(spec, frames, pose, span) for span in spans[i:i + BATCH]]
        batch = {k: torch.stack([it[k] for it in items]) for k in spec.inputs}
        probs.append(model.logits(batch).float().softmax(1))
    window_probs = torch.cat(probs).numpy()
    return window_probs.mean(0), window_probs, spans


def _top(probs: np.ndarray, classes, k: int) -> list[dict[str, Any]]:
    order = np.argsort(-probs, kind="stable")[:k]
    return [{"label": classes[i], "probability": round(float(probs[i]), 6)} for i in order]


def predict(run, input, *, top_k: int = 5, window: int = DEFAULT_WINDOW, stride: int | None = None,
            estimator: str = "mediapipe", max_side: int | None = 640, max_frames: int | None = None,
            device: str = "cpu",
            annotate: str | Path | None = None, skipped: list | None = None) -> list[dict[str, Any]]:
    """Predictions for every video under ``input`` with ``run`` (a run folder, an exported FILE
    or a loaded model). Each: video, frames, fps, person_fraction, top_k [{label, probability}],
    windows [{start, end, top_k}] and probabilities (every class). ``annotate``: write the
    annotated video of a single input there. Videos that cannot be read go to ``skipped``
    [(path, reason)] when a folder is given; a single bad video is an error."""
    from actionpose.extract.sources import find_clips
    from actionpose.use.model import LoadedModel, load_model

    model = run if isinstance(run, LoadedModel) else load_model(run, device=device)
    spec = model.spec
    if window < 1 or (stride is not None and stride < 1):
        raise DataError(None, f"window and stride must be >= 1, got {window} and {stride}")
    sources, ignored = find_clips(input)
    skipped = skipped if skipped is not None else []
    skipped.extend(ignored)
    if annotate is not None and Path(annotate).suffix.lower() != ".mp4":
        raise DataError(Path(annotate), "the annotated video must be an .mp4 file")
    if annotate is not None and len(sources) != 1:
        raise DataError(Path(input), f"--out draws one video; the input holds {len(sources)}")
    est = None
    results = []
    try:
        for src in sources:
            t0 = time.perf_counter()
            try:
                frames, fps, warning = read_clip(src, max_side, max_frames)
            except ActionposeError as exc:
                if len(sources) == 1:
                    raise
                skipped.append((str(src.path), str(exc)))
                continue
            if spec.pose_needed and est is None:  # after the first read: a bad video fails fast
                from actionpose.extract.estimators import make_estimator

                est = make_estimator(estimator)
            pose = estimate_pose(frames, est) if est is not None else None
            probs, window_probs, spans = predict_frames(model, frames, pose, window=window, stride=stride)
            result = {
                "video": str(src.path), "name": src.video, "frames": len(frames), "fps": fps,
                "warning": warning,
                "size": list(frames.shape[1:3]),
                "person_fraction": None if pose is None else pose.person_fraction,
                "top_k": _top(probs, spec.classes, top_k),
                "probabilities": {c: float(p) for c, p in zip(spec.classes, probs)},
                "windows": [{"start": s, "end": e, "top_k": _top(p, spec.classes, top_k),
                             "probabilities": [float(v) for v in p]}
                            for (s, e), p in zip(spans, window_probs)],
            }
            if annotate is not None:
                from actionpose.use.video_out import write_annotated

                result["annotated"] = write_annotated(annotate, frames, fps, pose, spans, window_probs,
                                                      spec.classes)
            result["seconds"] = time.perf_counter() - t0
            results.append(result)
    finally:
        if est is not None:
            est.close()
    if not results:
        raise DataError(Path(input), "no video could be read: "
                        + "; ".join(f"{p}: {r}" for p, r in skipped[:3]))
    return results


def write_csv(path: str | Path, results: list[dict[str, Any]], classes) -> None:
    """One row per window (and one per video, window "all") with every class's probability."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["video", "window", "start_frame", "end_frame", "top1", *[f"p_{c}" for c in classes]])
            for r in results:
                probs = [r["probabilities"][c] for c in classes]
                w.writerow([r["video"], "all", 0, r["frames"], r["top_k"][0]["label"],
                            *[f"{p:.6f}" for p in probs]])
                for i, win in enumerate(r["windows"]):
                    w.writerow([r["video"], i, win["start"], win["end"], win["top_k"][0]["label"],
                                *[f"{p:.6f}" for p in win["probabilities"]]])


def quiet_ffmpeg() -> None:
    """Silence FFmpeg's own log (e.g. "moov atom not found"), which would precede the one-line
    error about an unreadable video; effective before OpenCV opens its first video."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


def main(args) -> int:
    """CLI handler of ``actionpose predict``."""
    from actionpose.use.model import load_model

    quiet_ffmpeg()

    model = load_model(args.run, device=args.device)
    skipped: list = []
    results = predict(model, args.input, top_k=args.top_k, window=args.window or DEFAULT_WINDOW,
                      stride=args.stride, estimator=args.estimator, max_side=args.max_side,
                      max_frames=args.max_frames,
                      annotate=args.out, skipped=skipped)
    if args.json:
        write_json(args.json, {"model": str(model.source), "experiment": model.spec.experiment,
                               "classes": list(model.spec.classes), "videos": results,
                               "skipped": skipped})
    if args.csv:
        write_csv(args.csv, results, model.spec.classes)
    width = max(len(r["name"]) for r in results)
    for r in results:
        tops = "  ".join(f"{t['label']} {t['probability']:.3f}" for t in r["top_k"])
        person = "" if r["person_fraction"] is None else f", person in {r['person_fraction']:.0%}"
        print(f"{r['name']:<{width}}  {tops}   ({r['frames']} frames, {len(r['windows'])} window(s)"
              f"{person}, {r['frames'] / r['seconds']:.1f} frames/s)")
    for r in results:
        if r["warning"]:
            print(f"warning: {r['video']}: {r['warning']}", file=sys.stderr)
    for path, reason in skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    return 0
