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
    assert (tmp_path / "context_reliance_runs.png").read_bytes()[:4] == b"\x89PNG"
    cached = trained[1]["c3d-pose"] / "eval" / "context_reliance" / "context_reliance.json"
    stamp = cached.stat().st_mtime_ns
    assert cli("explain", runs, "--out", tmp_path).returncode == 0
    assert cached.stat().st_mtime_ns == stamp  # reused, not recomputed
