"""The ImageNet mean and standard deviation that clips are normalised with (RGB, in [0, 1]).

A module of its own so that the data pipeline, which normalises, and the models, which may undo
it (pose guidance in pixel space), share one definition without importing each other.
"""
from __future__ import annotations

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD"]
