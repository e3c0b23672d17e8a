"""The pose-quality knob: make the pose a model sees worse in controlled ways, never the frames.

Four degradations of one clip's pose (joints (T, J, 2) in pixels, confidence (T, J), mask
(..., T, H, W)), each in units of the person's height (:func:`person_height`) so that one
setting means the same at every resolution:

- ``jitter``: i.i.d. Gaussian noise on every joint coordinate, sigma = ``jitter`` x height;
- ``miss_rate``: each frame is missed with this probability: joints NaN, confidence 0, mask
  empty (what ``pose extract`` writes for a frame without a person);
- ``offset``: the whole pose (joints and mask) shifted by (dx, dy) x height against the frames
  (a misaligned estimator or a lagging mask);
- ``mask_change``: the mask grown (> 0) or shrunk (< 0) by a disk of radius |mask_change| x height.

The mask is not redrawn from jittered joints: jitter reaches the joint-based inputs, offset,
misses and dilation/erosion the mask. :func:`degrade_pose` is pure and seeded: the same inputs
and seed give the same output; one seed draws the same noise whatever the other settings.
:func:`degrade_sample` applies it to a Dataset sample (seeded per video, clip and epoch).
:func:`pose_error` and :func:`mask_error` measure an estimator against ground truth in the same
units.
"""
from __future__ import annotations

import hashlib

import torch
import torch.nn.functional as F

from actionpose.errors import ConfigError
from actionpose.pose.knob import PoseQuality  # the setting (torch-free), re-exported


def clip_seed(seed: int, name: str, clip: int = 0, epoch: int = 0) -> int:
    """A stable 63-bit seed for one clip of one video (independent of hash randomisation)."""
    digest = hashlib.blake2b(f"{seed}/{name}/{clip}/{epoch}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def _valid(joints: torch.Tensor, confidence: torch.Tensor | None) -> torch.Tensor:
    valid = torch.isfinite(joints).all(-1)
    if confidence is not None:
        valid &= torch.nan_to_num(confidence, nan=0.0) > 0
    return valid


def person_height(joints: torch.Tensor, confidence: torch.Tensor | None = None,
                  mask: torch.Tensor | None = None) -> float:
    """The person's height in pixels: the median over frames of the joints' vertical extent
    (frames with at least two valid joints); without such frames, that of the mask's rows; else 0."""
    valid = _valid(joints, confidence)
    y = joints[..., 1]
    big = torch.finfo(y.dtype).max
    top = torch.where(valid, y, torch.full_like(y, big)).amin(-1)
    bottom = torch.where(valid, y, torch.full_like(y, -big)).amax(-1)
    frames = valid.sum(-1) >= 2
    if frames.any():
        return float((bottom - top)[frames].median())
    if mask is not None:
        rows = (mask.reshape(-1, *mask.shape[-2:]) > 0.5).any(-1)  # (T, H)
        extents = [float(r.nonzero().max() - r.nonzero().min() + 1) for r in rows if r.any()]
        if extents:
            return float(torch.tensor(extents).median())
    return 0.0


def _shift(mask: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """``mask`` moved by (dx, dy) pixels, zeros shifted in."""
    H, W = mask.shape[-2:]
    out = torch.zeros_like(mask)
    if abs(dx) >= W or abs(dy) >= H:
        return out
    src_y, dst_y = slice(max(0, -dy), H - max(0, dy)), slice(max(0, dy), H - max(0, -dy))
    src_x, dst_x = slice(max(0, -dx), W - max(0, dx)), slice(max(0, dx), W - max(0, -dx))
    out[..., dst_y, dst_x] = mask[..., src_y, src_x]
    return out


def morph_mask(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Grey-level dilation (radius > 0) or erosion (radius < 0) of (..., H, W) by a disk."""
    if radius == 0:
        return mask
    r = abs(int(radius))
    flat = mask.reshape(-1, 1, *mask.shape[-2:])
    src = flat if radius > 0 else 1 - flat
    padded = F.pad(src, (r, r, r, r))  # zeros outside: dilation adds nothing, erosion eats the border
    out = torch.zeros_like(src)
    H, W = mask.shape[-2:]
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            if dx * dx + dy * dy <= r * r:
                out = torch.maximum(out, padded[..., r + dy:r + dy + H, r + dx:r + dx + W])
    return (out if radius > 0 else 1 - out).reshape(mask.shape)


def degrade_pose(joints: torch.Tensor, confidence: torch.Tensor | None = None,
                 mask: torch.Tensor | None = None, *, quality: PoseQuality, seed: int,
                 missing: float = float("nan")
                 ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """(joints, confidence, mask) of one clip after ``quality``; new tensors, inputs untouched.

    ``joints`` (T, J, 2) pixels, ``confidence`` (T, J) or None, ``mask`` (..., T, H, W) float in
    [0, 1] or uint8 in [0, 255] (kept in its dtype) or None. Joints of missed frames become
    ``missing`` (NaN as ``pose extract`` writes; the Dataset's samples use -1). Joints that were
    missing already (not finite, or confidence 0) stay as they are.
    """
    if joints.dim() != 3 or joints.shape[-1] != 2:
        raise ConfigError(f"joints must be (T, J, 2), got {tuple(joints.shape)}")
    T, J = joints.shape[:2]
    if confidence is not None and tuple(confidence.shape) != (T, J):
        raise ConfigError(f"confidence must be ({T}, {J}), got {tuple(confidence.shape)}")
    if mask is not None and (mask.dim() < 3 or mask.shape[-3] != T):
        raise ConfigError(f"mask must be (..., {T}, H, W), got {tuple(mask.shape)}")
    scale = 255.0 if mask is not None and mask.dtype == torch.uint8 else 1.0
    fmask = None if mask is None else mask.float() / scale
    gen = torch.Generator().manual_seed(int(seed))
    # every draw is made, in a fixed order, whatever the setting: one seed, the same noise
    missed = torch.rand(T, generator=gen) < quality.miss_rate
    noise = torch.randn(T, J, 2, generator=gen).to(joints.dtype)
    height = person_height(joints, confidence, fmask)
    valid = _valid(joints, confidence)

    out = joints.clone()
    dx, dy = (v * height for v in quality.offset)
    out = out + noise.to(out.device) * (quality.jitter * height)
    out = out + torch.tensor([dx, dy], dtype=out.dtype, device=out.device)
    out = torch.where(valid[..., None], out, joints)
    conf = None if confidence is None else confidence.clone()
    missed_dev = missed.to(joints.device)
    out[missed_dev] = missing
    if conf is not None:
        conf[missed_dev] = 0.0

    new_mask = None
    if fmask is not None:
        new_mask = morph_mask(_shift(fmask, round(dx), round(dy)), round(quality.mask_change * height))
        new_mask[..., missed_dev, :, :] = 0
        new_mask = (new_mask * scale).round().to(mask.dtype) if scale != 1.0 else new_mask.to(mask.dtype)
    return out, conf, new_mask


def degrade_sample(sample: dict, quality: PoseQuality, *, seed: int, epoch: int = 0) -> dict:
    """A Dataset sample with the pose it carries degraded, the frames (``video``) untouched.

    Replaces ``joints`` (T, J, 2), ``joint_conf`` (T, J) and ``mask`` (1, T, H, W) where present;
    a missed frame's joints become (-1, -1) with confidence 0, the sample contract's missing
    joint. Seeded by :func:`clip_seed` from ``seed``, the sample's ``name`` and ``clip`` and
    ``epoch`` (the same epoch: the same degradation; pass a fixed epoch at test time).
    """
    if quality.is_perfect:
        return sample
    mask = sample.get("mask")
    if "joints" not in sample and mask is None:
        raise ConfigError("degrade_sample: the sample has neither joints nor a mask to degrade")
    joints = sample.get("joints")
    if joints is None:  # a mask-only sample: the height comes from the mask
        joints = torch.full((mask.shape[-3], 1, 2), float("nan"))
    clip_id = sample.get("clip", 0)
    out_joints, conf, out_mask = degrade_pose(
        joints, sample.get("joint_conf"), mask, quality=quality, missing=-1.0,
        seed=clip_seed(seed, str(sample.get("name", "")), int(clip_id), epoch))
    out = dict(sample)
    if "joints" in sample:
        out["joints"] = out_joints
    if sample.get("joint_conf") is not None:
        out["joint_conf"] = conf
    if mask is not None:
        out["mask"] = out_mask
    return out


def pose_error(estimated: torch.Tensor, truth: torch.Tensor,
               confidence: torch.Tensor | None = None) -> dict[str, float]:
    """An estimator's error against ground truth in the knob's units.

    ``miss_rate``: frames where the estimate has no valid joint; ``offset``: the mean (dx, dy)
    error over valid joints / height; ``jitter``: the standard deviation of the error's
    coordinates around that mean / height; ``height`` in pixels, of the ground truth.
    """
    if estimated.shape != truth.shape or estimated.dim() != 3:
        raise ConfigError(f"estimated and truth must both be (T, J, 2), got "
                          f"{tuple(estimated.shape)} and {tuple(truth.shape)}")
    height = person_height(truth)
    if height <= 0:
        raise ConfigError("ground truth has no frame with two valid joints: no height to measure in")
    est_valid = _valid(estimated, confidence)
    both = est_valid & _valid(truth, None)
    miss = float((~est_valid.any(-1)).float().mean())
    if not both.any():
        return {"jitter": float("nan"), "miss_rate": miss, "offset_x": float("nan"),
                "offset_y": float("nan"), "height": height}
    err = (estimated - truth)[both]  # (N, 2)
    mean = err.mean(0)
    spread = float(((err - mean) ** 2).mean().sqrt())
    return {"jitter": spread / height, "miss_rate": miss, "offset_x": float(mean[0]) / height,
            "offset_y": float(mean[1]) / height, "height": height}


def mask_error(estimated: torch.Tensor, truth: torch.Tensor, height: float) -> dict[str, float]:
    """An estimated mask (..., T, H, W) against the true one in the knob's units.

    ``iou`` over the clip; ``mask_change``: the mean over frames with a true person of the area
    difference divided by the true mask's boundary length (the boundary's average outward shift,
    in pixels) / ``height`` — the ``mask_change`` whose dilation (> 0) or erosion (< 0) matches.
    """
    if estimated.shape != truth.shape or estimated.dim() < 3:
        raise ConfigError(f"estimated and true masks must both be (..., T, H, W), got "
                          f"{tuple(estimated.shape)} and {tuple(truth.shape)}")
    if not (isinstance(height, (int, float)) and height > 0):
        raise ConfigError(f"height must be > 0 pixels, got {height!r}")
    est = (estimated > 0.5).float().reshape(-1, *estimated.shape[-2:])
    true = (truth > 0.5).float().reshape(-1, *truth.shape[-2:])
    union = ((est + true) > 0).float().sum()
    iou = float((est * true).sum() / union) if union > 0 else float("nan")
    boundary = (true - morph_mask(true, -1)).sum((-1, -2))  # the true mask's inner boundary pixels
    frames = boundary > 0
    if not frames.any():
        return {"iou": iou, "mask_change": float("nan")}
    shift = (est.sum((-1, -2)) - true.sum((-1, -2)))[frames] / boundary[frames]
    return {"iou": iou, "mask_change": float(shift.mean()) / height}


__all__ = ["PoseQuality", "clip_seed", "person_height", "morph_mask", "degrade_pose",
           "degrade_sample", "pose_error", "mask_error"]
