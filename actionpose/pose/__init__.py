"""Pose: skeletons, heatmaps and masks from joints, background weakening, PCK.

The bottom layer: it never imports ``actionpose.data``. Estimating pose from videos (MediaPipe,
Keypoint R-CNN, ``pose extract``) is :mod:`actionpose.extract`, above ``data``. Submodules load
on first use (``import actionpose.pose.skeletons`` does not import torch).
"""
from __future__ import annotations

import importlib

_LAZY = {
    "actionpose.pose.metrics": ("pck", "pck_table"),
    "actionpose.pose.render": ("heatmap_peaks", "masks_from_joints", "render_heatmaps", "scale_points",
                               "weaken_background"),
    "actionpose.pose.skeletons": ("COCO17", "JHMDB15", "MEDIAPIPE33", "SKELETONS", "Skeleton",
                                  "jhmdb15_weights", "to_jhmdb15"),
}
_HOME = {name: module for module, names in _LAZY.items() for name in names}

__all__ = [
    "COCO17", "JHMDB15", "MEDIAPIPE33", "SKELETONS", "Skeleton", "jhmdb15_weights", "to_jhmdb15",
    "heatmap_peaks", "masks_from_joints", "render_heatmaps", "scale_points", "weaken_background",
    "pck", "pck_table",
]


def __getattr__(name: str):
    if name in _HOME:
        return getattr(importlib.import_module(_HOME[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
