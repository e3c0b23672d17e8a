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

Fused pairs for the study (:data:`FUSED_PAIRS`, ``actionpose fuse --pair NAME --preset P --seed
S``): two experiments, each trained as an ordinary run, found by their configs in the runs
folder and fused into ``RUNS/fused/<pair>/<run>/`` with a run's ``summary.json``,
``predictions.csv`` and ``metrics.csv`` (one row), so the records read the result as experiment
``<pair>`` and the report pairs it with its baseline by seed like any run.
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
from actionpose.pose.knob import CONFIG_KEYS, frames_dataset  # the knob; where a pose-free side trains
from actionpose.train.runs import (METRIC_COLUMNS, VAL_FILE, _write_metrics,  # a run's own files
                                   _write_predictions)

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


# ---------------------------------------------------------------------------------------------
# fused pairs: the study's late-fusion experiments


@dataclass(frozen=True)
class FusedPair:
    """Two registered experiments trained as ordinary runs and fused late: ``a`` the RGB
    stream (the pair's no-pose baseline), ``b`` the pose stream."""

    name: str
    a: str
    b: str
    description: str


FUSED_PAIRS: dict[str, FusedPair] = {p.name: p for p in [
    FusedPair("c3d+heatmap-volume", "c3d", "heatmap-volume",
              "C3D on RGB + joint and limb heatmap volumes (PoseC3D's RGB + pose fusion)"),
    FusedPair("c3d+pose-only", "c3d", "pose-only", "C3D on RGB + the 3-D CNN on the person mask"),
    FusedPair("c3d+stgcn", "c3d", "stgcn", "C3D on RGB + ST-GCN on the joints"),
]}
FUSED_DIR = "fused"  # RUNS/fused/<pair>/<run>/


def get_pair(name: str) -> FusedPair:
    if name not in FUSED_PAIRS:
        raise ConfigError(f"unknown fused pair {name!r} (choose from {', '.join(FUSED_PAIRS)})")
    return FUSED_PAIRS[name]


def pair_configs(pair: str, preset: str = "cpu", seed: int = 0, **overrides) -> tuple:
    """The two runs' configs (TrainConfig of side a, of side b). ``overrides`` go to both sides,
    except the pose-quality keys, which go to the side(s) that read pose (the RGB stream sees
    none: its run stays the clean one), and a dataset with estimated pose, whose frames the RGB
    stream reads from the world they come from (the same run serves both)."""
    from actionpose.models.registry import modalities
    from actionpose.train.experiments import make_config

    p = get_pair(pair)
    configs = []
    for experiment in (p.a, p.b):
        side = dict(overrides, seed=seed)
        if not set(modalities(make_config(experiment, preset))) & {"joints", "mask"}:
            side = {k: v for k, v in side.items() if k not in CONFIG_KEYS}
            if "dataset" in side:
                side["dataset"] = frames_dataset(side["dataset"])
        configs.append(make_config(experiment, preset, **side))
    return tuple(configs)


def fuse_pair(pair: str, preset: str = "cpu", seed: int = 0, *, runs: str | Path = "runs",
              out: str | Path | None = None, weights: str | tuple[float, float] = "equal",
              train: bool = False, progress: bool = False, **overrides) -> Path:
    """Fuse seed ``seed`` of ``pair``'s two runs (found by config under ``runs``; ``train``: train
    or resume those that are missing) into ``OUT/<pair>/<run>/`` (``OUT``: ``runs/fused``), named
    after side b's run; returns that folder. A run that is missing, unfinished or trained under
    another config is refused, naming it."""
    from actionpose.train.runs import ensure_run, is_complete, run_dir

    cfg_a, cfg_b = pair_configs(pair, preset, seed, **overrides)
    folders = []
    for cfg in (cfg_a, cfg_b):
        folder = run_dir(cfg, runs)
        if train:
            ensure_run(cfg, runs, progress=progress)
        if not is_complete(folder):
            raise DataError(folder, f"no finished run of {cfg.experiment} (train it: actionpose train "
                                    f"{cfg.experiment} --preset {preset} --seed {seed} --out {runs}, "
                                    "with the same data and overrides, or pass --train)")
        folders.append(folder)
    return fuse_folders(pair, cfg_a, cfg_b, folders, out if out is not None else Path(runs) / FUSED_DIR,
                        weights=weights)


def fuse_folders(pair: str, cfg_a, cfg_b, folders: list[Path], out: str | Path, *,
                 weights: str | tuple[float, float] = "equal") -> Path:
    """Fuse the finished runs in ``folders`` (side a's, then side b's: run folders, or full
    records, which keep config.json and predictions.csv) trained under ``pair_configs``'
    ``cfg_a`` and ``cfg_b`` into ``OUT/<pair>/<run>/`` (named after side b's run); returns that
    folder. An unfinished run, or one trained under another config, is refused, naming it."""
    from actionpose.train.runs import config_mismatch, is_complete, read_record

    folders = [Path(f) for f in folders]
    for cfg, folder in zip((cfg_a, cfg_b), folders):
        if not is_complete(folder):
            raise DataError(folder, f"no finished run of {cfg.experiment}")
        diff = config_mismatch(folder, cfg)
        if diff:
            raise ConfigError(f"{folder}: trained under a different config than the pair asks for: "
                              + "; ".join(diff))
    result = fuse_runs(*folders, weights=weights)
    summaries = [read_record(f / "summary.json") for f in folders]
    target = Path(out) / pair / cfg_b.run_name()
    target.mkdir(parents=True, exist_ok=True)
    write_fused_run(target, result, pair_summary(get_pair(pair), cfg_a, cfg_b, summaries, result))
    return target


def pair_summary(pair: FusedPair, cfg_a, cfg_b, summaries: list[dict], result: dict) -> dict:
    """A run's summary.json for a fused pair (experiment ``pair.name``, one "epoch": the fusion),
    with what was fused, how, and both runs' configs."""
    scores, labels = result["scores"], np.asarray(result["labels"])
    top5 = None
    if scores.shape[1] > 5:  # as a run's test_video_top5
        top = np.argsort(-scores, axis=1)[:, :5]
        top5 = float(np.mean([labels[i] in top[i] for i in range(len(labels))]))
    s_a, s_b = summaries
    fused = result["summary"]
    return {
        "complete": True, "experiment": pair.name, "run": cfg_b.run_name(),
        "dataset": s_b["dataset"], "data_root": s_b.get("data_root"),
        "context_bias": s_b.get("context_bias"), "preset": cfg_b.preset, "split": cfg_b.split,
        "seed": cfg_b.seed, "classes": list(result["classes"]), "num_test_videos": fused["videos"],
        "epochs": 1,
        "final": {"test_video_acc": fused["accuracy_fused"], "test_video_top5": top5},
        "seconds_total": float(s_a["seconds_total"]) + float(s_b["seconds_total"]),
        "peak_rss_gib": max((s.get("peak_rss_gib") or 0.0) for s in summaries) or None,
        "fused": {**fused, "pair": pair.name, "experiment_a": pair.a, "experiment_b": pair.b},
        # what the records read in place of a config.json (a fused pair has no single config)
        "config": {"context_bias": cfg_b.context_bias,
                   **{k: getattr(cfg_b, k) for k in CONFIG_KEYS},
                   "runs": {"a": cfg_a.to_dict(), "b": cfg_b.to_dict()}},
    }


def write_fused_run(folder: Path, result: dict, summary: dict) -> None:
    """predictions.csv, metrics.csv (the fusion as its one epoch) and summary.json, the last
    written last (it marks the folder complete)."""
    scores = result["scores"]
    _write_predictions(folder / TEST_FILE, {"names": result["videos"], "labels": result["labels"],
                                            "preds": scores.argmax(1), "scores": scores},
                       list(result["classes"]))
    row = dict.fromkeys(METRIC_COLUMNS)
    row.update(epoch=1, **summary["final"])
    _write_metrics(folder / "metrics.csv", [row])
    write_json(folder / "summary.json", summary)


def main(args) -> int:
    if args.pair is not None:
        return _main_pair(args)
    given = [*args.positional, *args.overrides]
    if len(given) != 2:
        raise ConfigError(f"fuse takes two run folders, or --pair NAME; got {len(given)} argument(s)")
    result = fuse_runs(*given, weights=args.weights)
    out = write_fused(args.out or "fused_predictions.csv", result)
    _print(result["summary"], out)
    return 0


def _main_pair(args) -> int:
    from actionpose.train.experiments import DATASETS, parse_overrides

    overrides = parse_overrides([*args.positional, *args.overrides])
    if args.data is not None:
        overrides["dataset"] = args.data if args.data in DATASETS else str(Path(args.data).resolve())
    if args.split is not None:
        overrides["split"] = args.split
    folder = fuse_pair(args.pair, args.preset, args.seed, runs=args.runs_dir, out=args.out,
                       weights=args.weights, train=args.train, progress=not args.quiet, **overrides)
    _print(json.loads((folder / "summary.json").read_text())["fused"], folder)
    return 0


def _print(s: dict, out: Path) -> None:
    print(f"fused {s['videos']} test videos, weights {s['weights'][0]:.2f} / {s['weights'][1]:.2f} "
          f"({s['weights_from']}): accuracy {100 * s['accuracy_fused']:.1f}% "
          f"(A {100 * s['accuracy_a']:.1f}%, B {100 * s['accuracy_b']:.1f}%) -> {out}")


__all__ = ["Predictions", "read_predictions", "align", "parse_weights", "fuse_scores",
           "tune_weights", "fuse_runs", "write_fused", "FusedPair", "FUSED_PAIRS", "get_pair",
           "pair_configs", "fuse_pair", "fuse_folders", "pair_summary", "write_fused_run", "main"]
