"""Pose: skeletons, heatmaps and masks from joints, background weakening, PCK.

The bottom layer: it never imports ``actionpose.data``. Estimating pose from videos (MediaPipe,
Keypoint R-CNN, ``pose extract``) is :mod:`actionpose.extract`, above ``data``.
"""
from actionpose.pose.metrics import pck, pck_table
from actionpose.pose.render import (
    heatmap_peaks,
    masks_from_joints,
    render_heatmaps,
    scale_points,
    weaken_background,
)
from actionpose.pose.skeletons import (
    COCO17,
    JHMDB15,
    MEDIAPIPE33,
    SKELETONS,
    Skeleton,
    jhmdb15_weights,
    to_jhmdb15,
)

__all__ = [
    "COCO17", "JHMDB15", "MEDIAPIPE33", "SKELETONS", "Skeleton", "jhmdb15_weights", "to_jhmdb15",
    "heatmap_peaks", "masks_from_joints", "render_heatmaps", "scale_points", "weaken_background",
    "pck", "pck_table",
]
