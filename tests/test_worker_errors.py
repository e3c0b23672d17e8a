"""An ActionposeError raised in a DataLoader worker reaches the user as the same one-line error as
without workers (torch alone would turn it into a long RuntimeError)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from actionpose.errors import DataError
from actionpose.train.sampling import EpochSampler, SeededItems, checked, collate

REPO = Path(__file__).resolve().parents[1]


class Broken(Dataset):
    """Item 3 is a corrupt file."""

    def __len__(self) -> int:
        return 6

    def __getitem__(self, index: int):
        if index == 3:
            raise DataError(f"/data/clip/{index:05d}.png", "unreadable image (corrupt or not an image)")
        return {"x": torch.full((2,), float(index))}


def _first_error(workers: int) -> DataError:
    loader = DataLoader(SeededItems(Broken()), sampler=EpochSampler(6, seed=0, shuffle=False),
                        batch_size=2, num_workers=workers, collate_fn=collate)
    with pytest.raises(DataError) as err:
        for batch in loader:
            checked(batch)
    return err.value


def test_worker_error_is_the_original_error():
    plain, pooled = _first_error(0), _first_error(2)
    assert type(pooled) is DataError
    assert str(pooled) == str(plain) == "/data/clip/00003.png: unreadable image (corrupt or not an image)"
    assert pooled.path == plain.path and pooled.problem == plain.problem


def test_batches_without_errors_are_default_collated():
    loader = DataLoader(SeededItems(Broken()), sampler=EpochSampler(3, seed=0, shuffle=False),
                        batch_size=3, num_workers=2, collate_fn=collate)
    (batch,) = [checked(b) for b in loader]
    assert torch.equal(batch["x"], torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]))


@pytest.fixture(scope="module")
def corrupt_world(tmp_path_factory):
    """A smoke puppet world whose first training clip has corrupt PNGs between its first and last
    frame: whole files (signature to IEND) with zeroed image data, which only decoding finds."""
    from actionpose.data import jhmdb as J
    from actionpose.data import synthetic

    root = tmp_path_factory.mktemp("corrupt") / "world"
    synthetic.generate(root, synthetic.synth_config("smoke", num_classes=2, clips_per_class=4), workers=1)
    entry = next(e for e in J.read_split(root, 1) if e.subset == "train")
    frames = J.list_frame_files(J.frames_dir(root, entry.cls, entry.video))
    for path in frames[1:-1]:
        data = bytearray(path.read_bytes())
        data[len(data) // 3:len(data) // 3 + 64] = bytes(64)
        path.write_bytes(bytes(data))
    return root


@pytest.mark.parametrize("workers", [0, 2])
def test_cli_corrupt_frame_is_one_line_with_and_without_workers(corrupt_world, tmp_path, workers):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1",
           "ACTIONPOSE_DATA": str(tmp_path / "data")}
    done = subprocess.run([sys.executable, "-m", "actionpose", "train", "c3d", "--preset", "smoke",
                           "--data", str(corrupt_world), "--out", str(tmp_path / "runs"), "--quiet",
                           f"workers={workers}", "batch_size=2"], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=300)
    assert done.returncode == 2, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert "Traceback" not in done.stderr and "RuntimeError" not in done.stderr, done.stderr[-3000:]
    errors = [line for line in lines if line.startswith("actionpose: error:")]
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith(f"actionpose: error: {corrupt_world}") and ".png: unreadable" in errors[0]
