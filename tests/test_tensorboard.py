"""`actionpose train --tensorboard`: each epoch's metrics.csv row as TensorBoard scalars in
RUN/tensorboard/, read back with TensorBoard's own EventAccumulator; the run's numbers are those of
a run without it; a missing package is a one-line error before anything is trained."""
from __future__ import annotations

import sys

import pandas as pd
import pytest
import torch

from actionpose.train.tensorboard import scalar_tag
from use_runs import cli, one_line_error

TRAIN = ["--preset", "smoke", "--epochs", "2", "--deterministic", "--quiet", "amp=off", "workers=0", "lr=1e-3"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from actionpose.data import synthetic

    root = tmp_path_factory.mktemp("tb") / "puppet-smoke"
    synthetic.generate(root, synthetic.synth_config("smoke"), workers=1)
    return root


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ACTIONPOSE_DATA", str(tmp_path / "data"))  # the decoded-clip cache
    torch.set_num_threads(1)


def _scalars(folder) -> dict[str, list[tuple[int, float]]]:
    pytest.importorskip("tensorboard", reason="the tensorboard package (actionpose[tensorboard]) "
                                              "is not installed: nothing to read the events with")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def _run(out):
    return next(out.glob("c3d-pose/*"))


def test_tags():
    assert scalar_tag("train_loss") == "train/loss" and scalar_tag("test_video_acc") == "test/video_acc"
    assert scalar_tag("val_clip_acc") == "val/clip_acc" and scalar_tag("lr") == "lr"
    assert scalar_tag("skipped_steps") == "skipped_steps"


def test_scalars_are_the_metrics_and_change_no_number(world, tmp_path):
    pytest.importorskip("tensorboard", reason="the tensorboard package is not installed")
    plain, logged = tmp_path / "plain", tmp_path / "logged"
    for out, extra in ((plain, []), (logged, ["--tensorboard"])):
        proc = cli("train", "c3d-pose", "--data", world, "--out", out, *TRAIN, *extra)
        assert proc.returncode == 0, proc.stderr
    a = pd.read_csv(_run(plain) / "metrics.csv").drop(columns="seconds")
    b = pd.read_csv(_run(logged) / "metrics.csv").drop(columns="seconds")
    pd.testing.assert_frame_equal(a, b)  # same numbers, to the last bit
    wa = torch.load(_run(plain) / "last.pt", weights_only=True)["model"]
    wb = torch.load(_run(logged) / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not (_run(plain) / "tensorboard").exists()
    scalars = _scalars(_run(logged) / "tensorboard")
    metrics = pd.read_csv(_run(logged) / "metrics.csv")
    for column in ("train_loss", "train_acc", "test_loss", "test_video_acc", "lr", "seconds"):
        steps, values = zip(*scalars[scalar_tag(column)])
        assert list(steps) == [1, 2], column
        assert list(values) == pytest.approx(metrics[column].tolist(), rel=1e-6), column


def test_a_resumed_or_retrained_run_keeps_one_value_per_epoch(world, tmp_path):
    from actionpose.train import engine
    from actionpose.train.experiments import make_config
    from actionpose.train.tensorboard import TensorBoardLog

    cfg = make_config("c3d-pose", "smoke", dataset=str(world), epochs=3, workers=0, amp="off")
    folder = engine.run_dir(cfg, tmp_path)
    with TensorBoardLog(folder) as log:
        engine.fit(cfg, tmp_path, progress=False, stop_after_epochs=1, on_epoch=log)
    with TensorBoardLog(folder) as log:  # resumed: epochs 2 and 3 appended
        engine.fit(cfg, tmp_path, resume=True, progress=False, on_epoch=log)
    metrics = pd.read_csv(folder / "metrics.csv")
    scalars = _scalars(folder / "tensorboard")
    assert [s for s, _ in scalars["train/loss"]] == [1, 2, 3]
    assert [v for _, v in scalars["train/loss"]] == pytest.approx(metrics["train_loss"].tolist(), rel=1e-6)
    with TensorBoardLog(folder) as log:  # trained afresh: the earlier attempt's scalars superseded
        engine.fit(cfg, tmp_path, progress=False, on_epoch=log)
    again = pd.read_csv(folder / "metrics.csv")
    scalars = _scalars(folder / "tensorboard")
    assert [s for s, _ in scalars["train/loss"]] == [1, 2, 3]
    assert [v for _, v in scalars["lr"]] == pytest.approx(again["lr"].tolist(), rel=1e-6)


def test_missing_package_is_a_one_line_error_before_training(world, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as if absent
    proc = cli("train", "c3d-pose", "--data", world, "--out", tmp_path / "runs", *TRAIN, "--tensorboard")
    one_line_error(proc, "--tensorboard", "pip install actionpose[tensorboard]")
    assert not (tmp_path / "runs").exists()  # nothing trained, no run folder
