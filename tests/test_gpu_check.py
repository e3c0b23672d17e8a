"""The GPU check's harness: `bash benchmarks/gpu_check.sh --smoke` (toy sizes, CPU) and its JSON."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks import gpu_check

REPO = Path(__file__).resolve().parents[1]


def test_smoke_runs_every_step_and_writes_the_json(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(["bash", "benchmarks/gpu_check.sh", "--smoke", "--out", str(tmp_path)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert proc.returncode == 0, proc.stderr[-3000:] + json.dumps(report["steps"], indent=1)[-3000:]
    assert report["smoke"] is True and report["all_steps_ok"] is True
    assert report["machine"]["torch"] and report["machine"]["device"]
    assert "random" in report["weights"]
    assert list(report["steps"]) == ["throughput", "train", "notebook", "torchrun"]
    assert all(s["ok"] and s["seconds"] <= s["time_box_s"] + 5 for s in report["steps"].values())

    models = report["steps"]["throughput"]["models"]
    assert [m["model"] for m in models] == ["c3d", "attention", "two-stream"]
    assert models[2]["temporal_backbone"] == "alexnet"  # the paper preset's two-stream, smaller
    for m in models:
        assert set(m["modes"]) == {"fp32", "bf16", "bf16+channels_last"}  # fp16 is CUDA only
        for mode in m["modes"].values():
            assert math.isfinite(mode["clips_per_s"]) and mode["clips_per_s"] > 0, m
            assert mode["clips_per_s"] == pytest.approx(m["batch"] / mode["step_s"])
        assert set(m["speedup_vs_fp32"]) == {"bf16", "bf16+channels_last"}
        assert m["met"] == (m["speedup_vs_fp32"]["bf16+channels_last"] >= 2.0)
    assert report["target"]["judged"] is False  # CPU toy sizes say nothing about a GPU

    train = report["steps"]["train"]
    assert train["run"]["complete"] and train["run"]["epochs_done"] == 1
    assert math.isfinite(train["run"]["train_loss"])
    assert "device cpu" in report["steps"]["notebook"]["device_line"]
    assert report["steps"]["torchrun"]["run"]["world_size"] == 1
    assert report["steps"]["torchrun"]["run"]["complete"]


def test_a_failing_step_is_recorded_and_the_others_still_run(tmp_path, monkeypatch):
    def broken(ctx, box):
        raise RuntimeError("CUDA error: an illegal memory access")

    def fine(ctx, box):
        return {"note": "ran", "error": None}

    monkeypatch.setattr(gpu_check, "STEPS", (("a", broken, (5, 5)), ("b", fine, (5, 5))))
    report = gpu_check.run_all(True, tmp_path / "out")
    saved = json.loads((tmp_path / "out" / "gpu_check.json").read_text())
    assert saved == json.loads(json.dumps(report))
    assert saved["steps"]["a"]["ok"] is False
    assert saved["steps"]["a"]["error"] == "RuntimeError: CUDA error: an illegal memory access"
    assert saved["steps"]["b"] == {**saved["steps"]["b"], "ok": True, "note": "ran"}
    assert saved["all_steps_ok"] is False and saved["target"]["met"] is None


def test_the_time_box_kills_the_whole_process_group(tmp_path):
    log = tmp_path / "log"
    t0 = time.monotonic()
    call = gpu_check._run(["bash", "-c", "sleep 30 & sleep 30; wait"], timeout=1, env=dict(os.environ),
                          log=log)
    assert time.monotonic() - t0 < 10
    assert call["timed_out"] and gpu_check._failed(call).startswith("time box of the step reached")
    assert "sleep 30" in log.read_text()


def test_out_must_be_a_folder(tmp_path):
    (tmp_path / "file").write_text("")
    proc = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--smoke", "--out",
                           str(tmp_path / "file")], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].endswith(f"--out {tmp_path / 'file'}: not a folder")
