"""`actionpose explain`: Grad-CAM / attention maps, strips, and context reliance."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from actionpose.use.explain import context_reliance, run_context_reliance
from use_runs import cli, one_line_error, train_runs

pytest.importorskip("pytorch_grad_cam")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_runs(tmp_path_factory.mktemp("use_explain"))


def test_context_reliance_is_the_share_inside_the_mask():
    masks = np.zeros((1, 2, 4, 4))
    masks[..., :2, :] = 1.0  # the top half
    inside = masks * 3.0
    assert context_reliance(inside, masks) == (1.0, 0.5)
    assert context_reliance(np.ones_like(masks), masks) == (0.5, 0.5)
    assert context_reliance(1.0 - masks, masks)[0] == 0.0
    assert np.isnan(context_reliance(np.zeros_like(masks), masks)[0])


@pytest.mark.parametrize("exp,method", [("c3d-pose", "grad-cam"), ("attention-pose", "attention")])
def test_test_split_reliance_and_strips(trained, tmp_path, exp, method):
    run = trained[1][exp]
    summary = run_context_reliance(run, out=tmp_path, strips=2)
    predictions = pd.read_csv(run / "predictions.csv")
    rows = pd.read_csv(tmp_path / "context_reliance.csv")
    assert sorted(rows["video"]) == sorted(predictions["video"]) and summary["method"] == method
    assert rows["context_reliance"].between(0, 1).all() and rows["mask_fraction"].between(0, 1).all()
    assert (rows["prediction"].tolist() == predictions.set_index("video").loc[rows["video"], "prediction"].tolist())
    assert len(list(tmp_path.glob("*.png"))) == 2
    saved = json.loads((tmp_path / "context_reliance.json").read_text())
    assert saved["mean_context_reliance"] == pytest.approx(rows["context_reliance"].mean())


def test_explain_a_video_from_the_cli(trained, tmp_path):
    from actionpose.data.jhmdb import write_video

    frames = np.random.default_rng(0).integers(0, 255, (20, 120, 160, 3), dtype=np.uint8)
    write_video(tmp_path / "v.avi", frames, fps=25.0)
    out = tmp_path / "out"
    proc = cli("explain", trained[1]["c3d-pose"], tmp_path / "v.avi", "--out", out,
               "--estimator", "fake_estimators:Still")
    assert proc.returncode == 0, proc.stderr
    assert "context reliance" in proc.stdout and (out / "v.png").is_file()
    row = pd.read_csv(out / "context_reliance.csv").iloc[0]
    assert row["video"] == "v" and 0 < row["mask_fraction"] < 1


def test_explain_errors(trained, tmp_path):
    one_line_error(cli("explain", tmp_path / "nope", "--out", tmp_path / "o"), "nope")
    model = tmp_path / "m.pt"
    assert cli("export", trained[1]["c3d-pose"], "--out", model).returncode == 0
    one_line_error(cli("explain", model, "--out", tmp_path / "o"), "m.pt")


def test_two_stream_spatial_grad_cam(trained, tmp_path):
    """The two-stream model: Grad-CAM on the spatial stream, every frame of the clip its image."""
    from actionpose.train import engine
    from actionpose.train.experiments import make_config

    cfg = make_config("two-stream-mask", "smoke", dataset=str(trained[0]), workers=0, epochs=1)
    engine.fit(cfg, tmp_path, progress=False)
    summary = run_context_reliance(tmp_path / cfg.experiment / cfg.run_name(), strips=0)
    assert summary["method"] == "grad-cam" and summary["videos"] == 8
    assert 0.0 <= summary["mean_context_reliance"] <= 1.0


def test_reliance_over_a_runs_folder(trained, tmp_path):
    runs = trained[1]["c3d-pose"].parents[1]
    proc = cli("explain", runs, "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(tmp_path / "context_reliance_runs.csv")
    assert sorted(table["experiment"]) == ["attention-pose", "c3d-pose"]
    assert table["context_reliance"].between(0, 1).all()
    assert (tmp_path / "context_reliance.png").read_bytes()[:4] == b"\x89PNG"
    stored = trained[1]["c3d-pose"] / "context_reliance.json"
    stamp = stored.stat().st_mtime_ns
    assert cli("explain", runs, "--out", tmp_path).returncode == 0
    assert stored.stat().st_mtime_ns == stamp  # reused, not recomputed


def test_test_split_writes_beside_each_run(trained):
    """`explain --test-split RUN RUN`: every test video, the CSV and JSON beside each run, the run's
    record untouched; reused while newer than last.pt, recomputed with --redo or newer weights."""
    import os

    runs = list(trained[1].values())
    record = {p: p.read_bytes() for run in runs for p in run.iterdir()
              if p.is_file() and not p.name.startswith("context_reliance")}
    proc = cli("explain", "--test-split", *runs, "--redo")
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 2 and "s/video" in proc.stdout
    for run in runs:
        rows = pd.read_csv(run / "context_reliance.csv")
        predictions = pd.read_csv(run / "predictions.csv")
        assert list(rows.columns[:5]) == ["video", "label", "prediction", "probability", "context_reliance"]
        assert sorted(rows["video"]) == sorted(predictions["video"])
        assert rows["context_reliance"].between(0, 1).all()
        meta = json.loads((run / "context_reliance.json").read_text())
        assert meta["videos"] == len(rows) and meta["seconds_per_video"] > 0
        assert meta["mean_context_reliance"] == pytest.approx(rows["context_reliance"].mean())
        assert meta["agreement_with_predictions_csv"] == 1.0  # the test loader's clips, fp32
    assert {p: p.read_bytes() for p in record} == record  # summary.json, metrics.csv, ... unchanged
    stored = runs[0] / "context_reliance.json"
    stamp = stored.stat().st_mtime_ns
    proc = cli("explain", runs[0], "--test-split")  # RUN --test-split: the same
    assert proc.returncode == 0 and "reused" in proc.stdout and stored.stat().st_mtime_ns == stamp
    later = stamp / 1e9 + 5
    os.utime(runs[0] / "last.pt", (later, later))  # newer weights: recomputed
    proc = cli("explain", "--test-split", runs[0])
    assert proc.returncode == 0 and "reused" not in proc.stdout and stored.stat().st_mtime_ns > stamp


def test_test_split_errors(trained, tmp_path):
    import shutil

    run = trained[1]["c3d-pose"]
    one_line_error(cli("explain", "--test-split"), "at least one run")
    one_line_error(cli("explain", run, tmp_path / "v.mp4", "--test-split"), "run folders only")
    one_line_error(cli("explain", "--test-split", tmp_path / "nope"), "nope", "not found")
    (tmp_path / "empty").mkdir()
    one_line_error(cli("explain", "--test-split", tmp_path / "empty"), "empty", "holding runs")
    one_line_error(cli("explain", "--test-split", run, "--split", "2"), run.name, "split 1")
    copy = tmp_path / "runs" / "c3d-pose" / run.name
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("context_reliance*"))
    (copy / "last.pt").unlink()
    one_line_error(cli("explain", "--test-split", copy), "no last.pt")
    # searched (not named): passed over with its reason; nothing else found is an error
    proc = cli("explain", "--test-split", tmp_path / "runs")
    one_line_error(proc, "no finished run", "no last.pt")
    assert not (copy / "context_reliance.csv").exists()


@pytest.mark.parametrize("crop", ["resize", "person"])
def test_the_mask_lies_where_the_model_looks(tmp_path, monkeypatch, crop):
    """A world whose frames are white exactly on the person's ground-truth mask and black
    elsewhere, and an attribution that is the brightness of the clip the model is fed: it equals
    the mask explain measures against only if the mask went through the clip's own sampling, crop
    and resize (the person crop moves and scales the frame around an off-centre person)."""
    import torch

    from actionpose.data import jhmdb as J
    from actionpose.data import synthetic
    from actionpose.data.clips import denormalize_video
    from actionpose.train.experiments import make_config
    from actionpose.use import explain
    from actionpose.use.model import model_from_config

    monkeypatch.setenv("ACTIONPOSE_DATA", str(tmp_path / "data"))  # the decoded-clip cache
    root = tmp_path / "world"
    synthetic.generate(root, synthetic.synth_config("smoke"), workers=1)
    tests = [e for e in J.read_split(root, 1) if e.subset == "test"]
    for e in tests:
        m = J.read_mask(J.mask_path(root, e.cls, e.video)).transpose(2, 0, 1)  # (T, H, W) 0/1
        J.write_frames(J.frames_dir(root, e.cls, e.video), np.repeat(m[..., None], 3, -1) * np.uint8(255))
    cfg = make_config("c3d-pose", "smoke", dataset=str(root), crop=crop, workers=0)
    classes = J.modality_classes(root)
    run = tmp_path / "run"
    run.mkdir()
    torch.save({"model": model_from_config(cfg, classes).module.model.state_dict(), "classes": classes},
               run / "last.pt")
    (run / "config.json").write_text(json.dumps(cfg.to_dict()))
    (run / "summary.json").write_text(json.dumps({"complete": True, "data_root": str(root)}))
    gaps, negative, fed = [], [], []

    def brightness(loaded, inputs):
        fed.append(inputs["video"])
        maps = (denormalize_video(inputs["video"]).mean(1) / 255).clamp(0, 1).numpy()  # (B, T, H, W)
        masks = inputs["mask"][:, 0].numpy()
        gaps.append(np.abs((1 - maps if negative else maps) - masks).max())
        return maps, np.full((len(maps), len(classes)), 1 / len(classes)), "brightness"

    monkeypatch.setattr(explain, "attribution_maps", brightness)
    summary = explain.reliance_beside_run(run)
    assert summary["videos"] == len(tests) and len(gaps) >= 1
    assert max(gaps) < 0.03, gaps  # pixel for pixel the mask (uint8 rounding of the frames aside)
    # and the clips are the training engine's test clips (its sampling, crop, resize and cache)
    from actionpose.data.roots import default_cache_dir
    from actionpose.models.registry import heatmap_size
    from actionpose.train.engine import build_datasets

    _, test = build_datasets(cfg, root, heatmap_size=heatmap_size(cfg), cache_dir=default_cache_dir(root))
    assert torch.equal(torch.cat(fed), torch.stack([test[i]["video"] for i in range(len(test))]))
    shares = np.array([r["context_reliance"] for r in summary["per_video"]])
    fractions = np.array([r["mask_fraction"] for r in summary["per_video"]])
    # sum(m * m) / sum(m) of a soft (resized) mask: below 1 only by its anti-aliased edge
    assert shares.min() > 0.75 and fractions.max() < 0.2, (shares, fractions)
    # the control: the same frames as the negative (all evidence outside the person)
    for e in tests:
        folder = J.frames_dir(root, e.cls, e.video)
        J.write_frames(folder, 255 - J.read_frames(folder))
    negative.append(True)
    gaps.clear()
    inverted = explain.reliance_beside_run(run, redo=True)
    assert max(gaps) < 0.03, gaps
    assert max(r["context_reliance"] for r in inverted["per_video"]) < 0.1
