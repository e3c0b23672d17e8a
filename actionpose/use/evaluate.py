"""Re-evaluate a finished run with test-time augmentation, without retraining.

``actionpose evaluate RUN [--clips N] [--flip] [--split K]`` scores every test video as the mean
softmax over N evenly spaced clips (and their mirror images with ``--flip``) and writes
``RUN/eval/split<K>-clips<N>[-flip].json`` with ``...-predictions.csv`` and ``...-confusion.csv``
beside it. The run's own records (``summary.json``, ``predictions.csv``) are never touched.
``--on val`` scores the run's validation videos instead (``RUN/eval/val-split<K>-...``): the
split on which test-time clips and flips are chosen, so the test split is read only for the final
number.
"""
from __future__ import annotations

import dataclasses
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from actionpose.errors import DataError, RunError
from actionpose.io import write_json

__all__ = ["FlipAverage", "mirror_input", "resolve_run", "eval_name", "evaluate_run", "main"]


def mirror_input(name: str, value: torch.Tensor | None) -> torch.Tensor | None:
    """A model input mirrored left-right: heatmaps also swap left/right joints, flow negates u."""
    if value is None:
        return None
    out = value.flip(-1)
    if name == "heatmaps":
        from actionpose.pose.skeletons import JHMDB15

        out = out[:, list(JHMDB15.flip_permutation())]
    elif name == "flow":
        out = torch.cat([-out[:, :1], out[:, 1:]], dim=1)
    return out


class FlipAverage(nn.Module):
    """A model whose logits are log(mean softmax) over the clip and its mirror image, so a
    softmax of them is the averaged probability (what the video score averages over clips)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, **inputs) -> dict[str, torch.Tensor]:
        plain = _logits(self.model(**inputs))
        mirrored = _logits(self.model(**{k: mirror_input(k, v) for k, v in inputs.items()}))
        logp = torch.stack([F.log_softmax(plain, 1), F.log_softmax(mirrored, 1)])
        return {"logits": torch.logsumexp(logp, 0) - math.log(2.0)}


def _logits(out) -> torch.Tensor:
    return (out["logits"] if isinstance(out, dict) else out).float()


def resolve_run(path: str | Path, split: int | None = None) -> Path:
    """The run folder at ``path``; an experiment folder holding runs picks its split-``split`` run.

    A model is evaluated only on the test set of the split it was trained on (another split's
    test videos are in its training set).
    """
    import json

    path = Path(path)
    if not path.is_dir():
        raise RunError(f"{path}: run folder not found")
    if (path / "config.json").is_file():
        if split is not None:
            try:
                trained = json.loads((path / "config.json").read_text()).get("split")
            except (OSError, ValueError):
                trained = None  # open_run names the broken file
            if trained is not None and trained != split:
                raise RunError(f"{path}: trained on split {trained}, not evaluated on split {split} "
                               "(that split's test videos are in this run's training set)")
        return path
    runs = sorted(p for p in path.iterdir() if (p / "config.json").is_file())
    if split is not None:
        runs = [p for p in runs if f"-split{split}-" in p.name]
    if len(runs) != 1:
        found = ", ".join(p.name for p in runs) or "none"
        raise RunError(f"{path}: not a run folder; it holds {len(runs)} run(s)"
                       f"{'' if split is None else f' of split {split}'} ({found}): name one")
    return runs[0]


EVAL_SETS = ("test", "val")


def eval_name(split: int, clips: int, flip: bool, on: str = "test") -> str:
    prefix = "" if on == "test" else f"{on}-"
    return f"{prefix}split{split}-clips{clips}{'-flip' if flip else ''}"


def evaluate_run(run: str | Path, *, clips: int | None = None, flip: bool = False,
                 split: int | None = None, device: str = "cpu", workers: int = 0,
                 data: str | Path | None = None, write: bool = True, on: str = "test") -> dict[str, Any]:
    """Evaluate run ``run`` with ``clips`` clips per test video (default: the run's) and
    optional flips, in fp32; returns (and with ``write`` stores) the evaluation record.
    ``on="val"``: the run's validation videos (the run must have been trained with one).

    ``data``: the dataset root when the one recorded in the run's summary has moved.
    """
    from actionpose.train.distributed import Dist
    from actionpose.train.engine import load_data
    from actionpose.train.loop import evaluate
    from actionpose.train.precision import resolve_device
    from actionpose.train.runs import _write_confusion, _write_predictions
    from actionpose.use.model import open_run, run_data_root

    folder = resolve_run(run, split)
    loaded = open_run(folder, device=device)
    cfg = loaded.cfg
    if clips is not None and clips < 1:
        raise RunError(f"{folder}: --clips must be >= 1, got {clips}")
    if on not in EVAL_SETS:
        raise RunError(f"{folder}: --on must be one of {', '.join(EVAL_SETS)}, got {on!r}")
    if on == "val" and cfg.val_fraction <= 0:
        raise RunError(f"{folder}: trained without a validation split (val_fraction 0): "
                       "--on val has nothing to score")
    cfg = dataclasses.replace(cfg, clips_per_video=clips or cfg.clips_per_video, workers=workers)
    root = run_data_root(loaded, data)
    dev = resolve_device(device)
    run_data = load_data(cfg, Dist(), dev, data_root=root)  # the test loader exactly as training's
    if list(run_data.classes) != list(loaded.spec.classes):
        raise DataError(root, f"its classes differ from those run {folder} was trained on")
    model = loaded.module.model
    if flip:
        model = FlipAverage(model)
    t0 = time.perf_counter()
    loader = run_data.test_loader if on == "test" else run_data.val_loader
    result = evaluate(cfg, model, loader, dev, None, Dist(), len(run_data.classes))
    # evaluate() names its metrics test_*; here they are the scores of the set `on`
    record = {
        "run": str(folder), "experiment": cfg.experiment, "split": cfg.split, "seed": cfg.seed,
        "on": on, "clips": cfg.clips_per_video, "flip": flip, "data_root": str(root),
        "num_test_videos": len(result["names"]),
        **{k: result[k] for k in ("test_loss", "test_clip_acc", "test_video_acc", "test_video_top5")},
        "training_record": {k: loaded.summary.get("final", {}).get(f"{on}{k[4:]}")
                            for k in ("test_clip_acc", "test_video_acc", "test_video_top5")},
        "training_clips": loaded.cfg.clips_per_video,
        "device": str(dev), "seconds": time.perf_counter() - t0, "torch": torch.__version__,
    }
    if write:
        name = eval_name(cfg.split, cfg.clips_per_video, flip, on)
        out = folder / "eval"
        _write_predictions(out / f"{name}-predictions.csv", result, list(run_data.classes))
        _write_confusion(out / f"{name}-confusion.csv", result["confusion"], list(run_data.classes))
        write_json(out / f"{name}.json", record)  # last: the marker that the evaluation is whole
        record["path"] = str(out / f"{name}.json")
    return record


def main(args) -> int:
    """CLI handler of ``actionpose evaluate``."""
    rec = evaluate_run(args.run, clips=args.clips, flip=args.flip, split=args.split,
                       device=args.device, workers=args.workers, data=args.data, on=args.on)
    before = rec["training_record"]["test_video_acc"]
    print(f"{rec['experiment']} {Path(rec['run']).name}: {rec['on']} video accuracy "
          f"{rec['test_video_acc']:.4f} "
          f"with {rec['clips']} clip(s){' + flip' if rec['flip'] else ''} "
          f"(training record: {before if before is None else f'{before:.4f}'} with "
          f"{rec['training_clips']} clip(s)); clip accuracy {rec['test_clip_acc']:.4f}; "
          f"{rec['num_test_videos']} videos")
    print(f"wrote {rec['path']}", file=sys.stderr)
    if args.confusion:
        from actionpose.use.confusion import confusion_figure, read_confusion

        run = Path(rec["run"])
        mine = Path(rec["path"]).with_name(Path(rec["path"]).stem + "-confusion.csv")
        panels = [(title, *read_confusion(path)) for title, path in (
            (f"training record, {rec['training_clips']} clip(s)", run / "confusion.csv"),
            (f"{rec['clips']} clip(s){' + flip' if rec['flip'] else ''}", mine))]
        print(f"wrote {confusion_figure(panels, args.confusion)}", file=sys.stderr)
    return 0
