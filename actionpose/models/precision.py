"""Per-layer precision under CPU bf16 autocast.

Two layers are kept in fp32 inside a CPU bf16 region:
- EfficientNet-Lite0's depthwise convolutions, which oneDNN runs slower in bf16 than in fp32 while
  the network's 1x1 convolutions gain from bf16 (``python -m benchmarks --only models``); opt-in
  (``depthwise_fp32``), because it changes the numerics of runs trained without it;
- every Conv3d whose input is exactly 2 frames deep: oneDNN's bf16 *weight gradient* of such a
  conv is wrong (and sometimes non-finite), while 1, 3 or more frames, fp32, or the reference
  kernels are right (``python -m benchmarks.bf16_conv3d_probe isolated``). Always on under CPU
  bf16: it is a correctness fix, and it changes nothing where no Conv3d sees 2 frames.
"""
from __future__ import annotations

import torch
from torch import nn

_FP32_CLASSES: dict[type, type] = {}


def _fp32_class(base: type) -> type:
    """``base`` (an ``nn.Conv2d`` subclass, e.g. a same-padding variant) whose forward runs in
    fp32 even inside an autocast region."""
    if base not in _FP32_CLASSES:
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            with torch.autocast(x.device.type, enabled=False):
                return base.forward(self, x.float())
        _FP32_CLASSES[base] = type(f"Fp32{base.__name__}", (base,),
                                   {"forward": forward, "runs_fp32": True, "__module__": __name__})
    return _FP32_CLASSES[base]


class _TwoFrameFp32:
    """Mixin: a Conv3d that leaves CPU autocast for fp32 when its input is 2 frames deep."""

    runs_two_frame_fp32 = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-3] == 2 and x.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
            with torch.autocast("cpu", enabled=False):
                return super().forward(x.float())
        return super().forward(x)


_TWO_FRAME_CLASSES: dict[type, type] = {}


def keep_two_frame_conv3d_fp32(model: nn.Module) -> int:
    """Make every Conv3d of ``model`` run in fp32 under CPU autocast whenever its input has 2
    frames (in place; parameters and state-dict keys unchanged); returns how many were changed."""
    changed = 0
    for module in model.modules():
        base = type(module)
        if isinstance(module, nn.Conv3d) and not getattr(base, "runs_two_frame_fp32", False):
            if base not in _TWO_FRAME_CLASSES:
                _TWO_FRAME_CLASSES[base] = type(f"TwoFrameFp32{base.__name__}", (_TwoFrameFp32, base),
                                                {"__module__": __name__})
            module.__class__ = _TWO_FRAME_CLASSES[base]
            changed += 1
    return changed


def is_depthwise(module: nn.Module) -> bool:
    return (isinstance(module, nn.Conv2d) and module.groups > 1
            and module.groups == module.in_channels)


def runs_fp32(module: nn.Module) -> bool:
    """True for a layer changed by :func:`keep_depthwise_fp32`."""
    return getattr(type(module), "runs_fp32", False)


def keep_depthwise_fp32(model: nn.Module) -> int:
    """Make every depthwise 2-D convolution of ``model`` run in fp32 under autocast (in place:
    parameters, state-dict keys and the layer's own padding logic unchanged); returns how many
    layers were changed."""
    changed = 0
    for module in model.modules():
        if is_depthwise(module) and not runs_fp32(module):
            module.__class__ = _fp32_class(type(module))
            changed += 1
    return changed
