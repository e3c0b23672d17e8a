"""The pose-quality knob: each degradation on a hand-made clip, purity and seeding."""
import math
from pathlib import Path

import pytest
import torch

from actionpose.errors import ConfigError
from actionpose.pose.quality import (PoseQuality, clip_seed, degrade_pose, degrade_sample, mask_error,
                                     morph_mask, person_height, pose_error)

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "jhmdb"


def _clip(T=20, J=15):
    """A person 40 px tall (y 10..50) in a 64x64 frame; a box mask around the joints."""
    g = torch.Generator().manual_seed(0)
    joints = torch.rand(T, J, 2, generator=g) * torch.tensor([20.0, 40.0]) + torch.tensor([20.0, 10.0])
    joints[:, 0, 1], joints[:, 1, 1] = 10.0, 50.0
    conf = torch.ones(T, J)
    mask = torch.zeros(1, T, 64, 64)
    mask[..., 10:51, 20:41] = 1
    return joints, conf, mask


def test_perfect_quality_changes_nothing_and_inputs_are_untouched():
    joints, conf, mask = _clip()
    copies = joints.clone(), conf.clone(), mask.clone()
    j, c, m = degrade_pose(joints, conf, mask, quality=PoseQuality(), seed=3)
    assert torch.equal(j, joints) and torch.equal(c, conf) and torch.equal(m, mask)
    q = PoseQuality(jitter=0.1, miss_rate=0.5, offset=(0.1, 0), mask_change=-0.05)
    degrade_pose(joints, conf, mask, quality=q, seed=3)
    assert all(torch.equal(a, b) for a, b in zip((joints, conf, mask), copies))
    assert PoseQuality().is_perfect and not q.is_perfect


def test_height_from_joints_then_mask():
    joints, conf, mask = _clip()
    assert person_height(joints, conf) == pytest.approx(40.0)
    assert person_height(joints, torch.zeros_like(conf), mask) == pytest.approx(41.0)
    assert person_height(torch.full_like(joints, float("nan"))) == 0.0


def test_jitter_sigma_is_a_fraction_of_height():
    joints, conf, mask = _clip(T=200)
    j, _, m = degrade_pose(joints, conf, mask, quality=PoseQuality(jitter=0.05), seed=0)
    err = j - joints
    assert float(err.std()) == pytest.approx(0.05 * 40, rel=0.05)
    assert torch.equal(m, mask)  # jitter never reaches the mask
    err = pose_error(j, joints)
    assert err["jitter"] == pytest.approx(0.05, rel=0.05) and abs(err["offset_x"]) < 0.01


def test_missed_frames_are_empty_and_the_rate_holds():
    joints, conf, mask = _clip(T=400)
    j, c, m = degrade_pose(joints, conf, mask, quality=PoseQuality(miss_rate=0.25), seed=1)
    missed = torch.isnan(j).all(-1).all(-1)
    assert float(missed.float().mean()) == pytest.approx(0.25, abs=0.05)
    assert (c[missed] == 0).all() and (m[0, missed] == 0).all()
    assert torch.equal(j[~missed], joints[~missed]) and (m[0, ~missed].sum((-1, -2)) > 0).all()
    assert pose_error(j, joints, c)["miss_rate"] == pytest.approx(float(missed.float().mean()))


def test_offset_moves_joints_and_mask_together():
    joints, conf, mask = _clip()
    j, _, m = degrade_pose(joints, conf, mask, quality=PoseQuality(offset=(0.1, -0.05)), seed=0)
    assert torch.allclose(j - joints, torch.tensor([4.0, -2.0]).expand_as(j))
    assert torch.equal(m[..., 8:49, 24:45], mask[..., 10:51, 20:41]) and m.sum() == mask.sum()
    err = pose_error(j, joints)
    assert (err["offset_x"], err["offset_y"]) == pytest.approx((0.1, -0.05)) and err["jitter"] < 1e-6


def test_mask_dilation_and_erosion():
    mask = torch.zeros(1, 1, 21, 21)
    mask[..., 10, 10] = 1
    grown = morph_mask(mask, 2)
    assert grown.sum() == 13  # the disk of radius 2
    assert torch.equal(morph_mask(grown, -2), mask)
    joints, conf, box = _clip()
    _, _, m = degrade_pose(joints, conf, box, quality=PoseQuality(mask_change=-0.05), seed=0)
    assert torch.equal(m[0, 0, 12:49, 22:39], torch.ones(37, 17)) and m.sum() == 20 * 37 * 17
    _, _, m = degrade_pose(joints, conf, box, quality=PoseQuality(mask_change=0.05), seed=0)
    assert m[0, 0, 30, 17:44].tolist() == [0] + [1] * 25 + [0] and m[0, 0, 8, 30] == 1


def test_missing_joints_stay_missing_and_nothing_becomes_nan_elsewhere():
    joints, conf, _ = _clip()
    joints[3] = float("nan")
    conf[3] = 0
    joints[4, 2] = -1.0  # the Dataset's missing joint
    conf[4, 2] = 0
    j, c, _ = degrade_pose(joints, conf, quality=PoseQuality(jitter=0.1, offset=(0.1, 0.1)), seed=0)
    assert torch.isnan(j[3]).all() and (j[4, 2] == -1).all()
    assert torch.isfinite(j[torch.arange(20) != 3]).all()


def test_seeded_and_common_random_numbers():
    joints, conf, mask = _clip()
    q = PoseQuality(jitter=0.05, miss_rate=0.2)
    a = degrade_pose(joints, conf, mask, quality=q, seed=7)
    b = degrade_pose(joints, conf, mask, quality=q, seed=7)
    assert all(torch.equal(torch.nan_to_num(x, nan=-9), torch.nan_to_num(y, nan=-9)) for x, y in zip(a, b))
    c = degrade_pose(joints, conf, mask, quality=q, seed=8)
    assert not torch.equal(torch.nan_to_num(a[0]), torch.nan_to_num(c[0]))
    # the jitter drawn for a seed is the same whatever the miss rate
    d = degrade_pose(joints, conf, mask, quality=PoseQuality(jitter=0.05), seed=7)
    kept = ~torch.isnan(a[0]).all(-1).all(-1)
    assert torch.equal(a[0][kept], d[0][kept])
    assert clip_seed(0, "v1") == clip_seed(0, "v1") != clip_seed(0, "v1", epoch=1)


@pytest.mark.parametrize("kwargs", [
    {"jitter": -0.1}, {"miss_rate": 1.5}, {"offset": (0.1,)}, {"offset": (math.nan, 0)},
    {"mask_change": math.inf}, {"jitter": True},
])
def test_bad_settings_are_one_line(kwargs):
    with pytest.raises(ConfigError, match="pose quality"):
        PoseQuality(**kwargs)


def test_bad_shapes_are_one_line():
    with pytest.raises(ConfigError, match="joints must be"):
        degrade_pose(torch.zeros(3, 15), quality=PoseQuality(), seed=0)
    with pytest.raises(ConfigError, match="mask must be"):
        degrade_pose(torch.zeros(3, 15, 2), mask=torch.zeros(1, 4, 8, 8), quality=PoseQuality(), seed=0)


def test_mask_error_reads_dilation_in_the_knob_units():
    joints, conf, mask = _clip()  # a 41x21 box, person 40 px tall
    same = mask_error(mask, mask, 40.0)
    assert same == {"iou": 1.0, "mask_change": 0.0}
    _, _, grown = degrade_pose(joints, conf, mask, quality=PoseQuality(mask_change=0.1), seed=0)
    err = mask_error(grown, mask, 40.0)
    assert err["mask_change"] == pytest.approx(0.1, rel=0.15) and err["iou"] < 1
    _, _, shrunk = degrade_pose(joints, conf, mask, quality=PoseQuality(mask_change=-0.05), seed=0)
    assert mask_error(shrunk, mask, 40.0)["mask_change"] == pytest.approx(-0.05, rel=0.15)
    with pytest.raises(ConfigError, match="masks must both be"):
        mask_error(mask[..., :10], mask, 40.0)


@pytest.mark.skipif(not (REAL / "joint_positions").is_dir(), reason="../shared/jhmdb is absent")
def test_pose_error_on_the_real_clip_ground_truth_against_itself_shifted():
    from actionpose.data import jhmdb

    gt = jhmdb.read_joints(next((REAL / "joint_positions").rglob("joint_positions.mat")))
    truth = torch.from_numpy(gt.joints_xy())
    height = person_height(truth)
    assert 50 < height < 240  # a person in a 320x240 frame
    moved, _, _ = degrade_pose(truth, quality=PoseQuality(offset=(0.02, -0.01)), seed=0)
    err = pose_error(moved, truth)
    assert (err["offset_x"], err["offset_y"]) == pytest.approx((0.02, -0.01), abs=1e-5)
    assert err["miss_rate"] == 0 and err["jitter"] < 1e-5


def test_uint8_masks_keep_their_dtype_and_scale():
    joints, conf, mask = _clip()
    m8 = (mask * 255).to(torch.uint8)
    q = PoseQuality(offset=(0.1, 0.0), mask_change=0.05, miss_rate=0.3)
    _, _, out8 = degrade_pose(joints, conf, m8, quality=q, seed=2)
    _, _, out = degrade_pose(joints, conf, mask, quality=q, seed=2)
    assert out8.dtype == torch.uint8 and torch.equal(out8, (out * 255).to(torch.uint8))


def test_degrade_sample_follows_the_sample_contract():
    joints, conf, mask = _clip(T=40)
    video = torch.rand(3, 40, 64, 64)
    sample = {"video": video, "joints": joints, "joint_conf": conf, "mask": mask, "label": 1,
              "name": "v1", "clip": 0}
    q = PoseQuality(jitter=0.02, miss_rate=0.3)
    out = degrade_sample(sample, q, seed=0)
    assert out["video"] is video and out["label"] == 1 and sample["joints"] is joints
    missed = out["joint_conf"].sum(-1) == 0
    assert missed.any() and (out["joints"][missed] == -1).all() and (out["mask"][0, missed] == 0).all()
    assert torch.isfinite(out["joints"]).all()
    again = degrade_sample(sample, q, seed=0)
    assert torch.equal(again["joints"], out["joints"])
    for other in (degrade_sample({**sample, "name": "v2"}, q, seed=0), degrade_sample(sample, q, seed=0, epoch=1)):
        assert not torch.equal(other["joints"], out["joints"])
    assert degrade_sample(sample, PoseQuality(), seed=0) is sample
    # a mask-only sample (mask modes read no joints): the height comes from the mask
    only_mask = degrade_sample({"video": video, "mask": mask, "name": "v1"}, PoseQuality(mask_change=0.05),
                               seed=0)
    assert "joints" not in only_mask and only_mask["mask"].sum() > mask.sum()
    with pytest.raises(ConfigError, match="neither joints nor a mask"):
        degrade_sample({"video": video, "name": "v1"}, q, seed=0)
