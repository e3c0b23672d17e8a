"""Exception types. Every error about a file names the file and the problem."""
from __future__ import annotations

from pathlib import Path


class ActionposeError(Exception):
    """Base class for every error this package raises on purpose."""


class DataError(ActionposeError):
    """A dataset file or folder is missing, unreadable or malformed.

    ``path`` is the offending file (or folder); the message starts with it.
    """

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path is not None else problem)


class PoseError(ActionposeError):
    """Pose estimation could not run (missing extra, unsupported model, bad input)."""


class ConfigError(ActionposeError):
    """An experiment, preset or override that does not exist or does not fit."""


class CheckpointError(ActionposeError):
    """A checkpoint is corrupt, missing or belongs to a different configuration."""


class WeightsError(ActionposeError):
    """Pretrained weights cannot be found or do not fit the model."""
