"""The heatmap-volume stream: parameter count, forward/backward, estimated pose with gaps."""
import pytest
import torch

from actionpose.models.heatmap_volume import HeatmapVolumeStream
from actionpose.pose.skeletons import JHMDB15
from actionpose.pose.volumes import VolumeConfig, keypoint_volume

J, L = JHMDB15.num_joints, len(JHMDB15.limbs)


def _expected_params(in_channels, num_classes, *, fc_dim, flat_cells):
    # pose_only at width 0.25: convs 8 | 16 | 32, 32 | 64, 64 (3x3x3, no bias) each with BatchNorm
    n, prev = 0, in_channels
    for ch in (8, 16, 32, 32, 64, 64):
        n += prev * ch * 27 + 2 * ch
        prev = ch
    return n + 64 * flat_cells * fc_dim + fc_dim + fc_dim * num_classes + num_classes


@pytest.mark.parametrize("parts, channels", [("both", J + L), ("joints", J), ("limbs", L)])
def test_parameter_count(parts, channels):
    model = HeatmapVolumeStream(num_classes=21, frame_size=(112, 112), num_frames=16,
                                volume=VolumeConfig(size=(56, 56), sigma=0.6, parts=parts),
                                width=0.25, fc_dim=256)
    # 16x56x56 pools to 1x2x2 cells
    expected = _expected_params(channels, 21, fc_dim=256, flat_cells=4)
    assert sum(p.numel() for p in model.parameters()) == expected
    assert model.net.input_shape == (channels, 16, 56, 56)


def test_forward_backward_with_missing_joints():
    torch.manual_seed(0)
    model = HeatmapVolumeStream(num_classes=4, frame_size=(64, 48), num_frames=8,
                                volume=VolumeConfig(size=(32, 24), sigma=1.0), width=0.125, fc_dim=16)
    joints = torch.rand(2, 8, J, 2) * torch.tensor([48.0, 64.0])
    conf = torch.rand(2, 8, J)
    joints[0, 2] = float("nan")  # no person in a frame: NaN joints, confidence 0
    conf[0, 2] = 0
    joints[1, :, 5] = -1.0  # the Dataset's missing joint
    conf[1, :, 5] = 0
    vol = model.make_volume(joints, conf)
    assert vol.shape == (2, J + L, 8, 32, 24) and torch.isfinite(vol).all()
    assert vol[0, :, 2].abs().sum() == 0
    assert torch.equal(vol[1], keypoint_volume(joints[1], conf[1], frame_size=(64, 48),
                                               config=model.volume))
    logits = model(joints, conf)
    assert logits.shape == (2, 4) and torch.isfinite(logits).all()
    logits.logsumexp(1).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    # ground-truth joints without confidences work too
    assert model(torch.rand(1, 8, J, 2) * 40).shape == (1, 4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_volume_is_built_on_the_device():
    model = HeatmapVolumeStream(num_classes=4, frame_size=(64, 48), num_frames=8,
                                volume=VolumeConfig(size=(32, 24), sigma=1.0), width=0.125, fc_dim=16)
    joints, conf = torch.rand(2, 8, J, 2) * 40, torch.rand(2, 8, J)
    joints[0, 1] = float("nan")
    cpu = model.make_volume(joints, conf)
    gpu = model.cuda().make_volume(joints.cuda(), conf.cuda())
    assert gpu.is_cuda and torch.allclose(gpu.cpu(), cpu, atol=1e-5)
    assert model(joints.cuda(), conf.cuda()).shape == (2, 4)


def test_volume_size_and_sigma_are_config_fields():
    from actionpose.errors import ConfigError
    from actionpose.models.registry import build_model
    from actionpose.train.experiments import make_config, parse_overrides

    default = build_model(make_config("heatmap-volume", "cpu"), 4)  # 8 frames of 64x64
    assert default.volume.size == (32, 32) and default.volume.sigma == VolumeConfig.sigma
    overrides = parse_overrides(["volume_size=[16,24]", "heatmap_sigma=1.5"])
    assert overrides == {"volume_size": (16, 24), "heatmap_sigma": 1.5}
    model = build_model(make_config("heatmap-volume", "cpu", **overrides), 4)
    assert model.volume.size == (16, 24) and model.volume.sigma == 1.5
    assert model.net.input_shape == (J + L, 8, 16, 24)
    joints = torch.rand(2, 8, J, 2) * 64
    assert model.make_volume(joints).shape == (2, J + L, 8, 16, 24)
    for overrides, message in [
        (dict(volume_size=(65, 16)), "volume_size=(65, 16): must be null or [height, width], two "
                                     "integers from 1 to the clip's size [64, 64]"),
        (dict(volume_size=(0, 16)), "volume_size=(0, 16): must be null"),
        (dict(volume_size=(16,)), "volume_size=(16,): must be null"),
        (dict(volume_size=(16.5, 16)), "volume_size=(16.5, 16): must be null"),
        (dict(heatmap_sigma=0.0), "heatmap_sigma=0.0: must be null or > 0"),
    ]:
        with pytest.raises(ConfigError) as info:
            make_config("heatmap-volume", "cpu", **overrides)
        assert str(info.value).startswith(message) and "\n" not in str(info.value)
