"""Skeletons, heatmaps, masks from joints, background weakening, PCK (no MediaPipe needed)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from actionpose.errors import ConfigError
from actionpose.pose.metrics import pck, pck_table, reference_size
from actionpose.pose.render import (
    heatmap_peaks,
    masks_from_joints,
    render_heatmaps,
    scale_points,
    weaken_background,
)
from actionpose.pose.skeletons import COCO17, JHMDB15, MEDIAPIPE33, jhmdb15_weights, to_jhmdb15


def _person(T: int = 4, *, frame=(240, 320), seed: int = 0) -> np.ndarray:
    """A standing JHMDB-15 stick figure (T, 15, 2), jittered, facing the camera."""
    H, W = frame
    cx, top = W * 0.5, H * 0.15
    s = H * 0.7
    base = np.array([
        [0, 0.18], [0, 0.42], [0, 0.05],             # neck, belly, face
        [-0.10, 0.20], [0.10, 0.20],                 # shoulders (right is image-left)
        [-0.07, 0.55], [0.07, 0.55],                 # hips
        [-0.16, 0.38], [0.16, 0.38],                 # elbows
        [-0.08, 0.75], [0.08, 0.75],                 # knees
        [-0.20, 0.52], [0.20, 0.52],                 # wrists
        [-0.09, 0.97], [0.09, 0.97],                 # ankles
    ])
    rng = np.random.default_rng(seed)
    pts = np.stack([cx + base[:, 0] * s, top + base[:, 1] * s], -1)
    return (pts[None] + rng.normal(0, 2.0, (T, 15, 2))).astype(np.float32)


# ------------------------------------------------------------------------------ skeletons

@pytest.mark.parametrize("skeleton", [JHMDB15, COCO17, MEDIAPIPE33])
def test_flip_permutation_swaps_left_and_right_names(skeleton):
    perm = skeleton.flip_permutation()
    assert sorted(perm) == list(range(skeleton.num_joints))
    for i, name in enumerate(skeleton.joints):
        mirrored = name.replace("left", "#").replace("right", "left").replace("#", "right")
        assert skeleton.joints[perm[i]] == mirrored


def test_flip_moves_a_synthetic_skeleton_onto_its_mirror():
    W = 320
    joints = _person(1)[0]
    flipped = joints.copy()
    flipped[:, 0] = W - 1 - flipped[:, 0]  # mirror the image: x -> W-1-x
    flipped = flipped[JHMDB15.flip_permutation()]
    # after the swap the right shoulder is again on the image-left side, as in the original
    r, l = JHMDB15.index("right_shoulder"), JHMDB15.index("left_shoulder")
    assert flipped[r, 0] < flipped[l, 0]
    assert joints[r, 0] < joints[l, 0]
    # and mirroring twice is the identity
    back = flipped.copy()
    back[:, 0] = W - 1 - back[:, 0]
    np.testing.assert_allclose(back[JHMDB15.flip_permutation()], joints)


def test_mediapipe_and_coco_map_to_jhmdb15():
    rng = np.random.default_rng(1)
    mp_pts = rng.uniform(0, 100, (3, 33, 2))
    conf = rng.uniform(0.2, 1.0, (3, 33))
    conf[2, MEDIAPIPE33.index("left_hip")] = 0.0
    joints, jconf = to_jhmdb15(mp_pts, conf, source="mediapipe33")
    assert joints.shape == (3, 15, 2) and jconf.shape == (3, 15)
    ls, rs = MEDIAPIPE33.index("left_shoulder"), MEDIAPIPE33.index("right_shoulder")
    np.testing.assert_allclose(joints[:, 0], (mp_pts[:, ls] + mp_pts[:, rs]) / 2, rtol=1e-5)
    np.testing.assert_allclose(joints[:, 0, 0], (mp_pts[:, ls, 0] + mp_pts[:, rs, 0]) / 2, rtol=1e-5)
    np.testing.assert_allclose(jconf[:, 0], np.minimum(conf[:, ls], conf[:, rs]), rtol=1e-6)
    np.testing.assert_allclose(joints[:, JHMDB15.index("face")], mp_pts[:, 0], rtol=1e-5)
    rw = JHMDB15.index("right_wrist")
    np.testing.assert_allclose(joints[:, rw], mp_pts[:, MEDIAPIPE33.index("right_wrist")], rtol=1e-5)
    # the missing left hip takes the belly (built from it) and itself to NaN / confidence 0
    for name in ("left_hip", "belly"):
        assert jconf[2, JHMDB15.index(name)] == 0
        assert np.isnan(joints[2, JHMDB15.index(name)]).all()
    assert np.allclose(jhmdb15_weights("coco17").sum(1), 1.0)
    coco = rng.uniform(0, 100, (17, 2))
    j, c = to_jhmdb15(coco, None, source=COCO17)
    assert j.shape == (15, 2) and np.all(c == 1)
    with pytest.raises(ValueError, match="33"):
        to_jhmdb15(coco, source="mediapipe33")


# ------------------------------------------------------------------------------ heatmaps

@pytest.mark.parametrize("out_size", [(240, 320), (56, 56), (30, 40), (112, 80)])
def test_heatmap_peak_is_at_the_joint_subpixel(out_size):
    frame = (240, 320)
    joints = np.random.default_rng(2).uniform(5, 230, (3, 15, 2)).astype(np.float32)
    maps = render_heatmaps(joints, frame_size=frame, out_size=out_size, sigma=1.5)
    assert maps.shape == (15, 3) + out_size and maps.dtype == torch.float32
    peaks = heatmap_peaks(maps)
    expected = scale_points(joints, frame_size=frame, out_size=out_size)
    assert (peaks - expected).abs().max() < 0.1


def test_pixel_centre_mapping_and_disk_peaks():
    # a joint at the centre of frame pixel (0, 0) lands at the centre of the 4x4 block it covers
    pt = scale_points(torch.tensor([[0.0, 0.0]]), frame_size=(240, 320), out_size=(60, 80))
    np.testing.assert_allclose(pt.numpy(), [[-0.375, -0.375]])
    pt = scale_points(torch.tensor([[1.5, 1.5]]), frame_size=(240, 320), out_size=(60, 80))
    np.testing.assert_allclose(pt.numpy(), [[0.0, 0.0]])
    joints = _person(2)
    maps = render_heatmaps(joints, frame_size=(240, 320), out_size=(60, 80), kind="disk", sigma=3)
    assert set(maps.unique().tolist()) == {0.0, 1.0}
    err = heatmap_peaks(maps) - scale_points(joints, frame_size=(240, 320), out_size=(60, 80))
    assert err.abs().max() < 0.5  # a pixelated disk's centroid


def test_heatmaps_empty_outside_frame_or_low_confidence():
    joints = _person(2)
    joints[0, 3] = [-5.0, 10.0]          # left of the frame
    joints[1, 4] = [100.0, 240.0]        # below the last row
    joints[1, 7] = np.nan
    conf = np.ones((2, 15), np.float32)
    conf[0, 9] = 0.05
    maps = render_heatmaps(torch.from_numpy(joints), conf, frame_size=(240, 320), out_size=(48, 64))
    empty = maps.flatten(2).amax(-1) == 0  # (J, T)
    assert empty[3, 0] and empty[4, 1] and empty[7, 1] and empty[9, 0]
    assert empty.sum() == 4
    assert torch.isnan(heatmap_peaks(maps)[0, 3]).all()
    with pytest.raises(ConfigError, match="sigma"):
        render_heatmaps(joints, frame_size=(240, 320), out_size=(48, 64), sigma=0)
    with pytest.raises(ConfigError, match="kind"):
        render_heatmaps(joints, frame_size=(240, 320), out_size=(48, 64), kind="box")


# ------------------------------------------------------------------------------ masks

@pytest.mark.parametrize("out_size", [None, (60, 80)])
def test_masks_from_joints_cover_the_joints_and_not_the_corners(out_size):
    joints = _person(3)
    masks = masks_from_joints(joints, frame_size=(240, 320), out_size=out_size)
    h, w = out_size or (240, 320)
    assert masks.shape == (3, h, w)
    assert set(masks.unique().tolist()) <= {0.0, 1.0}
    pts = scale_points(joints, frame_size=(240, 320), out_size=(h, w)).round().long()
    t = torch.arange(3)[:, None]
    assert (masks[t, pts[..., 1], pts[..., 0]] == 1).all()
    # the torso polygon fills between the shoulders and the hips
    mid = scale_points(joints[:, [3, 4, 5, 6]].mean(1), frame_size=(240, 320), out_size=(h, w)).round().long()
    assert (masks[torch.arange(3), mid[:, 1], mid[:, 0]] == 1).all()
    assert masks[:, 0, 0].sum() == 0 and masks[:, -1, -1].sum() == 0
    assert 0.02 < masks.mean() < 0.4


def test_mask_options_and_missing_joints():
    joints = _person(2)
    base = masks_from_joints(joints, frame_size=(240, 320))
    grown = masks_from_joints(joints, frame_size=(240, 320), dilation=3)
    assert grown.sum() > base.sum() and bool((grown >= base).all())
    soft = masks_from_joints(joints, frame_size=(240, 320), blur=2.0)
    assert soft.min() >= 0 and soft.max() <= 1 and ((soft > 0) & (soft < 1)).any()
    joints[1] = np.nan  # no person in frame 2
    masks = masks_from_joints(joints, frame_size=(240, 320))
    assert masks[1].sum() == 0 and masks[0].sum() > 0
    with pytest.raises(ConfigError, match="skeleton"):
        masks_from_joints(np.zeros((1, 17, 2)), frame_size=(240, 320))


# ------------------------------------------------------------------------------ weakening

def test_weaken_background():
    x = torch.rand(3, 4, 8, 8) + 0.5
    mask = torch.zeros(1, 4, 8, 8)
    mask[..., 2:6, 2:6] = 1
    assert torch.equal(weaken_background(x, mask, 1.0), x)
    zero = weaken_background(x, mask, 0.0)
    assert (zero[..., 0, 0] == 0).all() and torch.equal(zero[..., 2:6, 2:6], x[..., 2:6, 2:6])
    quarter = weaken_background(x, mask, 0.25)
    torch.testing.assert_close(quarter[..., 0, 0], 0.25 * x[..., 0, 0])
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ConfigError, match="factor"):
            weaken_background(x, mask, bad)
    with pytest.raises(ConfigError, match="factor"):
        weaken_background(x, mask, "0.5")


# ------------------------------------------------------------------------------ PCK

def test_pck_by_hand():
    gt = np.zeros((2, 15, 2))
    gt[:, :, 0] = np.arange(15) * 10.0   # bbox size 140 (x spread), height 0
    gt[:, JHMDB15.index("left_hip"), 1] = 0.0
    pred = gt.copy()
    pred[0, 0, 0] += 20.0                 # 20 px off: PCK@0.2 (28 px) yes, PCK@0.1 (14 px) no
    pred[1, 1] = np.nan                   # missing prediction: a miss
    gt[1, 2] = np.nan                     # missing ground truth: not counted
    r2 = pck(pred, gt, alpha=0.2)
    r1 = pck(pred, gt, alpha=0.1)
    assert r2["counted"].sum() == 29
    assert r2["overall"] == pytest.approx(28 / 29)
    assert r1["overall"] == pytest.approx(27 / 29)
    assert r2["per_joint"][2] == 1.0 and r2["counted"][2] == 1
    assert r1["per_joint"][0] == 0.5 and r2["per_joint"][1] == 0.5
    size = reference_size(gt, np.isfinite(gt).all(-1), norm="torso")
    rs, lh = JHMDB15.index("right_shoulder"), JHMDB15.index("left_hip")
    np.testing.assert_allclose(size, abs(gt[0, rs, 0] - gt[0, lh, 0]))
    table = pck_table(pred, gt)
    assert list(table.index)[-1] == "overall" and table.shape == (16, 4)
    assert table.loc["overall", "PCK@0.2 (bbox)"] == pytest.approx(28 / 29)
    with pytest.raises(ConfigError, match="norm"):
        pck(pred, gt, norm="head")
