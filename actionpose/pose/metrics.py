"""Accuracy of estimated pose: PCK (percentage of correct keypoints) against ground truth.

A predicted joint is correct when it lies within ``alpha x reference size`` of the ground truth.
Two reference sizes, per frame, from the ground-truth joints:

- ``bbox``: max(width, height) of the tight box around the frame's ground-truth joints — the
  usual JHMDB convention (Jhuang et al. 2013; PCK@0.2 in pose-estimation papers on JHMDB);
- ``torso``: the distance right shoulder - left hip, the torso diagonal used for torso-normalised
  PCK on LSP, Penn Action and JHMDB.

Only ground-truth joints that exist count (finite, confidence > 0), in frames whose reference
size is defined and positive; a missing prediction (NaN or confidence 0) there is a miss.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from actionpose.pose.skeletons import JHMDB15, Skeleton

__all__ = ["reference_size", "pck", "pck_table", "evaluate_on_jhmdb_clip", "NORMALISATIONS"]

NORMALISATIONS = ("bbox", "torso")


def reference_size(gt: np.ndarray, gt_valid: np.ndarray, *, norm: str, skeleton: Skeleton = JHMDB15) -> np.ndarray:
    """(T,) reference length per frame (NaN where undefined) for ground truth (T, J, 2)."""
    if norm == "bbox":
        g = np.where(gt_valid[..., None], gt, np.nan)
        with warnings.catch_warnings():  # frames without ground truth are all-NaN slices
            warnings.simplefilter("ignore", RuntimeWarning)
            extent = np.nanmax(g, axis=1) - np.nanmin(g, axis=1)  # (T, 2)
        return np.nanmax(extent, axis=1) if extent.size else np.zeros(0)
    if norm == "torso":
        a, b = skeleton.index("right_shoulder"), skeleton.index("left_hip")
        size = np.linalg.norm(gt[:, a] - gt[:, b], axis=-1)
        return np.where(gt_valid[:, a] & gt_valid[:, b], size, np.nan)
    raise ValueError(f"norm must be one of {NORMALISATIONS}, got {norm!r}")


def pck(
    pred: np.ndarray,
    gt: np.ndarray,
    *,
    alpha: float = 0.2,
    norm: str = "bbox",
    pred_conf: np.ndarray | None = None,
    gt_conf: np.ndarray | None = None,
    skeleton: Skeleton = JHMDB15,
) -> dict:
    """PCK@alpha of predictions (T, J, 2) against ground truth (T, J, 2), same pixel frame.

    Returns ``{"per_joint": (J,) fraction correct (NaN where a joint never counts),
    "overall": correct / counted over all joints, "counted": (J,) ints, "correct": (J,) ints}``.
    """
    pred = np.asarray(pred, np.float64)
    gt = np.asarray(gt, np.float64)
    if pred.shape != gt.shape or gt.ndim != 3 or gt.shape[-1] != 2:
        raise ValueError(f"pred and gt must both be (T, J, 2), got {pred.shape} and {gt.shape}")
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    gt_valid = np.isfinite(gt).all(-1)
    if gt_conf is not None:
        gt_valid &= np.asarray(gt_conf).reshape(gt_valid.shape) > 0
    pred_valid = np.isfinite(pred).all(-1)
    if pred_conf is not None:
        pred_valid &= np.asarray(pred_conf).reshape(pred_valid.shape) > 0
    size = reference_size(gt, gt_valid, norm=norm, skeleton=skeleton)
    counted = gt_valid & (np.isfinite(size) & (size > 0))[:, None]
    with np.errstate(invalid="ignore"):
        dist = np.linalg.norm(pred - gt, axis=-1)
        correct = counted & pred_valid & (dist <= alpha * size[:, None])
    n = counted.sum(0)
    c = correct.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_joint = np.where(n > 0, c / np.maximum(n, 1), np.nan)
    overall = float(c.sum() / n.sum()) if n.sum() else float("nan")
    return {"per_joint": per_joint, "overall": overall, "counted": n, "correct": c}


def pck_table(
    pred: np.ndarray,
    gt: np.ndarray,
    *,
    alphas: tuple[float, ...] = (0.2, 0.1),
    norms: tuple[str, ...] = NORMALISATIONS,
    pred_conf: np.ndarray | None = None,
    gt_conf: np.ndarray | None = None,
    skeleton: Skeleton = JHMDB15,
):
    """A pandas DataFrame: one row per joint plus "overall", one column "PCK@alpha (norm)" each."""
    import pandas as pd

    columns = {}
    for norm in norms:
        for alpha in alphas:
            r = pck(pred, gt, alpha=alpha, norm=norm, pred_conf=pred_conf, gt_conf=gt_conf, skeleton=skeleton)
            columns[f"PCK@{alpha:g} ({norm})"] = list(r["per_joint"]) + [r["overall"]]
    return pd.DataFrame(columns, index=list(skeleton.joints) + ["overall"])


def evaluate_on_jhmdb_clip(
    root: str | Path,
    cls: str,
    video: str,
    *,
    estimator=None,
    alphas: tuple[float, ...] = (0.2, 0.1),
) -> dict:
    """Run a pose estimator (default MediaPipe) on a JHMDB clip's frames and score it.

    Returns ``{"table": DataFrame (joints + overall) x PCK columns, "frames": T,
    "person_frames": frames where a person was found, "pred": (T, 15, 2), "pred_conf": (T, 15),
    "gt": (T, 15, 2)}``; the frames are the clip's ``Rename_Images`` PNGs (or its video).
    """
    from actionpose.data import jhmdb
    from actionpose.pose.estimate import MediaPipePose, estimate_clip

    folder = jhmdb.frames_dir(root, cls, video)
    frames = jhmdb.read_frames(folder) if folder.is_dir() else jhmdb.read_video(jhmdb.video_path(root, cls, video))
    joints_file = jhmdb.read_joints(jhmdb.joints_path(root, cls, video))
    gt = joints_file.joints_xy()
    if gt.shape[0] != frames.shape[0]:
        from actionpose.errors import DataError

        raise DataError(
            jhmdb.joints_path(root, cls, video),
            f"{gt.shape[0]} frames of joints for {frames.shape[0]} frames of video",
        )
    own = estimator is None
    estimator = MediaPipePose() if own else estimator
    try:
        pred, pred_conf, _ = estimate_clip(estimator, frames)
    finally:
        if own:
            estimator.close()
    table = pck_table(pred, gt, alphas=alphas, pred_conf=pred_conf, gt_conf=joints_file.joint_confidence())
    return {
        "table": table,
        "frames": int(frames.shape[0]),
        "person_frames": int((pred_conf.max(1) > 0).sum()),
        "pred": pred,
        "pred_conf": pred_conf,
        "gt": gt,
    }
