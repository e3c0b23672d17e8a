"""Pose estimators: one person's pose per RGB frame, and a clip's JHMDB-15 joints and mask.

``make_estimator(name)`` builds one from :data:`ESTIMATORS` (``mediapipe``, ``keypointrcnn``) or
from ``"package.module:ClassName"``, a user's own :class:`PoseEstimator` subclass (importable in
worker processes too). This module never reads datasets: :mod:`actionpose.extract.pipeline` does.
"""
from __future__ import annotations

import importlib
import os
import warnings
from pathlib import Path

import numpy as np

from actionpose.errors import PoseError
from actionpose.pose.skeletons import COCO17, JHMDB15, MEDIAPIPE33, Skeleton, to_jhmdb15

__all__ = [
    "PoseEstimator", "MediaPipePose", "KeypointRCNN", "ESTIMATORS", "make_estimator", "estimate_clip",
]

MASK_THRESHOLD = 0.5
POSE_EXTRA = "pip install actionpose[pose]  (mediapipe==0.10.14)"


class PoseEstimator:
    """One person's pose per RGB frame. Subclasses set ``skeleton`` and implement ``__call__``.

    ``__call__(frame)`` takes uint8 (H, W, 3) RGB and returns keypoints (K, 2) in 0-based
    pixels (NaN when no person), confidence (K,) in [0, 1] and a person mask (H, W) float in
    [0, 1] or None when the estimator has no segmentation. ``reset()`` forgets any tracking
    state (call it between clips); ``close()`` frees resources.
    """

    name = "base"
    skeleton: Skeleton = JHMDB15

    @property
    def options(self) -> dict:
        """The settings that change its output (recorded in each extracted clip's metadata)."""
        return {}

    def __call__(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        raise NotImplementedError

    def reset(self) -> None:
        """Forget tracking state (the next frame starts a new clip)."""

    def close(self) -> None:
        """Free resources."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @staticmethod
    def _check_frame(frame: np.ndarray) -> np.ndarray:
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise PoseError(f"a frame must be uint8 RGB (H, W, 3), got {frame.dtype} {frame.shape}")
        return np.ascontiguousarray(frame)

    def _no_person(self) -> tuple[np.ndarray, np.ndarray, None]:
        k = self.skeleton.num_joints
        return np.full((k, 2), np.nan, np.float32), np.zeros(k, np.float32), None


class MediaPipePose(PoseEstimator):
    """MediaPipe Pose (legacy ``solutions.pose``), 33 landmarks, tracking across frames.

    Only ``model_complexity=1`` ships inside the mediapipe wheel; 0 and 2 would download their
    model at first use, which fails offline, so they are refused up front.
    """

    name = "mediapipe"
    skeleton = MEDIAPIPE33

    def __init__(
        self,
        model_complexity: int = 1,
        *,
        static_image_mode: bool = False,
        enable_segmentation: bool = True,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
    ):
        if model_complexity != 1:
            raise PoseError(
                f"MediaPipe model_complexity={model_complexity} is not available offline: only "
                "model_complexity=1 (pose_landmark_full) ships in the mediapipe wheel; 0 and 2 "
                "are downloaded at first use. Use --model-complexity 1."
            )
        os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ log chatter
        try:
            import mediapipe as mp
        except ImportError as exc:
            raise PoseError(f"mediapipe is not installed ({exc}); install it with: {POSE_EXTRA}") from exc
        self.enable_segmentation = enable_segmentation
        self._options = {
            "model_complexity": model_complexity, "static_image_mode": static_image_mode,
            "min_detection_confidence": min_detection_confidence,
            "min_tracking_confidence": min_tracking_confidence,
        }
        self._pose = mp.solutions.pose.Pose(
            static_image_mode=static_image_mode,
            model_complexity=model_complexity,
            smooth_landmarks=True,
            enable_segmentation=enable_segmentation,
            smooth_segmentation=True,
            min_detection_confidence=min_detection_confidence,
            min_tracking_confidence=min_tracking_confidence,
        )

    def __call__(self, frame: np.ndarray):
        frame = self._check_frame(frame)
        H, W = frame.shape[:2]
        with warnings.catch_warnings():  # protobuf's deprecation notice from inside mediapipe
            warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype")
            result = self._pose.process(frame)
        if result.pose_landmarks is None:
            return self._no_person()
        lm = result.pose_landmarks.landmark
        xyv = np.array([(p.x, p.y, p.visibility) for p in lm], np.float32)  # normalised to [0, 1]
        # MediaPipe's normalised coordinates measure from the image's edge; 0-based pixel
        # coordinates measure from the first pixel's centre
        keypoints = np.stack([xyv[:, 0] * W - 0.5, xyv[:, 1] * H - 0.5], -1)
        confidence = np.clip(xyv[:, 2], 0.0, 1.0)
        mask = None
        if self.enable_segmentation and result.segmentation_mask is not None:
            mask = np.asarray(result.segmentation_mask, np.float32)
        return keypoints, confidence, mask

    @property
    def options(self) -> dict:
        return dict(self._options)

    def reset(self) -> None:
        self._pose.reset()

    def close(self) -> None:
        if getattr(self, "_pose", None) is not None:
            self._pose.close()
            self._pose = None


class KeypointRCNN(PoseEstimator):
    """torchvision's Keypoint R-CNN (ResNet-50 FPN, COCO-17), the highest-scoring person.

    Needs its COCO weights in the torch hub cache (``torch.hub.get_dir()/checkpoints``); this
    class never downloads. No segmentation: extraction rasterises the mask from the joints.
    """

    name = "keypointrcnn"
    skeleton = COCO17

    def __init__(self, *, min_score: float = 0.5, device: str = "cpu"):
        import torch
        from torchvision.models.detection import (
            KeypointRCNN_ResNet50_FPN_Weights,
            keypointrcnn_resnet50_fpn,
        )

        weights = KeypointRCNN_ResNet50_FPN_Weights.COCO_V1
        cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
        if not cached.is_file():
            raise PoseError(
                f"Keypoint R-CNN weights are not in the torch hub cache ({cached} is missing) and "
                f"this tool does not download; fetch them once online from {weights.url} into "
                f"{cached.parent}, or use --estimator mediapipe"
            )
        try:
            state = torch.load(cached, map_location="cpu", weights_only=True)
            model = keypointrcnn_resnet50_fpn(weights=None, weights_backbone=None)
            model.load_state_dict(state)
        except Exception as exc:  # a truncated or foreign file
            raise PoseError(f"{cached}: cannot load Keypoint R-CNN weights: {exc}") from exc
        self._torch = torch
        self.model = model.eval().to(device)
        self.device = device
        self.min_score = min_score

    @property
    def options(self) -> dict:
        return {"min_score": self.min_score}

    def __call__(self, frame: np.ndarray):
        frame = self._check_frame(frame)
        torch = self._torch
        x = torch.from_numpy(frame).permute(2, 0, 1).float().div(255).to(self.device)
        with torch.inference_mode():
            out = self.model([x])[0]
        keep = out["scores"] >= self.min_score
        if not bool(keep.any()):
            return self._no_person()
        best = int(torch.argmax(torch.where(keep, out["scores"], torch.zeros_like(out["scores"]))))
        keypoints = out["keypoints"][best, :, :2].cpu().numpy().astype(np.float32)
        # keypoint scores are heatmap logits; a sigmoid gives a usable [0, 1] confidence
        confidence = torch.sigmoid(out["keypoints_scores"][best]).cpu().numpy().astype(np.float32)
        return keypoints, confidence * float(out["scores"][best]), None


ESTIMATORS = {
    "mediapipe": lambda model_complexity: MediaPipePose(model_complexity=model_complexity),
    "keypointrcnn": lambda model_complexity: KeypointRCNN(),
}


def make_estimator(name: str = "mediapipe", *, model_complexity: int = 1) -> PoseEstimator:
    """An estimator of :data:`ESTIMATORS` by name, or ``"package.module:ClassName"`` built with no
    arguments (``model_complexity`` is MediaPipe's only)."""
    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            cls = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise PoseError(f"estimator {name!r}: cannot import {attr!r} from {module!r} ({exc})") from exc
        if not (isinstance(cls, type) and issubclass(cls, PoseEstimator)):
            raise PoseError(f"estimator {name!r} is not a PoseEstimator subclass")
        return cls()
    key = name.lower().replace("-", "").replace("_", "")
    if key not in ESTIMATORS:
        raise PoseError(
            f"unknown estimator {name!r}; choose {' or '.join(ESTIMATORS)} or give package.module:ClassName"
        )
    return ESTIMATORS[key](model_complexity)


def estimate_clip(
    estimator: PoseEstimator, frames: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run ``estimator`` over (T, H, W, 3) frames (tracking reset first).

    Returns JHMDB-15 joints (T, 15, 2) 0-based (NaN without a person), confidence (T, 15) and a
    person mask uint8 (T, H, W) in {0, 1}.
    """
    from actionpose.pose.render import masks_from_joints

    T, H, W = frames.shape[:3]
    estimator.reset()
    k = estimator.skeleton.num_joints
    points = np.full((T, k, 2), np.nan, np.float32)
    conf = np.zeros((T, k), np.float32)
    masks = np.zeros((T, H, W), np.uint8)
    need_mask = np.zeros(T, bool)
    for t, frame in enumerate(frames):
        kp, c, m = estimator(frame)
        points[t], conf[t] = kp, c
        if m is not None:
            masks[t] = m > MASK_THRESHOLD
        else:
            need_mask[t] = bool(np.isfinite(kp).all(-1).any())
    joints, joint_conf = to_jhmdb15(points, conf, source=estimator.skeleton)
    if need_mask.any():
        drawn = masks_from_joints(joints[need_mask], joint_conf[need_mask], frame_size=(H, W))
        masks[need_mask] = drawn.numpy().astype(np.uint8)
    return joints, joint_conf, masks
