"""torchvision's video ResNets (Tran et al. 2018) as model families: r3d_18 (3-D convs),
mc3_18 (3-D convs in the first stage, 2-D after) and r2plus1d_18 ((2+1)-D convs).

Input (B, C, T, H, W), logits (B, num_classes); any clip length and size (the head pools
globally). ``weights``:
- ``None``: torchvision's random init;
- ``"kinetics400"``: torchvision's Kinetics-400 weights (``*_Weights.KINETICS400_V1``), read from
  the torch hub cache (``$TORCH_HOME/hub/checkpoints``) or downloaded there; offline without the
  file a WeightsError names the file to place;
- a path: a state dict of the torchvision architecture.
The classifier is new unless the weights have ``num_classes`` outputs. An input of other than 3
channels (e.g. the person mask as a 4th) gets a stem conv adapted from the RGB one
(:func:`actionpose.models.init.adapt_input_conv`) when weights are loaded, a fresh one otherwise.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
import torchvision.models.video as tv
from torch import nn

from actionpose.errors import ConfigError, WeightsError
from actionpose.models.backbones import check_and_load, hub_state, read_state
from actionpose.models.init import adapt_input_conv

ARCHITECTURES = {
    "r3d_18": (tv.r3d_18, tv.R3D_18_Weights),
    "mc3_18": (tv.mc3_18, tv.MC3_18_Weights),
    "r2plus1d_18": (tv.r2plus1d_18, tv.R2Plus1D_18_Weights),
}
NAMED_WEIGHTS = ("kinetics400",)


def _weights_state(arch: str, weights: str | os.PathLike) -> tuple[dict, str]:
    if weights == "kinetics400":
        url = ARCHITECTURES[arch][1].KINETICS400_V1.url
        return hub_state(url, f"Kinetics-400 weights for {arch}", "weights=null (random init)")
    path = Path(weights)
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found (weights must be null, 'kinetics400' "
                           "or a path)")
    return read_state(path), str(path)


def _new_stem_conv(conv: nn.Conv3d, in_channels: int) -> nn.Conv3d:
    new = nn.Conv3d(in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                    padding=conv.padding, bias=conv.bias is not None)
    nn.init.kaiming_normal_(new.weight, mode="fan_out", nonlinearity="relu")  # torchvision's
    if new.bias is not None:
        nn.init.zeros_(new.bias)
    return new


def video_resnet(arch: str, *, num_classes: int, in_channels: int = 3,
                 weights: str | os.PathLike | None = None) -> nn.Module:
    """torchvision's ``arch`` (r3d_18, mc3_18, r2plus1d_18) for ``num_classes`` classes and clips
    of ``in_channels`` channels; see the module docstring for ``weights``."""
    if arch not in ARCHITECTURES:
        raise ConfigError(f"unknown video architecture {arch!r} (choose from {', '.join(ARCHITECTURES)})")
    if num_classes < 1 or in_channels < 1:
        raise ConfigError(f"num_classes and in_channels must be >= 1, got {num_classes}, {in_channels}")
    build, _ = ARCHITECTURES[arch]
    model = build(weights=None)
    if weights is not None:
        state, source = _weights_state(arch, weights)
        check_and_load(model, state, source)
    if in_channels != 3:
        stem = model.stem[0]
        new = _new_stem_conv(stem, in_channels)
        if weights is not None:
            with torch.no_grad():
                new.weight.copy_(adapt_input_conv(stem.weight, in_channels))
        model.stem[0] = new
    if model.fc.out_features != num_classes:
        model.fc = nn.Linear(model.fc.in_features, num_classes)
        nn.init.normal_(model.fc.weight, 0, 0.01)  # torchvision's init of the classifier
        nn.init.zeros_(model.fc.bias)
    return model


__all__ = ["ARCHITECTURES", "NAMED_WEIGHTS", "video_resnet"]
