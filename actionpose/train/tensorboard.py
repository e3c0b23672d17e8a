"""TensorBoard scalars of a training run (``actionpose train --tensorboard``).

Each epoch's metrics.csv row goes to ``RUN/tensorboard/`` as scalars (``train/loss``,
``test/video_acc``, ``val/video_acc``, ``lr``, ...; step = the epoch, 1-based) through
``torch.utils.tensorboard.SummaryWriter``, after the epoch is recorded and checkpointed: the writer
reads the row and computes nothing, so the run's numbers are those of a run without it. Epochs
that ``eval_every`` does not evaluate have no test scalars. A resumed run appends to the same
folder, from the epoch it resumes at. Needs the ``tensorboard`` package (``pip install
actionpose[tensorboard]``); ``tensorboard --logdir runs`` shows every run.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from actionpose.errors import ConfigError

__all__ = ["FOLDER", "TensorBoardLog", "scalar_tag", "require_tensorboard"]

FOLDER = "tensorboard"
NOT_SCALARS = {"epoch"}


def require_tensorboard():
    """``SummaryWriter``, or a one-line ConfigError saying which package to install."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # torch raises it when the tensorboard package is missing
        raise ConfigError("--tensorboard needs the tensorboard package, which is not installed: "
                          "pip install actionpose[tensorboard]") from None
    return SummaryWriter


def scalar_tag(column: str) -> str:
    """metrics.csv column -> TensorBoard tag: ``train_loss`` -> ``train/loss``, ``lr`` -> ``lr``."""
    head, _, rest = column.partition("_")
    return f"{head}/{rest}" if head in ("train", "test", "val") and rest else column


class TensorBoardLog:
    """An ``on_epoch`` hook of :func:`actionpose.train.engine.fit` writing each epoch's row as
    scalars into ``run_folder/tensorboard``; :meth:`close` flushes it (also a context manager).

    The package is checked at once (a missing one fails before training starts); the writer is
    opened at the first epoch, with TensorBoard's ``purge_step`` at that epoch: the scalars an
    earlier attempt wrote from there on (a run trained afresh, or a crash after its checkpoint)
    are superseded, those before it (a resumed run) kept."""

    def __init__(self, run_folder: str | Path):
        self._writer_class = require_tensorboard()
        self.folder = Path(run_folder) / FOLDER
        self.writer = None

    def __call__(self, row: dict[str, Any]) -> None:
        step = int(row["epoch"])
        if self.writer is None:
            self.writer = self._writer_class(log_dir=str(self.folder), purge_step=step)
        for column, value in row.items():
            if column in NOT_SCALARS or value is None or isinstance(value, bool):
                continue
            if isinstance(value, (int, float)) and math.isfinite(value):
                self.writer.add_scalar(scalar_tag(column), float(value), step)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    def __enter__(self) -> "TensorBoardLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
