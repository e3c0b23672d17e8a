"""The `jhmdb` preset (issue 19): its values, and a tiny run of it on real JHMDB masks through the
CLI with a validation split."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from actionpose.train.experiments import make_config
from actionpose.train.runs import VAL_COLUMNS, VAL_FILE, VAL_VIDEOS

REPO = Path(__file__).resolve().parents[1]
CLASSES = ("brush_hair", "catch", "clap")


def test_preset_values():
    cfg = make_config("pose-only", "jhmdb")
    assert (cfg.dataset, cfg.num_frames, cfg.head, cfg.crop) == ("jhmdb", 16, "pool", "person")
    assert 0.5 <= cfg.width <= 1.0 and cfg.epochs == 40 and cfg.label_smoothing == 0.1
    assert cfg.schedule == "cosine" and cfg.warmup_epochs > 0 and cfg.val_fraction == 0.2


def _small_tree(jhmdb_root: Path, dest: Path, per_class=(8, 4)) -> Path:
    """A few real videos of three classes: their puppet masks linked, the splits shortened."""
    (dest / "splits").mkdir(parents=True)
    (dest / "puppet_mask").mkdir()
    for cls in CLASSES:
        lines = (jhmdb_root / "splits" / f"{cls}_test_split1.txt").read_text().split("\n")
        rows = [line.split() for line in lines if line.strip()]
        keep = [r for r in rows if r[1] == "1"][:per_class[0]] + [r for r in rows if r[1] == "2"][:per_class[1]]
        for k in (1, 2, 3):  # the same videos in every split (data check wants all three)
            marks = dict(line.split() for line in
                         (jhmdb_root / "splits" / f"{cls}_test_split{k}.txt").read_text().splitlines()
                         if line.strip())
            (dest / "splits" / f"{cls}_test_split{k}.txt").write_text(
                "".join(f"{v} {marks[v]}\n" for v, _ in keep))
        for video, _ in keep:
            name = video[:-len(".avi")]
            (dest / "puppet_mask" / cls / name).mkdir(parents=True)
            (dest / "puppet_mask" / cls / name / "puppet_mask.mat").symlink_to(
                jhmdb_root / "puppet_mask" / cls / name / "puppet_mask.mat")
    return dest


def test_jhmdb_preset_trains_on_real_masks_with_validation(jhmdb_root, tmp_path):
    root = _small_tree(jhmdb_root, tmp_path / "jhmdb-small")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    args = ["pose-only", "--preset", "jhmdb", "--data", str(root), "--out", str(tmp_path / "runs"),
            "--quiet", "epochs=2", "num_frames=4", "size=[32,32]", "width=0.125", "batch_size=4",
            "workers=0", "warmup_epochs=1", "amp=off", "val_fraction=0.25"]
    done = subprocess.run([sys.executable, "-m", "actionpose", "train", *args], capture_output=True,
                          text=True, env=env, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    folder = next((tmp_path / "runs" / "pose-only").iterdir())
    metrics = pd.read_csv(folder / "metrics.csv")
    assert len(metrics) == 2 and metrics[VAL_COLUMNS].notna().all().all()
    val = {line.split()[0] for line in (folder / VAL_VIDEOS).read_text().splitlines()}
    assert len(val) == 2 * len(CLASSES)  # a quarter of each class's 8 training videos
    assert set(pd.read_csv(folder / VAL_FILE)["video"]) == val
    assert not val & set(pd.read_csv(folder / "predictions.csv")["video"])
