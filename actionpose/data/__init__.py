"""Data: JHMDB's on-disk format, the torch dataset, the embedded puppet world, optical flow.

Submodules load on first use (``import actionpose.data.jhmdb`` does not import torch).
"""
from __future__ import annotations

import importlib

_LAZY = {"JHMDB": "actionpose.data.dataset"}

__all__ = ["JHMDB"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
