"""Skeleton definitions. JHMDB-15 is the package's common joint set."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from actionpose.errors import ConfigError


@dataclass(frozen=True)
class Skeleton:
    """A joint set: names in order, limbs (index pairs) and left/right pairs for flips."""

    name: str
    joints: tuple[str, ...]
    limbs: tuple[tuple[int, int], ...]
    flip_pairs: tuple[tuple[int, int], ...]

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    def index(self, joint: str) -> int:
        return self.joints.index(joint)

    def flip_permutation(self) -> list[int]:
        """Index map for a horizontal flip: new joint i takes old joint perm[i]."""
        perm = list(range(self.num_joints))
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return perm


JHMDB15 = Skeleton(
    name="jhmdb15",
    joints=(
        "neck", "belly", "face",
        "right_shoulder", "left_shoulder",
        "right_hip", "left_hip",
        "right_elbow", "left_elbow",
        "right_knee", "left_knee",
        "right_wrist", "left_wrist",
        "right_ankle", "left_ankle",
    ),
    limbs=(
        (0, 2), (0, 1),            # neck-face, neck-belly
        (0, 3), (0, 4),            # neck-shoulders
        (1, 5), (1, 6),            # belly-hips
        (3, 7), (7, 11),           # right arm
        (4, 8), (8, 12),           # left arm
        (5, 9), (9, 13),           # right leg
        (6, 10), (10, 14),         # left leg
    ),
    flip_pairs=((3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14)),
)


COCO17 = Skeleton(
    name="coco17",
    joints=(
        "nose", "left_eye", "right_eye", "left_ear", "right_ear",
        "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
        "left_wrist", "right_wrist", "left_hip", "right_hip",
        "left_knee", "right_knee", "left_ankle", "right_ankle",
    ),
    limbs=(
        (0, 1), (0, 2), (1, 3), (2, 4),          # face
        (5, 6), (5, 11), (6, 12), (11, 12),      # torso
        (5, 7), (7, 9), (6, 8), (8, 10),         # arms
        (11, 13), (13, 15), (12, 14), (14, 16),  # legs
    ),
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
)

MEDIAPIPE33 = Skeleton(
    name="mediapipe33",
    joints=(
        "nose",
        "left_eye_inner", "left_eye", "left_eye_outer",
        "right_eye_inner", "right_eye", "right_eye_outer",
        "left_ear", "right_ear", "mouth_left", "mouth_right",
        "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
        "left_wrist", "right_wrist", "left_pinky", "right_pinky",
        "left_index", "right_index", "left_thumb", "right_thumb",
        "left_hip", "right_hip", "left_knee", "right_knee",
        "left_ankle", "right_ankle", "left_heel", "right_heel",
        "left_foot_index", "right_foot_index",
    ),
    # the connections of mediapipe.solutions.pose.POSE_CONNECTIONS
    limbs=(
        (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10),
        (11, 12), (11, 13), (13, 15), (15, 17), (15, 19), (15, 21), (17, 19),
        (12, 14), (14, 16), (16, 18), (16, 20), (16, 22), (18, 20),
        (11, 23), (12, 24), (23, 24), (23, 25), (24, 26), (25, 27), (26, 28),
        (27, 29), (28, 30), (29, 31), (30, 32), (27, 31), (28, 32),
    ),
    flip_pairs=(
        (1, 4), (2, 5), (3, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16), (17, 18),
        (19, 20), (21, 22), (23, 24), (25, 26), (27, 28), (29, 30), (31, 32),
    ),
)

SKELETONS: dict[str, Skeleton] = {s.name: s for s in (JHMDB15, COCO17, MEDIAPIPE33)}

# How each JHMDB-15 joint is made from a source skeleton's joints: a weighted mean of named
# joints. JHMDB's neck sits at the middle of the shoulders, its belly about halfway between the
# middle of the shoulders and the middle of the hips (0.43 of the way on the real JHMDB clip),
# its face at the head's centre, for which the nose is the closest single landmark.
_MID_SHOULDERS = {"left_shoulder": 0.5, "right_shoulder": 0.5}
_BELLY = {"left_shoulder": 0.25, "right_shoulder": 0.25, "left_hip": 0.25, "right_hip": 0.25}
_TO_JHMDB15_RECIPE: dict[str, dict[str, float]] = {
    "neck": _MID_SHOULDERS,
    "belly": _BELLY,
    "face": {"nose": 1.0},
    **{
        f"{side}_{part}": {f"{side}_{part}": 1.0}
        for side in ("right", "left")
        for part in ("shoulder", "hip", "elbow", "knee", "wrist", "ankle")
    },
}


def _skeleton(source: str | Skeleton) -> Skeleton:
    if isinstance(source, Skeleton):
        return source
    try:
        return SKELETONS[source]
    except KeyError:
        raise ConfigError(f"unknown skeleton {source!r}; have {sorted(SKELETONS)}") from None


def jhmdb15_weights(source: str | Skeleton) -> np.ndarray:
    """(15, K) matrix W such that JHMDB-15 joints = W @ source joints (rows sum to 1)."""
    skeleton = _skeleton(source)
    weights = np.zeros((JHMDB15.num_joints, skeleton.num_joints), np.float64)
    if skeleton.name == JHMDB15.name:
        return np.eye(JHMDB15.num_joints)
    for i, joint in enumerate(JHMDB15.joints):
        for name, w in _TO_JHMDB15_RECIPE[joint].items():
            weights[i, skeleton.index(name)] = w
    return weights


def to_jhmdb15(
    points: np.ndarray, confidence: np.ndarray | None = None, *, source: str | Skeleton
) -> tuple[np.ndarray, np.ndarray]:
    """Map (T, K, 2) (or (K, 2)) joints of ``source`` to JHMDB-15: joints (T, 15, 2), conf (T, 15).

    A derived joint (neck, belly) takes the smallest confidence of the joints it is made of;
    NaN source joints give NaN JHMDB joints with confidence 0.
    """
    skeleton = _skeleton(source)
    points = np.asarray(points, np.float64)
    single = points.ndim == 2
    if single:
        points = points[None]
    if points.ndim != 3 or points.shape[1:] != (skeleton.num_joints, 2):
        raise ValueError(
            f"points must be (T, {skeleton.num_joints}, 2) for {skeleton.name}, got {points.shape}"
        )
    if confidence is None:
        conf = np.ones(points.shape[:2], np.float64)
    else:
        conf = np.asarray(confidence, np.float64).reshape(points.shape[:2])
    conf = np.where(np.isfinite(points).all(-1), conf, 0.0)
    weights = jhmdb15_weights(skeleton)  # (15, K)
    joints = np.einsum("jk,tkc->tjc", weights, np.nan_to_num(points))
    used = weights > 0  # (15, K)
    # min over each joint's sources: broadcast (T, 1, K) against (15, K), unused sources -> +inf
    out_conf = np.where(used[None], conf[:, None, :], np.inf).min(-1)
    joints[out_conf <= 0] = np.nan
    out_conf = np.clip(out_conf, 0.0, 1.0)
    if single:
        return joints[0].astype(np.float32), out_conf[0].astype(np.float32)
    return joints.astype(np.float32), out_conf.astype(np.float32)
