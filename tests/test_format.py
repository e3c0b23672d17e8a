"""The JHMDB on-disk format: reading the real files and round-tripping what we write."""
from __future__ import annotations

import codecs

import numpy as np
import pytest

from actionpose.data import jhmdb as J
from actionpose.errors import DataError
from conftest import REAL_CLIP


def test_real_splits_match_published_sizes(jhmdb_root):
    for k, (n_train, n_test) in {1: (660, 268), 2: (658, 270), 3: (663, 265)}.items():
        entries = J.read_split(jhmdb_root, k)
        assert len(entries) == 928
        assert sum(e.subset == "train" for e in entries) == n_train
        assert sum(e.subset == "test" for e in entries) == n_test
        assert len({e.cls for e in entries}) == 21


def test_real_joints_are_x_column_one_based(jhmdb_root):
    jf = J.read_joints(J.joints_path(jhmdb_root, *REAL_CLIP))
    mask = J.read_mask(J.mask_path(jhmdb_root, *REAL_CLIP))
    assert jf.pos_img.shape == (2, 15, 40) and mask.shape == (240, 320, 40)
    xy = np.round(jf.joints_xy()).astype(int)  # (T, 15, 2), 0-based
    H, W, T = mask.shape
    t = np.repeat(np.arange(T), 15)
    x, y = xy[..., 0].ravel().clip(0, W - 1), xy[..., 1].ravel().clip(0, H - 1)
    # dilate by 6 px, as SOURCES.md measures (88% inside; 13% with x and y swapped)
    import cv2

    dil = np.stack([cv2.dilate(mask[:, :, i], np.ones((13, 13), np.uint8)) for i in range(T)], -1)
    inside = dil[y, x, t].mean()
    swapped = dil[x.clip(0, H - 1), y.clip(0, W - 1), t].mean()
    assert inside > 0.8 and swapped < 0.3


def test_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (5, 24, 32, 3), dtype=np.uint8)
    pos = rng.uniform(1, 20, (2, 15, 5))
    mask = (rng.random((24, 32, 5)) > 0.5).astype(np.uint8)
    J.write_clip(tmp_path, "wave", "v1", frames=frames, pos_img=pos, mask=mask, scale=np.ones(5),
                 viewpoint="front", video_file=True)
    assert np.array_equal(J.read_frames(J.frames_dir(tmp_path, "wave", "v1")), frames)
    jf = J.read_joints(J.joints_path(tmp_path, "wave", "v1"))
    assert np.allclose(jf.pos_img, pos) and jf.viewpoint == "front" and jf.scale.shape == (5,)
    assert np.array_equal(J.read_mask(J.mask_path(tmp_path, "wave", "v1")), mask)
    assert J.read_video(J.video_path(tmp_path, "wave", "v1")).shape == (5, 24, 32, 3)
    J.write_splits(tmp_path, [("v1", "wave", (1, 2, 0)), ("v2", "clap", (2, 1, 1))])
    official = J.read_split(tmp_path, 1)
    assert {(e.video, e.cls, e.subset) for e in official} == {("v1", "wave", "train"), ("v2", "clap", "test")}
    assert {e.video for e in J.read_split(tmp_path, 3)} == {"v2"}  # 0 = unused


def test_lists_format_uses_sorted_class_index(tmp_path):
    J.write_splits(tmp_path, [("v1", "wave", (1, 1, 1)), ("v2", "clap", (2, 2, 2))], formats=("lists",))
    (tmp_path / J.MASK_DIR / "wave" / "v1").mkdir(parents=True)
    (tmp_path / J.MASK_DIR / "clap" / "v2").mkdir(parents=True)
    (tmp_path / J.MASK_DIR / "zoom").mkdir()  # empty: sorts last, is no class
    assert J.modality_classes(tmp_path) == ["clap", "wave"]
    entries = J.read_split(tmp_path, 2)
    assert {(e.video, e.cls, e.subset) for e in entries} == {("v1", "wave", "train"), ("v2", "clap", "test")}


@pytest.mark.parametrize(
    "content, problem",
    [(b"garbage, not a mat file", "not a readable MATLAB"), (None, "file not found")],
)
def test_bad_mat_names_the_file(tmp_path, content, problem):
    path = tmp_path / "joint_positions.mat"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=problem) as info:
        J.read_joints(path)
    assert str(path) in str(info.value)


def test_wrong_shapes_and_nan(tmp_path):
    import scipy.io

    p = tmp_path / "j.mat"
    scipy.io.savemat(p, {"pos_img": np.zeros((15, 2, 4))})
    with pytest.raises(DataError, match=r"expected \(2, 15, T\)"):
        J.read_joints(p)
    pos = np.ones((2, 15, 4))
    pos[0, 3, 2] = np.nan
    J.write_joints(p, pos)
    with pytest.raises(DataError, match=r"NaN joints in frames \[3\]"):
        J.read_joints(p)
    conf = np.ones((15, 4), np.float32)
    conf[3, 2] = 0
    J.write_joints(p, pos, confidence=conf)  # NaN with zero confidence: a frame with no person
    assert J.read_joints(p).joint_confidence()[2, 3] == 0
    scipy.io.savemat(p, {"part_mask": np.zeros((4, 4, 2, 2), np.uint8)})
    with pytest.raises(DataError, match=r"expected \(H, W, T\)"):
        J.read_mask(p)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-be-bom", "utf-32"])
@pytest.mark.parametrize("fmt", ["official", "lists"])
def test_split_files_in_any_unicode_with_a_bom(tmp_path, encoding, fmt):
    for cls, video in (("wave", "v1"), ("clap", "v2")):
        (tmp_path / J.MASK_DIR / cls / video).mkdir(parents=True)
    J.write_splits(tmp_path, [("v1", "wave", (1, 2, 1)), ("v2", "clap", (2, 1, 2))], formats=(fmt,))
    expected = J.read_split(tmp_path, 1)
    for path in (tmp_path / J.SPLITS_DIR).iterdir():
        text = path.read_text().replace("\n", "\r\n")  # CRLF too
        if encoding == "utf-16-be-bom":
            path.write_bytes(codecs.BOM_UTF16_BE + text.encode("utf-16-be"))
        else:
            path.write_bytes(text.encode(encoding))
    assert J.read_split(tmp_path, 1) == expected and len(expected) == 2


@pytest.mark.parametrize("content, problem", [
    ("v1 1\n".encode("utf-16-le"), r"holds NUL bytes: UTF-16 or UTF-32 without a byte-order mark\? save it as UTF-8"),
    (b"v1 1\nv\xe9 1\n", r"not valid UTF-8 text \(byte 6\); save it as UTF-8"),
    (codecs.BOM_UTF16_LE + b"v\x001", r"not valid utf-16 text \(byte 4\); save it as UTF-8"),
])
def test_undecodable_split_file_is_refused_naming_it(tmp_path, content, problem):
    path = tmp_path / J.SPLITS_DIR / "JHMDB_train1.txt"
    path.parent.mkdir()
    path.write_bytes(content)
    (tmp_path / J.SPLITS_DIR / "JHMDB_test1.txt").write_text("")
    with pytest.raises(DataError, match=f"^{path}: {problem}$"):
        J.read_split(tmp_path, 1)
