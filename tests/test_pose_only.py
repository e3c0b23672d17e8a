"""Issue 19's suspects: the pose-only head, the person-centred crop and mask-derived inputs, each
on hand-made inputs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from actionpose.data.clips import CropBox
from actionpose.data.transforms import Clip, ClipTransform, MaskInputs, PersonCrop, RandomResizedCrop
from actionpose.errors import ConfigError
from actionpose.models.pose_only import pose_only
from actionpose.models.registry import build_model
from actionpose.train.experiments import make_config


def _params(model):
    return sum(p.numel() for p in model.parameters())


def test_pool_head_is_position_invariant_and_small():
    flat = pose_only(num_classes=5, width=0.25, num_frames=8, size=(32, 32))
    pool = pose_only(num_classes=5, width=0.25, num_frames=8, size=(32, 32), head="pool")
    x = torch.rand(2, 1, 8, 32, 32)
    assert flat(x).shape == pool(x).shape == (2, 5)
    assert _params(pool) < _params(flat)
    assert [type(m).__name__ for m in pool.classifier] == ["Dropout", "Linear"]
    assert pool.classifier[-1].in_features == pool.feature_shape[0] == 64
    pool.eval()
    features = pool.features(x)
    assert features.shape == (2, 64, 1, 1, 1)


def test_default_head_is_the_flatten_model():
    torch.manual_seed(0)
    default = pose_only(num_classes=3, num_frames=4, size=32)
    torch.manual_seed(0)
    flatten = pose_only(num_classes=3, num_frames=4, size=32, head="flatten")
    assert all(torch.equal(a, b) for a, b in zip(default.state_dict().values(), flatten.state_dict().values()))


def test_head_and_mask_inputs_reach_the_model_through_the_config():
    cfg = make_config("pose-only", "smoke", head="pool", mask_inputs=("motion", "distance"))
    model = build_model(cfg, num_classes=4)
    assert model.input_shape[0] == 3 and type(model.classifier[-1]).__name__ == "Linear"
    with pytest.raises(ConfigError, match="head"):
        make_config("pose-only", "smoke", head="mean")
    with pytest.raises(ConfigError, match="mask_inputs"):
        make_config("pose-only", "smoke", mask_inputs=("edges",))
    with pytest.raises(ConfigError, match="mask_inputs"):
        make_config("c3d-pose", "smoke", mask_inputs=("motion",))
    with pytest.raises(ConfigError, match="head"):
        pose_only(num_classes=2, head="max")


def _mask_clip(boxes, size=(240, 320)):
    """A uint8 mask clip (T, 1, H, W) with a filled rectangle (y0, y1, x0, x1) per frame."""
    mask = torch.zeros(len(boxes), 1, *size, dtype=torch.uint8)
    for t, (y0, y1, x0, x1) in enumerate(boxes):
        mask[t, 0, y0:y1, x0:x1] = 255
    return Clip(size, wanted=("mask",), mask=mask)


def test_person_crop_is_square_around_the_person_over_the_clip():
    clip = _mask_clip([(100, 180, 150, 170), (110, 190, 160, 180)])  # person 90 tall, 30 wide
    PersonCrop(pad=0.0)(clip, None)
    y0, y1, x0, x1 = clip.box.pixels(240, 320)
    assert (y0, y1) == (100, 190)  # the union over the frames
    assert y1 - y0 == x1 - x0 == 90  # squared by extending the shorter side
    assert (x0 + x1) / 2 == pytest.approx(165)


def test_person_crop_pads_keeps_the_output_aspect_and_stays_inside():
    clip = _mask_clip([(0, 40, 300, 320)])  # corner person, 40 tall, 20 wide
    PersonCrop(pad=0.25, aspect=2.0)(clip, None)  # 2:1 output
    b = clip.box
    h, w = b.height * 240, b.width * 320
    assert h == pytest.approx(60) and w == pytest.approx(120)  # 40 + 2 * 0.25 * 40, then 2:1
    assert b.top == 0 and b.left + b.width == pytest.approx(1.0)  # shifted inside the frame


def test_person_crop_measures_aspect_in_native_pixels_on_a_reduced_mask():
    clip = _mask_clip([(30, 60, 40, 50)], size=(60, 60))  # a 60x60 cache of a 240x320 frame
    clip.frame_size = (240, 320)
    PersonCrop(pad=0.0)(clip, None)
    h, w = clip.box.height * 240, clip.box.width * 320
    assert h == pytest.approx(w) == pytest.approx(120)  # 30 rows of 4 px: 120 native px


def test_person_crop_without_a_person_keeps_the_frame():
    clip = _mask_clip([])
    clip.mask = torch.zeros(2, 1, 24, 32, dtype=torch.uint8)
    clip.frame_size = (24, 32)
    PersonCrop()(clip, None)
    assert clip.box == CropBox()


def test_random_crop_jitters_within_the_person_box():
    clip = _mask_clip([(100, 180, 150, 230)])
    PersonCrop(pad=0.0)(clip, None)
    person = clip.box
    RandomResizedCrop((0.5, 0.5))(clip, np.random.default_rng(0))
    b = clip.box
    assert person.top <= b.top and b.top + b.height <= person.top + person.height + 1e-9
    assert person.left <= b.left and b.left + b.width <= person.left + person.width + 1e-9
    assert b.height * b.width == pytest.approx(0.5 * person.height * person.width, rel=0.3)


def test_standard_transform_with_person_crop_and_mask_inputs():
    t = ClipTransform.standard(train=False, num_frames=2, size=(16, 16), crop="person",
                               mask_inputs=("motion", "distance"), uint8=True)
    clip = _mask_clip([(100, 180, 150, 170), (100, 180, 154, 174)])
    out = t(clip, None)
    assert out["mask"].shape == (3, 2, 16, 16) and out["mask"].dtype == torch.uint8
    assert t.headroom() > 1
    with pytest.raises(ConfigError, match="crop"):
        ClipTransform.standard(train=False, crop="zoom")


def test_mask_inputs_motion_and_distance():
    mask = torch.zeros(2, 1, 7, 7, dtype=torch.uint8)
    mask[0, 0, 1:6, 1:6] = 255  # a 5x5 square, then shifted right by one column
    mask[1, 0, 1:6, 2:7] = 255
    clip = Clip((7, 7), wanted=("mask",), mask=mask.clone())
    MaskInputs(("motion", "distance"))(clip, None)
    m, motion, dist = clip.mask[:, 0], clip.mask[:, 1], clip.mask[:, 2]
    assert torch.equal(m, mask[:, 0])
    assert not motion[0].any()  # nothing to compare the first frame with
    changed = torch.zeros(7, 7, dtype=torch.uint8)
    changed[1:6, 1] = changed[1:6, 6] = 255  # the column left behind and the column entered
    assert torch.equal(motion[1], changed)
    assert int(dist[0, 3, 3]) == 255  # the centre is the farthest from the background
    assert int(dist[0, 1, 1]) == round(255 / 3)  # the edge: 1 px of 3
    assert not dist[0][mask[0, 0] == 0].any()
    with pytest.raises(ConfigError, match="mask_inputs"):
        MaskInputs(("motion", "motion"))
