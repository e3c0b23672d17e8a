"""The JHMDB Dataset: real splits and the real clip's geometry, every bad input, round trips,
the decoded-clip cache, sampling, flow and DataLoader reproducibility."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from actionpose.data import jhmdb as J
from actionpose.data.clips import CropBox, denormalize_video, sample_indices, transform_joints
from actionpose.data.dataset import JHMDB
from actionpose.errors import ConfigError, DataError
from actionpose.pose.skeletons import JHMDB15
from conftest import REAL_CLIP

T, H, W = 12, 48, 64


def _frames(rng: np.random.Generator, t: int = T, h: int = H, w: int = W) -> np.ndarray:
    """Smooth random colour frames with a moving bright square (so flow has something to see)."""
    base = cv2.resize(rng.integers(0, 255, (6, 8, 3), dtype=np.uint8), (w, h), interpolation=cv2.INTER_CUBIC)
    frames = np.repeat(base[None], t, axis=0)
    for i in range(t):
        frames[i, 10:26, 8 + 2 * i:24 + 2 * i] = 255
    return frames


def _pose(rng: np.random.Generator, t: int = T, h: int = H, w: int = W) -> np.ndarray:
    """pos_img (2, 15, t), 1-based, inside the frame."""
    xy = np.stack([rng.uniform(5, w - 5, (15, t)), rng.uniform(5, h - 5, (15, t))])
    return xy + 1.0


def _mask_from_pose(pos_img: np.ndarray, h: int = H, w: int = W) -> np.ndarray:
    """(h, w, t) {0,1}: a 5x5 blob around every joint."""
    t = pos_img.shape[2]
    mask = np.zeros((h, w, t), np.uint8)
    xy = np.round(pos_img - 1).astype(int)
    for i in range(t):
        for j in range(15):
            x, y = xy[0, j, i], xy[1, j, i]
            mask[max(y - 2, 0):y + 3, max(x - 2, 0):x + 3, i] = 1
    return mask


def make_tree(root: Path, *, clips: int = 4, classes=("clap", "wave"), fmt=("lists",),
              video_file: bool = False, seed: int = 0, t: int = T) -> list[tuple[str, str, tuple]]:
    """A small JHMDB-format tree: frames, joints, masks; the test clip of each class is clip 0 in
    split 1, the last clip in split 2, clip 1 in split 3."""
    rng = np.random.default_rng(seed)
    assignments = []
    for cls in classes:
        for i in range(clips):
            video = f"{cls}_v{i}"
            pos = _pose(rng, t)
            J.write_clip(root, cls, video, frames=_frames(rng, t), pos_img=pos, mask=_mask_from_pose(pos),
                         video_file=video_file)
            split2 = 2 if i == clips - 1 else 1
            assignments.append((video, cls, (2 if i == 0 else 1, split2, 2 if i == 1 else 1)))
    J.write_splits(root, assignments, formats=fmt)
    return assignments


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "jhmdb"
    make_tree(root)
    return root


# --------------------------------------------------------------------------------------------
# real data


def test_real_splits_sizes_and_labels(jhmdb_root):
    train = JHMDB(jhmdb_root, split=1, subset="train", modalities=("mask",))
    test = JHMDB(jhmdb_root, split=1, subset="test", modalities=("mask",))
    assert (len(train), len(test)) == (660, 268)
    assert len(set(train.videos) | set(test.videos)) == 928
    classes = sorted(p.name for p in (Path(jhmdb_root) / J.MASK_DIR).iterdir())
    assert train.classes == test.classes == classes and len(classes) == 21
    for ds in (train, test):
        for video, label in zip(ds.videos, ds.labels):
            assert J.mask_path(jhmdb_root, classes[label], video).is_file()
    assert train.skipped == [] and set(train.labels) == set(range(21))


def test_real_masks_only_item(jhmdb_root):
    ds = JHMDB(jhmdb_root, split=2, subset="test", modalities=("mask",), num_frames=8, size=(64, 80))
    item = ds[5]
    assert set(item) == {"mask", "label", "name", "clip"}
    assert item["mask"].shape == (1, 8, 64, 80) and item["mask"].dtype == torch.float32
    assert 0 <= item["mask"].min() and item["mask"].max() <= 1 and item["mask"].mean() > 0.01
    assert item["name"] == ds.videos[5] and item["label"] == ds.labels[5]


def test_real_tree_frames_missing_for_most_videos(jhmdb_root):
    with pytest.raises(DataError, match=str(Path(jhmdb_root) / J.FRAMES_DIR)):
        JHMDB(jhmdb_root, modalities=("frames",))
    with pytest.warns(UserWarning, match="skipped 659 bad"):
        ds = JHMDB(jhmdb_root, modalities=("frames", "joints", "mask"), skip_bad=True)
    assert ds.videos == [REAL_CLIP[1]] and len(ds.skipped) == 659


def _inside_dilated(item: dict, dilate: int, swap: bool = False) -> float:
    """Fraction of joints inside the item's mask (thresholded at 0.5) dilated by ``dilate`` px."""
    mask = (item["mask"][0].numpy() > 0.5).astype(np.uint8)
    kernel = np.ones((2 * dilate + 1, 2 * dilate + 1), np.uint8)
    mask = np.stack([cv2.dilate(m, kernel) for m in mask])
    n, h, w = mask.shape
    xy = np.round(item["joints"].numpy()).astype(int)
    x, y = xy[..., 0].ravel(), xy[..., 1].ravel()
    if swap:
        x, y = y, x
    t = np.repeat(np.arange(n), 15)
    return float(mask[t, y.clip(0, h - 1), x.clip(0, w - 1)].mean())


@pytest.mark.parametrize("size", [(240, 320), (112, 112)])
def test_real_clip_joints_inside_mask_after_resize_and_flip(jhmdb_root, size):
    kw = dict(subset="train", modalities=("frames", "joints", "mask"), num_frames=40, size=size,
              skip_bad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = JHMDB(jhmdb_root, train=False, **kw)
        flipped = JHMDB(jhmdb_root, train=True, crop_scale=None, flip_prob=1.0, **kw)
        cropped = JHMDB(jhmdb_root, train=True, crop_scale=(0.6, 0.9), **kw)
    a, b = plain[0], flipped[0]
    dilate = max(1, round(6 * size[1] / 320))
    assert a["video"].shape == (3, 40) + size and a["joints"].shape == (40, 15, 2)
    assert _inside_dilated(a, dilate) > 0.8
    assert _inside_dilated(a, dilate, swap=True) < 0.3  # the x = column convention matters
    # a flip mirrors every modality and swaps left/right joints
    assert torch.equal(b["video"], a["video"].flip(-1)) and torch.equal(b["mask"], a["mask"].flip(-1))
    perm = JHMDB15.flip_permutation()
    assert torch.allclose(b["joints"][:, perm, 0], size[1] - 1 - a["joints"][..., 0], atol=1e-4)
    assert torch.allclose(b["joints"][:, perm, 1], a["joints"][..., 1], atol=1e-4)
    assert _inside_dilated(b, dilate) > 0.8
    torch.manual_seed(0)
    for _ in range(3):
        assert _inside_dilated(cropped[0], dilate) > 0.8


# --------------------------------------------------------------------------------------------
# round trip


@pytest.mark.parametrize("fmt", ["lists", "official"])
def test_written_tree_round_trips(tmp_path, fmt):
    root = tmp_path / "t"
    make_tree(root, fmt=(fmt,))
    ds = JHMDB(root, split=1, subset="test", num_frames=T, size=(H, W), normalize=False)
    assert ds.classes == ["clap", "wave"] and ds.videos == ["clap_v0", "wave_v0"] and ds.labels == [0, 1]
    assert len(JHMDB(root, split=1, subset="train", modalities=("mask",))) == 6
    assert len(JHMDB(root, split=3, subset="test", modalities=("mask",))) == 2
    item = ds[1]
    frames = J.read_frames(J.frames_dir(root, "wave", "wave_v0"))
    pos = J.read_joints(J.joints_path(root, "wave", "wave_v0"))
    mask = J.read_mask(J.mask_path(root, "wave", "wave_v0"))
    assert torch.equal((item["video"] * 255).round().to(torch.uint8),
                       torch.from_numpy(frames).permute(3, 0, 1, 2))
    assert torch.allclose(item["joints"], torch.from_numpy(pos.joints_xy()), atol=1e-4)
    assert torch.equal(item["mask"][0], torch.from_numpy(mask).permute(2, 0, 1).float())
    assert torch.equal(item["joint_conf"], torch.ones(T, 15))
    assert item["label"] == 1 and item["name"] == "wave_v0"


def test_normalised_video_inverts(tree):
    ds = JHMDB(tree, subset="test", modalities=("frames",), num_frames=T, size=(H, W))
    frames = J.read_frames(J.frames_dir(tree, "clap", "clap_v0"))
    back = denormalize_video(ds[0]["video"]).round().clamp(0, 255).to(torch.uint8)
    assert torch.equal(back, torch.from_numpy(frames).permute(3, 0, 1, 2))


def test_frames_from_video_when_no_pngs(tmp_path):
    root = tmp_path / "v"
    make_tree(root, clips=2, video_file=True)
    import shutil

    shutil.rmtree(root / J.FRAMES_DIR)
    ds = JHMDB(root, subset="test", modalities=("frames",), num_frames=T, size=(H, W), normalize=False)
    frames = torch.from_numpy(J.read_video(J.video_path(root, "clap", "clap_v0"))).permute(3, 0, 1, 2)
    assert torch.allclose(ds[0]["video"] * 255, frames.float(), atol=1.0)
    cached = JHMDB(root, subset="test", modalities=("frames",), num_frames=T, size=(H, W), normalize=False,
                   cache_dir=tmp_path / "cache", cache_size=(H, W))
    assert torch.equal(cached[0]["video"], ds[0]["video"])
    # the avi's length is known only once decoded: fewer frames than the joints -> warn, use them
    longer = _pose(np.random.default_rng(1), T + 3)
    J.write_joints(J.joints_path(root, "clap", "clap_v0"), longer)
    ds = JHMDB(root, subset="test", modalities=("frames", "joints"), num_frames=T + 3, size=(H, W))
    with pytest.warns(UserWarning, match=f"clap/clap_v0: the frames hold {T} frames, other modalities {T + 3}"):
        item = ds[0]
    assert item["joints"].shape == (T + 3, 15, 2)
    expected = np.floor(np.arange(T + 3) * T / (T + 3)).astype(int)  # T frames stretched to T + 3
    assert torch.allclose(item["joints"], torch.from_numpy(longer.transpose(2, 1, 0)[expected] - 1).float())


# --------------------------------------------------------------------------------------------
# bad input


def test_missing_root_and_modality_folder(tmp_path, tree):
    with pytest.raises(DataError, match=str(tmp_path / "nope")):
        JHMDB(tmp_path / "nope")
    import shutil

    shutil.rmtree(tree / J.MASK_DIR)
    with pytest.raises(DataError, match=str(tree / J.MASK_DIR)):
        JHMDB(tree, modalities=("frames", "mask"))
    assert len(JHMDB(tree, modalities=("frames", "joints"))) == 6


def test_split_naming_missing_video(tree):
    J.write_splits(tree, [(v, c, (1, 1, 1)) for c in ("clap", "wave") for v in (f"{c}_v0", f"{c}_v1")]
                   + [("ghost", "wave", (1, 1, 1))], formats=("lists",))
    with pytest.raises(DataError, match=str(J.frames_dir(tree, "wave", "ghost"))):
        JHMDB(tree)
    with pytest.raises(DataError, match=str(J.mask_path(tree, "wave", "ghost"))):
        JHMDB(tree, modalities=("mask",))
    with pytest.warns(UserWarning, match="skipped 1 bad"):
        ds = JHMDB(tree, skip_bad=True)
    assert len(ds) == 4 and [v for v, _ in ds.skipped] == ["ghost"] and "JHMDB_train1.txt" in ds.skipped[0][1]


def test_unknown_class_index(tree):
    split = tree / J.SPLITS_DIR / "JHMDB_train1.txt"
    split.write_text("clap_v1 1\nwave_v1 3\n")
    with pytest.raises(DataError, match=str(split)):
        JHMDB(tree)


def test_unknown_class_official_split(tmp_path):
    root = tmp_path / "o"
    make_tree(root, clips=2, fmt=("official",))
    (root / J.SPLITS_DIR / "dance_test_split1.txt").write_text("dance_v0.avi 1\n")
    with pytest.raises(DataError, match=str(J.frames_dir(root, "dance", "dance_v0"))):
        JHMDB(root)
    with pytest.warns(UserWarning):
        assert JHMDB(root, skip_bad=True).skipped[0][0] == "dance_v0"


def _expect_bad(root: Path, path: Path, modalities=("frames", "joints", "mask")) -> None:
    with pytest.raises(DataError, match=str(path)):
        JHMDB(root, modalities=modalities)
    with pytest.warns(UserWarning, match="skipped 1 bad"):
        ds = JHMDB(root, modalities=modalities, skip_bad=True)
    assert len(ds.skipped) == 1 and str(path) in ds.skipped[0][1] and len(ds) == 5


def test_truncated_and_non_mat_joints(tree):
    path = J.joints_path(tree, "clap", "clap_v1")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _expect_bad(tree, path)
    path.write_text("not a mat file\n" * 20)
    _expect_bad(tree, path)


def test_truncated_and_non_mat_mask(tree):
    path = J.mask_path(tree, "wave", "wave_v2")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 10])
    _expect_bad(tree, path, ("mask",))
    path.write_bytes(b"\x89PNG not a mat")
    _expect_bad(tree, path, ("mask",))


def test_corrupt_mask_data_found_when_read(tree):
    path = J.mask_path(tree, "clap", "clap_v0")
    data = bytearray(path.read_bytes())
    data[300:] = bytes(len(data) - 300)  # the header survives, the compressed data does not
    path.write_bytes(bytes(data))
    ds = JHMDB(tree, subset="test", modalities=("mask",))  # headers look fine
    with pytest.raises(DataError, match=str(path)):
        ds[0]


def test_wrong_shapes(tree):
    import scipy.io

    jpath = J.joints_path(tree, "clap", "clap_v2")
    scipy.io.savemat(str(jpath), {"pos_img": np.ones((2, 14, T))})
    _expect_bad(tree, jpath)
    make_tree(tree)  # repair
    mpath = J.mask_path(tree, "wave", "wave_v3")
    scipy.io.savemat(str(mpath), {"part_mask": np.ones((H, W, T, 2), np.uint8)})
    _expect_bad(tree, mpath)
    scipy.io.savemat(str(mpath), {"mask": np.ones((H, W, T), np.uint8)})
    _expect_bad(tree, mpath)


def test_nan_joints(tree):
    path = J.joints_path(tree, "wave", "wave_v1")
    pos = J.read_joints(path).pos_img
    pos[0, 3, 4] = np.nan
    J.write_joints(path, pos)
    _expect_bad(tree, path)
    # NaN joints with confidence 0 (an estimated pose, no person) are legal
    conf = np.ones((15, T), np.float32)
    conf[3, 4] = 0
    J.write_joints(path, pos, confidence=conf)
    ds = JHMDB(tree, subset="train", modalities=("joints",), train=False, num_frames=T)
    item = ds[ds.videos.index("wave_v1")]
    assert item["joint_conf"][4, 3] == 0 and item["joints"][4, 3].tolist() == [-1, -1]
    assert not torch.isnan(item["joints"]).any() and item["joint_conf"][4, 2] == 1


def test_unreadable_png(tree):
    first = J.frames_dir(tree, "clap", "clap_v1") / "00001.png"
    first.write_bytes(b"garbage")
    _expect_bad(tree, first)
    make_tree(tree)
    middle = J.frames_dir(tree, "clap", "clap_v0") / "00005.png"
    data = middle.read_bytes()
    middle.write_bytes(data[: len(data) // 2])  # truncated: refused before any item is read
    with pytest.raises(DataError, match=f"^{middle}: .*IEND chunk") as info:
        JHMDB(tree, subset="test", num_frames=T)
    assert len(str(info.value).splitlines()) == 1
    corrupt = bytearray(data)
    corrupt[len(data) // 2] ^= 0xFF  # a bad block inside a complete file: found when decoded
    middle.write_bytes(bytes(corrupt))
    ds = JHMDB(tree, subset="test", num_frames=T)
    with pytest.raises(DataError, match=str(middle)):
        ds[0]


def test_unreadable_video(tmp_path):
    root = tmp_path / "v"
    make_tree(root, clips=2, video_file=True)
    import shutil

    shutil.rmtree(root / J.FRAMES_DIR)
    bad = J.video_path(root, "wave", "wave_v1")
    bad.write_bytes(b"RIFF not a video at all" * 10)
    with pytest.raises(DataError, match=str(bad)):
        JHMDB(root, modalities=("frames",))
    with pytest.warns(UserWarning):
        assert len(JHMDB(root, modalities=("frames",), skip_bad=True).skipped) == 1


def test_frame_count_disagreement_uses_common_length(tree):
    pos = J.read_joints(J.joints_path(tree, "clap", "clap_v0")).pos_img
    J.write_mask(J.mask_path(tree, "clap", "clap_v0"), _mask_from_pose(pos[:, :, : T - 3]))
    with pytest.warns(UserWarning, match=f"clap/clap_v0: frame counts disagree.*using the first {T - 3}"):
        ds = JHMDB(tree, subset="test", num_frames=T, size=(H, W), normalize=False)
    item = ds[0]
    # T - 3 frames stretched to T: the last item frame is source frame T - 4
    frames = J.read_frames(J.frames_dir(tree, "clap", "clap_v0"))
    assert torch.equal((item["video"][:, -1] * 255).round().to(torch.uint8),
                       torch.from_numpy(frames[T - 4]).permute(2, 0, 1))


# --------------------------------------------------------------------------------------------
# cache


def test_cache_hit_identical_and_touched_source_invalidates(tree, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    kw = dict(subset="train", train=False, num_frames=8, size=(32, 32), clips_per_video=2, cache_dir=cache)
    ds = JHMDB(tree, **kw)
    first = [ds[i] for i in range(len(ds))]
    assert ds.cache.misses == 12 and len(list(cache.glob("*.npy"))) == 12  # 6 videos x (frames, mask)
    # a second epoch (and a fresh dataset) decodes nothing
    monkeypatch.setattr(J, "read_frames", lambda *a, **k: pytest.fail("decoded PNGs on a cache hit"))
    monkeypatch.setattr(J, "read_mask", lambda *a, **k: pytest.fail("decoded a mask on a cache hit"))
    again = JHMDB(tree, **kw)
    for a, i in zip(first, range(len(again))):
        b = again[i]
        assert all(torch.equal(a[k], b[k]) for k in ("video", "mask", "joints"))
    assert again.cache.misses == 0 and again.cache.hits == 24
    monkeypatch.undo()
    # a touched PNG (new mtime) invalidates that clip's frames only
    png = J.frames_dir(tree, "clap", "clap_v1") / "00003.png"
    st = png.stat()
    os.utime(png, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    third = JHMDB(tree, **kw)
    third[0]
    assert third.cache.misses == 1 and len(list(cache.glob("*.npy"))) == 12  # the stale entry is gone
    # a rewritten mask invalidates it for the next dataset instance (an open one keeps the keys
    # it computed: a run sees the data it started with); another size gets its own entries
    J.write_mask(J.mask_path(tree, "clap", "clap_v1"), np.zeros((H, W, T), np.uint8))
    assert third[0]["mask"].max() > 0
    assert JHMDB(tree, **kw)[0]["mask"].max() == 0
    other = JHMDB(tree, **{**kw, "size": (40, 40)})
    other[0]
    assert other.cache.misses == 2 and len(list(cache.glob("*.npy"))) == 14


def test_cache_is_close_to_uncached(tree, tmp_path):
    kw = dict(subset="test", num_frames=8, size=(32, 40))
    plain, cached = JHMDB(tree, **kw), JHMDB(tree, cache_dir=tmp_path / "c", **kw)
    a, b = plain[0], cached[0]
    assert torch.equal(a["joints"], b["joints"])
    assert (a["video"] - b["video"]).abs().mean() < 0.1  # resized once into the cache vs on every read
    assert (a["mask"] - b["mask"]).abs().mean() < 0.05


def test_cache_take_reads_rows_and_rebuilds_damage(tmp_path):
    from actionpose.data.clips import ClipCache

    arr = np.arange(6 * 5 * 4, dtype=np.uint8).reshape(6, 5, 4)
    cache = ClipCache(tmp_path)
    idx = np.array([4, 0, 4, 5, 1])  # unordered, repeated
    assert cache.shape("clip", "k1", lambda: arr) == (6, 5, 4) and cache.misses == 1
    assert np.array_equal(cache.take("clip", "k1", lambda: arr, idx), arr[idx])
    assert (cache.hits, cache.misses) == (0, 1)  # the build was the miss; no double count
    assert np.array_equal(cache.take("clip", "k1", lambda: pytest.fail("rebuilt"), idx[:2]), arr[idx[:2]])
    assert cache.hits == 1
    with pytest.raises(IndexError, match=r"clip\.k1\.npy.*out of range for 6 rows"):
        cache.take("clip", "k1", lambda: arr, [6])
    # a truncated entry (a crash of another process, a full disk) is rebuilt, not read short
    path = cache.path("clip", "k1")
    path.write_bytes(path.read_bytes()[:-30])
    assert np.array_equal(cache.take("clip", "k1", lambda: arr, [5, 2]), arr[[5, 2]])
    assert cache.misses == 2 and path.stat().st_size > 6 * 5 * 4
    # a fresh instance (another worker) reads the same bytes
    assert np.array_equal(ClipCache(tmp_path).take("clip", "k1", lambda: pytest.fail("rebuilt"), idx),
                          arr[idx])


@pytest.mark.parametrize("rendered", [False, True])
def test_uint8_batches_convert_exactly(tree, tmp_path, rendered):
    """uint8 items collated and converted by to_float_inputs equal the float items collated."""
    import shutil

    from torch.utils.data import default_collate

    from actionpose.data.clips import to_float_inputs

    if rendered:
        shutil.rmtree(tree / J.MASK_DIR)
    kw = dict(num_frames=4, size=(32, 40), cache_dir=tmp_path / "c", mask_from_joints=rendered,
              modalities=("frames", "mask"))

    def items(**extra) -> dict:
        ds = JHMDB(tree, **kw, **extra)
        out = []
        for i in range(4):
            torch.manual_seed(i)  # the same random crop and flip for both datasets
            out.append(ds[i])
        return default_collate(out)

    floats, raw = items(), items(uint8=True)
    assert raw["video"].dtype == raw["mask"].dtype == torch.uint8
    for normalize in (True, False):
        want = floats if normalize else items(normalize=False)
        got = to_float_inputs(raw, normalize=normalize)
        assert got["video"].dtype == torch.float32
        assert torch.equal(got["video"], want["video"]) and torch.equal(got["mask"], want["mask"])
    assert to_float_inputs(floats)["video"] is floats["video"]  # float passes through


# --------------------------------------------------------------------------------------------
# sampling, determinism, DataLoader


def test_sample_indices():
    rng = np.random.default_rng(0)
    for n in (16, 17, 40):
        idx = sample_indices(n, 16, train=True, rng=rng)
        assert len(idx) == 16 and (np.diff(idx) > 0).all() and idx.min() >= 0 and idx.max() < n
        segs = np.floor(np.arange(17) * n / 16).astype(int)
        assert ((idx >= segs[:-1]) & (idx < segs[1:])).all()
    assert sample_indices(16, 16, train=True, rng=rng).tolist() == list(range(16))
    short = sample_indices(5, 16, train=True, rng=rng)
    assert short.tolist() == sorted(short.tolist()) and set(short.tolist()) == set(range(5))
    clips = [sample_indices(40, 8, train=False, clip=k, clips_per_video=3) for k in range(3)]
    assert all(not np.array_equal(clips[0], c) for c in clips[1:])
    assert np.array_equal(clips[1], sample_indices(40, 8, train=False, clip=1, clips_per_video=3))
    cons = sample_indices(40, 8, train=True, rng=rng, sampler="consecutive")
    assert (np.diff(cons) == 1).all()
    draws = {tuple(sample_indices(40, 8, train=True, rng=rng)) for _ in range(20)}
    assert len(draws) > 10


def test_transform_joints_matches_pixels():
    joints = np.array([[[10.0, 20.0], [199.0, 99.0]]], np.float32)
    out = transform_joints(joints, frame_size=(100, 200), box=CropBox(0.5, 0.0, 0.5, 0.5), size=(50, 100))
    assert torch.allclose(out, torch.tensor([[[10.0, -30.0], [199.0, 49.0]]]))
    flipped = transform_joints(joints, frame_size=(100, 200), box=CropBox(), size=(100, 200), flip=True)
    assert torch.allclose(flipped[..., 0], torch.tensor([[189.0, 0.0]]))
    # the joint lands where the image transform moves the pixel under it
    from actionpose.data.clips import resized_crop

    img = torch.zeros(1, 1, 100, 200, dtype=torch.uint8)
    img[0, 0, 59:62, 149:152] = 255  # a 3x3 spot centred on (x=150, y=60)
    box = CropBox(0.25, 0.5, 0.5, 0.5)
    for size, flip in (((50, 100), False), ((100, 200), False), ((100, 200), True)):
        moved = resized_crop(img, box, size, flip=flip)[0, 0].float()
        ys, xs = torch.meshgrid(torch.arange(size[0]).float(), torch.arange(size[1]).float(), indexing="ij")
        centre = torch.stack([(xs * moved).sum(), (ys * moved).sum()]) / moved.sum()
        joint = transform_joints(np.array([[[150.0, 60.0]]]), frame_size=(100, 200), box=box, size=size, flip=flip)
        assert torch.allclose(joint[0, 0], centre, atol=0.05), (size, flip, joint, centre)


def test_eval_clips_deterministic(tree):
    ds = JHMDB(tree, subset="train", train=False, num_frames=4, size=(32, 32), clips_per_video=3)
    assert len(ds) == 18
    items = [ds[i] for i in range(3)]
    assert {it["name"] for it in items} == {ds.videos[0]} and [it["clip"] for it in items] == [0, 1, 2]
    assert not torch.equal(items[0]["video"], items[1]["video"])
    assert all(torch.equal(ds[i]["video"], items[i]["video"]) for i in range(3))


def test_train_items_random_but_seeded(tree):
    ds = JHMDB(tree, num_frames=4, size=(32, 32))
    torch.manual_seed(1)
    a = ds[0]
    torch.manual_seed(1)
    b = ds[0]
    c = [ds[0] for _ in range(4)]
    assert torch.equal(a["video"], b["video"]) and torch.equal(a["joints"], b["joints"])
    assert any(not torch.equal(a["video"], x["video"]) for x in c)


def test_dataloader_two_workers_reproducible(tree):
    ds = JHMDB(tree, num_frames=4, size=(32, 32))

    def batch(seed: int) -> dict:
        loader = DataLoader(ds, batch_size=6, shuffle=True, num_workers=2,
                            generator=torch.Generator().manual_seed(seed))
        return next(iter(loader))

    a, b, c = batch(3), batch(3), batch(4)
    assert a["name"] == b["name"] and torch.equal(a["video"], b["video"]) and torch.equal(a["mask"], b["mask"])
    assert a["video"].shape == (6, 3, 4, 32, 32) and a["label"].dtype == torch.int64
    assert not torch.equal(a["video"], c["video"])


# --------------------------------------------------------------------------------------------
# heatmaps, masks from joints, flow


def test_heatmaps_peak_at_joints(tree):
    ds = JHMDB(tree, subset="test", modalities=("joints",), num_frames=4, size=(48, 64),
               heatmap_size=(24, 32), heatmap_sigma=1.5)
    item = ds[0]
    hm = item["heatmaps"]
    assert hm.shape == (15, 4, 24, 32)
    peak = hm.flatten(2).argmax(-1)  # (15, 4)
    px, py = (peak % 32).float(), (peak // 32).float()
    joints = item["joints"].permute(1, 0, 2)  # (15, 4, 2) in the 48x64 frame
    assert torch.allclose(px, (joints[..., 0] + 0.5) / 2 - 0.5, atol=1.0)
    assert torch.allclose(py, (joints[..., 1] + 0.5) / 2 - 0.5, atol=1.0)


def test_mask_from_joints_when_no_mask(tree):
    import shutil

    shutil.rmtree(tree / J.MASK_DIR)
    ds = JHMDB(tree, subset="test", modalities=("frames", "mask"), num_frames=4, size=(48, 64),
               mask_from_joints=True)
    item = ds[0]
    assert item["mask"].shape == (1, 4, 48, 64) and set(item["mask"].unique().tolist()) <= {0.0, 1.0}
    assert "joints" not in item and item["mask"].sum() > 0


def test_flow_follows_motion(tree, tmp_path):
    # the square moves +2 px per frame in x; segment sampling of 12 frames into 6 picks every 2nd
    ds = JHMDB(tree, subset="test", modalities=("flow",), num_frames=6, size=(H, W),
               cache_dir=tmp_path / "c", cache_size=(H, W))
    item = ds[0]
    assert set(item) == {"flow", "label", "name", "clip"} and item["flow"].shape == (2, 5, H, W)
    inside = item["flow"][:, :, 14:22, 20:28]  # the square's middle in the first frames
    assert 2.5 < inside[0, :2].median() < 5.5 and inside[1, :2].abs().median() < 1.0
    assert torch.equal(ds[0]["flow"], item["flow"]) and ds.cache.hits >= 1


@pytest.mark.parametrize("kwargs, message", [
    ({"modalities": ("frames", "depth")}, "modalities must be a non-empty subset"),
    ({"subset": "val"}, "subset must be 'train' or 'test', got 'val'"),
    ({"clips_per_video": 0}, "num_frames and clips_per_video must be >= 1, got 16 and 0"),
    ({"sampler": "dense"}, "sampler must be one of"),
    ({"flip_prob": 1.5}, r"flip_prob must be in \[0, 1\], got 1.5"),
])
def test_bad_arguments_are_config_errors(tree, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        JHMDB(tree, **kwargs)


def test_writers_refuse_bad_arrays_naming_the_file(tmp_path):
    for write, bad, what in ((J.write_joints, np.zeros((15, 2, 3)), "pos_img must be"),
                             (J.write_mask, np.zeros((4, 4)), "part_mask must be"),
                             (J.write_frames, np.zeros((2, 4, 4, 3)), "frames must be uint8")):
        path = tmp_path / what.split()[0]
        with pytest.raises(DataError, match=f"^{path}: {what}"):
            write(path, bad)
        assert not path.exists()
