"""Pose guidance at the input: wrappers that feed the person mask to any clip model.

``BackgroundWeakened(model, factor)`` multiplies the clip by ``m + a (1 - m)`` (person mask ``m``,
factor ``a``) before ``model`` sees it; ``MaskChannel(model)`` appends the mask as one more input
channel (the model must take it, e.g. a first conv built for 4 channels). Both take the mask as
the keyword ``mask`` and pass every other input through, so they compose with any model whose
clip argument is named by ``video_arg``.

Where the weakening works (``space``):
- ``"normalised"`` (the default, and how every committed run was trained): on the ImageNet
  mean/std-normalised clip, so the background is pulled toward the ImageNet mean colour;
- ``"pixels"``: on the clip in [0, 1] (un-normalised, weakened, re-normalised), so the
  background is pulled toward black, as ``x * (m + a (1 - m))`` on the image reads.

A wrapper adds no parameters and leaves the state-dict keys of the wrapped model as they are, so
a checkpoint loads the same into the wrapped and the bare model.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from actionpose.normalization import IMAGENET_MEAN, IMAGENET_STD
from actionpose.errors import ConfigError, InputError

SPACES = ("normalised", "pixels")


def weakening(mask: torch.Tensor, factor: float) -> torch.Tensor:
    """The per-pixel multiplier ``m + a (1 - m)``: 1 on the person, ``factor`` elsewhere."""
    return mask + factor * (1 - mask)


class InputGuidance(nn.Module):
    """Base of the wrappers: holds ``model`` and keeps its state-dict keys unprefixed."""

    def __init__(self, model: nn.Module, *, video_arg: str = "video"):
        super().__init__()
        self.model = model
        self.video_arg = video_arg
        self.register_state_dict_post_hook(_strip_prefix)
        self.register_load_state_dict_pre_hook(_add_prefix)

    def guide(self, video: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, *, mask: torch.Tensor, **inputs):
        if self.video_arg not in inputs:
            raise InputError(f"{type(self).__name__}: the model input {self.video_arg!r} is "
                              f"missing (got {sorted(inputs)})")
        inputs[self.video_arg] = self.guide(inputs[self.video_arg], mask)
        if isinstance(self.model, InputGuidance):  # a wrapper inside reads the mask too
            inputs["mask"] = mask
        return self.model(**inputs)


def _strip_prefix(module: nn.Module, state_dict: dict, prefix: str, local_metadata) -> None:
    inner = prefix + "model."
    for key in [k for k in state_dict if k.startswith(inner)]:
        state_dict[prefix + key[len(inner):]] = state_dict.pop(key)


def _add_prefix(module: nn.Module, state_dict: dict, prefix: str, *args) -> None:
    for key in [k for k in state_dict if k.startswith(prefix)]:
        state_dict[prefix + "model." + key[len(prefix):]] = state_dict.pop(key)


class BackgroundWeakened(InputGuidance):
    """``video * (m + a (1 - m))`` in the normalised or the pixel space (module docstring)."""

    def __init__(self, model: nn.Module, factor: float, *, space: str = "normalised",
                 video_arg: str = "video", mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD):
        super().__init__(model, video_arg=video_arg)
        if space not in SPACES:
            raise ConfigError(f"weakening space must be one of {SPACES}, got {space!r}")
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 0.0 <= factor <= 1.0:
            raise ConfigError(f"background factor must be a number in [0, 1], got {factor!r}")
        self.factor = float(factor)
        self.space = space
        self.mean, self.std = tuple(mean), tuple(std)

    def guide(self, video: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.factor == 1.0:
            return video
        if self.space == "normalised":
            return video * weakening(mask, self.factor)
        shape = (1, len(self.mean), *([1] * (video.dim() - 2)))
        mean = torch.tensor(self.mean, device=video.device, dtype=video.dtype).view(shape)
        std = torch.tensor(self.std, device=video.device, dtype=video.dtype).view(shape)
        pixels = (video * std + mean) * weakening(mask, self.factor)
        return (pixels - mean) / std

    def extra_repr(self) -> str:
        return f"factor={self.factor}, space={self.space!r}, video_arg={self.video_arg!r}"


class MaskChannel(InputGuidance):
    """The person mask appended to the clip as one more channel: (B, C + 1, T, H, W)."""

    def guide(self, video: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.cat([video, mask], dim=1)

    def extra_repr(self) -> str:
        return f"video_arg={self.video_arg!r}"


__all__ = ["SPACES", "weakening", "InputGuidance", "BackgroundWeakened", "MaskChannel"]
