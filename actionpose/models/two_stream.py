"""Two-stream network (Simonyan & Zisserman 2014) with a stacked-frame or optical-flow temporal stream.

- Spatial stream: a 2-D ImageNet net on each of the F frames (frames folded into the batch),
  logits averaged over the frames.
- Temporal stream: one 2-D net whose first conv takes the clip stacked along channels,
  frame-major: RGB ``[f0 R, f0 G, f0 B, f1 R, ...]`` (3F channels) or flow
  ``[f0 dx, f0 dy, f1 dx, ...]`` (2(F-1) channels); that conv is made from the ImageNet one by
  :func:`actionpose.models.init.replicate_first_conv` (``init_mode``).
- Late fusion (prediction): ``logits = log(w_s softmax(s) + w_t softmax(t))`` with the weights
  normalised to sum 1, a log-probability whose argmax/softmax is the fused score. Training: each
  stream on its own loss, so ``train_logits`` lists the per-stream logits.
"""
from __future__ import annotations

import math
import os
from typing import Mapping, Sequence

import torch
from torch import nn

from actionpose.errors import ConfigError, InputError
from actionpose.models.backbones import BACKBONES, Backbone, build_backbone

STREAMS = ("spatial", "temporal")
TEMPORAL_INPUTS = ("rgb", "flow")


class StreamClassifier(nn.Module):
    """A backbone's trunk and pooling head plus a new linear classifier: (N, C, H, W) -> (N, K)."""

    def __init__(self, backbone: Backbone, num_classes: int, dropout: float):
        super().__init__()
        self.features = backbone.features
        self.head = backbone.head
        # AlexNet/VGG heads end in their own dropout (or ReLU after one); others get ours
        self.dropout = nn.Identity() if backbone.head_has_dropout else nn.Dropout(dropout)
        self.fc = nn.Linear(backbone.head_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.head(self.features(x))))


class TwoStream(nn.Module):
    """Spatial and/or temporal stream with late softmax fusion; see the module docstring."""

    def __init__(self, *, spatial: nn.Module | None, temporal: nn.Module | None, num_frames: int,
                 temporal_input: str, fusion_weights: tuple[float, float]):
        super().__init__()
        if spatial is None and temporal is None:
            raise ConfigError("two_stream needs at least one stream")
        self.spatial = spatial
        self.temporal = temporal
        self.num_frames = num_frames
        self.temporal_input = temporal_input
        ws, wt = fusion_weights
        self.fusion_weights = (ws / (ws + wt), wt / (ws + wt))

    def _check_video(self, video: torch.Tensor) -> None:
        if video.dim() != 5 or video.shape[1] != 3 or video.shape[2] != self.num_frames:
            raise InputError(f"video must be (B, 3, F={self.num_frames}, H, W), got {tuple(video.shape)}")

    def spatial_logits(self, video: torch.Tensor) -> torch.Tensor:
        b, c, f, h, w = video.shape
        frames = video.transpose(1, 2).reshape(b * f, c, h, w)
        return self.spatial(frames).reshape(b, f, -1).mean(dim=1)

    def temporal_logits(self, video: torch.Tensor, flow: torch.Tensor | None) -> torch.Tensor:
        if self.temporal_input == "flow":
            if flow is None:
                raise InputError("temporal_input='flow' needs flow (B, 2, F-1, H, W) in forward")
            expected = self.num_frames - 1
            if flow.dim() != 5 or flow.shape[1] != 2 or flow.shape[2] != expected:
                raise InputError(f"flow must be (B, 2, F-1={expected}, H, W), got {tuple(flow.shape)}")
            stack = flow
        else:
            stack = video
        b, c, f, h, w = stack.shape
        return self.temporal(stack.transpose(1, 2).reshape(b, f * c, h, w))  # frame-major

    def forward(self, video: torch.Tensor, flow: torch.Tensor | None = None) -> dict:
        """video (B, 3, F, H, W) [, flow (B, 2, F-1, H, W)] -> dict (see module docstring)."""
        self._check_video(video)
        out: dict = {}
        heads = []
        if self.spatial is not None:
            out["spatial_logits"] = self.spatial_logits(video)
            heads.append(("spatial", out["spatial_logits"]))
        if self.temporal is not None:
            out["temporal_logits"] = self.temporal_logits(video, flow)
            heads.append(("temporal", out["temporal_logits"]))
        out["train_logits"] = [logits for _, logits in heads]
        if len(heads) == 1:
            out["logits"] = heads[0][1]
        else:
            out["logits"] = fuse_logits(out["spatial_logits"], out["temporal_logits"], self.fusion_weights)
        return out


def fuse_logits(spatial: torch.Tensor, temporal: torch.Tensor, weights: tuple[float, float]) -> torch.Tensor:
    """``log(w_s softmax(spatial) + w_t softmax(temporal))`` with weights normalised to sum 1."""
    ws, wt = weights
    total = ws + wt
    log_w = [math.log(x / total) if x > 0 else -math.inf for x in (ws, wt)]
    log_probs = torch.stack([spatial.float().log_softmax(-1) + log_w[0],
                             temporal.float().log_softmax(-1) + log_w[1]])
    return torch.logsumexp(log_probs, dim=0)


def _stream_weights(weights, stream: str):
    if isinstance(weights, Mapping):
        unknown = set(weights) - set(STREAMS)
        if unknown:
            raise ConfigError(f"weights per stream: unknown keys {sorted(unknown)}; use {STREAMS}")
        return weights.get(stream)
    return weights


def two_stream(*, num_classes: int, spatial_backbone: str = "resnet18",
               temporal_backbone: str = "efficientnet_lite0", num_frames: int = 5,
               temporal_input: str = "rgb", init_mode: str = "replicate",
               weights: str | os.PathLike | Mapping[str, str | None] | None = None,
               fusion_weights: tuple[float, float] = (0.5, 0.5),
               streams: Sequence[str] = STREAMS, dropout: float = 0.5) -> TwoStream:
    """Two-stream network; ``weights`` applies to both streams or is ``{"spatial": .., "temporal": ..}``.

    Backbones: spatial resnet18/34/50/101 or efficientnet_lite0; temporal also alexnet, vgg16.
    ``init_mode`` (one of none, replicate, replicate_scaled, average) builds the temporal stream's
    first conv from the ImageNet one when weights are given.
    """
    streams = tuple(streams)
    if not streams or any(s not in STREAMS for s in streams) or len(set(streams)) != len(streams):
        raise ConfigError(f"streams must be a non-empty subset of {STREAMS}, got {streams}")
    if temporal_input not in TEMPORAL_INPUTS:
        raise ConfigError(f"temporal_input must be one of {TEMPORAL_INPUTS}, got {temporal_input!r}")
    if num_frames < (2 if temporal_input == "flow" else 1):
        raise ConfigError(f"num_frames={num_frames} is too few for temporal_input={temporal_input!r}")
    if len(fusion_weights) != 2 or min(fusion_weights) < 0 or sum(fusion_weights) <= 0:
        raise ConfigError(f"fusion_weights must be two non-negative numbers, not both 0; got {fusion_weights}")
    if "spatial" in streams and spatial_backbone in ("alexnet", "vgg16"):
        raise ConfigError(f"spatial backbone must be a ResNet or efficientnet_lite0, not {spatial_backbone!r}")
    for name in (spatial_backbone, temporal_backbone):
        if name not in BACKBONES:
            raise ConfigError(f"unknown backbone {name!r}; choose one of {BACKBONES}")
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), got {dropout}")

    spatial = temporal = None
    if "spatial" in streams:
        spatial = StreamClassifier(build_backbone(spatial_backbone, weights=_stream_weights(weights, "spatial")),
                                   num_classes, dropout)
    if "temporal" in streams:
        frames = num_frames - 1 if temporal_input == "flow" else num_frames
        channels = 2 * frames if temporal_input == "flow" else 3 * frames
        trunk = build_backbone(temporal_backbone, weights=_stream_weights(weights, "temporal"),
                               in_channels=channels, frames=frames, init_mode=init_mode)
        temporal = StreamClassifier(trunk, num_classes, dropout)
    return TwoStream(spatial=spatial, temporal=temporal, num_frames=num_frames,
                     temporal_input=temporal_input, fusion_weights=tuple(float(w) for w in fusion_weights))


__all__ = ["STREAMS", "TEMPORAL_INPUTS", "StreamClassifier", "TwoStream", "fuse_logits", "two_stream"]
