"""Cross-modality initialisation of a stacked-input first convolution from a 3-channel one.

A temporal stream sees ``frames`` time steps stacked along channels, frame-major:
RGB stacks ``[f0 R, f0 G, f0 B, f1 R, ...]`` (``in_channels = 3 * frames``) or optical-flow
stacks ``[f0 dx, f0 dy, f1 dx, ...]`` (``in_channels = 2 * frames`` with ``frames = F - 1``
flow fields). The modes build the (O, in_channels, k, k) weight from an ImageNet (O, 3, k, k):

- ``none``: random (Kaiming normal, fan-out, ReLU: torchvision's ResNet init); the rest of the
  network stays pretrained.
- ``replicate`` (the seed): the 3-channel kernel tiled ``frames`` times. A clip of F identical
  frames gives F times the 2-D response.
- ``replicate_scaled`` (I3D inflation): tiled and divided by ``frames``; F identical frames give
  exactly the 2-D response.
- ``average`` (TSN cross-modality): the mean over R, G, B, tiled ``in_channels`` times.

Flow (any stack whose channels per frame are not 3): RGB channels have no counterpart in flow
channels, so every mode except ``none`` uses the RGB mean kernel for every channel; ``replicate``
and ``average`` then coincide (TSN's recipe) and ``replicate_scaled`` divides it by ``frames``.
The model to follow is timm's ``adapt_input_conv``.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from actionpose.errors import ConfigError

INIT_MODES = ("none", "replicate", "replicate_scaled", "average")


def check_init_mode(mode: str) -> None:
    """The one check of an init mode's name."""
    if mode not in INIT_MODES:
        raise ConfigError(f"unknown init mode {mode!r}; choose one of {INIT_MODES}")


def replicate_first_conv(weight: torch.Tensor, frames: int, mode: str, *,
                         in_channels: int | None = None) -> torch.Tensor:
    """A (O, in_channels, kh, kw) first-layer weight made from a (O, 3, kh, kw) one.

    ``in_channels`` defaults to ``3 * frames`` (stacked RGB); pass ``2 * frames`` for flow.
    See the module docstring for what each mode means. Returns a new tensor (no grad history).
    """
    check_init_mode(mode)
    if weight.dim() != 4 or weight.shape[1] != 3:
        raise ConfigError(f"replicate_first_conv needs a (O, 3, kh, kw) weight, got {tuple(weight.shape)}")
    if frames < 1:
        raise ConfigError(f"frames must be >= 1, got {frames}")
    in_channels = 3 * frames if in_channels is None else in_channels
    if in_channels < 1 or in_channels % frames:
        raise ConfigError(f"in_channels={in_channels} is not a whole number of channels per frame "
                          f"for frames={frames}")
    out_channels, _, kh, kw = weight.shape
    weight = weight.detach()
    if mode == "none":
        fresh = torch.empty(out_channels, in_channels, kh, kw, dtype=weight.dtype, device=weight.device)
        nn.init.kaiming_normal_(fresh, mode="fan_out", nonlinearity="relu")
        return fresh
    per_frame = in_channels // frames
    if mode == "average" or per_frame != 3:
        tiled = weight.mean(dim=1, keepdim=True).repeat(1, in_channels, 1, 1)
    else:
        tiled = weight.repeat(1, frames, 1, 1)
    if mode == "replicate_scaled":
        tiled = tiled / frames
    return tiled.clone()


def _first_conv(module: nn.Module) -> tuple[nn.Module, str, nn.Conv2d]:
    for name, child in module.named_modules():
        if isinstance(child, nn.Conv2d):
            parent_name, _, attr = name.rpartition(".")
            parent = module.get_submodule(parent_name) if parent_name else module
            return parent, attr, child
    raise ConfigError(f"{type(module).__name__} has no Conv2d layer to adapt")


def adapt_first_conv(module: nn.Module, in_channels: int, frames: int, mode: str) -> nn.Module:
    """Replace the first Conv2d of ``module`` (in place) by one taking ``in_channels`` channels.

    Its weight comes from :func:`replicate_first_conv`; the bias (if any) is kept, except in mode
    ``none`` where it is zeroed. The conv keeps its class (e.g. TF-"same" padding convs). Returns
    ``module``.
    """
    parent, attr, conv = _first_conv(module)
    if conv.groups != 1:
        raise ConfigError(f"the first conv of {type(module).__name__} is grouped; cannot adapt it")
    weight = replicate_first_conv(conv.weight, frames, mode, in_channels=in_channels)
    new = copy.deepcopy(conv)
    new.in_channels = in_channels
    new.weight = nn.Parameter(weight, requires_grad=conv.weight.requires_grad)
    if new.bias is not None and mode == "none":
        with torch.no_grad():
            new.bias.zero_()
    setattr(parent, attr, new)
    return module


def adapt_input_conv(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """A pretrained (O, 3, ...) input-conv weight for ``in_channels`` channels, as timm's
    ``adapt_input_conv``: 1 channel sums R, G and B; more channels repeat R, G, B cyclically,
    scaled by 3 / in_channels so the response to a clip is kept. Any kernel rank (2-D or 3-D)."""
    if weight.shape[1] != 3:
        raise ConfigError(f"an input conv to adapt takes 3 channels, this one {weight.shape[1]}")
    if in_channels == 3:
        return weight.clone()
    if in_channels == 1:
        return weight.sum(dim=1, keepdim=True)
    repeat = -(-in_channels // 3)
    return weight.repeat(1, repeat, *([1] * (weight.dim() - 2)))[:, :in_channels] * (3 / in_channels)


def first_conv_fan_in(module: nn.Module) -> int:
    """Number of input channels of the first Conv2d in ``module``."""
    return _first_conv(module)[2].in_channels


__all__ = ["INIT_MODES", "check_init_mode", "replicate_first_conv", "adapt_first_conv", "adapt_input_conv",
           "first_conv_fan_in"]
