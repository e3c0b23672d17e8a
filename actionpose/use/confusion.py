"""Confusion-matrix figures from ``confusion.csv`` files (a run's, an evaluation's, or summed over
the seeds of each experiment of a comparison). Rows are the true class, normalised to sum to 1;
each cell also shows its count."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

import numpy as np

from actionpose.errors import DataError
from actionpose.io import atomic_path

__all__ = ["read_confusion", "confusion_figure", "comparison_confusion"]


def read_confusion(path: str | Path) -> tuple[list[str], np.ndarray]:
    """(classes, counts (K, K)) of a ``confusion.csv`` (rows true class, columns prediction)."""
    path = Path(path)
    try:
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
        classes = rows[0][1:]
        if [r[0] for r in rows[1:]] != classes or any(len(r) != len(classes) + 1 for r in rows[1:]):
            raise ValueError("rows and columns must list the same classes")
        counts = np.array([[int(v) for v in r[1:]] for r in rows[1:]], dtype=np.int64)
    except (OSError, IndexError, ValueError) as exc:
        raise DataError(path, f"not a confusion matrix ({' '.join(str(exc).split())})") from None
    if not classes or (counts < 0).any():
        raise DataError(path, "not a confusion matrix (no classes, or negative counts)")
    return classes, counts


def confusion_figure(panels: Sequence[tuple[str, Sequence[str], np.ndarray]], out: str | Path) -> Path:
    """One row-normalised matrix per (title, classes, counts) panel, side by side, into ``out``
    (PNG or SVG by its suffix; written atomically)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    out = Path(out)
    k = max(len(c) for _, c, _ in panels)
    cell = 0.32 if k > 8 else 0.55
    fig, axes = plt.subplots(1, len(panels), figsize=(len(panels) * (k * cell + 1.6), k * cell + 1.4),
                             squeeze=False)
    for ax, (title, classes, counts) in zip(axes[0], panels):
        rates = counts / np.maximum(counts.sum(1, keepdims=True), 1)
        ax.imshow(rates, vmin=0, vmax=1, cmap="Blues")
        acc = np.trace(counts) / max(counts.sum(), 1)
        ax.set_title(f"{title}\naccuracy {acc:.1%} of {counts.sum()}", fontsize=9)
        ax.set_xticks(range(len(classes)), classes, rotation=90, fontsize=7)
        ax.set_yticks(range(len(classes)), classes, fontsize=7)
        ax.set_xlabel("prediction", fontsize=8)
        ax.set_ylabel("true class", fontsize=8)
        if len(classes) <= 12:
            for i, j in zip(*np.nonzero(counts)):
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if rates[i, j] > 0.5 else "black")
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format=out.suffix.lstrip(".") or "png", dpi=120,
                    metadata={"Software": None} if out.suffix != ".svg" else {"Date": None, "Creator": None})
    plt.close(fig)
    return out


def comparison_confusion(runs: str | Path, experiments: Sequence[str], out: str | Path, *,
                         run_glob: str = "*") -> Path:
    """A comparison's figure: per experiment, the confusion matrices of its complete runs under
    ``runs/<experiment>/<run_glob>`` summed over seeds (one panel each)."""
    import json

    panels = []
    for exp in experiments:
        files = [d / "confusion.csv" for d in sorted((Path(runs) / exp).glob(run_glob))
                 if (d / "confusion.csv").is_file() and _complete(d / "summary.json", json)]
        if not files:
            raise DataError(Path(runs) / exp, f"no complete run with a confusion.csv matches {run_glob!r}")
        read = [read_confusion(f) for f in files]
        classes = read[0][0]
        for f, (c, _) in zip(files, read):
            if c != classes:
                raise DataError(f, f"its classes differ from those of {files[0]}")
        panels.append((f"{exp} ({len(files)} run{'s' if len(files) > 1 else ''})", classes,
                       sum(m for _, m in read)))
    return confusion_figure(panels, out)


def _complete(path: Path, json) -> bool:
    try:
        return bool(json.loads(path.read_text()).get("complete"))
    except (OSError, ValueError):
        return False
