"""Skeleton definitions. JHMDB-15 is the package's common joint set."""
from __future__ import annotations

from dataclasses import dataclass


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
