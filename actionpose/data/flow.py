"""Dense optical flow (OpenCV Farneback) between consecutive frames of a clip."""
from __future__ import annotations

import numpy as np
import torch

# OpenCV's Farneback parameters as used by the two-stream literature's CPU baselines
FARNEBACK = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0)


def _gray(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB -> (T, H, W) uint8 luma (ITU-R 601, as cv2.COLOR_RGB2GRAY)."""
    w = np.array([0.299, 0.587, 0.114], np.float32)
    return np.clip(frames.astype(np.float32) @ w + 0.5, 0, 255).astype(np.uint8)


def farneback_flow(frames: np.ndarray | torch.Tensor, **params) -> torch.Tensor:
    """Flow between consecutive frames: (T, H, W, 3) uint8 RGB (or (T, H, W) gray) ->
    float32 (2, T-1, H, W), channel 0 = dx (columns), 1 = dy (rows), in pixels.

    A clip of one frame gives an empty (2, 0, H, W) tensor.
    """
    import cv2

    arr = frames.numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    if arr.dtype != np.uint8 or arr.ndim not in (3, 4) or (arr.ndim == 4 and arr.shape[-1] != 3):
        raise ValueError(f"frames must be uint8 (T, H, W, 3) or (T, H, W), got {arr.dtype} {arr.shape}")
    gray = _gray(arr) if arr.ndim == 4 else arr
    T, H, W = gray.shape
    opts = {**FARNEBACK, **params}
    flow = np.empty((max(T - 1, 0), H, W, 2), np.float32)
    for t in range(T - 1):
        flow[t] = cv2.calcOpticalFlowFarneback(gray[t], gray[t + 1], None, **opts)
    return torch.from_numpy(flow).permute(3, 0, 1, 2).contiguous()


__all__ = ["FARNEBACK", "farneback_flow"]
