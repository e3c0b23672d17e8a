"""ST-GCN (Yan et al., AAAI 2018) on joint coordinates: the standard skeleton baseline.

The spatial graph is the skeleton's limbs with self-loops, split by the paper's "spatial"
partition into three subsets by distance to the body centre (the belly for JHMDB-15): the joint
itself (with neighbours as far from the centre as it), its neighbours farther from the centre,
its neighbours nearer to it; a joint's incoming weights sum to 1 over the three. A block is a
graph conv (a 1x1 conv per subset, summed over the subset's adjacency times a learnt edge
importance), then a temporal conv (kernel 9 over frames), with a residual; ten blocks (64, 64,
64, 64, 128, 128, 128, 256, 256, 256 channels, times ``width``; stride 2 in time where the width
doubles), global average pooling, a 1x1 fc.

Input (B, C, T, V): C = 2 (x, y) or 3 (x, y, confidence). :func:`graph_input` makes it from
the Dataset's joints (B, T, V, 2) in pixels and confidences (B, T, V): coordinates to [-1, 1]
of the frame; a missing joint (not finite, or confidence 0) sits at 0 with confidence 0.
"""
from __future__ import annotations

import torch
from torch import nn

from actionpose.errors import ConfigError
from actionpose.pose.skeletons import JHMDB15, Skeleton

STGCN_CHANNELS = (64, 64, 64, 64, 128, 128, 128, 256, 256, 256)
CENTRE = {"jhmdb15": "belly"}


def _hops(skeleton: Skeleton) -> torch.Tensor:
    """(V, V) hop distance along the limbs (inf where unreachable)."""
    V = skeleton.num_joints
    adj = torch.eye(V, dtype=torch.bool)
    for a, b in skeleton.limbs:
        adj[a, b] = adj[b, a] = True
    hops = torch.full((V, V), float("inf"))
    reach = torch.eye(V, dtype=torch.bool)
    for d in range(V):
        hops[reach & torch.isinf(hops)] = d
        reach = (reach.float() @ adj.float()) > 0
    return hops


def spatial_graph(skeleton: Skeleton = JHMDB15, centre: str | None = None) -> torch.Tensor:
    """(3, V, V) adjacency of the spatial partition: root, from farther joints, from nearer ones.

    ``A[k, v, w]``: how much joint v feeds joint w in subset k (ST-GCN's ``Graph``, strategy
    "spatial", max_hop 1).
    """
    centre = centre or CENTRE.get(skeleton.name)
    if centre is None or centre not in skeleton.joints:
        raise ConfigError(f"skeleton {skeleton.name}: name its centre joint (got {centre!r})")
    c = skeleton.index(centre)
    hops = _hops(skeleton)
    adjacency = (hops <= 1).float()
    norm = adjacency / adjacency.sum(0, keepdim=True)  # A D^-1: each column by its degree
    V = skeleton.num_joints
    root, farther, nearer = torch.zeros(V, V), torch.zeros(V, V), torch.zeros(V, V)
    for i in range(V):
        for j in range(V):
            if hops[j, i] == 0:
                root[j, i] = norm[j, i]
            elif hops[j, i] == 1:
                if hops[j, c] == hops[i, c]:
                    root[j, i] = norm[j, i]
                elif hops[j, c] > hops[i, c]:
                    farther[j, i] = norm[j, i]
                else:
                    nearer[j, i] = norm[j, i]
    return torch.stack([root, farther, nearer])


def graph_input(joints: torch.Tensor, confidence: torch.Tensor | None = None, *,
                frame_size: tuple[int, int], with_confidence: bool = True) -> torch.Tensor:
    """(B, C, T, V) from joints (B, T, V, 2) pixels of a (H, W) frame and confidences (B, T, V)."""
    if joints.dim() != 4 or joints.shape[-1] != 2:
        raise ConfigError(f"joints must be (B, T, V, 2), got {tuple(joints.shape)}")
    valid = torch.isfinite(joints).all(-1)
    if confidence is not None:
        conf = torch.nan_to_num(confidence.to(joints.dtype), nan=0.0).clamp(0, 1)
        valid = valid & (conf > 0)  # not in place: the ONNX exporter has no in-place and
    else:
        conf = valid.to(joints.dtype)
    H, W = frame_size
    half = torch.tensor([W / 2, H / 2], dtype=joints.dtype, device=joints.device)
    xy = (torch.nan_to_num(joints, nan=0.0, posinf=0.0, neginf=0.0) + 0.5 - half) / half
    xy = torch.where(valid[..., None], xy, torch.zeros_like(xy))
    parts = [xy, torch.where(valid, conf, torch.zeros_like(conf))[..., None]] if with_confidence else [xy]
    return torch.cat(parts, -1).permute(0, 3, 1, 2).contiguous()


class GraphConv(nn.Module):
    """Sum over the partition's subsets k of ``A_k`` (times its edge importance) applied to a
    1x1 conv of the input: (B, C_in, T, V) -> (B, C_out, T, V)."""

    def __init__(self, in_channels: int, out_channels: int, A: torch.Tensor):
        super().__init__()
        self.register_buffer("A", A.clone())
        self.importance = nn.Parameter(torch.ones_like(A))
        self.conv = nn.Conv2d(in_channels, out_channels * A.shape[0], 1)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, _, T, V = x.shape
        y = self.conv(x).view(B, self.A.shape[0], self.out_channels, T, V)
        return torch.einsum("bkctv,kvw->bctw", y, self.A * self.importance)


class STGCNBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, A: torch.Tensor, *, stride: int = 1,
                 residual: bool = True, temporal_kernel: int = 9, dropout: float = 0.0):
        super().__init__()
        self.gcn = GraphConv(in_channels, out_channels, A)
        pad = (temporal_kernel - 1) // 2
        self.tcn = nn.Sequential(
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, (temporal_kernel, 1), (stride, 1), (pad, 0)),
            nn.BatchNorm2d(out_channels), nn.Dropout(dropout, inplace=True))
        if not residual:
            self.residual = None
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, (stride, 1)),
                                          nn.BatchNorm2d(out_channels))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.tcn(self.gcn(x))
        return self.relu(y if self.residual is None else y + self.residual(x))


class STGCN(nn.Module):
    """ST-GCN: (B, in_channels, T, V) joint coordinates -> logits (B, num_classes)."""

    def __init__(self, *, num_classes: int, in_channels: int = 3, skeleton: Skeleton = JHMDB15,
                 width: float = 1.0, temporal_kernel: int = 9, dropout: float = 0.0):
        super().__init__()
        if num_classes < 1 or in_channels < 1 or width <= 0 or temporal_kernel < 1 or temporal_kernel % 2 == 0:
            raise ConfigError(f"ST-GCN needs num_classes >= 1, in_channels >= 1, width > 0 and an "
                              f"odd temporal_kernel, got {num_classes}, {in_channels}, {width}, "
                              f"{temporal_kernel}")
        A = spatial_graph(skeleton)
        V = skeleton.num_joints
        self.in_channels, self.num_joints = in_channels, V
        self.data_bn = nn.BatchNorm1d(in_channels * V)
        channels = [max(1, round(c * width)) for c in STGCN_CHANNELS]
        blocks, prev = [], in_channels
        for i, ch in enumerate(channels):
            stride = 2 if i > 0 and STGCN_CHANNELS[i] > STGCN_CHANNELS[i - 1] else 1
            blocks.append(STGCNBlock(prev, ch, A, stride=stride, residual=i > 0,
                                     temporal_kernel=temporal_kernel, dropout=dropout if i > 0 else 0.0))
            prev = ch
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Conv2d(prev, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels or x.shape[3] != self.num_joints:
            raise ConfigError(f"ST-GCN takes (B, {self.in_channels}, T, {self.num_joints}), got "
                              f"{tuple(x.shape)}")
        B, C, T, V = x.shape
        x = self.data_bn(x.permute(0, 3, 1, 2).reshape(B, V * C, T))
        x = x.view(B, V, C, T).permute(0, 2, 3, 1).contiguous()
        x = self.blocks(x).mean((2, 3), keepdim=True)
        return self.fc(x).flatten(1)


class JointStream(nn.Module):
    """ST-GCN fed from the Dataset's ``joints`` and ``joint_conf`` (see :func:`graph_input`)."""

    def __init__(self, *, num_classes: int, frame_size: tuple[int, int], with_confidence: bool = True,
                 **kwargs):
        super().__init__()
        self.frame_size = tuple(int(v) for v in frame_size)
        self.with_confidence = with_confidence
        self.net = STGCN(num_classes=num_classes, in_channels=3 if with_confidence else 2, **kwargs)

    def forward(self, joints: torch.Tensor, confidence: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(graph_input(joints, confidence, frame_size=self.frame_size,
                                    with_confidence=self.with_confidence))


__all__ = ["STGCN_CHANNELS", "spatial_graph", "graph_input", "GraphConv", "STGCNBlock", "STGCN",
           "JointStream"]
