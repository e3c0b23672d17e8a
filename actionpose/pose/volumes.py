"""Keypoint heatmap volumes: per-joint and per-limb Gaussian maps stacked over time (PoseC3D).

The typed counterpart of pyskl's ``GeneratePoseTarget`` for one person: joints (..., T, J, 2)
in 0-based pixels of a (H, W) frame (x = column) become a volume (..., J + L, T, h, w) —
channel j is ``c_j exp(-d_j^2 / 2 sigma^2)`` with ``d_j`` the distance to joint j, channel
J + l is ``min(c_a, c_b) exp(-d_l^2 / 2 sigma^2)`` with ``d_l`` the distance to the segment of
limb l = (a, b). ``c`` is the joint's confidence (1 without one). A joint that is not finite,
or whose confidence is 0 or not finite, gives an empty map (and so do its limbs): the NaN
joints and zero confidence ``pose extract`` writes for frames without a person never make NaN.

Points move from the frame to the map as in :mod:`actionpose.pose.render`
(``x_out = (x + 0.5) w / W - 0.5``), so a horizontal flip of the frame is an exact mirror of the
volume with left and right channels swapped (:func:`flip_volume`). Everything is batched torch
on the joints' device, so a model can build the volume on the GPU.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from actionpose.errors import ConfigError
from actionpose.pose.skeletons import JHMDB15, Skeleton

PARTS = ("joints", "limbs", "both")


@dataclass(frozen=True)
class VolumeConfig:
    """What the volume holds: ``parts`` (joints, limbs or both), ``sigma`` in map pixels, the map
    ``size`` (h, w), and the ``skeleton`` whose limbs and left/right pairs are used."""

    size: tuple[int, int] = (56, 56)  # pyskl's GeneratePoseTarget defaults
    sigma: float = 0.6
    parts: str = "both"
    skeleton: Skeleton = JHMDB15

    def __post_init__(self):
        if self.parts not in PARTS:
            raise ConfigError(f"volume parts must be one of {PARTS}, got {self.parts!r}")
        try:
            h, w = (int(v) for v in self.size)
        except (TypeError, ValueError):
            raise ConfigError(f"volume size must be (h, w), got {self.size!r}") from None
        if h < 1 or w < 1:
            raise ConfigError(f"volume size must be positive, got {self.size!r}")
        object.__setattr__(self, "size", (h, w))
        s = self.sigma
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(s) or s <= 0:
            raise ConfigError(f"volume sigma must be a positive number of map pixels, got {s!r}")

    @property
    def channels(self) -> int:
        j, l = self.skeleton.num_joints, len(self.skeleton.limbs)
        return {"joints": j, "limbs": l, "both": j + l}[self.parts]


def _weights(joints: torch.Tensor, confidence: torch.Tensor | None) -> torch.Tensor:
    """(..., T, J) weight per joint: its confidence, 0 where the joint or confidence is not finite."""
    finite = torch.isfinite(joints).all(-1)
    if confidence is None:
        return finite.to(joints.dtype)
    conf = confidence.to(joints.dtype)
    if conf.shape != joints.shape[:-1]:
        raise ConfigError(f"confidence must be {tuple(joints.shape[:-1])} for joints "
                          f"{tuple(joints.shape)}, got {tuple(conf.shape)}")
    ok = finite & torch.isfinite(conf) & (conf > 0)
    return torch.where(ok, conf.clamp(max=1.0), torch.zeros_like(conf))


def keypoint_volume(joints: torch.Tensor, confidence: torch.Tensor | None = None, *,
                    frame_size: tuple[int, int], config: VolumeConfig = VolumeConfig()
                    ) -> torch.Tensor:
    """Volume (..., C, T, h, w) of joints (..., T, J, 2) in a (H, W) frame; C = ``config.channels``.

    Joint channels come first, then limb channels in the order of ``config.skeleton.limbs``.
    """
    if not isinstance(joints, torch.Tensor):
        joints = torch.as_tensor(joints)
    if not joints.is_floating_point():
        joints = joints.float()
    if confidence is not None and not isinstance(confidence, torch.Tensor):
        confidence = torch.as_tensor(confidence, device=joints.device)
    skeleton = config.skeleton
    if joints.dim() < 3 or joints.shape[-1] != 2 or joints.shape[-2] != skeleton.num_joints:
        raise ConfigError(f"joints must be (..., T, {skeleton.num_joints}, 2) for skeleton "
                          f"{skeleton.name}, got {tuple(joints.shape)}")
    H, W = (int(v) for v in frame_size)
    h, w = config.size
    weight = _weights(joints, confidence)  # (..., T, J)
    scale = torch.tensor([w / W, h / H], dtype=joints.dtype, device=joints.device)
    pts = (torch.nan_to_num(joints, nan=0.0, posinf=0.0, neginf=0.0) + 0.5) * scale - 0.5
    two_s2 = 2.0 * float(config.sigma) ** 2
    xs = torch.arange(w, dtype=joints.dtype, device=joints.device)
    ys = torch.arange(h, dtype=joints.dtype, device=joints.device)
    out = []
    if config.parts in ("joints", "both"):
        gx = torch.exp(-((xs - pts[..., 0:1]) ** 2) / two_s2)  # (..., T, J, w)
        gy = torch.exp(-((ys - pts[..., 1:2]) ** 2) / two_s2)  # (..., T, J, h)
        maps = gy[..., :, None] * gx[..., None, :] * weight[..., None, None]  # (..., T, J, h, w)
        out.append(maps.transpose(-3, -4))  # (..., J, T, h, w); movedim breaks ONNX export
    if config.parts in ("limbs", "both"):
        a = torch.tensor([l[0] for l in skeleton.limbs], device=joints.device)
        b = torch.tensor([l[1] for l in skeleton.limbs], device=joints.device)
        pa, pb = pts[..., a, :], pts[..., b, :]  # (..., T, L, 2)
        d = pb - pa
        length2 = (d ** 2).sum(-1).clamp_min(1e-12)[..., None, None]  # (..., T, L, 1, 1)
        px = xs[None, :] - pa[..., 0, None, None]  # (..., T, L, 1, w)
        py = ys[:, None] - pa[..., 1, None, None]  # (..., T, L, h, 1)
        t = ((px * d[..., 0, None, None] + py * d[..., 1, None, None]) / length2).clamp(0, 1)
        ex = px - t * d[..., 0, None, None]
        ey = py - t * d[..., 1, None, None]
        limb_weight = torch.minimum(weight[..., a], weight[..., b])  # (..., T, L)
        maps = torch.exp(-(ex ** 2 + ey ** 2) / two_s2) * limb_weight[..., None, None]
        out.append(maps.transpose(-3, -4))  # (..., L, T, h, w)
    return torch.cat(out, dim=-4) if len(out) > 1 else out[0]


def channel_flip_permutation(config: VolumeConfig) -> list[int]:
    """Channel map for a horizontal flip: new channel i takes old channel perm[i]."""
    skeleton = config.skeleton
    joint_perm = skeleton.flip_permutation()
    limbs = {frozenset(l): i for i, l in enumerate(skeleton.limbs)}
    limb_perm = []
    for a, b in skeleton.limbs:
        mirrored = frozenset((joint_perm[a], joint_perm[b]))
        if mirrored not in limbs:
            raise ConfigError(f"skeleton {skeleton.name}: limb ({a}, {b}) has no mirror image")
        limb_perm.append(limbs[mirrored])
    J = skeleton.num_joints
    return {"joints": joint_perm, "limbs": limb_perm,
            "both": joint_perm + [J + i for i in limb_perm]}[config.parts]


def flip_volume(volume: torch.Tensor, config: VolumeConfig = VolumeConfig()) -> torch.Tensor:
    """The volume of the horizontally flipped clip: mirrored width, left/right channels swapped."""
    perm = torch.tensor(channel_flip_permutation(config), device=volume.device)
    return volume.flip(-1).index_select(-4, perm)


__all__ = ["PARTS", "VolumeConfig", "keypoint_volume", "channel_flip_permutation", "flip_volume"]
