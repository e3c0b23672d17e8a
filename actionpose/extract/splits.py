"""The splits of an extracted tree: a hashed 70/30 split when no split files are given."""
from __future__ import annotations

import hashlib
from pathlib import Path

from actionpose.data import jhmdb

__all__ = ["hashed_splits", "TRAIN_FRACTION"]

TRAIN_FRACTION = 0.7


def _num_train(n: int) -> int:
    """Train videos of a class of ``n``: 70% rounded, at least one in each subset when n >= 2."""
    return n if n == 1 else min(n - 1, max(1, round(TRAIN_FRACTION * n)))


def hashed_splits(clips: dict[str, list[str]]) -> list[tuple[str, str, tuple[int, int, int]]]:
    """Per class, a deterministic 70/30 train/test split of {class: videos}, three times.

    Videos are ordered by a hash of (k, class, name), so the three splits differ; a class with
    one video puts it in train. Returns ``jhmdb.write_splits`` assignments.
    """
    assignments = []
    for cls, videos in clips.items():
        codes: dict[str, list[int]] = {v: [] for v in videos}
        for k in range(1, jhmdb.NUM_SPLITS + 1):
            order = sorted(videos, key=lambda v: hashlib.sha1(f"{k}:{cls}/{v}".encode()).hexdigest())
            for rank, v in enumerate(order):
                codes[v].append(1 if rank < _num_train(len(videos)) else 2)
        assignments += [(v, cls, tuple(codes[v])) for v in videos]
    return assignments
