"""Clip transforms: each step on hand-made inputs, the pipeline's rules and random draws, and
the Dataset taking one transform object."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from actionpose.data.clips import IMAGENET_MEAN, IMAGENET_STD, CropBox, random_crop_box, sample_indices
from actionpose.data.dataset import JHMDB
from actionpose.data.transforms import (
    CenterCrop, Clip, ClipTransform, Flip, Heatmaps, MasksFromJoints, Normalize, RandomResizedCrop,
    Resize, SampleFrames,
)
from actionpose.errors import ConfigError
from actionpose.pose.skeletons import JHMDB15
from test_dataset import make_tree

PERM = tuple(JHMDB15.flip_permutation())


def _quadrants() -> torch.Tensor:
    """(1, 3, 8, 8) uint8: top-left 10, top-right 20, bottom-left 30, bottom-right 40."""
    img = torch.zeros(1, 3, 8, 8, dtype=torch.uint8)
    img[..., :4, :4], img[..., :4, 4:], img[..., 4:, :4], img[..., 4:, 4:] = 10, 20, 30, 40
    return img


def _joints(t: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """JHMDB-15 joints on an 8x8 frame: joint j at x = j % 8, y = 2; confidence j / 15."""
    xy = np.stack([np.arange(15) % 8, np.full(15, 2)], -1).astype(np.float32)
    conf = (np.arange(15, dtype=np.float32) / 15)[None].repeat(t, 0)
    return xy[None].repeat(t, 0), conf


def test_sample_frames():
    s = SampleFrames(4, clips_per_video=2, random=False)
    assert s.indices(8, 1, None).tolist() == sample_indices(8, 4, train=False, clip=1, clips_per_video=2).tolist()
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    assert SampleFrames(4).indices(40, 0, rng_a).tolist() == sample_indices(40, 4, train=True, rng=rng_b).tolist()
    for bad in ({"num_frames": 0}, {"clips_per_video": 0}, {"sampler": "dense"}):
        with pytest.raises(ConfigError):
            SampleFrames(**bad)


def test_crops_choose_a_box():
    clip = Clip((8, 8))
    CenterCrop(0.25)(clip, None)
    assert clip.box == CropBox(0.25, 0.25, 0.5, 0.5)
    clip.frames = _quadrants()  # the box is applied by Resize: the centre 4x4, no interpolation
    Resize((4, 4))(clip, None)
    assert clip.frames[0, 0].tolist() == [[10, 10, 20, 20]] * 2 + [[30, 30, 40, 40]] * 2
    clip = Clip((8, 8))
    RandomResizedCrop((0.5, 0.5), (1.0, 1.0))(clip, np.random.default_rng(0))
    b = clip.box
    assert abs(b.height * b.width - 0.5) < 1e-9 and 0 <= b.top <= 1 - b.height and 0 <= b.left <= 1 - b.width
    with pytest.raises(ConfigError, match="crop_scale"):
        RandomResizedCrop((0.0, 1.0))
    with pytest.raises(ConfigError, match="center crop"):
        CenterCrop(1.5)


def test_flip_moves_frames_masks_and_joints_and_swaps_sides():
    xy, conf = _joints()
    clip = Clip((8, 8), frames=_quadrants(), mask=_quadrants()[:, :1], joints=xy, conf=conf)
    Flip(1.0)(clip, np.random.default_rng(0))
    assert clip.flip and clip.flip_permutation == PERM
    Resize((8, 8))(clip, None)
    assert clip.frames[0, 0, 0].tolist() == [20] * 4 + [10] * 4
    assert clip.mask[0, 0, 7].tolist() == [40] * 4 + [30] * 4
    expected = np.stack([7 - xy[0, :, 0], xy[0, :, 1]], -1)[list(PERM)]
    assert torch.allclose(clip.joints[0], torch.from_numpy(expected))
    assert torch.equal(clip.conf[0], torch.from_numpy(conf[0, list(PERM)]))
    left, right = JHMDB15.index("left_shoulder"), JHMDB15.index("right_shoulder")
    assert PERM[left] == right  # the left joint's slot now holds the mirrored right joint
    clip = Clip((8, 8))
    Flip(0.0)(clip, np.random.default_rng(0))
    assert not clip.flip
    with pytest.raises(ConfigError, match="flip_prob"):
        Flip(1.5)


def test_resize_scales_joints_and_hides_missing_ones():
    xy, conf = _joints()
    xy[0, 3] = np.nan
    conf[0, 3] = 0
    clip = Clip((8, 8), joints=xy, conf=conf)
    Resize((16, 32))(clip, None)
    assert clip.frame_size == (16, 32)
    j = clip.joints[0]
    assert j[3].tolist() == [-1.0, -1.0]
    assert torch.allclose(j[5], torch.tensor([(5 + 0.5) * 4 - 0.5, (2 + 0.5) * 2 - 0.5]))
    with pytest.raises(ConfigError, match="size"):
        Resize((0, 4))


def test_masks_from_joints_only_where_asked():
    xy, conf = _joints(2)
    conf[:] = 1
    clip = Clip((8, 8), joints=xy, conf=conf)
    Resize((8, 8))(clip, None)
    MasksFromJoints()(clip, None)
    assert clip.mask is None
    clip.render_mask = True
    MasksFromJoints()(clip, None)
    assert clip.mask.dtype == torch.uint8 and clip.mask.shape == (2, 1, 8, 8)
    assert set(clip.mask.unique().tolist()) == {0, 255} and clip.mask[0, 0, 2, 3] == 255


def test_heatmaps_peak_at_the_joints():
    xy, conf = _joints()
    conf[:] = 1
    clip = Clip((8, 8), joints=xy, conf=conf)
    Resize((8, 8))(clip, None)
    Heatmaps((8, 8), sigma=1.0)(clip, None)
    hm = clip.heatmaps
    assert hm.shape == (15, 1, 8, 8) and hm.dtype == torch.float32
    peak = hm[4, 0].flatten().argmax().item()
    assert divmod(peak, 8) == (2, 4)
    clip = Clip((8, 8), joints=xy, conf=conf, wanted=("mask",))  # joints loaded only for a mask
    Heatmaps((8, 8))(clip, None)
    assert clip.heatmaps is None


def test_normalize():
    video = torch.full((3, 1, 2, 2), 255, dtype=torch.uint8)
    mask = torch.full((1, 1, 2, 2), 255, dtype=torch.uint8)
    out = Normalize().outputs({"video": video, "mask": mask, "label": 3})
    expected = (1 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    assert torch.allclose(out["video"][:, 0, 0, 0], expected) and out["mask"].max() == 1.0
    assert out["label"] == 3
    assert Normalize(imagenet=False).outputs({"video": video})["video"].max() == 1.0


def test_pipeline_rules():
    with pytest.raises(ConfigError, match="exactly one Resize"):
        ClipTransform(steps=())
    with pytest.raises(ConfigError, match="Flip must come before Resize"):
        ClipTransform(steps=(Resize(), Flip()))
    with pytest.raises(ConfigError, match="Heatmaps must come after Resize"):
        ClipTransform(steps=(Heatmaps((4, 4)), Resize()))
    evaluation = ClipTransform.standard(train=False, heatmap_size=(4, 4))
    assert not evaluation.random and not evaluation.crops()
    assert [type(s) for s in evaluation.steps] == [Resize, MasksFromJoints, Heatmaps]
    training = ClipTransform.standard(train=True, size=(32, 48), uint8=True)
    assert training.random and training.crops() and training.size == (32, 48) and training.normalize is None
    assert [type(s) for s in training.steps] == [RandomResizedCrop, Flip, Resize, MasksFromJoints]
    assert [type(s) for s in ClipTransform.standard(train=True, crop_scale=None, flip=False).steps] == [
        Resize, MasksFromJoints]


def test_random_draws_come_in_pipeline_order():
    t = ClipTransform.standard(train=True, num_frames=4, size=(8, 8))
    rng = np.random.default_rng(7)
    idx = t.sample.indices(30, 0, rng)
    clip = Clip((8, 8), frames=_quadrants().repeat(4, 1, 1, 1))
    t(clip, rng)
    ref = np.random.default_rng(7)
    assert idx.tolist() == sample_indices(30, 4, train=True, rng=ref).tolist()
    assert clip.box == random_crop_box(ref, scale=(0.8, 1.0), ratio=(3 / 4, 4 / 3))
    assert clip.flip == bool(ref.random() < 0.5)


def test_dataset_takes_one_transform(tmp_path):
    root = tmp_path / "t"
    make_tree(root, clips=2)
    transform = ClipTransform.standard(train=False, num_frames=4, size=(24, 32), heatmap_size=(6, 8))
    a = JHMDB(root, subset="test", transform=transform)
    b = JHMDB(root, subset="test", num_frames=4, size=(24, 32), heatmap_size=(6, 8))
    for key in ("video", "mask", "joints", "joint_conf", "heatmaps"):
        assert torch.equal(a[1][key], b[1][key]), key
    torch.manual_seed(0)
    train_a = JHMDB(root, transform=ClipTransform.standard(train=True, num_frames=4, size=(24, 32)))[0]
    torch.manual_seed(0)
    train_b = JHMDB(root, num_frames=4, size=(24, 32))[0]
    assert torch.equal(train_a["video"], train_b["video"]) and torch.equal(train_a["joints"], train_b["joints"])
    with pytest.raises(ConfigError, match="either transform= or its options"):
        JHMDB(root, transform=transform, num_frames=4)
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['num_frame'\]"):
        JHMDB(root, num_frame=4)
