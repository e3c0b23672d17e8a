"""`actionpose data prepare jhmdb SRC --out ROOT` on tiny downloads in the official layout, built
here as zip and tar archives in any nesting; bad downloads leave nothing behind."""
from __future__ import annotations

import io
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from actionpose.cli import main
from actionpose.data import jhmdb
from actionpose.data import prepare as PR
from actionpose.data.check import check_tree
from actionpose.errors import DataError

CLIPS = {("catch", "c0"): (1, 2, 1), ("catch", "c1"): (2, 1, 1), ("wave", "w0"): (1, 1, 2)}
T, H, W = 3, 24, 32


def _parts(folder: Path, clips=CLIPS) -> Path:
    """The download's parts unpacked under ``folder`` (the official folder names)."""
    rng = np.random.default_rng(0)
    for (cls, video) in clips:
        frames = rng.integers(0, 256, (T, H, W, 3), dtype=np.uint8)
        pos = rng.uniform(2, 20, (2, 15, T))
        jhmdb.write_clip(folder, cls, video, frames=frames, video_file=True, pos_img=pos,
                         mask=(rng.random((H, W, T)) > 0.5).astype(np.uint8))
    jhmdb.write_splits(folder, [(v, c, s) for (c, v), s in clips.items()], formats=("official",))
    return folder


def _zip(path: Path, base: Path, sub: str, prefix: str = "") -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for f in sorted((base / sub).rglob("*")):
            zf.write(f, prefix + str(f.relative_to(base)))


def _tar(path: Path, base: Path, sub: str, prefix: str = "") -> None:
    with tarfile.open(path, "w:gz") as tf:
        tf.add(base / sub, arcname=prefix + sub)


@pytest.fixture()
def download(tmp_path):
    """A download as users have it: frames still tarred (nested), videos and masks zipped, joints
    unpacked three folders deep, the split files zipped."""
    parts = _parts(tmp_path / "parts")
    src = tmp_path / "download"
    (src / "archives").mkdir(parents=True)
    _tar(src / "archives" / "Rename_Images.tar.gz", parts, jhmdb.FRAMES_DIR, prefix="JHMDB/")
    _zip(src / "JHMDB_video.zip", parts, jhmdb.VIDEOS_DIR)
    _zip(src / "archives" / "puppet_mask.zip", parts, jhmdb.MASK_DIR)
    _zip(src / "splits.zip", parts, jhmdb.SPLITS_DIR)
    shutil.copytree(parts / jhmdb.JOINTS_DIR, src / "a" / "b" / "c" / jhmdb.JOINTS_DIR)
    return src, parts


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_download_in_archives_becomes_a_checked_tree(download, tmp_path, capsys):
    src, parts = download
    out = tmp_path / "jhmdb"
    assert main(["data", "prepare", "jhmdb", str(src), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "3 clips in 2 classes" in printed and "a subset of JHMDB" in printed and "missing" not in printed
    for k in (1, 2, 3):
        key = lambda e: (e.cls, e.video, e.subset)  # noqa: E731
        assert sorted(map(key, jhmdb.read_split(out, k))) == sorted(map(key, jhmdb.read_split(parts, k)))
    report = check_tree(out, deep=True)
    assert report["errors"] == 0 and report["modalities"] == {"frames": 3, "video": 3, "joints": 3, "mask": 3}
    np.testing.assert_array_equal(
        jhmdb.read_mask(jhmdb.mask_path(out, "wave", "w0")), jhmdb.read_mask(jhmdb.mask_path(parts, "wave", "w0"))
    )
    assert jhmdb.read_frames(jhmdb.frames_dir(out, "catch", "c1")).shape == (T, H, W, 3)
    assert not (out / PR.STAGING).exists() and _leftovers(tmp_path) == []


def test_a_subset_is_summarised(tmp_path):
    parts = _parts(tmp_path / "parts", clips={**CLIPS, ("wave", "w1"): (2, 2, 2)})
    shutil.rmtree(parts / jhmdb.MASK_DIR / "wave" / "w0")  # most clips have a mask: w0 is left out
    shutil.rmtree(parts / jhmdb.VIDEOS_DIR)
    for cls, video in [("catch", "c0"), ("wave", "w0"), ("wave", "w1")]:
        shutil.rmtree(jhmdb.frames_dir(parts, cls, video))  # frames of one kept clip only: a sample
    # a clip the split files list, of which the download holds nothing
    (parts / jhmdb.SPLITS_DIR / "wave_test_split1.txt").write_text("w0.avi 1\nw1.avi 2\nw9.avi 2\n")
    summary = PR.prepare_jhmdb(parts, tmp_path / "out")
    assert summary["dropped"] == ["wave/w0 (no mask)", "wave/w9 (no data)"]
    assert summary["missing"] == {"frames": ["catch/c0", "wave/w1"], "joints": [], "mask": []}
    assert summary["not_given"] == [jhmdb.VIDEOS_DIR] and summary["clips"] == 3 and not summary["full"]
    assert {e.video for e in jhmdb.read_split(tmp_path / "out", 1)} == {"c0", "c1", "w1"}
    assert check_tree(tmp_path / "out")["errors"] == 0


def test_the_full_downloads_split_sizes_are_verified(tmp_path, monkeypatch):
    parts = _parts(tmp_path / "parts")
    monkeypatch.setattr(PR, "JHMDB_CLIPS", 3)
    monkeypatch.setattr(PR, "JHMDB_CLASSES", 2)
    monkeypatch.setattr(PR, "JHMDB_SPLIT_SIZES", {1: (2, 1), 2: (2, 1), 3: (2, 1)})
    assert PR.prepare_jhmdb(parts, tmp_path / "ok")["full"]
    monkeypatch.setattr(PR, "JHMDB_SPLIT_SIZES", {1: (2, 1), 2: (1, 2), 3: (2, 1)})
    with pytest.raises(DataError, match=r"split 2 has train/test \(2, 1\), JHMDB's official split has \(1, 2\)"):
        PR.prepare_jhmdb(parts, tmp_path / "bad")
    assert not (tmp_path / "bad").exists() and _leftovers(tmp_path) == []


def test_a_corrupt_file_in_an_archive_is_named_and_nothing_is_written(download, tmp_path, capsys):
    src, parts = download
    jhmdb.mask_path(parts, "catch", "c1").write_bytes(b"MATLAB 5.0 MAT-file truncated")
    _zip(src / "archives" / "puppet_mask.zip", parts, jhmdb.MASK_DIR)
    out = tmp_path / "jhmdb"
    assert main(["data", "prepare", "jhmdb", str(src), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"{src / 'archives' / 'puppet_mask.zip'}:{jhmdb.MASK_DIR}/catch/c1/{jhmdb.MASK_FILE}" in err
    assert not out.exists() and _leftovers(tmp_path) == []


def _evil_zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("../escaped.txt", "x")


def _evil_tar(path: Path) -> None:
    with tarfile.open(path, "w:gz") as tf:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))


@pytest.mark.parametrize("name, make, problem", [
    ("evil.zip", _evil_zip, "would be written outside"),
    ("evil.tar.gz", _evil_tar, "unsafe member refused"),
    ("broken.zip", lambda p: p.write_bytes(b"PK\x03\x04 not really"), "cannot unpack"),
])
def test_unsafe_or_broken_archives_are_refused(download, tmp_path, name, make, problem):
    src, _ = download
    make(src / name)
    with pytest.raises(DataError, match=problem) as info:
        PR.prepare_jhmdb(src, tmp_path / "out")
    assert str(info.value).startswith(str(src / name))
    assert not (tmp_path / "out").exists() and not (tmp_path / "escaped.txt").exists()


def test_bad_sources_and_outputs(download, tmp_path):
    src, parts = download
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    with pytest.raises(DataError, match="not an empty folder"):
        PR.prepare_jhmdb(src, tmp_path / "busy")
    assert (tmp_path / "busy" / "keep.txt").read_text() == "mine"
    with pytest.raises(DataError, match="not found"):
        PR.prepare_jhmdb(tmp_path / "nowhere", tmp_path / "out")
    (src / "splits.zip").unlink()
    with pytest.raises(DataError, match="no JHMDB split files"):
        PR.prepare_jhmdb(src, tmp_path / "out")
    shutil.copytree(parts / jhmdb.SPLITS_DIR, src / jhmdb.SPLITS_DIR)
    shutil.copytree(parts / jhmdb.JOINTS_DIR, src / "again" / jhmdb.JOINTS_DIR)
    with pytest.raises(DataError, match="a second joint_positions folder"):
        PR.prepare_jhmdb(src, tmp_path / "out")
    assert not (tmp_path / "out").exists() and _leftovers(tmp_path) == []


@pytest.mark.slow
def test_the_real_partial_download_verifies_jhmdbs_counts(jhmdb_root, tmp_path):
    summary = PR.prepare_jhmdb(jhmdb_root, tmp_path / "jhmdb")
    assert summary["full"] and summary["clips"] == 928 and summary["classes"] == 21
    assert summary["splits"] == {1: (660, 268), 2: (658, 270), 3: (663, 265)}
    assert summary["modalities"]["mask"] == 928 and len(summary["missing"]["frames"]) == 927
