"""`actionpose evaluate / export / predict / explain` on the joint families (stgcn,
heatmap_volume): the model reads joints and their confidences, not heatmaps."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from actionpose.use.model import load_model, open_run
from use_runs import cli, export_run, one_line_error, train_runs

EXPERIMENTS = ("stgcn", "heatmap-volume")
FAST = ("--estimator", "use_runs:NobodyEvenFrames")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_runs(tmp_path_factory.mktemp("use_joints"), EXPERIMENTS)


def _test_batch(root, loaded, n=3):
    from actionpose.models.registry import heatmap_size
    from actionpose.train.engine import build_datasets

    _, test = build_datasets(loaded.cfg, root, heatmap_size=heatmap_size(loaded.cfg))
    items = [test[i] for i in range(n)]
    return {k: torch.stack([it[k] for it in items]) for k in loaded.spec.inputs}


@pytest.mark.parametrize("exp", EXPERIMENTS)
def test_the_spec_names_joints_and_confidences(trained, exp):
    loaded = open_run(trained[1][exp])
    spec = loaded.spec
    assert spec.inputs == ("joints", "joint_conf") and spec.pose_needed == ("joints",)
    assert spec.input_shape("joints", 2) == (2, 4, 15, 2) and spec.input_shape("joint_conf", 2) == (2, 4, 15)
    batch = _test_batch(trained[0], loaded)
    assert batch["joints"].shape == (3, 4, 15, 2) and loaded.logits(batch).shape == (3, 4)


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
@pytest.mark.parametrize("exp", EXPERIMENTS)
def test_export_matches_pytorch_on_test_clips(trained, tmp_path, exp, fmt):
    root, runs = trained
    loaded = open_run(runs[exp])
    out, meta = export_run(runs[exp], fmt, tmp_path)
    assert meta["inputs"] == ["joints", "joint_conf"] and meta["pose_needed"] == ["joints"]
    assert meta["input_shapes"] == {"joints": [1, 4, 15, 2], "joint_conf": [1, 4, 15]}
    batch = _test_batch(root, loaded)
    batch["joints"][0, 1] = -1.0  # a frame without a person, as the Dataset writes it
    batch["joint_conf"][0, 1] = 0.0
    expected = loaded.logits(batch)
    got = load_model(out).logits(batch)
    scale = max(1.0, float(expected.abs().max()))
    assert float((got - expected).abs().max()) / scale <= 1e-4
    assert torch.equal(got.argmax(1), expected.argmax(1))


@pytest.mark.parametrize("exp", EXPERIMENTS)
def test_evaluate_reproduces_the_training_record(trained, exp):
    root, runs = trained
    proc = cli("evaluate", runs[exp])
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((runs[exp] / "summary.json").read_text())
    assert f"video accuracy {summary['final']['test_video_acc']:.4f} with 1 clip(s)" in proc.stdout


@pytest.mark.parametrize("exp", EXPERIMENTS)
def test_predict_a_video_from_estimated_joints(trained, tmp_path, exp):
    from actionpose.data.jhmdb import write_video

    rng = np.random.default_rng(0)
    clip = tmp_path / "noise.avi"
    write_video(clip, rng.integers(0, 255, (30, 120, 160, 3), dtype=np.uint8), fps=25.0)
    run = trained[1][exp]
    out = tmp_path / "p.json"
    proc = cli("predict", run, clip, *FAST, "--window", "10", "--json", out)
    assert proc.returncode == 0, proc.stderr
    [result] = json.loads(out.read_text())["videos"]
    assert result["person_fraction"] == 0.5 and len(result["windows"]) == 5
    probs = np.array(list(result["probabilities"].values()))
    assert len(probs) == 4 and probs.sum() == pytest.approx(1, abs=1e-5)
    # the exported model predicts the same
    model = tmp_path / "m.pt"
    assert cli("export", run, "--out", model).returncode == 0
    out2 = tmp_path / "q.json"
    assert cli("predict", model, clip, *FAST, "--window", "10", "--json", out2).returncode == 0
    [again] = json.loads(out2.read_text())["videos"]
    assert np.allclose(list(again["probabilities"].values()), probs, atol=1e-5)


@pytest.mark.parametrize("exp", EXPERIMENTS)
def test_explain_refuses_in_one_line(trained, tmp_path, exp):
    out = tmp_path / "explain"
    proc = cli("explain", trained[1][exp], "--out", out)
    one_line_error(proc, f"experiment '{exp}' reads the joints alone: no frames or mask for Grad-CAM")
    assert not out.exists() or not any(out.iterdir())
