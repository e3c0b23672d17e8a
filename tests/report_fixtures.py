"""Small run folders and records built by the report tests."""
from __future__ import annotations

import json
from pathlib import Path

METRICS_HEADER = "epoch,train_loss,train_acc,test_loss,test_clip_acc,test_video_acc,test_video_top5,lr,skipped_steps,seconds\n"


def write_run(root: Path, experiment: str, acc: float, *, seed: int = 0, split: int = 1,
              dataset: str = "puppet", preset: str = "smoke", context_bias=None, epochs: int = 2,
              records: bool = False, test_videos: int = 40) -> Path:
    """A finished run: ``<root>/<experiment>/<run>/`` (or ``<experiment>/<dataset>/<run>/`` as a
    record) whose last epoch reaches test video accuracy ``acc``."""
    bias = "" if context_bias is None else f"-bias{context_bias:g}"
    name = f"{dataset}-{preset}{bias}-split{split}-seed{seed}"
    folder = root / experiment / dataset / name if records else root / experiment / name
    folder.mkdir(parents=True)
    rows = [f"{e},1.0,0.5,1.0,{acc},{acc if e == epochs else acc / 2},1.0,0.001,0,1.5\n"
            for e in range(1, epochs + 1)]
    (folder / "metrics.csv").write_text(METRICS_HEADER + "".join(rows))
    (folder / "config.json").write_text(json.dumps(
        {"experiment": experiment, "context_bias": context_bias, "background_factor": 0.25}))
    summary = {"complete": True, "experiment": experiment, "run": name, "dataset": dataset,
               "preset": preset, "split": split, "seed": seed, "epochs": epochs,
               "num_test_videos": test_videos, "context_bias": 0.25 if context_bias is None else context_bias,
               "final": {"test_video_acc": acc, "test_clip_acc": acc, "train_acc": 0.5},
               "seconds_total": 3.0, "peak_rss_gib": 0.5}
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def write_pair(root: Path, base: list[float], treat: list[float], **kw) -> None:
    """c3d and c3d-pose runs, one per seed."""
    for seed, (a, b) in enumerate(zip(base, treat)):
        write_run(root, "c3d", a, seed=seed, **kw)
        write_run(root, "c3d-pose", b, seed=seed, **kw)


def write_degraded(root: Path, experiment: str, acc: float, quality, *, seed: int,
                   records: bool = False, preset: str = "smoke") -> Path:
    """A finished run (or record) trained at pose ``quality`` (a ``PoseQuality``): the knob in
    its config and its name."""
    scratch = root.parent / f"{root.name}-scratch"
    made = write_run(scratch, experiment, acc, seed=seed, records=records, preset=preset)
    name = made.name.replace("-split1", "".join(f"-{p}" for p in quality.parts()) + "-split1")
    folder = root / made.parent.relative_to(scratch) / name
    folder.parent.mkdir(parents=True, exist_ok=True)
    made.rename(folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **quality.config()}))
    return folder
