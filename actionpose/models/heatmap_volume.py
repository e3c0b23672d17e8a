"""A pose stream on keypoint heatmap volumes (PoseC3D): joints in, volume built on the device.

:class:`HeatmapVolumeStream` takes the Dataset's ``joints`` (B, T, J, 2) in pixels of the clip's
(H, W) frame and ``joint_conf`` (B, T, J), turns them into the volume (B, J + L, T, h, w) of
:func:`actionpose.pose.volumes.keypoint_volume` on the joints' device (no volumes are stored or
moved between processes) and classifies it with the pose-only 3-D CNN built for that many input
channels. The volume is made without gradients: it is input, not a layer.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from actionpose.models.pose_only import pose_only
from actionpose.pose.volumes import VolumeConfig, keypoint_volume


class HeatmapVolumeStream(nn.Module):
    """joints (B, T, J, 2) [+ confidences (B, T, J)] -> volume -> pose-only 3-D CNN -> logits."""

    def __init__(self, *, num_classes: int, frame_size: Sequence[int], num_frames: int,
                 volume: VolumeConfig = VolumeConfig(), width: float = 0.25, fc_dim: int = 256,
                 dropout: float = 0.5, head: str = "flatten"):
        super().__init__()
        self.frame_size = tuple(int(v) for v in frame_size)
        self.volume = volume
        self.net = pose_only(num_classes=num_classes, in_channels=volume.channels, width=width,
                             fc_dim=fc_dim, num_frames=num_frames, size=volume.size, dropout=dropout,
                             head=head)

    def make_volume(self, joints: torch.Tensor, confidence: torch.Tensor | None = None) -> torch.Tensor:
        with torch.no_grad():
            return keypoint_volume(joints.float(), confidence, frame_size=self.frame_size,
                                   config=self.volume)

    def forward(self, joints: torch.Tensor, confidence: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(self.make_volume(joints, confidence))

    def extra_repr(self) -> str:
        v = self.volume
        return f"frame_size={self.frame_size}, volume={v.parts} {v.size} sigma={v.sigma:g}"


__all__ = ["HeatmapVolumeStream"]
