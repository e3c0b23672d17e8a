"""The training engine: learning, metrics files, resume after SIGKILL, atomic checkpoints, DDP,
CLI errors, and `reproduce --preset smoke` end to end."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from actionpose.errors import CheckpointError, ConfigError
from actionpose.models import registry
from actionpose.train import engine, runs
from actionpose.train.experiments import make_config
from actionpose.train.sampling import SeededItems

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def smoke_data(tmp_path_factory):
    """The embedded dataset at the smoke preset, generated once for this module."""
    from actionpose.data import synthetic

    root = tmp_path_factory.mktemp("data") / "puppet-smoke"
    synthetic.generate(root, synthetic.synth_config("smoke"), workers=1)
    return root


def _env(**extra):
    env = dict(os.environ)
    env.update({"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}, **extra)
    return env


def _cli(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "actionpose", *args], capture_output=True,
                          text=True, env=env or _env(), timeout=timeout, cwd=REPO)


def test_overfits_a_tiny_batch():
    torch.manual_seed(0)
    cfg = make_config("c3d", "smoke", dropout=0.0, fc_dim=128, lr=0.05)
    model = engine.build_model(cfg, num_classes=4)
    batch = {"video": torch.randn(8, 3, 4, 32, 32), "label": torch.arange(8) % 4}
    opt = engine.build_optimizer(cfg, model)
    for _ in range(100):
        out = registry.forward(cfg, model, batch)
        loss = registry.compute_loss(cfg, out, batch["label"])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        pred = registry.forward(cfg, model, batch)["logits"].argmax(1)
    assert float(loss) < 0.05
    assert (pred == batch["label"]).all()


def test_seeded_items_are_a_function_of_the_seed(smoke_data):
    """An item depends on its seed only (not on what ran before), as with torch.manual_seed."""
    cfg = make_config("c3d-pose", "smoke")
    train, _ = engine.build_datasets(cfg, smoke_data, uint8=True)
    items = SeededItems(train)
    first = items[(3, 1234)]
    torch.rand(10)  # disturb the global generator
    again, other = items[(3, 1234)], items[(3, 99)]
    torch.manual_seed(1234)
    plain = train[3]
    assert all(torch.equal(first[k], again[k]) and torch.equal(first[k], plain[k]) for k in ("video", "mask"))
    assert not torch.equal(first["video"], other["video"])


def test_fit_writes_metrics_predictions_summary(smoke_data, tmp_path):
    cfg = make_config("c3d-pose", "smoke", epochs=2, dataset=str(smoke_data))
    summary = engine.fit(cfg, tmp_path, progress=False)
    folder = runs.run_dir(cfg, tmp_path)
    metrics = pd.read_csv(folder / "metrics.csv")
    assert list(metrics.columns) == runs.METRIC_COLUMNS
    assert metrics["epoch"].tolist() == [1, 2]
    assert metrics["test_video_acc"].between(0, 1).all()
    predictions = pd.read_csv(folder / "predictions.csv")
    assert len(predictions) == summary["num_test_videos"] > 0
    assert {"video", "label", "prediction"} <= set(predictions.columns)
    # no validation split, so no best.pt: a checkpoint is never chosen on the test split
    assert summary["complete"] and (folder / "last.pt").is_file() and not (folder / "best.pt").exists()
    assert json.loads((folder / "config.json").read_text())["background_factor"] == 0.25
    confusion = pd.read_csv(folder / "confusion.csv", index_col=0)
    assert confusion.to_numpy().sum() == summary["num_test_videos"]


def test_best_checkpoint_is_the_best_validation_epoch(smoke_data, tmp_path, monkeypatch):
    chosen = []
    real = runs.save_checkpoints

    def spy(folder, state, *, improved):
        if improved:
            chosen.append(state["epoch"])
        real(folder, state, improved=improved)

    monkeypatch.setattr(engine, "save_checkpoints", spy)
    cfg = make_config("c3d-pose", "smoke", epochs=3, dataset=str(smoke_data), val_fraction=0.5)
    engine.fit(cfg, tmp_path, progress=False)
    folder = runs.run_dir(cfg, tmp_path)
    metrics = pd.read_csv(folder / "metrics.csv")
    val = metrics["val_video_acc"].tolist()
    best_epoch = int(metrics["epoch"][val.index(max(val))])  # the first epoch at the maximum
    assert chosen[-1] == best_epoch and runs.load_checkpoint(folder / "best.pt")["epoch"] == best_epoch
    # each write of best.pt is a strict improvement of validation accuracy
    assert all(val[b - 1] > max(val[:a]) for a, b in zip(chosen, chosen[1:]))


def test_resume_after_sigkill_is_bit_identical(smoke_data, tmp_path):
    args = ["train", "c3d", "--preset", "smoke", "--data", str(smoke_data), "--epochs", "4",
            "--deterministic", "--quiet", "workers=1"]
    done = _cli(*args, "--out", str(tmp_path / "a"))
    assert done.returncode == 0, done.stderr
    out_b = tmp_path / "b"
    proc = subprocess.Popen([sys.executable, "-m", "actionpose", *args, "--out", str(out_b)],
                            env=_env(), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while time.time() < deadline:
        found = list(out_b.glob("c3d/*/metrics.csv"))
        if found and len(pd.read_csv(found[0])) >= 1 and proc.poll() is None:
            break
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    metrics = list(out_b.glob("c3d/*/metrics.csv"))[0]
    assert len(pd.read_csv(metrics)) < 4
    resumed = _cli(*args, "--out", str(out_b), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    a = pd.read_csv(list((tmp_path / "a").glob("c3d/*/metrics.csv"))[0]).drop(columns="seconds")
    b = pd.read_csv(metrics).drop(columns="seconds")
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_corrupt_checkpoint_and_config_mismatch(smoke_data, tmp_path):
    cfg = make_config("c3d", "smoke", dataset=str(smoke_data))
    engine.fit(cfg, tmp_path, progress=False)
    folder = runs.run_dir(cfg, tmp_path)
    changed = make_config("c3d", "smoke", dataset=str(smoke_data), lr=0.5)
    with pytest.raises(ConfigError, match=r"lr: 0.01 \(run folder\) != 0.5"):
        engine.fit(changed, tmp_path, resume=True, progress=False)
    # without --resume, a different config must not replace the finished run (it would share
    # the folder name: overrides do not change it)
    before = (folder / "metrics.csv").read_bytes()
    with pytest.raises(ConfigError, match=r"holds a run with a different config, not replaced:\n  lr: 0.01"):
        engine.fit(changed, tmp_path, progress=False)
    assert (folder / "metrics.csv").read_bytes() == before and (folder / "summary.json").is_file()
    with pytest.raises(ConfigError, match=r"finished under a different config than asked for:\n  lr: 0.01"):
        runs.ensure_run(changed, tmp_path, progress=False)
    assert runs.ensure_run(cfg, tmp_path, progress=False)["complete"]
    (folder / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="last.pt: corrupt"):
        engine.fit(cfg, tmp_path, resume=True, progress=False)


def test_overrides_are_typed_as_the_config_declares():
    from actionpose.train.experiments import parse_overrides

    assert parse_overrides(["lr=1", "epochs=3", "depthwise_fp32=true", "size=[48,64]",
                            "context_bias=null", "weights=none", "dataset=2024", "optimizer=adamw"]) == {
        "lr": 1.0, "epochs": 3, "depthwise_fp32": True, "size": (48, 64), "context_bias": None,
        "weights": None, "dataset": "2024", "optimizer": "adamw"}
    with pytest.raises(ConfigError, match=r"override lr='fast': expected float"):
        parse_overrides(["lr=fast"])
    with pytest.raises(ConfigError, match=r"override context_bias='high': expected float \| null"):
        parse_overrides(["context_bias=high"])


def test_config_keys_added_later_compare_as_their_defaults():
    old = make_config("c3d", "smoke").to_dict()
    del old["depthwise_fp32"]  # a run folder written before the field existed
    assert runs.config_difference(old, make_config("c3d", "smoke").to_dict()) == []
    assert runs.config_difference(old, make_config("c3d", "smoke", depthwise_fp32=True).to_dict()) == [
        "depthwise_fp32: False (run folder) != True (now)"]


def test_depthwise_fp32_trains_a_lite0_model_under_bf16(smoke_data, tmp_path, monkeypatch):
    from actionpose.models.precision import is_depthwise, runs_fp32

    built = []
    real_build = engine.build_model
    monkeypatch.setattr(engine, "build_model", lambda *a, **k: built.append(real_build(*a, **k)) or built[-1])
    cfg = make_config("two-stream", "smoke", dataset=str(smoke_data), backbone="efficientnet_lite0",
                      temporal_backbone="efficientnet_lite0", amp="bf16", depthwise_fp32=True)
    summary = engine.fit(cfg, tmp_path, progress=False)
    assert summary["complete"] and summary["amp"] == "bfloat16"
    depthwise = [m for m in built[0].modules() if is_depthwise(m)]
    assert len(depthwise) == 2 * 16  # two Lite0 streams (their same-padding conv class)
    assert all(runs_fp32(m) for m in depthwise)
    assert not any(runs_fp32(m) for m in built[0].modules() if not is_depthwise(m))
    assert json.loads((runs.run_dir(cfg, tmp_path) / "config.json").read_text())["depthwise_fp32"] is True


def test_ddp_two_gloo_processes_match_single_process(smoke_data, tmp_path):
    common = ["c3d", "--preset", "smoke", "--data", str(smoke_data), "--epochs", "2", "--quiet",
              "--deterministic", "dropout=0.0", "batch_norm=false", "workers=0"]
    single = _cli("train", *common, "batch_size=8", "--out", str(tmp_path / "single"))
    assert single.returncode == 0, single.stderr
    ddp = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "actionpose", "train", *common, "batch_size=4", "--out", str(tmp_path / "ddp")],
        capture_output=True, text=True, env=_env(), cwd=REPO, timeout=300)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    a = json.loads(next((tmp_path / "single").glob("c3d/*/summary.json")).read_text())
    b = json.loads(next((tmp_path / "ddp").glob("c3d/*/summary.json")).read_text())
    assert b["world_size"] == 2
    assert a["num_test_videos"] == b["num_test_videos"]
    assert b["final"]["train_loss"] == pytest.approx(a["final"]["train_loss"], rel=1e-3)
    assert b["final"]["test_loss"] == pytest.approx(a["final"]["test_loss"], rel=1e-3)


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "c3d-poes"], "did you mean c3d-pose"),
        (["train", "c3d", "--preset", "gpu"], "unknown preset 'gpu'"),
        (["train", "c3d", "--preset", "smoke", "lrr=0.1"], "unknown override key 'lrr'"),
        (["train", "c3d", "--preset", "smoke", "background_factor=2"], "background_factor=2.0: must be in [0, 1]"),
        (["train", "c3d", "--preset", "smoke", "channels_last=maybe"],
         "override channels_last='maybe': expected bool"),
        (["train", "c3d", "--preset", "smoke", "epochs=2.5"], "override epochs='2.5': expected int"),
        (["reproduce", "--preset", "smoke", "--sweep", "0.5", "--sweep-pair", "attention", "atention-pose"],
         "did you mean attention-pose"),
    ],
)
def test_cli_errors(args, message, capsys):
    from actionpose.cli import main

    assert main(args) == 2  # in-process: a subprocess per case costs seconds of imports
    assert message in capsys.readouterr().err


def test_cli_error_of_a_real_process_is_one_line():
    result = _cli("train", "c3d-poes")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["actionpose: error: unknown experiment 'c3d-poes' "
                                                  "(did you mean c3d-pose, c3d?)"]


def test_sweep_plan_runs_the_pair_at_each_bias():
    from actionpose.train.experiments import SWEEP_PAIR, report_plan

    base = report_plan("cpu", 2)
    plan = report_plan("cpu", 2, sweep=(0.0, 0.8))
    extra = plan[len(base):]
    assert [(c.experiment, c.context_bias, c.seed) for c in extra] == [
        (e, b, s) for b in (0.0, 0.8) for e in SWEEP_PAIR for s in range(2)]
    c3d = report_plan("cpu", 1, sweep=(0.5,), sweep_pair=("c3d", "c3d-pose"))[-2:]
    assert [c.experiment for c in c3d] == ["c3d", "c3d-pose"] and c3d[0].dataset == "puppet"


def test_cli_refuses_data_root_failing_check(tmp_path):
    (tmp_path / "puppet_mask").mkdir()
    result = _cli("train", "c3d", "--preset", "smoke", "--data", str(tmp_path))
    assert result.returncode == 2
    assert "data check" in result.stderr and str(tmp_path) in result.stderr


def test_reproduce_smoke_end_to_end(tmp_path, jhmdb_root):
    """The whole report at the smoke preset; then runs side by side, each in its own process."""
    env = _env(ACTIONPOSE_DATA=str(tmp_path / "data"))
    out = [str(tmp_path / x) for x in ("runs", "results", "figures")]
    args = ("reproduce", "--preset", "smoke", "--seeds", "1", "--quiet", "--out", out[0],
            "--results", out[1], "--figures", out[2])
    result = _cli(*args, env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    from actionpose.train.experiments import REPORT_RUNS

    runs = pd.read_csv(Path(out[1]) / "runs.csv")
    assert len(runs) == len(REPORT_RUNS)
    assert (Path(out[2]) / "c3d_pose.png").is_file() and (Path(out[2]) / "c3d_pose.svg").is_file()
    again = _cli(*args, env=env)
    assert again.returncode == 0 and again.stderr.count("done, skipped") == len(REPORT_RUNS)
    # each call appends its wall time, and what it trained, to OUT/reproduce_log.jsonl
    first, second = [json.loads(line) for line in (Path(out[0]) / "reproduce_log.jsonl").open()]
    assert first["runs_trained"] == first["runs_planned"] == len(REPORT_RUNS) and first["whole_plan"]
    assert first["minutes"] > 0 and len(first["datasets_generated"]) == 2  # puppet + actors
    assert second["runs_trained"] == 0 and second["datasets_generated"] == []
    # a finished run trained under another config (a preset changed since) is refused, kept
    config = Path(out[0]) / "c3d" / "puppet-smoke-split1-seed0" / "config.json"
    original = config.read_text()
    config.write_text(original.replace('"lr": 0.01', '"lr": 0.001'))
    stale = _cli(*args, env=env)
    assert stale.returncode == 2, stale.stderr[-2000:]
    assert "1 finished run(s)" in stale.stderr and "puppet-smoke-split1-seed0: lr: 0.001 (run folder) != 0.01" \
        in stale.stderr and config.is_file()
    # side by side (--jobs 2): a missing run trains in its own process and logs there; a run that
    # fails is named with its log, and reproduce exits non-zero
    config.write_text(original)
    shutil.rmtree(Path(out[0]) / "pose-only" / "puppet-smoke-split1-seed0")
    (Path(out[0]) / "c3d" / "puppet-smoke-split1-seed0" / "summary.json").unlink()
    (Path(out[0]) / "c3d" / "puppet-smoke-split1-seed0" / "last.pt").write_bytes(b"junk")
    side = _cli(*args[:5], "--jobs", "2", "--only", "c3d", "--only", "pose-only", *args[5:], env=env,
                timeout=600)
    assert side.returncode == 1 and "1 run(s) failed" in side.stderr, side.stderr[-2000:]
    assert "puppet-smoke-split1-seed0/train.log" in side.stderr
    assert side.stderr.count(": started (log ") == 2 and side.stderr.count("-seed0: finished") == 1
    # --only picks those experiments on every dataset: their other two runs are done, skipped
    assert side.stderr.count("done, skipped") == 2, side.stderr[-2000:]
    log = Path(out[0]) / "pose-only" / "puppet-smoke-split1-seed0" / "train.log"
    assert "test video acc" in log.read_text() and (log.parent / "summary.json").is_file()
