"""`actionpose evaluate`: test-time augmentation on a finished run, records kept, clear errors."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from actionpose.use.evaluate import FlipAverage, evaluate_run, mirror_input
from actionpose.use.model import open_run
from use_runs import cli, cli_process, one_line_error, train_runs


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_runs(tmp_path_factory.mktemp("use_eval"))


@pytest.mark.parametrize("exp", ["c3d-pose", "attention-pose"])
def test_same_clips_reproduce_the_training_record(trained, exp):
    run = trained[1][exp]
    rec = evaluate_run(run, write=False)
    recorded = pd.read_csv(run / "predictions.csv")
    summary = json.loads((run / "summary.json").read_text())
    assert rec["test_video_acc"] == summary["final"]["test_video_acc"]
    assert rec["num_test_videos"] == len(recorded)
    assert not (run / "eval").exists()


def test_tta_writes_its_own_files_and_leaves_the_record(trained):
    run = trained[1]["c3d-pose"]
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    proc = cli_process("evaluate", run, "--clips", "3", "--flip")
    assert proc.returncode == 0, proc.stderr
    assert "with 3 clip(s) + flip" in proc.stdout
    rec = json.loads((run / "eval" / "split1-clips3-flip.json").read_text())
    assert rec["clips"] == 3 and rec["flip"] is True and 0.0 <= rec["test_video_acc"] <= 1.0
    preds = pd.read_csv(run / "eval" / "split1-clips3-flip-predictions.csv")
    assert len(preds) == rec["num_test_videos"]
    scores = preds.filter(like="score_").to_numpy()
    assert np.allclose(scores.sum(1), 1.0, atol=1e-4)
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before
    assert not list((run / "eval").glob(".*.tmp"))


def test_flip_average_is_mirror_symmetric(trained):
    """Averaging a clip with its mirror image gives the same scores for the mirrored clip."""
    for exp in ("c3d-pose", "attention-pose"):
        loaded = open_run(trained[1][exp])
        torch.manual_seed(0)
        inputs = {n: torch.rand(loaded.spec.input_shape(n, batch=2)) for n in loaded.spec.inputs}
        from actionpose.models.registry import model_inputs

        tta = FlipAverage(loaded.module.model).eval()
        with torch.no_grad():
            a = tta(**model_inputs(loaded.cfg, inputs))["logits"]
            b = tta(**model_inputs(loaded.cfg, {k: mirror_input(k, v) for k, v in inputs.items()}))["logits"]
        assert torch.allclose(a, b, atol=1e-5), exp
        assert torch.allclose(a.exp().sum(1), torch.ones(2), atol=1e-5)


def test_mirror_swaps_left_right_joints_and_negates_flow():
    hm = torch.zeros(1, 15, 2, 4, 6)
    hm[0, 3, :, 1, 0] = 1.0  # right shoulder at the left edge
    out = mirror_input("heatmaps", hm)
    assert out[0, 4, 0, 1, 5] == 1.0 and out[0, 3].sum() == 0  # left shoulder at the right edge
    flow = torch.ones(1, 2, 1, 2, 2)
    assert torch.equal(mirror_input("flow", flow)[0, :, 0, 0, 0], torch.tensor([-1.0, 1.0]))
    assert torch.equal(mirror_input("video", mirror_input("video", flow)), flow)


def test_bad_run_folders_are_one_line_errors(trained, tmp_path):
    import shutil

    one_line_error(cli("evaluate", tmp_path / "nope"), "nope", "run folder not found")
    run = tmp_path / "run"
    shutil.copytree(trained[1]["c3d-pose"], run, ignore=shutil.ignore_patterns("eval"))
    one_line_error(cli("evaluate", run, "--split", "2"), "trained on split 1")
    one_line_error(cli("evaluate", run, "--on", "val"), "without a validation split")

    summary = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps({**summary, "complete": False}))
    one_line_error(cli("evaluate", run), "summary.json", "not complete")
    (run / "summary.json").write_text(json.dumps({**summary, "data_root": str(tmp_path / "moved")}))
    one_line_error(cli("evaluate", run), "moved", "pass --data ROOT")
    assert cli("evaluate", run, "--data", trained[0]).returncode == 0
    (run / "summary.json").write_text(json.dumps(summary))
    shutil.rmtree(run / "eval")

    ckpt = (run / "last.pt").read_bytes()
    (run / "last.pt").write_bytes(ckpt[: len(ckpt) // 2])
    one_line_error(cli("evaluate", run), "last.pt")
    (run / "last.pt").write_bytes(ckpt)

    (run / "config.json").write_text("{not json")
    one_line_error(cli("evaluate", run), "config.json")
    assert not (run / "eval").exists()


def test_confusion_figures(trained, tmp_path):
    from actionpose.use.confusion import comparison_confusion, read_confusion

    run = trained[1]["attention-pose"]
    proc = cli("evaluate", run, "--clips", "2", "--confusion", tmp_path / "c.png")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    classes, counts = read_confusion(run / "confusion.csv")
    assert counts.shape == (len(classes), len(classes))
    out = comparison_confusion(run.parents[1], ["c3d-pose", "attention-pose"], tmp_path / "cmp.png")
    assert out.stat().st_size > 1000
    bad = tmp_path / "confusion.csv"
    bad.write_text("label \\ prediction,a,b\na,1,2\n")
    with pytest.raises(Exception, match="confusion.csv: not a confusion matrix"):
        read_confusion(bad)


def test_fp32_run_reevaluated_gives_its_recorded_predictions(trained, tmp_path):
    """c3d-pose trains and evaluates in fp32 on the CPU: the same clips give the same scores."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained[1]["c3d-pose"], run, ignore=shutil.ignore_patterns("eval"))
    summary = json.loads((run / "summary.json").read_text())
    if summary["amp"] != "fp32":
        pytest.skip(f"the run was evaluated under {summary['amp']} autocast")
    rec = evaluate_run(run)
    ours = pd.read_csv(rec["path"].replace(".json", "-predictions.csv"))
    recorded = pd.read_csv(run / "predictions.csv")
    pd.testing.assert_frame_equal(ours, recorded, atol=2e-6, rtol=0)
