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

import numpy as np

from actionpose.errors import ConfigError
from actionpose.pose.skeletons import JHMDB15, Skeleton

__all__ = ["reference_size", "pck", "pck_table", "NORMALISATIONS"]

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
    raise ConfigError(f"norm must be one of {NORMALISATIONS}, got {norm!r}")


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
        raise ConfigError(f"alpha must be > 0, got {alpha}")
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
