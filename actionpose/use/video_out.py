"""The annotated video of ``predict --out``: the person mask or skeleton drawn, and the top-3
classes with their probabilities at each frame (mean of the windows covering it).

H.264 (yuv420p, browser-playable) through imageio-ffmpeg's bundled ffmpeg when installed
(``pip install actionpose[video]``); otherwise OpenCV's mp4v, which browsers may not play (a
note says so). Written to a temporary file first: an interrupted write leaves nothing behind.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from actionpose.io import atomic_path

__all__ = ["draw_frame", "frame_probabilities", "write_annotated", "write_mp4"]

MASK_COLOR = np.array([40, 200, 80], np.float32)
LIMB_COLOR = (255, 200, 0)


def frame_probabilities(num_frames: int, spans, window_probs: np.ndarray) -> np.ndarray:
    """(T, K): at each frame the mean probabilities of the windows that cover it."""
    total = np.zeros((num_frames, window_probs.shape[1]))
    count = np.zeros((num_frames, 1))
    for (s, e), p in zip(spans, window_probs):
        total[s:e] += p
        count[s:e] += 1
    return total / np.maximum(count, 1)


def draw_frame(frame: np.ndarray, probs: np.ndarray, classes, *, mask=None, joints=None,
               confidence=None) -> np.ndarray:
    """One annotated RGB frame: mask tint, skeleton, and the top-3 labels in a box."""
    import cv2

    from actionpose.pose.skeletons import JHMDB15

    img = frame.copy()
    if mask is not None and mask.any():
        m = mask.astype(bool)
        img[m] = (0.6 * img[m] + 0.4 * MASK_COLOR).astype(np.uint8)
    if joints is not None:
        ok = np.isfinite(joints).all(-1) & (confidence > 0)
        for a, b in JHMDB15.limbs:
            if ok[a] and ok[b]:
                cv2.line(img, tuple(int(v) for v in joints[a]), tuple(int(v) for v in joints[b]),
                         LIMB_COLOR, 2, cv2.LINE_AA)
        for j in np.flatnonzero(ok):
            cv2.circle(img, tuple(int(v) for v in joints[j]), 3, (255, 60, 60), -1, cv2.LINE_AA)
    scale = max(0.35, img.shape[0] / 600)
    order = np.argsort(-probs, kind="stable")[:3]
    lines = [f"{classes[i]} {probs[i]:.2f}" for i in order]
    line_h = int(22 * scale) + 4
    width = max(cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] for t in lines) + 10
    cv2.rectangle(img, (0, 0), (min(width, img.shape[1] - 1), line_h * len(lines) + 4), (0, 0, 0), -1)
    for k, text in enumerate(lines):
        cv2.putText(img, text, (5, line_h * (k + 1)), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (255, 255, 255), 1, cv2.LINE_AA)
    return img


def write_mp4(path: str | Path, frames, size: tuple[int, int], fps: float) -> str:
    """Write RGB frames (an iterable of uint8 (H, W, 3)) as MP4; returns the codec used."""
    path = Path(path)
    h, w = size
    try:
        import imageio_ffmpeg
    except ImportError:
        imageio_ffmpeg = None
    if imageio_ffmpeg is not None:
        with atomic_path(path) as tmp:
            writer = imageio_ffmpeg.write_frames(
                str(tmp), (w, h), fps=fps, codec="libx264", pix_fmt_out="yuv420p", macro_block_size=1,
                output_params=["-f", "mp4", "-movflags", "+faststart"], ffmpeg_log_level="error")
            writer.send(None)
            try:
                for f in frames:
                    writer.send(np.ascontiguousarray(f))
            finally:
                writer.close()
        return "h264"
    from actionpose.data.jhmdb import write_video

    write_video(path, frames, fps, fourcc="mp4v")
    print(f"note: {path} is MPEG-4 part 2 (mp4v), which browsers may not play; "
          "pip install actionpose[video] for H.264", file=sys.stderr)
    return "mp4v"


def write_annotated(path, frames: np.ndarray, fps: float, pose, spans, window_probs, classes) -> dict:
    """Draw every frame (with the pose, when it was estimated) and write the video at ``path``;
    returns {path, codec, frames}."""
    T, H, W = frames.shape[:3]
    even_h, even_w = H - H % 2, W - W % 2  # yuv420p needs even sides
    probs = frame_probabilities(T, spans, window_probs)

    def drawn():
        for t in range(T):
            kw = {} if pose is None else dict(mask=pose.masks[t], joints=pose.joints[t],
                                              confidence=pose.confidence[t])
            yield draw_frame(frames[t], probs[t], classes, **kw)[:even_h, :even_w]

    codec = write_mp4(path, drawn(), (even_h, even_w), fps)
    return {"path": str(path), "codec": codec, "frames": T}
