"""Per-layer precision under CPU bf16 autocast.

On CPU (oneDNN) EfficientNet-Lite0's depthwise convolutions run slower in bf16 than in fp32 and
take a large share of a train step, while its 1x1 convolutions gain from bf16 (the figures are in
``results/bench.json``, from ``python -m benchmarks --only models``). Keeping only the depthwise
layers in fp32 lets the rest of the network keep its bf16 gain.
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
