"""`actionpose data check`: the real tree's summary, every problem reported with its file, and
the header-only .mat reader it relies on."""
from __future__ import annotations

import argparse
import json
import shutil

import numpy as np
import pytest
import scipy.io

from actionpose.data import jhmdb as J
from actionpose.data.check import check_tree, main
from actionpose.data.dataset import JHMDB
from actionpose.data.jhmdb import mat_variables, probe_mask
from actionpose.errors import DataError
from test_dataset import T, _mask_from_pose, make_tree


def test_real_tree_summary(jhmdb_root, capsys):
    report = check_tree(jhmdb_root)
    assert report["clips"] == 928 and len(report["classes"]) == 21
    assert report["modalities"] == {"frames": 1, "video": 1, "joints": 1, "mask": 928}
    for k, (n_train, n_test) in {"1": (660, 268), "2": (658, 270), "3": (663, 265)}.items():
        s = report["splits"][k]
        assert (s["train"], s["test"], s["unlisted"]) == (n_train, n_test, 0)
        assert sum(c["train"] + c["test"] for c in s["per_class"].values()) == 928
    assert report["frame_counts"]["mask"]["min"] == 15 and report["frame_counts"]["mask"]["max"] == 40
    assert report["frame_counts"]["video"]["min"] == 40  # counted, not the container's claim
    assert report["errors"] == 0, report["problems"]
    assert main(argparse.Namespace(root=str(jhmdb_root), json=False)) == 0
    out = capsys.readouterr().out
    assert "21 classes, 928 clips" in out and "split 1 (official): train 660, test 268" in out
    assert "mask 928" in out and "0 errors" in out


def test_problems_are_reported_with_files(tmp_path, capsys):
    root = tmp_path / "t"
    make_tree(root, clips=3)
    J.write_splits(root, [(v, c, (1, 1, 1)) for c in ("clap", "wave") for v in (f"{c}_v0", f"{c}_v1", f"{c}_v2")]
                   + [("ghost", "clap", (2, 2, 2))], formats=("lists",))
    bad_joints = J.joints_path(root, "clap", "clap_v1")
    pos = J.read_joints(bad_joints).pos_img
    pos[1, 0, 2] = np.nan
    J.write_joints(bad_joints, pos)
    truncated = J.mask_path(root, "wave", "wave_v0")
    truncated.write_bytes(truncated.read_bytes()[:100])
    short = J.read_joints(J.joints_path(root, "wave", "wave_v2")).pos_img[:, :, : T - 1]
    J.write_mask(J.mask_path(root, "wave", "wave_v2"), _mask_from_pose(short))
    bad_png = J.frames_dir(root, "clap", "clap_v2") / f"{T:05d}.png"
    bad_png.write_bytes(b"junk")

    report = check_tree(root)
    by_path = {p["path"]: p for p in report["problems"]}
    assert "NaN joints" in by_path[str(bad_joints)]["problem"]
    assert "truncated" in by_path[str(truncated)]["problem"]
    assert "unreadable image" in by_path[str(bad_png)]["problem"]
    ghost = [p for p in report["problems"] if "'ghost'" in p["problem"]]
    assert len(ghost) == 3 and all(p["path"].endswith("JHMDB_test%s.txt" % k) for p, k in zip(ghost, "123"))
    mismatch = [p for p in report["problems"] if "frame counts disagree" in p["problem"]]
    assert len(mismatch) == 1 and "wave_v2" in mismatch[0]["path"] and mismatch[0]["severity"] == "warning"
    assert report["errors"] == 6 and report["warnings"] == 1
    assert main(argparse.Namespace(root=str(root), json=True)) == 1
    parsed = json.loads(capsys.readouterr().out)
    assert parsed["errors"] == 6 and parsed["splits"]["1"]["test"] == 1
    assert main(argparse.Namespace(root=str(root), json=False)) == 1
    assert str(truncated) in capsys.readouterr().out


def test_missing_root_and_splits(tmp_path):
    report = check_tree(tmp_path / "none")
    assert report["errors"] == 1 and report["problems"][0]["path"] == str(tmp_path / "none")
    root = tmp_path / "t"
    make_tree(root, clips=2)
    shutil.rmtree(root / J.SPLITS_DIR)
    report = check_tree(root)
    assert [p["path"] for p in report["problems"]] == [str(root / J.SPLITS_DIR)]
    assert report["clips"] == 4 and report["modalities"]["frames"] == 4


def test_stray_folder_cannot_shift_class_indices(tmp_path):
    root = tmp_path / "t"
    make_tree(root, clips=2)
    (root / J.MODALITY_DIRS["mask"] / "aardvark").mkdir()  # sorts first: would shift every index
    J.write_splits(root, [(f"{c}_v{i}", c, (1, 2, 1)) for c in ("clap", "wave") for i in range(2)],
                   formats=("official",))
    assert J.modality_classes(root) == ["clap", "wave"]  # the split files name the classes
    report = check_tree(root)
    stray = [p for p in report["problems"] if "'aardvark'" in p["problem"]]
    assert len(stray) == 1 and stray[0]["severity"] == "warning"

    shutil.rmtree(root / J.SPLITS_DIR)
    J.write_splits(root, [(f"{c}_v{i}", c, (1, 2, 1)) for c in ("clap", "wave") for i in range(2)],
                   formats=("lists",))
    assert J.modality_classes(root) == ["clap", "wave"]  # an empty folder is no class
    (root / J.MODALITY_DIRS["mask"] / "aardvark" / "aardvark_v0").mkdir()
    with pytest.raises(DataError, match="means 'aardvark'.*stray folder") as info:
        J.read_split(root, 1)
    assert info.value.path.name == "JHMDB_train1.txt"
    shutil.rmtree(root / J.MODALITY_DIRS["mask"] / "aardvark")
    assert {e.cls for e in J.read_split(root, 1)} == {"clap", "wave"}


def test_mat_variables_reads_headers(tmp_path):
    path = tmp_path / "m.mat"
    scipy.io.savemat(str(path), {"part_mask": np.zeros((7, 9, 5), np.uint8), "x": np.ones((2, 3))},
                     do_compression=True)
    assert mat_variables(path) == {"part_mask": ((7, 9, 5), "uint8"), "x": ((2, 3), "double")}
    scipy.io.savemat(str(path), {"part_mask": np.zeros((7, 9), np.uint8)})  # uncompressed, one frame
    assert mat_variables(path) == {"part_mask": ((7, 9), "uint8")}
    data = path.read_bytes()
    for broken in (data[:60], data[:-4], b"hello" * 40):
        path.write_bytes(broken)
        with pytest.raises(DataError, match=str(path)):
            mat_variables(path)
    path.write_bytes(b"MATLAB 7.3 MAT-file" + bytes(200))
    with pytest.raises(DataError, match="v7.3"):
        mat_variables(path)


def test_probe_mask_shapes(tmp_path):
    root = tmp_path / "t"
    J.write_mask(J.mask_path(root, "a", "v"), np.zeros((6, 8, 3), np.uint8))
    assert probe_mask(root, "a", "v") == (6, 8, 3)
    scipy.io.savemat(str(J.mask_path(root, "a", "v")), {"part_mask": np.zeros((2, 6, 8, 3))})
    with pytest.raises(DataError, match=r"part_mask has shape \(2, 6, 8, 3\)"):
        probe_mask(root, "a", "v")


# --------------------------------------------------------------------------------------------
# what training would trip on: `data check` finds it, the Dataset (so `train`) refuses it


def _errors(report: dict) -> dict[str, str]:
    return {p["path"]: p["problem"] for p in report["problems"] if p["severity"] == "error"}


def test_truncated_png_in_the_middle_of_a_clip(tmp_path):
    root = tmp_path / "t"
    make_tree(root, clips=2)
    middle = J.frames_dir(root, "clap", "clap_v1") / "00006.png"
    data = middle.read_bytes()
    middle.write_bytes(data[:-40])
    assert _errors(check_tree(root)) == {
        str(middle): "unreadable image: the PNG does not end with its IEND chunk (truncated)"}
    corrupt = bytearray(data)
    corrupt[len(data) // 2] ^= 0xFF  # complete file, broken block: only decoding finds it
    middle.write_bytes(bytes(corrupt))
    assert _errors(check_tree(root)) == {}
    assert _errors(check_tree(root, deep=True)) == {str(middle): "unreadable image (corrupt or not an image)"}


def test_listed_clip_whose_frames_folder_is_gone(tmp_path, capsys):
    root = tmp_path / "t"
    make_tree(root, clips=3)
    gone = J.frames_dir(root, "clap", "clap_v1")
    shutil.rmtree(gone)
    listed = root / J.SPLITS_DIR / "JHMDB_train1.txt"
    assert _errors(check_tree(root)) == {
        str(gone): f"missing: 'clap_v1' is listed in {listed} and 5 of 6 listed clips have frames"}
    assert main(argparse.Namespace(root=str(root), json=False)) == 1
    assert f"ERROR: {gone}: missing" in capsys.readouterr().out
    with pytest.raises(DataError, match=f"^{gone}: video does not exist: no frame folder"):
        JHMDB(root, subset="train", modalities=("frames",))


@pytest.mark.parametrize("fmt", ["lists", "official"])
def test_empty_class_folder_or_split_file_is_no_class(tmp_path, fmt):
    root = tmp_path / "t"
    make_tree(root, clips=2, fmt=(fmt,))
    before = JHMDB(root, subset="train", modalities=("mask",))
    if fmt == "lists":
        (root / J.FRAMES_DIR / "zzz").mkdir()  # sorts last: would become a 3rd class
        (root / J.MASK_DIR / "aaa").mkdir()  # sorts first: would shift every index
        why = {"'aaa'": "empty class folder", "'zzz'": "empty class folder"}
    else:
        for k in (1, 2, 3):
            (root / J.SPLITS_DIR / f"zzz_test_split{k}.txt").write_text("")
        (root / J.SPLITS_DIR / "aaa_test_split1.txt").write_text("ghost.avi 0\n\n")
        why = {"'aaa'": "aaa_test_split1.txt mark no video train or test",
               "'zzz'": "zzz_test_split1.txt, zzz_test_split2.txt, zzz_test_split3.txt mark no video"}
    after = JHMDB(root, subset="train", modalities=("mask",))
    assert after.classes == before.classes == ["clap", "wave"]
    assert after.labels == before.labels and after.videos == before.videos
    report = check_tree(root)
    assert report["classes"] == ["clap", "wave"] and report["errors"] == 0
    warned = [p["problem"] for p in report["problems"] if "is not a class" in p["problem"]]
    assert len(warned) == 2
    for name, text in why.items():
        assert any(w.startswith(f"{name} is not a class: {text}") for w in warned), warned


@pytest.mark.parametrize("fmt", ["lists", "official"])
def test_empty_test_split_is_refused_up_front(tmp_path, fmt):
    root = tmp_path / "t"
    make_tree(root, clips=2, fmt=(fmt,))
    if fmt == "lists":
        where = root / J.SPLITS_DIR / "JHMDB_test1.txt"
        where.write_text("\n")
        message = "lists no video: split 1 has no test clips"
    else:
        where = root / J.SPLITS_DIR
        for cls in ("clap", "wave"):
            path = where / f"{cls}_test_split1.txt"
            path.write_text(path.read_text().replace(" 2\n", " 1\n"))
        message = r"none of the 2 <class>_test_split1.txt files marks a video 2 \(test\)"
    assert _errors(check_tree(root)) == {str(where): "split 1 lists no test video; training on it is refused"}
    # the official files now mark the former test clips train; the list files just lost them
    assert len(JHMDB(root, subset="train", modalities=("mask",))) == (2 if fmt == "lists" else 4)
    with pytest.raises(DataError, match=f"^{where}: {message}"):
        JHMDB(root, subset="test", modalities=("mask",))


def test_train_refuses_a_broken_tree_before_the_first_epoch(tmp_path, capsys):
    from actionpose.cli import main as cli_main

    root = tmp_path / "t"
    make_tree(root, clips=2)
    (root / J.SPLITS_DIR / "JHMDB_test1.txt").write_text("")
    runs = tmp_path / "runs"
    code = cli_main(["train", "c3d", "--preset", "smoke", "--data", str(root), "--out", str(runs), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert f"{root / J.SPLITS_DIR / 'JHMDB_test1.txt'}: split 1 lists no test video" in err
    assert not any(runs.rglob("metrics.csv")) and not any(runs.rglob("*.pt"))


def test_both_split_formats_must_agree(tmp_path):
    root = tmp_path / "t"
    make_tree(root, clips=2, fmt=("official", "lists"))
    assert _errors(check_tree(root)) == {}  # they agree, as in ../shared/jhmdb
    official = root / J.SPLITS_DIR / "clap_test_split1.txt"
    original = official.read_text()
    official.write_text(original.replace("clap_v0.avi 2", "clap_v0.avi 1"))
    lists = root / J.SPLITS_DIR / "JHMDB_test1.txt"
    message = (f"{official}: disagrees with {lists}: video 'clap_v0' is train (clap) here and test "
               "(clap) there (1 videos differ between the two split formats)")
    with pytest.raises(DataError) as info:
        J.read_split(root, 1)
    assert str(info.value) == message
    assert _errors(check_tree(root)) == {str(official): message.split(": ", 1)[1]}
    with pytest.raises(DataError, match="disagrees with"):
        JHMDB(root, subset="train", modalities=("mask",))
    official.write_text(original.replace("clap_v1.avi 1\n", ""))  # one side lacks a video
    with pytest.raises(DataError, match=f"^{official}: disagrees with {lists.with_name('JHMDB_train1.txt')}: "
                                        r"video 'clap_v1' is not listed here and train \(clap\) there"):
        J.read_split(root, 1)
