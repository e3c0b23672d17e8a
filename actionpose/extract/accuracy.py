"""Accuracy of a pose estimator on a JHMDB clip: its PCK against the clip's annotated joints."""
from __future__ import annotations

from pathlib import Path

from actionpose.data import jhmdb
from actionpose.errors import DataError
from actionpose.extract.estimators import MediaPipePose, estimate_clip
from actionpose.pose.metrics import pck_table

__all__ = ["evaluate_on_jhmdb_clip"]


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
    folder = jhmdb.frames_dir(root, cls, video)
    frames = jhmdb.read_frames(folder) if folder.is_dir() else jhmdb.read_video(jhmdb.video_path(root, cls, video))
    joints_file = jhmdb.read_joints(jhmdb.joints_path(root, cls, video))
    gt = joints_file.joints_xy()
    if gt.shape[0] != frames.shape[0]:
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
