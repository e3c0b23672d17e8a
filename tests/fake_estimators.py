"""Fast stand-in pose estimators for extraction tests (``--estimator tests.fake_estimators:Still``).

They import from a spawned worker too, since workers inherit the parent's ``sys.path``.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from actionpose.extract.estimators import PoseEstimator
from actionpose.pose.skeletons import JHMDB15

# a standing person in unit coordinates (x, y), JHMDB-15 order
_PERSON = np.array([
    (0.50, 0.25), (0.50, 0.50), (0.50, 0.15), (0.42, 0.28), (0.58, 0.28), (0.45, 0.55),
    (0.55, 0.55), (0.38, 0.40), (0.62, 0.40), (0.45, 0.72), (0.55, 0.72), (0.36, 0.50),
    (0.64, 0.50), (0.45, 0.90), (0.55, 0.90),
], np.float32)


class Still(PoseEstimator):
    """The same standing person in every frame, shifted by the frame's mean brightness."""

    name = "still"
    skeleton = JHMDB15

    def __call__(self, frame):
        frame = self._check_frame(frame)
        H, W = frame.shape[:2]
        shift = (float(frame.mean()) / 255.0 - 0.5) * 0.1
        keypoints = (_PERSON + shift) * np.array([W, H], np.float32)
        return keypoints.astype(np.float32), np.ones(15, np.float32), None


class Slow(Still):
    """:class:`Still` that sleeps per frame and writes its pid into ``$FAKE_POSE_PIDS``."""

    name = "slow"

    def __init__(self):
        folder = os.environ.get("FAKE_POSE_PIDS")
        if folder:
            Path(folder, str(os.getpid())).touch()

    def __call__(self, frame):
        time.sleep(0.2)
        return super().__call__(frame)


class Other(Still):
    """:class:`Still` with a setting: extraction records it in each clip's options."""

    name = "other"

    @property
    def options(self) -> dict:
        return {"shift": 0.1}
