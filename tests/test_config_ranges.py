"""Every TrainConfig field is checked for its range and meaning before any data is read: a bad
value is a one-line ConfigError naming the key (exit code 2 from the CLI), never a torch
traceback halfway through a run."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from actionpose.errors import ConfigError
from actionpose.train.experiments import PRESETS, EXPERIMENTS, make_config

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("overrides, message", [
    (dict(lr=-1.0), "lr=-1.0: must be > 0"),
    (dict(lr=0.0), "lr=0.0: must be > 0"),
    (dict(lr=float("nan")), "lr=nan: must be > 0"),
    (dict(lr=float("inf")), "lr=inf: must be > 0"),
    (dict(workers=-1), "workers=-1: must be an integer >= 0"),
    (dict(clips_per_video=0), "clips_per_video=0: must be an integer >= 1"),
    (dict(epochs=0), "epochs=0: must be an integer >= 1"),
    (dict(batch_size=0), "batch_size=0: must be an integer >= 1"),
    (dict(num_frames=0), "num_frames=0: must be an integer >= 1"),
    (dict(fc_dim=0), "fc_dim=0: must be an integer >= 1"),
    (dict(seed=-1), "seed=-1: must be an integer >= 0"),
    (dict(seed=2**32), "seed=4294967296: must be below 2**32"),
    (dict(split=4), "split=4: must be 1, 2 or 3"),
    (dict(schedule="step", step_size=0), "step_size=0: must be an integer >= 1 with schedule=step"),
    (dict(schedule="step", gamma=0.0), "gamma=0.0: must be > 0 with schedule=step"),
    (dict(label_smoothing=2.0), "label_smoothing=2.0: must be in [0, 1)"),
    (dict(label_smoothing=1.0), "label_smoothing=1.0: must be in [0, 1)"),
    (dict(background_factor=1.5), "background_factor=1.5: must be in [0, 1]"),
    (dict(dropout=1.0), "dropout=1.0: must be in [0, 1)"),
    (dict(momentum=-0.1), "momentum=-0.1: must be in [0, 1)"),
    (dict(weight_decay=-1e-4), "weight_decay=-0.0001: must be >= 0"),
    (dict(warmup_epochs=-1.0), "warmup_epochs=-1.0: must be >= 0"),
    (dict(aux_weight=-1.0), "aux_weight=-1.0: must be >= 0"),
    (dict(grad_clip=0.0), "grad_clip=0.0: must be null or > 0"),
    (dict(heatmap_sigma=-2.0), "heatmap_sigma=-2.0: must be null or > 0"),
    (dict(context_bias=1.5), "context_bias=1.5: must be null or in [0, 1]"),
    (dict(width=0.0), "width=0.0: must be > 0"),
    (dict(size=(0, 32)), "size=(0, 32): must be [height, width], two integers >= 1"),
    (dict(size=(32,)), "size=(32,): must be [height, width]"),
    (dict(amp="fp8"), "amp='fp8': must be one of auto, bf16, fp16, off"),
    (dict(optimizer="lamb"), "optimizer='lamb': must be one of sgd, adam, adamw"),
    (dict(temporal_input="depth"), "temporal_input='depth': must be one of rgb, flow"),
    (dict(streams=()), "streams=(): must be a non-empty list of distinct spatial, temporal"),
    (dict(streams=("spatial", "spatial")), "streams=('spatial', 'spatial'): must be a non-empty"),
    (dict(device="mps"), "device='mps': must be auto, cpu, cuda or cuda:N"),
    (dict(device="gpu"), "device='gpu': must be auto, cpu, cuda or cuda:N"),
    (dict(device="cuda:x"), "device='cuda:x': must be auto, cpu, cuda or cuda:N"),
    (dict(backbone="resnet9"), "backbone='resnet9': must be one of resnet18, "),
    (dict(temporal_backbone="lite0"), "temporal_backbone='lite0': must be one of resnet18, "),
    (dict(init_mode="copy"), "init_mode='copy': must be one of none, replicate, replicate_scaled, average"),
    (dict(lr="0.1"), "lr='0.1': must be > 0"),  # a wrong type from the Python API
    (dict(epochs=2.5), "epochs=2.5: must be an integer >= 1"),
    (dict(weights="/nonexistent/c3d.pt"), "weights='/nonexistent/c3d.pt': must be a named set of "
                                          "weights or an existing file (no such file)"),
])
def test_out_of_range_values_are_refused_naming_the_key(overrides, message):
    with pytest.raises(ConfigError) as info:
        make_config("c3d", "smoke", **overrides)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_every_preset_of_every_experiment_is_in_range():
    for name in EXPERIMENTS:
        for preset in PRESETS:
            make_config(name, preset)


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:1"])
def test_supported_devices_pass_the_check(device):
    assert make_config("c3d", "smoke", device=device).device == device


def test_existing_weights_file_passes(tmp_path):
    path = tmp_path / "w.pt"
    path.write_bytes(b"")
    assert make_config("attention", "smoke", weights=str(path)).weights == str(path)


@pytest.mark.parametrize("args, message", [
    pytest.param(["--device", "cuda:1"], "actionpose: error: device 'cuda:1' requested but CUDA is not available",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")),
    (["--device", "mps"], "actionpose: error: device='mps': must be auto, cpu, cuda or cuda:N"),
    (["lr=-1"], "actionpose: error: lr=-1.0: must be > 0"),
])
def test_cli_refuses_before_touching_data(tmp_path, args, message, capsys, monkeypatch):
    from actionpose.cli import main

    monkeypatch.setenv("ACTIONPOSE_DATA", str(tmp_path / "data"))
    code = main(["train", "c3d", "--preset", "smoke", "--out", str(tmp_path / "runs"), *args])
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "data").exists()
