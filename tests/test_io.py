"""Atomic writes under faults: a full disk is a one-line WriteError naming the target with the old
content kept, leftovers of killed writes are cleaned up by the next write of the same target,
modes follow the umask, and replacing a folder never loses both the old and the new one."""
from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from actionpose import io
from actionpose.errors import WriteError

REPO = Path(__file__).resolve().parents[1]
LONG_AGO = time.time() - 3600


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _full_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_full_disk_is_a_write_error_naming_the_target_and_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "summary.json"
    io.write_json(target, {"complete": True})
    monkeypatch.setattr(Path, "write_text", _full_disk)
    with pytest.raises(WriteError) as info:
        io.write_json(target, {"complete": False})
    assert str(info.value) == f"{target}: not written: no space left on device"
    assert info.value.errno == errno.ENOSPC and isinstance(info.value, OSError)
    monkeypatch.undo()
    assert target.read_text() == '{\n  "complete": true\n}\n'
    assert _names(tmp_path) == ["summary.json"]


def test_full_disk_in_a_folder_write_keeps_the_old_folder(tmp_path, monkeypatch):
    target = tmp_path / "frames"
    with io.atomic_dir(target) as tmp:
        (tmp / "1.png").write_text("old")
    monkeypatch.setattr(Path, "write_text", _full_disk)
    with pytest.raises(WriteError, match=rf"^{target}: not written: no space left on device$"):
        with io.atomic_dir(target) as tmp:
            (tmp / "1.png").write_text("new")
    monkeypatch.undo()
    assert _names(tmp_path) == ["frames"] and (target / "1.png").read_text() == "old"


def test_other_errors_of_the_body_pass_through_unchanged(tmp_path):
    with pytest.raises(FileNotFoundError):
        with io.atomic_path(tmp_path / "out.txt"):
            open(tmp_path / "missing-input.txt").read()
    assert _names(tmp_path) == []


def test_unwritable_target_is_a_write_error(tmp_path):
    (tmp_path / "results").write_text("a file where a folder should be")
    with pytest.raises(WriteError, match=rf"results/runs.csv: not written: {tmp_path}/results is a file, not a folder$"):
        io.write_json(tmp_path / "results" / "runs.csv", {})
    with pytest.raises(WriteError, match=r"results/figures/a: not written: .*/results is a file, not a folder$"):
        with io.atomic_dir(tmp_path / "results" / "figures" / "a"):
            pass
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / ".lock").mkdir()  # a folder where the file goes: the rename fails
    with pytest.raises(WriteError, match=r"locked/.lock: not written: is a directory$"):
        io.write_json(tmp_path / "locked" / ".lock", {})


@pytest.mark.parametrize("umask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)])
def test_modes_follow_the_umask_like_open(tmp_path, umask, file_mode, dir_mode):
    old = os.umask(umask)
    try:
        io.write_json(tmp_path / "a.json", {})
        with io.atomic_dir(tmp_path / "d") as tmp:
            (tmp / "x").write_text("x")
        with open(tmp_path / "plain", "w"):
            pass
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == file_mode
    assert (tmp_path / "plain").stat().st_mode & 0o777 == file_mode
    assert (tmp_path / "d").stat().st_mode & 0o777 == dir_mode


def test_leftovers_of_ended_writers_are_removed_by_the_next_write(tmp_path):
    dead = _dead_pid()
    stale_file = tmp_path / f".a.json.{dead}.0badc0de.tmp"
    stale_dir = tmp_path / f".a.json.{dead}.0badc0df.tmp"
    live = tmp_path / f".a.json.{os.getppid()}.0badc0e0.tmp"  # a writer still running
    recent = tmp_path / f".a.json.{dead}.0badc0e1.tmp"  # written since this process started
    foreign = tmp_path / ".a.json.backup.tmp"  # not our pattern
    other = tmp_path / f".b.json.{dead}.0badc0e2.tmp"  # another target's
    for path in (stale_file, live, recent, foreign, other):
        path.write_text("partial")
    stale_dir.mkdir()
    (stale_dir / "x").write_text("partial")
    for path in (stale_file, stale_dir, live, foreign, other):
        os.utime(path, (LONG_AGO, LONG_AGO))
    io.write_json(tmp_path / "a.json", {})
    assert _names(tmp_path) == sorted(["a.json", live.name, recent.name, foreign.name, other.name])


_KILLED_BETWEEN_RENAMES = """
import os, sys
from actionpose import io
real = os.replace
calls = []
def replace(src, dst):
    real(src, dst)
    calls.append(dst)
    if len(calls) == 1:
        os._exit(9)  # killed after the old folder went aside, before the new one moved in
io.os.replace = replace
with io.atomic_dir(sys.argv[1]) as tmp:
    (tmp / "clip.txt").write_text("new")
"""


def test_folder_replacement_killed_between_renames_loses_nothing(tmp_path):
    target = tmp_path / "clip"
    with io.atomic_dir(target) as tmp:
        (tmp / "clip.txt").write_text("old")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", _KILLED_BETWEEN_RENAMES, str(target)], env=env)
    assert result.returncode == 9
    left = {p.suffix: p for p in tmp_path.iterdir()}
    assert sorted(left) == [".old", ".tmp"]  # the old folder aside, the new one complete
    assert (left[".old"] / "clip.txt").read_text() == "old"
    assert (left[".tmp"] / "clip.txt").read_text() == "new"
    for path in left.values():
        os.utime(path, (LONG_AGO, LONG_AGO))
    with pytest.raises(RuntimeError):  # the next write of the target fails in its body...
        with io.atomic_dir(target):
            raise RuntimeError("interrupted")
    assert _names(tmp_path) == ["clip"]  # ...yet the old folder is back in place
    assert (target / "clip.txt").read_text() == "old"


def test_failed_move_in_puts_the_old_folder_back(tmp_path, monkeypatch):
    target = tmp_path / "clip"
    with io.atomic_dir(target) as tmp:
        (tmp / "clip.txt").write_text("old")
    real = os.replace

    def replace(src, dst):
        if Path(src).suffix == ".tmp":
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))
        real(src, dst)

    monkeypatch.setattr(io.os, "replace", replace)
    with pytest.raises(WriteError, match=r"clip: not written: invalid cross-device link$"):
        with io.atomic_dir(target) as tmp:
            (tmp / "clip.txt").write_text("new")
    assert _names(tmp_path) == ["clip"] and (target / "clip.txt").read_text() == "old"


def test_cli_prints_a_write_fault_as_one_line(monkeypatch, capsys):
    from actionpose import cli
    from actionpose.train import commands

    def denied(args):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), "/srv/runs/c3d")

    monkeypatch.setattr(commands, "train", denied)
    assert cli.main(["train", "c3d", "--preset", "smoke"]) == 2
    assert capsys.readouterr().err == "actionpose: error: /srv/runs/c3d: Permission denied\n"
