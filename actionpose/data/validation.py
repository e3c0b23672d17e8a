"""A validation split carved from a training split: per class, deterministic, disjoint.

Used to choose what must not see the test split (late-fusion weights, early stopping): the
engine trains on ``train`` and predicts ``val``. In each class, the videos are sorted by name,
shuffled by a generator seeded with (seed, class) and the first ``round(fraction * n)`` go to
validation — at least one when the class has two or more videos and ``fraction`` > 0, never all
of them (a class with a single video stays in training). The result depends only on the set of
(video, label) pairs, the fraction and the seed, not on their order.
"""
from __future__ import annotations

import math
import random
from collections import defaultdict
from typing import Hashable, Sequence

from actionpose.errors import ConfigError


def carve_validation(train_videos: Sequence[str], labels: Sequence[Hashable], fraction: float,
                     seed: int = 0) -> tuple[list[str], list[str]]:
    """(train, val): disjoint lists of ``train_videos`` (in their given order) covering them all."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or \
            not math.isfinite(fraction) or not 0.0 < fraction < 1.0:
        raise ConfigError(f"validation fraction must be a number in (0, 1), got {fraction!r}")
    videos, labels = list(train_videos), list(labels)
    if len(videos) != len(labels):
        raise ConfigError(f"carve_validation: {len(videos)} videos but {len(labels)} labels")
    if len(set(videos)) != len(videos):
        dup = sorted({v for v in videos if videos.count(v) > 1})[:3]
        raise ConfigError(f"carve_validation: videos listed twice: {', '.join(map(str, dup))}")
    by_class: dict[Hashable, list[str]] = defaultdict(list)
    for video, label in zip(videos, labels):
        by_class[label].append(video)
    val: set[str] = set()
    for label, members in by_class.items():
        n = len(members)
        k = min(n - 1, max(1, round(fraction * n))) if n >= 2 else 0
        members = sorted(members)
        random.Random(f"{seed}/{label}").shuffle(members)
        val.update(members[:k])
    return [v for v in videos if v not in val], [v for v in videos if v in val]


__all__ = ["carve_validation"]
