"""Run folders: checkpoints load only as tensors and plain values (a crafted pickle never runs),
RNG states survive a checkpoint, and the folder lock keeps one writer per run."""
from __future__ import annotations

import errno
import json
import os
import pickle
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from actionpose.errors import CheckpointError, RunError, WriteError
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


_HOLD = """
import sys, time
from pathlib import Path
from actionpose.train import runs
runs.lock_run(Path(sys.argv[1]))
print("locked", flush=True)
if sys.argv[2] == "die":
    import os; os._exit(0)  # ends without giving the lock back, like a killed process
time.sleep(60)
"""


def _hold_lock(folder: Path, mode: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(folder), mode], stdout=subprocess.PIPE,
                            text=True, env=env)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_writer_of_a_run_folder_is_refused(tmp_path):
    cfg = make_config("c3d", "smoke")
    folder = runs.run_dir(cfg, tmp_path)
    holder = _hold_lock(folder, "hold")
    try:
        (folder / "metrics.csv").write_text("epoch\n1\n")
        with pytest.raises(RunError, match=rf"^{folder}: in use by pid {holder.pid} on \S+ \(started "):
            runs.lock_run(folder)
        result = _cli("train", "c3d", "--preset", "smoke", "--out", str(tmp_path), "--quiet")
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"actionpose: error: {folder}: in use by pid {holder.pid}")
        assert (folder / "metrics.csv").read_text() == "epoch\n1\n"  # the holder's files are untouched
    finally:
        holder.kill()
        holder.wait()


def test_stale_lock_of_an_ended_process_is_taken_over(tmp_path, capsys):
    folder = tmp_path / "run"
    dead = _hold_lock(folder, "die")
    dead.wait()
    assert (folder / runs.LOCK_NAME).read_text().startswith(f'{{"pid": {dead.pid}')
    runs.lock_run(folder)
    try:
        assert capsys.readouterr().err.startswith(f"{folder}: taking over the lock of pid {dead.pid} on ")
        assert json.loads((folder / runs.LOCK_NAME).read_text())["pid"] == os.getpid()
        runs.lock_run(folder)  # held by this process already: no-op
    finally:
        runs.unlock_run(folder)
    assert not (folder / runs.LOCK_NAME).exists()
    runs.lock_run(folder)  # free again
    runs.unlock_run(folder)
    assert capsys.readouterr().err == ""


def test_unwritable_run_folder_is_a_one_line_error(tmp_path):
    (tmp_path / "out").write_text("a file, not a folder")
    with pytest.raises(RunError, match=r"out/c3d/puppet-smoke-split1-seed0: cannot write the run folder \(Not a directory\)$"):
        runs.lock_run(runs.run_dir(make_config("c3d", "smoke"), tmp_path / "out"))


def _run_folder(out: Path, **files: str) -> tuple:
    """The smoke c3d run folder under ``out`` holding ``files`` (name with '_' for '.')."""
    cfg = make_config("c3d", "smoke")
    folder = runs.run_dir(cfg, out)
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name.replace("_", ".", 1)).write_text(text)
    return cfg, folder


def test_resume_with_a_hand_broken_config_says_where_the_json_breaks(tmp_path):
    cfg = make_config("c3d", "smoke")
    broken = json.dumps(cfg.to_dict(), indent=1).replace('"lr": 0.01,', '"lr": 0.01,,')
    _, folder = _run_folder(tmp_path, config_json=broken, last_pt="x")
    line = broken.splitlines().index(' "lr": 0.01,,') + 1
    result = _cli("train", "c3d", "--preset", "smoke", "--out", str(tmp_path), "--resume", "--quiet")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"actionpose: error: {folder / 'config.json'}: not valid JSON (line {line}: Expecting property "
        "name enclosed in double quotes)"]
    assert (folder / "config.json").read_text() == broken and (folder / "last.pt").read_text() == "x"


def test_resume_without_config_says_it_is_missing(tmp_path):
    cfg, folder = _run_folder(tmp_path, last_pt="x")
    with pytest.raises(RunError, match=rf"^{folder / 'config.json'}: missing \(deleted or never written"):
        runs.prepare_run(folder, cfg, resume=True)
    assert not (folder / runs.LOCK_NAME).exists()  # a refused start gives the lock back


def test_fresh_start_over_a_run_without_config_deletes_nothing(tmp_path):
    cfg, folder = _run_folder(tmp_path, metrics_csv="epoch\n1\n", last_pt="x")
    with pytest.raises(RunError, match=r"config.json: missing"):
        runs.prepare_run(folder, cfg, resume=False)
    assert sorted(p.name for p in folder.iterdir()) == ["last.pt", "metrics.csv"]


def test_finished_run_with_broken_config_is_an_error_not_a_mismatch(tmp_path):
    cfg, folder = _run_folder(tmp_path, summary_json='{"complete": true}', config_json="[1, 2]")
    with pytest.raises(RunError, match=r"config.json: not a JSON object \(holds a list\)$"):
        runs.ensure_run(cfg, tmp_path, progress=False)


@pytest.mark.parametrize("config, summary, message", [
    ({"lr": -1.0}, None, r"config.json: lr=-1.0: must be > 0$"),
    ({"colour": "red"}, None, r"config.json: unknown config keys \['colour'\]$"),
    ({}, "{\n  \"data_root\": \n}", r"summary.json: not valid JSON \(line 3: Expecting value\)$"),
    ({}, "[]", r"summary.json: not a JSON object \(holds a list\)$"),
])
def test_load_run_names_the_broken_record(tmp_path, config, summary, message):
    cfg, folder = _run_folder(tmp_path, config_json=json.dumps({**make_config("c3d", "smoke").to_dict(),
                                                                 **config}))
    if summary is not None:
        (folder / "summary.json").write_text(summary)
    runs.save_checkpoint(folder / "last.pt", {"classes": ["a", "b"], "model": {}})
    with pytest.raises(RunError, match=message):
        runs.load_run(folder)


class _FillsUp:
    """A binary file that runs out of space after ``room`` bytes, as on a full disk."""

    def __init__(self, path, mode="wb", room=4096):
        self.fh, self.room = open(path, mode), room

    def write(self, data):
        self.room -= len(data)
        if self.room < 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.fh.write(data)

    def __getattr__(self, name):
        return getattr(self.fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()


def test_full_disk_during_a_checkpoint_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    runs.save_checkpoint(path, {"epoch": 1})
    monkeypatch.setattr(runs, "open", _FillsUp, raising=False)  # torch.save writes through it
    with pytest.raises(WriteError) as info:
        runs.save_checkpoint(path, {"epoch": 2, "model": {"w": torch.zeros(10_000)}})
    assert str(info.value) == f"{path}: not written: no space left on device"
    monkeypatch.undo()
    assert runs.load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temp file left behind


def test_a_kill_between_the_two_checkpoints_leaves_best_written(tmp_path, monkeypatch):
    written = []
    real = runs.save_checkpoint

    def killed_after_one(path, state):
        real(path, state)
        written.append(path.name)
        raise SystemExit(9)

    monkeypatch.setattr(runs, "save_checkpoint", killed_after_one)
    with pytest.raises(SystemExit):
        runs.save_checkpoints(tmp_path, {"epoch": 3}, improved=True)
    # last.pt still holds the epoch before, so a resume trains epoch 3 again and writes both
    assert written == ["best.pt"] and runs.load_checkpoint(tmp_path / "best.pt")["epoch"] == 3


def test_a_finished_run_loads_back_and_leaves_no_lock_or_temporaries(tmp_path):
    from actionpose.data import synthetic
    from actionpose.train.engine import fit

    data = tmp_path / "puppet-smoke"
    synthetic.generate(data, synthetic.synth_config("smoke"), workers=1)
    cfg = make_config("c3d-pose", "smoke", dataset=str(data))
    fit(cfg, tmp_path / "runs", progress=False)
    folder = runs.run_dir(cfg, tmp_path / "runs")
    assert sorted(p.name for p in folder.iterdir()) == sorted(["config.json", *runs.RECORD_FILES])
    model, loaded, test_ds = runs.load_run(folder)
    assert loaded == cfg and not model.training
    state = torch.load(folder / "last.pt", weights_only=True)
    assert all(torch.equal(v, state["model"][k]) for k, v in model.state_dict().items())
    assert len(test_ds) == json.loads((folder / "summary.json").read_text())["num_test_videos"]
