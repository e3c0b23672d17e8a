"""Run folders: checkpoints load only as tensors and plain values (a crafted pickle never runs),
RNG states survive a checkpoint, and the folder lock keeps one writer per run."""
from __future__ import annotations

import os
import pickle
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from actionpose.errors import CheckpointError
from actionpose.io import write_json
from actionpose.train import runs
from actionpose.train.experiments import make_config

REPO = Path(__file__).resolve().parents[1]


def _cli(*args, timeout=120):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "actionpose", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=REPO)


class _Payload:
    """Unpickling this runs a shell command that creates ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _malicious_run(out: Path, marker: Path, *, raw_pickle: bool):
    """A run folder whose config matches the smoke c3d run and whose last.pt is a crafted pickle."""
    cfg = make_config("c3d", "smoke")
    folder = runs.run_dir(cfg, out)
    folder.mkdir(parents=True)
    write_json(folder / "config.json", cfg.to_dict())
    state = {"model": _Payload(marker), "epoch": 1}
    if raw_pickle:
        (folder / "last.pt").write_bytes(pickle.dumps(state))
    else:
        torch.save(state, folder / "last.pt")
    return cfg, folder


def test_rng_state_survives_a_weights_only_checkpoint(tmp_path):
    random.seed(3), np.random.seed(3), torch.manual_seed(3)
    random.gauss(0, 1), np.random.normal()  # cached gaussians are part of the state
    runs.save_checkpoint(tmp_path / "last.pt", {"rng": runs.rng_state()})
    want = (random.random(), random.gauss(0, 1), np.random.normal(), float(torch.rand(1)))
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    runs.set_rng_state(torch.load(tmp_path / "last.pt", weights_only=True)["rng"])
    assert (random.random(), random.gauss(0, 1), np.random.normal(), float(torch.rand(1))) == want


@pytest.mark.parametrize("raw_pickle", [False, True], ids=["torch-zip", "raw-pickle"])
def test_crafted_checkpoint_is_refused_by_load_run_and_never_runs(tmp_path, raw_pickle):
    marker = tmp_path / "PWNED"
    _, folder = _malicious_run(tmp_path / "runs", marker, raw_pickle=raw_pickle)
    with pytest.raises(CheckpointError) as info:
        runs.load_run(folder)
    assert not marker.exists()
    message = str(info.value)
    assert "\n" not in message
    if raw_pickle:  # refused before any global is looked up
        assert message.startswith(f"{folder / 'last.pt'}: corrupt or unreadable checkpoint, not torch.save's")
    else:
        assert message.startswith(f"{folder / 'last.pt'}: refused, not loaded: it needs posix.system")


def test_crafted_checkpoint_is_refused_by_train_resume(tmp_path):
    marker = tmp_path / "PWNED"
    _, folder = _malicious_run(tmp_path / "runs", marker, raw_pickle=False)
    result = _cli("train", "c3d", "--preset", "smoke", "--out", str(tmp_path / "runs"), "--resume", "--quiet")
    assert not marker.exists()
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"actionpose: error: {folder / 'last.pt'}: refused, not loaded: it needs posix.system, and unpickling that "
        "could run code (a tampered file, or a checkpoint from an older actionpose); move it away to "
        "train this run afresh"]
    assert (folder / "last.pt").is_file()  # left for the user to inspect


def test_old_format_checkpoint_with_numpy_rng_is_refused(tmp_path):
    path = tmp_path / "last.pt"
    torch.save({"rng": {"numpy": np.random.get_state()}}, path)
    with pytest.raises(CheckpointError, match=r"refused, not loaded: it needs numpy\._?core\.multiarray"):
        runs.load_checkpoint(path)


def test_truncated_foreign_and_non_dict_checkpoints_are_refused(tmp_path):
    path = tmp_path / "last.pt"
    torch.save({"epoch": 1, "weights": torch.zeros(1000)}, path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(CheckpointError, match=r"last.pt: corrupt or unreadable checkpoint \(PytorchStreamReader "
                                              r"failed reading zip archive: failed finding central directory\)$"):
        runs.load_checkpoint(path)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"last.pt: corrupt or unreadable checkpoint, not torch.save's "
                                              r"format \(Unsupported operand \d+\)$"):
        runs.load_checkpoint(path)
    torch.save(torch.zeros(2), path)
    with pytest.raises(CheckpointError, match=r"last.pt: not an actionpose checkpoint \(holds a Tensor\)$"):
        runs.load_checkpoint(path)
