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
    assert cfg.schedule == "cosine" and cfg.warmup_epochs > 0 and cfg.mask_inputs == ("distance",)
    assert cfg.val_fraction == 0  # final runs: the whole training split (tune carves its own)


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
            "workers=0", "warmup_epochs=1", "amp=off", "val_fraction=0.25", "eval_every=1"]
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


def test_tune_plan_lists_every_variant_and_trains_nothing(tmp_path, capsys):
    from actionpose.cli import main

    rc = main(["tune", "pose-only", "--preset", "jhmdb", "--grid", "head=flatten,pool",
               "--grid", "crop=resize,person", "--grid", "size=[48,48],[64,64]", "--seeds", "2",
               "--out", str(tmp_path), "--plan", "epochs=3"])
    out = capsys.readouterr().out
    assert rc == 0
    lines = [line for line in out.splitlines() if line.startswith("head=")]
    assert len(lines) == 8 and lines[0].startswith("head=flatten,crop=resize,size=48x48: 2 run(s)")
    assert "8 run(s)" not in out and "16 run(s) in 8 variant(s)" in out
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("args, message", [
    (["--grid", "head=pool", "val_fraction=0"], "val_fraction=0"),
    (["--grid", "head=pool", "head=flatten"], "both as an override and in --grid"),
    (["--grid", "head=pool,pool"], "listed twice"),
    (["--grid", "heads=pool"], "unknown override key 'heads'"),
    (["--grid", "head"], "expected key=value1,value2"),
    (["--grid", "head=mean"], "head='mean'"),
])
def test_tune_refuses_bad_studies_in_one_line(args, message, tmp_path, capsys):
    from actionpose.cli import main

    rc = main(["tune", "pose-only", "--preset", "jhmdb", "--out", str(tmp_path), "--plan", *args])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1


def test_tune_trains_variants_and_shows_validation_only(tmp_path, capsys):
    from actionpose.cli import main
    from actionpose.data import synthetic

    root = tmp_path / "puppet-smoke"
    synthetic.generate(root, synthetic.synth_config("smoke"), workers=1)
    rc = main(["tune", "pose-only", "--preset", "smoke", "--data", str(root), "--grid", "head=flatten,pool",
               "--out", str(tmp_path / "tune"), "--quiet", "val_fraction=0.3", "epochs=1", "amp=off"])
    captured = capsys.readouterr()
    assert rc == 0
    table = pd.read_csv(tmp_path / "tune" / "tune-pose-only-smoke-split1.csv")
    assert sorted(table["variant"]) == ["head=flatten", "head=pool"]
    for variant, acc in zip(table["variant"], table["val_video_acc_mean"]):
        folder = next((tmp_path / "tune" / variant / "pose-only").iterdir())
        assert acc == pytest.approx(pd.read_csv(folder / "metrics.csv")["val_video_acc"].iloc[-1], abs=1e-4)
    assert "test" not in captured.out
    # test-time clips are chosen on validation: `evaluate --on val` scores the run's validation videos
    from actionpose.use.evaluate import evaluate_run

    rec = evaluate_run(folder, on="val", write=False)
    assert rec["on"] == "val" and rec["num_test_videos"] == len(pd.read_csv(folder / VAL_FILE))
    assert rec["test_video_acc"] == pytest.approx(pd.read_csv(folder / "metrics.csv")["val_video_acc"].iloc[-1])
    # a later call with one variant (already trained: read, not retrained) keeps the table's others
    rc = main(["tune", "pose-only", "--preset", "smoke", "--data", str(root), "--grid", "head=pool",
               "--out", str(tmp_path / "tune"), "--quiet", "val_fraction=0.3", "epochs=1", "amp=off"])
    assert rc == 0
    assert pd.read_csv(tmp_path / "tune" / "tune-pose-only-smoke-split1.csv").equals(table)


def test_tune_carves_a_validation_split_when_the_preset_has_none(tmp_path, capsys):
    from actionpose.cli import main

    assert make_config("pose-only", "smoke").val_fraction == 0
    rc = main(["tune", "pose-only", "--preset", "smoke", "--grid", "head=pool", "--out", str(tmp_path), "--plan"])
    assert rc == 0 and "val_fraction 0.2, split 1" in capsys.readouterr().out


def test_a_broken_tune_table_is_a_one_line_error_naming_it(tmp_path):
    from actionpose.errors import RunError
    from actionpose.train.tune import _merge_table

    table = tmp_path / "tune-pose-only-jhmdb-split1.csv"
    table.write_text("garbage\n\"x\n")
    with pytest.raises(RunError, match=r"tune-pose-only-jhmdb-split1.csv: not a tune table \(no column 'variant'\)"):
        _merge_table(table, [("head=pool", 0.5, [0.5])])
    table.write_text("variant,val_video_acc_mean,val_video_acc_seed0\nhead=flatten,high,0.4\n")
    with pytest.raises(RunError, match="not a tune table"):
        _merge_table(table, [("head=pool", 0.5, [0.5])])
