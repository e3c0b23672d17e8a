"""Embedded worlds with estimated pose in place of the annotated one.

``actors-estimated`` is the real-actor composite's frames, labels and splits with the pose a
real estimator (MediaPipe) reads off those frames (built by :mod:`actionpose.extract.estimated`:
``pose extract`` over the composite's tree). A model that reads no pose sees exactly what it
sees on ``actors`` (the frames are re-written losslessly), so its runs there serve both
(:func:`frames_dataset`). How far the estimated masks are from the annotated ones
(:func:`mask_agreement`, in the knob's units) is kept in the tree's :data:`MARKER`.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from actionpose.errors import DataError
from actionpose.pose.knob import ESTIMATED, frames_dataset  # which datasets, defined with the knob

__all__ = ["ESTIMATED", "MARKER", "ESTIMATOR", "frames_dataset", "pose_source", "mask_agreement"]

MARKER = "pose_source.json"  # written last: the tree is complete
ESTIMATOR = "mediapipe"


def pose_source(root: str | Path) -> dict:
    """``{"pose_source": MARKER's record}`` for a world with estimated pose (how it was built and
    its agreement with the annotation: a run's summary keeps it), else ``{}``."""
    path = Path(root) / MARKER
    if not path.is_file():
        return {}
    try:
        return {"pose_source": json.loads(path.read_text())}
    except (OSError, ValueError) as exc:
        raise DataError(path, f"unreadable record of the estimated pose ({exc})") from None


def mask_agreement(annotated: Path, estimated: Path, clips: list[tuple[str, str]]) -> dict:
    """Estimated person masks against the annotated ones, in the pose-quality knob's units:
    ``iou`` over every frame; ``miss_rate``, the share of frames with an annotated person where
    the estimate is empty; ``estimated_person_fraction``, the share of frames with an estimate;
    ``mask_change``, the mean boundary shift per clip over the person's height (the annotated
    mask's mean box height: these clips have no annotated joints)."""
    import torch

    from actionpose.data import jhmdb
    from actionpose.pose.quality import mask_error

    inter = union = person = missed = found = frames = 0
    changes = []
    for cls, video in clips:
        true = jhmdb.read_mask(jhmdb.mask_path(annotated, cls, video)) > 0  # (H, W, T)
        est = jhmdb.read_mask(jhmdb.mask_path(estimated, cls, video)) > 0
        if true.shape != est.shape:
            raise DataError(jhmdb.mask_path(estimated, cls, video),
                            f"mask shape {est.shape} differs from the annotated {true.shape}")
        inter += int((true & est).sum())
        union += int((true | est).sum())
        has = true.any((0, 1))
        person += int(has.sum())
        missed += int((has & ~est.any((0, 1))).sum())
        found += int(est.any((0, 1)).sum())
        frames += true.shape[-1]
        rows = true.any(1)  # (H, T)
        heights = [np.ptp(np.flatnonzero(rows[:, t])) + 1 for t in np.flatnonzero(has)]
        if heights:
            t_true = torch.from_numpy(np.moveaxis(true, -1, 0).astype(np.float32))
            t_est = torch.from_numpy(np.moveaxis(est, -1, 0).astype(np.float32))
            change = mask_error(t_est, t_true, float(np.mean(heights)))["mask_change"]
            if np.isfinite(change):
                changes.append(change)
    return {"iou": inter / union if union else float("nan"),
            "miss_rate": missed / person if person else float("nan"),
            "mask_change": float(np.mean(changes)) if changes else float("nan"),
            "estimated_person_fraction": found / frames if frames else float("nan"),
            "frames_with_person": person, "frames": frames, "clips": len(clips)}
