"""Pose: skeletons, heatmaps and masks from joints, background weakening, extraction, PCK.

``actionpose.pose.estimate`` (MediaPipe, Keypoint R-CNN, ``extract``) is imported on use so that
this package does not load mediapipe.
"""
from actionpose.pose.metrics import evaluate_on_jhmdb_clip, pck, pck_table
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
    "evaluate_on_jhmdb_clip", "pck", "pck_table",
]
