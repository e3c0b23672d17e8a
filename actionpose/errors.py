"""Exception types: every failure the user can cause is an ``ActionposeError`` subclass.

Each error about a file or a key names it and the problem in one line. Errors survive pickling
unchanged (a DataLoader worker or a child process re-raises them in the parent with the same
message), so the command line can print them as one line and exit with code 2.
"""
from __future__ import annotations

from pathlib import Path


class ActionposeError(Exception):
    """Base class for every error this package raises on purpose."""

    def __reduce__(self):
        # Rebuild from the final message: subclasses whose __init__ takes other arguments
        # (DataError(path, problem)) would otherwise fail to unpickle in the parent process.
        return (_rebuild, (type(self), str(self), dict(self.__dict__)))


def _rebuild(cls: type, message: str, state: dict) -> ActionposeError:
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    exc.__dict__.update(state)
    return exc


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
    """A checkpoint is corrupt, missing, unsafe or belongs to a different configuration."""


class WeightsError(ActionposeError):
    """Pretrained weights cannot be found or do not fit the model."""


class RunError(ActionposeError):
    """A run folder is locked by another process, or holds something else than asked for."""


class TrainingError(ActionposeError):
    """Training itself failed (e.g. the loss diverged), not its configuration."""


class InputError(ActionposeError):
    """A model was called with an input of the wrong shape, or without one it needs."""


class WriteError(ActionposeError, OSError):
    """A file or folder cannot be written: no space left, a read-only file system, a file where a
    folder should be. ``path`` is the target (the message starts with it). Also an ``OSError``,
    so code that tolerates a failed write (a cache) still catches it."""

    def __init__(self, path: str | Path, problem: str, errno: int | None = None):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")
        self.errno = errno
