"""Per-layer precision under CPU bf16 autocast: the 2-frame Conv3d fix and its policy."""
from __future__ import annotations

import torch
from torch import nn

from actionpose.models.precision import keep_two_frame_conv3d_fp32
from actionpose.train.experiments import make_config
from actionpose.train.precision import amp_dtype_for


def _grads(conv: nn.Conv3d, x: torch.Tensor, autocast: bool) -> tuple[torch.Tensor, torch.Tensor]:
    conv.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        y = conv(x)
    y.float().square().mean().backward()
    return y, conv.weight.grad.clone()


def test_two_frame_conv3d_runs_fp32_under_bf16_and_others_stay_bf16():
    torch.manual_seed(0)
    conv = nn.Conv3d(8, 8, 3, padding=1)
    keys = list(conv.state_dict())
    assert keep_two_frame_conv3d_fp32(conv) == 1 and keep_two_frame_conv3d_fp32(conv) == 0
    assert list(conv.state_dict()) == keys
    two = torch.randn(2, 8, 2, 6, 6)
    y, grad = _grads(conv, two, autocast=True)
    y32, grad32 = _grads(conv, two, autocast=False)
    assert y.dtype == torch.float32 and torch.equal(y, y32) and torch.equal(grad, grad32)
    y3, _ = _grads(conv, torch.randn(2, 8, 3, 6, 6), autocast=True)
    assert y3.dtype == torch.bfloat16  # only the 2-frame case leaves bf16


def test_policy_applies_the_fix_whenever_a_cpu_run_trains_in_bf16():
    cfg = make_config("c3d", "smoke", amp="bf16", num_frames=4)
    from actionpose.models.registry import build_model

    model = build_model(cfg, num_classes=3)
    assert amp_dtype_for(cfg, torch.device("cpu"), model) == torch.bfloat16
    convs = [m for m in model.modules() if isinstance(m, nn.Conv3d)]
    assert convs and all(getattr(type(m), "runs_two_frame_fp32", False) for m in convs)
    fp32 = make_config("c3d", "smoke", amp="off")
    model = build_model(fp32, num_classes=3)
    assert amp_dtype_for(fp32, torch.device("cpu"), model) is None
    assert not any(getattr(type(m), "runs_two_frame_fp32", False) for m in model.modules())
