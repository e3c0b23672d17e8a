"""Pose-only stream: a small 3-D CNN that sees only the person mask and/or joint heatmaps.

The baseline that tells how much pose alone carries (PoTion / PoseC3D spirit). Input
(B, in_channels, T, H, W): channel 0 the person mask in [0, 1], optionally followed by J joint
heatmaps resized to the clip size. Four conv stages with BatchNorm (a binary silhouette has
little texture, so the net is shallower than C3D), then a head: ``flatten`` (the last feature
cells flattened into a hidden fc layer, C3D's way: position-specific weights, many parameters) or
``pool`` (global average pooling into one linear layer: position-invariant, few parameters).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

from torch import nn

from actionpose.errors import ConfigError
from actionpose.models.c3d import VideoConvNet, _scaled, create_video_convnet

POSE_ONLY_STAGES: tuple[tuple[str, int, int, tuple[int, int, int]], ...] = (
    ("1", 1, 32, (1, 2, 2)),
    ("2", 1, 64, (2, 2, 2)),
    ("3", 2, 128, (2, 2, 2)),
    ("4", 2, 256, (2, 2, 2)),
)
HEADS = ("flatten", "pool")


def pose_only(*, num_classes: int, in_channels: int = 1, width: float = 0.25, fc_dim: int = 256,
              num_frames: int = 16, size: int | Sequence[int] = 112, dropout: float = 0.5,
              head: str = "flatten") -> VideoConvNet:
    """Pose-only 3-D CNN: (B, in_channels, num_frames, H, W) masks/heatmaps -> logits (B, K).

    ``width`` scales the stage channels (32, 64, 128, 256). ``head="flatten"``: a pool-only stage
    (padded like C3D's pool5, so 112 px ends at 4x4 cells), flatten, fc of ``fc_dim``, fc;
    ``head="pool"``: global average pooling, dropout, fc (``fc_dim`` unused).
    """
    if width <= 0 or fc_dim < 1:
        raise ConfigError(f"width must be > 0 and fc_dim >= 1, got {width}, {fc_dim}")
    if head not in HEADS:
        raise ConfigError(f"head must be one of {', '.join(HEADS)}, got {head!r}")
    stages = [(name, convs, _scaled(ch, width), kernel) for name, convs, ch, kernel in POSE_ONLY_STAGES]
    common = dict(num_classes=num_classes, in_channels=in_channels, num_frames=num_frames, size=size,
                  dropout=dropout, batch_norm=True)
    if head == "flatten":
        stages.append(("5", 0, stages[-1][2], (2, 2, 2)))  # pool-only stage: 7x7 -> 4x4 at 112 px
        return create_video_convnet(stages=stages, fc_dims=(fc_dim,), last_pool_padding=(0, 1, 1),
                                    **common)
    model = create_video_convnet(stages=stages, fc_dims=(), **common)
    channels = model.feature_shape[0]
    model.features.add_module("avgpool", nn.AdaptiveAvgPool3d(1))
    fc = nn.Linear(channels, num_classes)
    nn.init.normal_(fc.weight, std=0.01)  # as create_video_convnet starts its classifier
    nn.init.zeros_(fc.bias)
    model.classifier = nn.Sequential(OrderedDict([("drop", nn.Dropout(dropout)), ("fc", fc)]))
    model.feature_shape = (channels, 1, 1, 1)
    return model


__all__ = ["POSE_ONLY_STAGES", "HEADS", "pose_only"]
