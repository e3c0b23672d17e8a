"""Attentional pooling (Girdhar & Ramanan, NeurIPS 2017), rank-1, per frame.

For each frame, a 2-D backbone gives X (C, h, w). Bottom-up map a = conv1x1(X) -> 1 channel
(class-agnostic saliency); top-down maps b = conv1x1(X) -> K; frame score
``s_k = mean over (h, w) of a * b_k``. Clip logits are the mean of the frame scores over T
(frame-level model, video-level decision by averaging).

Pose, as a parameter:
- ``pose="concat"`` (the seed's way): J joint heatmaps at (h, w) are concatenated to X before the
  top-down conv only; the bottom-up map does not see them.
- ``pose="regularized"`` (Girdhar & Ramanan's pose-regularised attention): a shared 1x1 layer
  P = ReLU(conv1x1(X)) feeds both the bottom-up map and J joint predictions; the given heatmaps are
  targets of an auxiliary L2 (mean squared error) loss, never inputs.
Heatmaps (B, J, T, h', w') of another size than the feature map are resized bilinearly to it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from actionpose.errors import ConfigError, InputError
from actionpose.models.backbones import build_backbone, feature_size

POSE_MODES = (None, "concat", "regularized")


class AttentionPool(nn.Module):
    """Rank-1 attention pooling over a 2-D backbone applied to every frame of a clip."""

    def __init__(self, *, features: nn.Module, feature_channels: int, feature_stride: int,
                 num_classes: int, pose: str | None = None, num_joints: int = 15,
                 dropout: float = 0.2, pose_hidden: int = 256):
        super().__init__()
        if pose not in POSE_MODES:
            raise ConfigError(f"unknown pose mode {pose!r}; choose one of {POSE_MODES}")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {dropout}")
        self.features = features
        self.feature_stride = feature_stride
        self.pose = pose
        self.num_joints = num_joints
        self.num_classes = num_classes
        self.dropout = nn.Dropout(dropout)
        if pose == "regularized":
            self.pose_layer = nn.Sequential(nn.Conv2d(feature_channels, pose_hidden, 1), nn.ReLU(inplace=True))
            self.bottom_up = nn.Conv2d(pose_hidden, 1, 1)
            self.joint_head = nn.Conv2d(pose_hidden, num_joints, 1)
        else:
            self.bottom_up = nn.Conv2d(feature_channels, 1, 1)
        extra = num_joints if pose == "concat" else 0
        self.top_down = nn.Conv2d(feature_channels + extra, num_classes, 1)

    def feature_size(self, size: int | tuple[int, int]) -> tuple[int, int]:
        """(h, w) of the feature map (and of the heatmaps to give) for frames of ``size``."""
        return feature_size(size, self.feature_stride)

    def _heatmaps_at(self, heatmaps: torch.Tensor, batch: int, frames: int, hw: tuple[int, int]) -> torch.Tensor:
        if (heatmaps.dim() != 5 or heatmaps.shape[0] != batch or heatmaps.shape[1] != self.num_joints
                or heatmaps.shape[2] != frames):
            raise InputError(f"heatmaps must be (B, J, T, h, w) = ({batch}, {self.num_joints}, "
                              f"{frames}, h, w), got {tuple(heatmaps.shape)}")
        if tuple(heatmaps.shape[-2:]) != hw:
            heatmaps = F.interpolate(heatmaps.float(), size=(frames, *hw), mode="trilinear",
                                     align_corners=False)
        return heatmaps

    def forward(self, video: torch.Tensor, heatmaps: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """video (B, 3, T, H, W) [, heatmaps (B, J, T, h, w)] -> dict of logits and maps."""
        if video.dim() != 5:
            raise InputError(f"video must be (B, C, T, H, W), got {tuple(video.shape)}")
        b, c, t, height, width = video.shape
        frames = video.transpose(1, 2).reshape(b * t, c, height, width)
        x = self.dropout(self.features(frames))
        h, w = x.shape[-2:]
        hm = None
        if heatmaps is not None and self.pose is not None:
            hm = self._heatmaps_at(heatmaps, b, t, (h, w))
        elif self.pose == "concat":
            raise InputError("pose='concat' needs heatmaps (B, J, T, h, w) in forward")

        out: dict[str, torch.Tensor] = {}
        if self.pose == "regularized":
            shared = self.pose_layer(x)
            bottom_up = self.bottom_up(shared)
            joints = self.joint_head(shared).reshape(b, t, self.num_joints, h, w).transpose(1, 2)
            out["joint_pred"] = joints
            if hm is not None:
                out["aux_loss"] = F.mse_loss(joints.float(), hm.float())
        else:
            bottom_up = self.bottom_up(x)
        td_input = x
        if self.pose == "concat":
            hm_frames = hm.transpose(1, 2).reshape(b * t, self.num_joints, h, w).to(x.dtype)
            td_input = torch.cat([x, hm_frames], dim=1)
        top_down = self.top_down(td_input)
        frame_logits = (bottom_up * top_down).mean(dim=(-2, -1)).reshape(b, t, self.num_classes)
        out.update(
            logits=frame_logits.mean(dim=1),
            frame_logits=frame_logits,
            bottom_up=bottom_up.reshape(b, t, h, w),
            top_down=top_down.reshape(b, t, self.num_classes, h, w),
        )
        return out


def attention_pool(*, num_classes: int, backbone: str = "resnet18", weights: str | None = None,
                   pose: str | None = None, num_joints: int = 15, dropout: float = 0.2,
                   pose_hidden: int = 256) -> AttentionPool:
    """Attention pooling on ``backbone`` (resnet18/34/50/101 or efficientnet_lite0).

    ``weights``: see :func:`actionpose.models.backbones.build_backbone`. ``pose``: None, "concat"
    or "regularized" (module docstring). The returned model's ``feature_stride`` (32) and
    ``feature_size((H, W))`` give the heatmap size: ``ceil(H / 32) x ceil(W / 32)``.
    """
    if backbone in ("alexnet", "vgg16"):
        raise ConfigError(f"attention pooling needs a ResNet or efficientnet_lite0 backbone, not {backbone!r}")
    trunk = build_backbone(backbone, weights=weights)
    return AttentionPool(features=trunk.features, feature_channels=trunk.out_channels,
                         feature_stride=trunk.stride, num_classes=num_classes, pose=pose,
                         num_joints=num_joints, dropout=dropout, pose_hidden=pose_hidden)


__all__ = ["POSE_MODES", "AttentionPool", "attention_pool"]
