"""Late fusion of two finished runs: ``actionpose fuse RUN_A RUN_B [--weights ...] [--out FILE]``.

Each run's ``predictions.csv`` holds one row per test video with its per-class scores (the mean
clip softmax, ``score_<class>``); the fused score is ``w_a p_a + w_b p_b`` with w_a + w_b = 1,
and the fused prediction its argmax. The two runs must have the same classes and the same test
videos with the same labels (videos are aligned by name, classes by name).

Weights: ``equal`` (the default), two numbers ``a,b`` (normalised), or ``tuned``: the w_a on a
grid of 0.05 steps with the best video accuracy on the runs' *validation* predictions
(``val_predictions.csv`` in each run, predictions on a validation split carved from the training
split: train with ``val_fraction`` > 0, see :mod:`actionpose.data.validation`); ties go to the
weights nearest equal. The test predictions are never read while tuning. A run without
validation predictions cannot be tuned.

The fused predictions go to ``OUT`` (same columns as a run's predictions.csv) and the weights
and accuracies to ``OUT.json``, both written atomically.
"""
from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from actionpose.errors import ConfigError, DataError
from actionpose.io import write_json
from actionpose.train.runs import VAL_FILE, _write_predictions  # a run's own files and format

TEST_FILE = "predictions.csv"
GRID = np.round(np.linspace(0.0, 1.0, 21), 2)  # w_a in steps of 0.05


@dataclass(frozen=True)
class Predictions:
    """One predictions file: videos, their labels (class indices) and scores (N, K)."""

    path: Path
    videos: tuple[str, ...]
    labels: np.ndarray
    classes: tuple[str, ...]
    scores: np.ndarray

    def accuracy(self, scores: np.ndarray | None = None) -> float:
        s = self.scores if scores is None else scores
        return float((s.argmax(1) == self.labels).mean())


def read_predictions(path: str | Path) -> Predictions:
    """Read and check a predictions CSV; every problem is a DataError naming ``path``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "missing")
    try:
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(path, f"unreadable ({exc})") from None
    if not rows:
        raise DataError(path, "empty")
    header = rows[0]
    if header[:2] != ["video", "label"]:
        raise DataError(path, f"expected columns video, label, prediction, score_<class>...; "
                              f"got {', '.join(header[:4])}")
    score_cols = [i for i, name in enumerate(header) if name.startswith("score_")]
    classes = tuple(header[i][len("score_"):] for i in score_cols)
    if not classes:
        raise DataError(path, "no score_<class> columns: this run's predictions kept no scores")
    if len(set(classes)) != len(classes):
        raise DataError(path, "a class appears twice among the score columns")
    index = {c: k for k, c in enumerate(classes)}
    videos, labels, scores = [], [], []
    for n, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise DataError(path, f"line {n}: {len(row)} fields, the header has {len(header)}")
        if row[1] not in index:
            raise DataError(path, f"line {n}: label {row[1]!r} is not one of the score columns' classes")
        try:
            values = [float(row[i]) for i in score_cols]
        except ValueError:
            raise DataError(path, f"line {n}: a score is not a number") from None
        if not all(math.isfinite(v) for v in values):
            raise DataError(path, f"line {n}: a score is not finite")
        videos.append(row[0])
        labels.append(index[row[1]])
        scores.append(values)
    if not videos:
        raise DataError(path, "no videos")
    if len(set(videos)) != len(videos):
        dup = sorted({v for v in videos if videos.count(v) > 1})[0]
        raise DataError(path, f"video {dup!r} is listed twice")
    return Predictions(path, tuple(videos), np.array(labels), classes, np.array(scores, np.float64))


def align(a: Predictions, b: Predictions) -> Predictions:
    """``b`` reordered to ``a``'s videos and classes; refuses runs that do not match."""
    if set(a.classes) != set(b.classes):
        only_a, only_b = sorted(set(a.classes) - set(b.classes)), sorted(set(b.classes) - set(a.classes))
        raise ConfigError(f"{a.path} and {b.path} have different classes (only in the first: "
                          f"{', '.join(only_a[:3]) or '-'}; only in the second: {', '.join(only_b[:3]) or '-'})")
    if set(a.videos) != set(b.videos):
        only_a, only_b = sorted(set(a.videos) - set(b.videos)), sorted(set(b.videos) - set(a.videos))
        raise ConfigError(f"{a.path} and {b.path} have different videos ({len(only_a)} only in the "
                          f"first, e.g. {', '.join(only_a[:2]) or '-'}; {len(only_b)} only in the "
                          f"second, e.g. {', '.join(only_b[:2]) or '-'}): not the same split")
    rows = [b.videos.index(v) for v in a.videos]
    cols = [b.classes.index(c) for c in a.classes]
    labels = np.array([a.classes.index(b.classes[b.labels[r]]) for r in rows])
    wrong = np.nonzero(labels != a.labels)[0]
    if len(wrong):
        raise ConfigError(f"{a.path} and {b.path} disagree on the label of video {a.videos[wrong[0]]!r} "
                          f"({len(wrong)} videos differ)")
    return Predictions(b.path, a.videos, a.labels, a.classes, b.scores[np.ix_(rows, cols)])


def parse_weights(text: str) -> str | tuple[float, float]:
    """``equal``, ``tuned`` or ``a,b`` (two numbers >= 0, not both 0) normalised to sum 1."""
    if text in ("equal", "tuned"):
        return text
    try:
        a, b = (float(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"--weights must be equal, tuned or two numbers a,b; got {text!r}") from None
    if not (math.isfinite(a) and math.isfinite(b)) or a < 0 or b < 0 or a + b == 0:
        raise ConfigError(f"--weights a,b must be finite, >= 0 and not both 0; got {text!r}")
    return a / (a + b), b / (a + b)


def fuse_scores(a: np.ndarray, b: np.ndarray, w_a: float) -> np.ndarray:
    return w_a * a + (1.0 - w_a) * b


def tune_weights(val_a: Predictions, val_b: Predictions) -> tuple[float, float]:
    """(w_a, w_b) with the best validation accuracy on :data:`GRID` (ties: nearest equal)."""
    val_b = align(val_a, val_b)
    best = max(GRID, key=lambda w: (val_a.accuracy(fuse_scores(val_a.scores, val_b.scores, w)),
                                    -abs(w - 0.5)))
    return float(best), float(1.0 - best)


def _run_file(run: Path, name: str, *, needed_for: str = "") -> Path:
    if not run.is_dir():
        raise DataError(run, "not a run folder")
    summary = run / "summary.json"
    if summary.is_file():
        try:
            complete = bool(json.loads(summary.read_text()).get("complete"))
        except (OSError, ValueError, AttributeError):
            raise DataError(summary, "unreadable or malformed JSON") from None
        if not complete:
            raise DataError(run, "the run has not finished (summary.json: complete is false)")
    path = run / name
    if not path.is_file():
        raise DataError(path, f"missing{needed_for}")
    return path


def fuse_runs(run_a: str | Path, run_b: str | Path, *, weights: str | tuple[float, float] = "equal"
              ) -> dict:
    """Fuse two finished runs' test predictions; returns the fused predictions and a summary."""
    run_a, run_b = Path(run_a), Path(run_b)
    if isinstance(weights, str):
        weights = parse_weights(weights)
    source = "given"
    if weights == "equal":
        weights, source = (0.5, 0.5), "equal"
    elif weights == "tuned":
        why = (": tuned weights need each run's predictions on a validation split carved from its "
               "training split (use --weights equal or a,b otherwise)")
        val_paths = [_run_file(r, VAL_FILE, needed_for=why) for r in (run_a, run_b)]
        val_a, val_b = (read_predictions(p) for p in val_paths)
        weights, source = tune_weights(val_a, val_b), "tuned on validation"
    # the test predictions are read only once the weights are fixed
    test_a = read_predictions(_run_file(run_a, TEST_FILE))
    test_b = align(test_a, read_predictions(_run_file(run_b, TEST_FILE)))
    if source == "tuned on validation":
        overlap = set(test_a.videos) & (set(val_a.videos) | set(val_b.videos))
        if overlap:
            raise ConfigError(f"{val_paths[0]} / {val_paths[1]} share videos with the test split "
                              f"(e.g. {sorted(overlap)[0]!r}): validation must come from training")
    fused = fuse_scores(test_a.scores, test_b.scores, weights[0])
    return {
        "videos": test_a.videos, "labels": test_a.labels, "classes": test_a.classes, "scores": fused,
        "summary": {"run_a": str(run_a), "run_b": str(run_b), "weights": list(weights),
                    "weights_from": source, "videos": len(test_a.videos),
                    "accuracy_a": test_a.accuracy(), "accuracy_b": test_b.accuracy(),
                    "accuracy_fused": test_a.accuracy(fused)},
    }


def write_fused(out: str | Path, result: dict) -> Path:
    """``out`` (predictions CSV) and ``out.json`` (weights, accuracies), each atomically."""
    out = Path(out)
    scores = result["scores"]
    _write_predictions(out, {"names": result["videos"], "labels": result["labels"],
                             "preds": scores.argmax(1), "scores": scores}, list(result["classes"]))
    write_json(out.with_name(out.name + ".json"), result["summary"])
    return out


def main(args) -> int:
    result = fuse_runs(args.run_a, args.run_b, weights=args.weights)
    out = write_fused(args.out, result)
    s = result["summary"]
    print(f"fused {s['videos']} test videos, weights {s['weights'][0]:.2f} / {s['weights'][1]:.2f} "
          f"({s['weights_from']}): accuracy {100 * s['accuracy_fused']:.1f}% "
          f"(A {100 * s['accuracy_a']:.1f}%, B {100 * s['accuracy_b']:.1f}%) -> {out}")
    return 0


__all__ = ["Predictions", "read_predictions", "align", "parse_weights", "fuse_scores",
           "tune_weights", "fuse_runs", "write_fused", "main"]
