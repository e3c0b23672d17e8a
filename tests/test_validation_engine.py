"""A validation split carved from the training split, trained around and recorded by the engine."""
from __future__ import annotations

import csv

import pandas as pd
import pytest

from actionpose.data import jhmdb as J
from actionpose.errors import ConfigError
from actionpose.fuse import read_predictions
from actionpose.train import engine
from actionpose.train.experiments import make_config
from actionpose.train.runs import METRIC_COLUMNS, VAL_COLUMNS, VAL_FILE, VAL_VIDEOS, run_dir

TINY = dict(epochs=2, workers=0, amp="off", deterministic=True)


@pytest.fixture(scope="module")
def smoke_data(tmp_path_factory):
    from actionpose.data import synthetic

    root = tmp_path_factory.mktemp("data") / "puppet-smoke"
    synthetic.generate(root, synthetic.synth_config("smoke"), workers=1)
    return root


def test_carve_is_disjoint_from_test_and_remaining_train(smoke_data):
    cfg = make_config("pose-only", "smoke", val_fraction=0.3)
    train, test = engine.build_datasets(cfg, smoke_data)
    val = engine.build_validation(cfg, smoke_data)
    official = [e.video for e in J.read_split(smoke_data, 1) if e.subset == "train"]
    assert val.videos and not set(val.videos) & set(train.videos)
    assert not set(val.videos) & set(test.videos)
    assert sorted(val.videos + train.videos) == sorted(official)
    assert not val.transform.random and val.transform.sample.clips_per_video == cfg.clips_per_video
    # the carve depends on val_seed, not on the run's seed
    assert engine.carve(make_config("pose-only", "smoke", val_fraction=0.3, seed=5), smoke_data)[1] == val.videos
    assert engine.build_validation(make_config("pose-only", "smoke"), smoke_data) is None


def test_fraction_zero_trains_on_the_whole_training_split(smoke_data):
    cfg = make_config("pose-only", "smoke")
    train, _ = engine.build_datasets(cfg, smoke_data)
    assert sorted(train.videos) == sorted(e.video for e in J.read_split(smoke_data, 1) if e.subset == "train")


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5])
def test_fraction_out_of_range_is_refused(bad):
    with pytest.raises(ConfigError, match="val_fraction"):
        make_config("pose-only", "smoke", val_fraction=bad)


def test_fit_records_validation(smoke_data, tmp_path):
    cfg = make_config("pose-only", "smoke", val_fraction=0.3, **TINY)
    summary = engine.fit(cfg, tmp_path, data_root=smoke_data, progress=False)
    folder = run_dir(cfg, tmp_path)
    metrics = pd.read_csv(folder / "metrics.csv")
    assert list(metrics.columns) == METRIC_COLUMNS + VAL_COLUMNS and len(metrics) == 2
    assert metrics[VAL_COLUMNS].notna().all().all()
    carved = [line.split() for line in (folder / VAL_VIDEOS).read_text().splitlines()]
    val_videos = {v for v, _ in carved}
    preds = read_predictions(folder / VAL_FILE)
    test = read_predictions(folder / "predictions.csv")
    assert set(preds.videos) == val_videos and preds.classes == test.classes
    assert not val_videos & set(test.videos)
    assert summary["num_val_videos"] == len(val_videos)
    assert summary["final"]["val_video_acc"] == pytest.approx(metrics["val_video_acc"].iloc[-1])
    assert summary["num_train_clips"] + len(val_videos) == \
        sum(e.subset == "train" for e in J.read_split(smoke_data, 1))
    with open(folder / VAL_FILE) as fh:
        assert next(csv.reader(fh))[:3] == ["video", "label", "prediction"]


def test_fit_without_validation_writes_no_val_records(smoke_data, tmp_path):
    cfg = make_config("pose-only", "smoke", **TINY)
    engine.fit(cfg, tmp_path, data_root=smoke_data, progress=False)
    folder = run_dir(cfg, tmp_path)
    assert list(pd.read_csv(folder / "metrics.csv").columns) == METRIC_COLUMNS
    assert not (folder / VAL_FILE).exists() and not (folder / VAL_VIDEOS).exists()


def test_resumed_run_keeps_its_validation_records(smoke_data, tmp_path):
    cfg = make_config("pose-only", "smoke", val_fraction=0.3, **TINY)
    engine.fit(cfg, tmp_path / "whole", data_root=smoke_data, progress=False)
    assert engine.fit(cfg, tmp_path / "cut", data_root=smoke_data, progress=False,
                      stop_after_epochs=1) == {"complete": False, "epoch": 1}
    engine.fit(cfg, tmp_path / "cut", data_root=smoke_data, progress=False, resume=True)
    whole, cut = run_dir(cfg, tmp_path / "whole"), run_dir(cfg, tmp_path / "cut")
    columns = [c for c in METRIC_COLUMNS + VAL_COLUMNS if c != "seconds"]
    pd.testing.assert_frame_equal(pd.read_csv(whole / "metrics.csv")[columns],
                                  pd.read_csv(cut / "metrics.csv")[columns])
    for name in (VAL_FILE, VAL_VIDEOS):
        assert (whole / name).read_text() == (cut / name).read_text()


def test_a_training_split_without_two_videos_in_any_class_is_refused(tmp_path):
    root = tmp_path / "tree"
    (root / "splits").mkdir(parents=True)
    for cls in ("a", "b"):
        (root / "splits" / f"{cls}_test_split1.txt").write_text(f"{cls}1.avi 1\n{cls}2.avi 2\n")
    with pytest.raises(ConfigError, match="no class of split 1's training subset"):
        engine.carve(make_config("pose-only", "smoke", val_fraction=0.5), root)


def test_a_fresh_attempt_clears_the_previous_validation_predictions(smoke_data, tmp_path):
    """Retraining a finished run from scratch must not leave the old model's val predictions
    beside the new, unfinished one."""
    cfg = make_config("pose-only", "smoke", val_fraction=0.3, **TINY)
    engine.fit(cfg, tmp_path, data_root=smoke_data, progress=False)
    folder = run_dir(cfg, tmp_path)
    assert (folder / VAL_FILE).exists()
    engine.fit(cfg, tmp_path, data_root=smoke_data, progress=False, stop_after_epochs=1)
    assert not (folder / VAL_FILE).exists() and (folder / VAL_VIDEOS).exists()
