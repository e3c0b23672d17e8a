"""Keypoint heatmap volumes against joints placed by hand."""
import math

import pytest
import torch

from actionpose.errors import ConfigError
from actionpose.pose.skeletons import JHMDB15
from actionpose.pose.volumes import VolumeConfig, channel_flip_permutation, flip_volume, keypoint_volume

J, L = JHMDB15.num_joints, len(JHMDB15.limbs)


def _pose(T=2):
    """A standing figure in a 40x40 frame (x = column), joints on pixel centres."""
    xy = {
        "neck": (20, 10), "belly": (20, 20), "face": (20, 5),
        "right_shoulder": (15, 10), "left_shoulder": (25, 10), "right_hip": (17, 22),
        "left_hip": (23, 22), "right_elbow": (11, 16), "left_elbow": (29, 16),
        "right_knee": (16, 30), "left_knee": (24, 30), "right_wrist": (8, 20),
        "left_wrist": (33, 20), "right_ankle": (15, 37), "left_ankle": (26, 37),
    }
    one = torch.tensor([xy[n] for n in JHMDB15.joints], dtype=torch.float32)
    return one.expand(T, J, 2).clone()


def test_shape_and_peak_at_each_joint():
    cfg = VolumeConfig(size=(40, 40), sigma=1.5)
    joints = _pose()
    vol = keypoint_volume(joints, frame_size=(40, 40), config=cfg)
    assert vol.shape == (J + L, 2, 40, 40) and cfg.channels == J + L
    for j in range(J):
        m = vol[j, 0]
        iy, ix = divmod(int(m.argmax()), 40)
        assert (ix, iy) == tuple(joints[0, j].int().tolist())
        assert m.max() == pytest.approx(1.0)
        # a Gaussian of sigma 1.5: exp(-1 / 4.5) one pixel away
        assert m[iy, ix + 1] == pytest.approx(math.exp(-1 / 4.5), rel=1e-5)


def test_limb_lies_along_its_segment():
    cfg = VolumeConfig(size=(40, 40), sigma=1.0, parts="limbs")
    joints = _pose(1)
    vol = keypoint_volume(joints, frame_size=(40, 40), config=cfg)
    assert vol.shape == (L, 1, 40, 40)
    li = JHMDB15.limbs.index((7, 11))  # right elbow (11, 16) -> right wrist (8, 20)
    m = vol[li, 0]
    (ax, ay), (bx, by) = joints[0, 7].tolist(), joints[0, 11].tolist()
    for t in (0.0, 0.5, 1.0):  # every point of the segment is at the top of the ridge
        x, y = ax + t * (bx - ax), ay + t * (by - ay)
        if float(x).is_integer() and float(y).is_integer():
            assert m[int(y), int(x)] == pytest.approx(1.0)
    assert m[18, 9] > 0.5 and m[18, 10] > 0.5  # (9.5, 18) is on the segment: both sides high
    assert m[30, 30] < 1e-6  # far from the limb
    # a point beyond the wrist, on the segment's line, falls off like a joint (clamped projection)
    assert m[24, 5] < 1e-3


def test_frame_to_map_scaling_keeps_pixel_centres():
    cfg = VolumeConfig(size=(20, 20), sigma=1.0, parts="joints")
    joints = torch.full((1, J, 2), 19.5)  # frame 40x40: the centre of the 2x2 block 19..20
    joints[0, 0] = torch.tensor([1.0, 3.0])  # -> (0.25, 1.25) in the 20x20 map
    vol = keypoint_volume(joints, frame_size=(40, 40), config=cfg)
    m = vol[0, 0]
    # the Gaussian's centre: log-parabola fit over the three pixels around the argmax
    row = m[1].clamp_min(1e-30).log()
    centre_x = 1 + 0.5 * (row[0] - row[2]) / (row[0] - 2 * row[1] + row[2])
    assert float(centre_x) == pytest.approx(0.25, abs=1e-4)


def test_flip_swaps_left_and_right():
    cfg = VolumeConfig(size=(40, 40), sigma=1.5)
    joints = _pose()
    conf = torch.rand(2, J, generator=torch.Generator().manual_seed(0))
    mirrored = joints.clone()
    mirrored[..., 0] = 40 - 1 - mirrored[..., 0]
    perm = JHMDB15.flip_permutation()
    mirrored, mconf = mirrored[:, perm], conf[:, perm]
    vol = keypoint_volume(joints, conf, frame_size=(40, 40), config=cfg)
    flipped = keypoint_volume(mirrored, mconf, frame_size=(40, 40), config=cfg)
    assert torch.allclose(flip_volume(vol, cfg), flipped, atol=1e-6)
    # the right wrist's map of the flipped clip peaks where the left wrist was, mirrored
    rw, lw = JHMDB15.index("right_wrist"), JHMDB15.index("left_wrist")
    iy, ix = divmod(int(flipped[rw, 0].argmax()), 40)
    assert (ix, iy) == (39 - int(joints[0, lw, 0]), int(joints[0, lw, 1]))
    assert sorted(channel_flip_permutation(cfg)) == list(range(J + L))


def test_confidence_weights_and_missing_joints_give_empty_maps():
    cfg = VolumeConfig(size=(40, 40), sigma=1.5)
    joints = _pose(3)
    conf = torch.ones(3, J)
    conf[0, 11] = 0.5                      # a doubtful right wrist: half the height
    joints[1] = float("nan")               # frame without a person (pose extract)
    conf[1] = 0.0
    joints[2, 7] = float("nan")            # one NaN joint with a (stale) nonzero confidence
    conf[2, 3] = float("nan")              # and a NaN confidence
    vol = keypoint_volume(joints, conf, frame_size=(40, 40), config=cfg)
    assert torch.isfinite(vol).all()
    assert vol[11, 0].max() == pytest.approx(0.5)
    assert vol[:, 1].abs().sum() == 0
    assert vol[7, 2].abs().sum() == 0 and vol[3, 2].abs().sum() == 0
    for k, (a, b) in enumerate(JHMDB15.limbs):  # limbs touching a missing joint are empty too
        if 7 in (a, b) or 3 in (a, b):
            assert vol[J + k, 2].abs().sum() == 0
        else:
            assert vol[J + k, 2].max() > 0.9
    # the Dataset's convention for a missing joint, (-1, -1) with confidence 0, is empty too
    joints[1] = -1.0
    assert keypoint_volume(joints, conf, frame_size=(40, 40), config=cfg)[:, 1].abs().sum() == 0


def test_batched_equals_per_clip_and_gradient_free():
    cfg = VolumeConfig(size=(16, 12), sigma=1.0)
    g = torch.Generator().manual_seed(1)
    joints = torch.rand(3, 4, J, 2, generator=g) * torch.tensor([30.0, 40.0])
    conf = torch.rand(3, 4, J, generator=g)
    batch = keypoint_volume(joints, conf, frame_size=(40, 30), config=cfg)
    assert batch.shape == (3, J + L, 4, 16, 12)
    for i in range(3):
        assert torch.allclose(batch[i], keypoint_volume(joints[i], conf[i], frame_size=(40, 30),
                                                        config=cfg), atol=1e-6)


@pytest.mark.parametrize("kwargs, match", [
    ({"parts": "bones"}, "parts"), ({"sigma": 0}, "sigma"), ({"sigma": float("nan")}, "sigma"),
    ({"size": (0, 4)}, "size"), ({"size": "big"}, "size"),
])
def test_bad_config_is_one_line(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        VolumeConfig(**kwargs)


def test_bad_joints_shape_is_one_line():
    with pytest.raises(ConfigError, match="joints must be"):
        keypoint_volume(torch.zeros(2, 17, 2), frame_size=(10, 10))
    with pytest.raises(ConfigError, match="confidence must be"):
        keypoint_volume(torch.zeros(2, J, 2), torch.ones(2, J + 1), frame_size=(10, 10))
