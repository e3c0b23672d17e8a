"""C3D (Tran et al., ICCV 2015) and the assembler it shares with the pose-only stream.

Paper layout (3x3x3 convs, stride 1, padding 1; ReLU after each):
conv1a 64, pool1 (1,2,2); conv2a 128, pool2 (2,2,2); conv3a/b 256, pool3; conv4a/b 512, pool4;
conv5a/b 512, pool5 (2,2,2) padded (0,1,1); fc6 4096, fc7 4096 (dropout 0.5 after each), fc8 K.
At 16x112x112 fc6 sees 512x1x4x4 = 8192 features: 78,081,813 parameters with 21 classes.

Other clip shapes: a pooling window never exceeds the extent it pools (a temporal or spatial
extent of 1 is left as is), so short clips (e.g. 4 frames) and small frames work; fc6's input
size follows from the pooling arithmetic.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from typing import Sequence

import torch
from torch import nn

from actionpose.errors import ConfigError, InputError

# (stage name, number of convs, paper channels, pool kernel) — pool5 is also padded (0, 1, 1)
C3D_STAGES: tuple[tuple[str, int, int, tuple[int, int, int]], ...] = (
    ("1", 1, 64, (1, 2, 2)),
    ("2", 1, 128, (2, 2, 2)),
    ("3", 2, 256, (2, 2, 2)),
    ("4", 2, 512, (2, 2, 2)),
    ("5", 2, 512, (2, 2, 2)),
)


def _pair(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int):
        size = (size, size)
    size = tuple(int(s) for s in size)
    if len(size) != 2 or min(size) < 1:
        raise ConfigError(f"size must be a positive int or (height, width), got {size}")
    return size


def _pool_plan(extent: tuple[int, int, int], kernel: tuple[int, int, int],
               padding: tuple[int, int, int]) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """Kernel and padding clipped to the extent, and the output extent (floor mode)."""
    k = tuple(1 if n == 1 else kk for n, kk in zip(extent, kernel))
    p = tuple(0 if kk == 1 else pp for kk, pp in zip(k, padding))
    out = tuple((n + 2 * pp - kk) // kk + 1 for n, kk, pp in zip(extent, k, p))
    return k, p, out


class VideoConvNet(nn.Module):
    """Stages of 3x3x3 convs (+ optional BatchNorm) and max-pools, then fc layers to logits.

    Input (B, C, T, H, W); output logits (B, num_classes). Built by :func:`create_video_convnet`.
    """

    def __init__(self, features: nn.Sequential, classifier: nn.Sequential, *,
                 input_shape: tuple[int, int, int, int], feature_shape: tuple[int, int, int, int]):
        super().__init__()
        self.features = features
        self.classifier = classifier
        self.input_shape = input_shape  # (C, T, H, W) the fc layers were sized for
        self.feature_shape = feature_shape  # (C, T, H, W) entering fc6

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5 or tuple(x.shape[1:]) != self.input_shape:
            raise InputError(f"{type(self).__name__} was built for clips (B, C, T, H, W) with "
                              f"(C, T, H, W) = {self.input_shape}, got {tuple(x.shape)}")
        return self.classifier(torch.flatten(self.features(x), 1))


def create_video_convnet(*, stages: Sequence[tuple[str, int, int, tuple[int, int, int]]],
                         num_classes: int, in_channels: int, num_frames: int,
                         size: int | Sequence[int], fc_dims: Sequence[int], dropout: float,
                         batch_norm: bool, last_pool_padding: tuple[int, int, int] = (0, 0, 0)
                         ) -> VideoConvNet:
    """Assemble a C3D-like network; ``stages`` as in :data:`C3D_STAGES` (channels already scaled)."""
    if num_classes < 1 or in_channels < 1 or num_frames < 1:
        raise ConfigError(f"num_classes, in_channels and num_frames must be >= 1, got "
                          f"{num_classes}, {in_channels}, {num_frames}")
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), got {dropout}")
    height, width = _pair(size)
    extent = (num_frames, height, width)
    layers: list[tuple[str, nn.Module]] = []
    channels = in_channels
    for index, (stage, convs, out_channels, kernel) in enumerate(stages):
        for j in range(convs):
            suffix = "ab"[j] if convs > 1 else "a"
            layers.append((f"conv{stage}{suffix}", nn.Conv3d(channels, out_channels, 3, padding=1,
                                                              bias=not batch_norm)))
            if batch_norm:
                layers.append((f"bn{stage}{suffix}", nn.BatchNorm3d(out_channels)))
            layers.append((f"relu{stage}{suffix}", nn.ReLU(inplace=True)))
            channels = out_channels
        padding = last_pool_padding if index == len(stages) - 1 else (0, 0, 0)
        k, p, new_extent = _pool_plan(extent, kernel, padding)  # every extent stays >= 1
        if k != (1, 1, 1):
            layers.append((f"pool{stage}", nn.MaxPool3d(k, stride=k, padding=p)))
        extent = new_extent
    flat = channels * math.prod(extent)
    head: list[tuple[str, nn.Module]] = []
    previous = flat
    for i, dim in enumerate(fc_dims):
        name = f"fc{6 + i}"
        head += [(name, nn.Linear(previous, dim)), (f"relu{6 + i}", nn.ReLU(inplace=True)),
                 (f"drop{6 + i}", nn.Dropout(dropout))]
        previous = dim
    head.append((f"fc{6 + len(fc_dims)}", nn.Linear(previous, num_classes)))
    model = VideoConvNet(nn.Sequential(OrderedDict(layers)), nn.Sequential(OrderedDict(head)),
                         input_shape=(in_channels, num_frames, height, width),
                         feature_shape=(channels, *extent))
    _init_weights(model)
    return model


def _init_weights(model: nn.Module) -> None:
    # Kaiming for convs and the hidden fc layers keeps activations alive through 10 ReLU layers
    # without BatchNorm. (C3D's Caffe model used N(0, 0.005) fc weights: with two hidden fc
    # layers that shrinks the logits' gradient so much that a narrow C3D trained from scratch
    # could not fit even a small training set.) The classifier starts small.
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    for m in model.modules():
        if isinstance(m, nn.Conv3d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            if m is linears[-1]:
                nn.init.normal_(m.weight, std=0.01)
            else:
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm3d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def _scaled(channels: int, width: float) -> int:
    return max(1, int(round(channels * width)))


def c3d(*, num_classes: int, width: float = 1.0, fc_dim: int = 4096, num_frames: int = 16,
        size: int | Sequence[int] = 112, in_channels: int = 3, dropout: float = 0.5,
        batch_norm: bool = False) -> VideoConvNet:
    """C3D for clips (B, in_channels, num_frames, H, W) -> logits (B, num_classes).

    ``width`` scales every conv's channels (1/4 for the cpu preset), ``fc_dim`` fc6/fc7.
    ``batch_norm=True`` adds BatchNorm3d after each conv (not in the paper; helps from scratch).
    """
    if width <= 0 or fc_dim < 1:
        raise ConfigError(f"width must be > 0 and fc_dim >= 1, got {width}, {fc_dim}")
    stages = [(name, convs, _scaled(ch, width), kernel) for name, convs, ch, kernel in C3D_STAGES]
    return create_video_convnet(stages=stages, num_classes=num_classes, in_channels=in_channels,
                                num_frames=num_frames, size=size, fc_dims=(fc_dim, fc_dim),
                                dropout=dropout, batch_norm=batch_norm, last_pool_padding=(0, 1, 1))


__all__ = ["C3D_STAGES", "VideoConvNet", "create_video_convnet", "c3d"]
