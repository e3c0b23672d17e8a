"""Pose as pictures: per-joint heatmaps, person masks from joints, background weakening.

Coordinates are 0-based pixels with x = column; a pixel's centre sits at integer coordinates.
Moving a point from a frame of size (H, W) to a map of size (h, w) keeps pixel areas aligned:
``x_out = (x + 0.5) * w / W - 0.5`` (the convention of ``cv2.resize`` and
``F.interpolate(align_corners=False)``), so a joint at a frame pixel's centre lands at the
matching sub-pixel spot of the map.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from actionpose.errors import ConfigError
from actionpose.pose.skeletons import JHMDB15, Skeleton

__all__ = [
    "scale_points", "render_heatmaps", "heatmap_peaks", "masks_from_joints", "weaken_background",
]


def _as_tensor(a, dtype=torch.float32) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        return a.detach().to(dtype=dtype, device="cpu")
    return torch.as_tensor(np.asarray(a), dtype=dtype)


def _check_size(size, what: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be (H, W), got {size!r}") from None
    if h < 1 or w < 1:
        raise ConfigError(f"{what} must be positive, got {size!r}")
    return h, w


def scale_points(
    points: torch.Tensor | np.ndarray, *, frame_size: tuple[int, int], out_size: tuple[int, int]
) -> torch.Tensor:
    """Move (..., 2) x/y pixel coordinates from a (H, W) frame to a (h, w) map, pixel-centre aligned."""
    H, W = _check_size(frame_size, "frame_size")
    h, w = _check_size(out_size, "out_size")
    pts = _as_tensor(points)
    scale = torch.tensor([w / W, h / H], dtype=pts.dtype)
    return (pts + 0.5) * scale - 0.5


def _valid_joints(joints: torch.Tensor, confidence, frame_size, min_confidence: float) -> torch.Tensor:
    """(T, J) bool: finite, inside the frame's pixel area, and confident enough."""
    H, W = frame_size
    x, y = joints[..., 0], joints[..., 1]
    valid = torch.isfinite(joints).all(-1)
    valid &= (x >= -0.5) & (x < W - 0.5) & (y >= -0.5) & (y < H - 0.5)
    if confidence is not None:
        conf = _as_tensor(confidence).reshape(joints.shape[:2])
        valid &= conf >= min_confidence
    return valid


def _check_joints(joints) -> torch.Tensor:
    j = _as_tensor(joints)
    if j.ndim != 3 or j.shape[-1] != 2:
        raise ValueError(f"joints must be (T, J, 2), got {tuple(j.shape)}")
    return j


def render_heatmaps(
    joints,
    confidence=None,
    *,
    frame_size: tuple[int, int],
    out_size: tuple[int, int],
    sigma: float | None = None,
    kind: str = "gaussian",
    min_confidence: float = 0.1,
) -> torch.Tensor:
    """Per-joint maps (J, T, h, w) float32 for joints (T, J, 2) given in a (H, W) frame.

    ``kind="gaussian"``: exp(-d^2 / 2 sigma^2), peak 1 at the joint; ``kind="disk"``: 1 where
    d <= sigma. ``sigma`` is in output pixels (default max(h, w) / 32, at least 1). Joints that
    are NaN, outside the frame or below ``min_confidence`` give all-zero maps.
    """
    j = _check_joints(joints)
    frame_size = _check_size(frame_size, "frame_size")
    h, w = _check_size(out_size, "out_size")
    if kind not in ("gaussian", "disk"):
        raise ConfigError(f"kind must be 'gaussian' or 'disk', got {kind!r}")
    if sigma is None:
        sigma = max(1.0, max(h, w) / 32.0)
    if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma > 0):
        raise ConfigError(f"sigma must be a positive number of output pixels, got {sigma!r}")
    valid = _valid_joints(j, confidence, frame_size, min_confidence)  # (T, J)
    pts = scale_points(torch.nan_to_num(j), frame_size=frame_size, out_size=(h, w))
    pts = pts.permute(1, 0, 2)  # (J, T, 2)
    dx = torch.arange(w, dtype=torch.float32) - pts[..., 0:1]  # (J, T, w)
    dy = torch.arange(h, dtype=torch.float32) - pts[..., 1:2]  # (J, T, h)
    if kind == "gaussian":
        # separable: exp(-(dx^2+dy^2)/2s^2) = exp(-dy^2/2s^2) * exp(-dx^2/2s^2)
        gx = torch.exp(-(dx**2) / (2 * sigma**2))
        gy = torch.exp(-(dy**2) / (2 * sigma**2))
        maps = gy[..., :, None] * gx[..., None, :]
    else:
        maps = ((dy[..., :, None] ** 2 + dx[..., None, :] ** 2) <= sigma**2).float()
    return maps * valid.T[..., None, None].float()


def heatmap_peaks(heatmaps, *, min_value: float = 1e-6) -> torch.Tensor:
    """Sub-pixel peak (T, J, 2) (x, y in map pixels) of heatmaps (J, T, h, w).

    Around the integer argmax, each axis fits a parabola to the log of the three values there,
    which is exact for a sampled Gaussian; a flat top (disk maps) gives the centroid of the
    pixels at the peak value; otherwise (a neighbour zero or off the map, e.g. a peak on the
    border) the 3x3 soft-argmax (weighted centroid) around the argmax. Maps whose
    maximum is below ``min_value`` give NaN.
    """
    hm = _as_tensor(heatmaps)
    if hm.ndim != 4:
        raise ValueError(f"heatmaps must be (J, T, h, w), got {tuple(hm.shape)}")
    J, T, h, w = hm.shape
    flat = hm.reshape(J, T, h * w)
    peak, idx = flat.max(-1)
    iy, ix = idx // w, idx % w
    padded = torch.nn.functional.pad(hm.reshape(J * T, 1, h, w), (1, 1, 1, 1)).reshape(J, T, h + 2, w + 2)
    # 3x3 neighbourhood around each argmax, in padded coordinates (argmax + 1)
    offs = torch.arange(-1, 2)
    rows = (iy[..., None] + 1 + offs)  # (J, T, 3)
    cols = (ix[..., None] + 1 + offs)
    jt = torch.arange(J)[:, None, None, None], torch.arange(T)[None, :, None, None]
    win = padded[jt[0], jt[1], rows[..., :, None], cols[..., None, :]]  # (J, T, 3, 3)
    inside_x = (ix > 0) & (ix < w - 1)
    inside_y = (iy > 0) & (iy < h - 1)

    def axis_offset(left, centre, right, inside):
        ok = inside & (left > 0) & (right > 0) & (centre > 0)
        ll, lc, lr = (torch.log(v.clamp_min(1e-30)) for v in (left, centre, right))
        denom = ll - 2 * lc + lr
        ok &= denom < 0
        quad = 0.5 * (ll - lr) / torch.where(ok, denom, torch.ones_like(denom))
        return torch.where(ok, quad, torch.full_like(quad, float("nan"))), ok

    qx, okx = axis_offset(win[..., 1, 0], win[..., 1, 1], win[..., 1, 2], inside_x)
    qy, oky = axis_offset(win[..., 0, 1], win[..., 1, 1], win[..., 2, 1], inside_y)
    weights = win.clamp_min(0)
    total = weights.sum((-1, -2)).clamp_min(1e-30)
    cx = (weights.sum(-2) * offs).sum(-1) / total
    cy = (weights.sum(-1) * offs).sum(-1) / total
    # a flat top (disk maps): the centroid of all pixels at the peak value
    plateau = (flat >= (peak - 1e-6 * peak.abs())[..., None]).float()  # (J, T, h*w)
    count = plateau.sum(-1)
    px = (plateau * (torch.arange(h * w) % w)).sum(-1) / count
    py = (plateau * (torch.arange(h * w) // w)).sum(-1) / count
    is_plateau = count > 1
    x = torch.where(okx, ix.float() + qx.clamp(-0.5, 0.5), torch.where(is_plateau, px, ix.float() + cx))
    y = torch.where(oky, iy.float() + qy.clamp(-0.5, 0.5), torch.where(is_plateau, py, iy.float() + cy))
    out = torch.stack([x, y], -1)  # (J, T, 2)
    out[peak < min_value] = float("nan")
    return out.permute(1, 0, 2).contiguous()


def _named(skeleton: Skeleton, *names: str) -> int | None:
    for name in names:
        if name in skeleton.joints:
            return skeleton.index(name)
    return None


def masks_from_joints(
    joints,
    confidence=None,
    *,
    frame_size: tuple[int, int],
    out_size: tuple[int, int] | None = None,
    limb_width: float | None = None,
    skeleton: Skeleton = JHMDB15,
    min_confidence: float = 0.1,
    dilation: int = 0,
    blur: float = 0.0,
) -> torch.Tensor:
    """A person mask (T, H, W) per frame from joints (T, J, 2), in {0, 1}.

    Limbs are capsules of diameter ``limb_width`` output pixels (default per frame: 12% of
    the larger side of the joints' bounding box, at least 2), the torso is the polygon
    shoulders-hips, the head a disk at the face (radius the larger of the limb radius and
    0.6 x the face-neck distance). Joints that are NaN, outside the frame or below
    ``min_confidence`` are left out (with the limbs touching them). ``dilation`` grows the mask
    by that many output pixels; ``blur`` > 0 smooths it with a Gaussian of that sigma (the mask
    then takes values in [0, 1]).
    """
    j = _check_joints(joints)
    if j.shape[1] != skeleton.num_joints:
        raise ConfigError(f"joints have {j.shape[1]} joints, skeleton {skeleton.name} has {skeleton.num_joints}")
    frame_size = _check_size(frame_size, "frame_size")
    out_size = frame_size if out_size is None else _check_size(out_size, "out_size")
    if dilation < 0 or blur < 0:
        raise ConfigError(f"dilation and blur must be >= 0, got {dilation}, {blur}")
    T = j.shape[0]
    h, w = out_size
    valid = _valid_joints(j, confidence, frame_size, min_confidence)  # (T, J)
    pts = scale_points(torch.nan_to_num(j), frame_size=frame_size, out_size=out_size)  # (T, J, 2)
    gy, gx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")

    if limb_width is None:
        big = torch.finfo(torch.float32).max
        lo = torch.where(valid[..., None], pts, torch.full_like(pts, big)).amin(1)
        hi = torch.where(valid[..., None], pts, torch.full_like(pts, -big)).amax(1)
        extent = (hi - lo).amax(-1).clamp_min(0)  # (T,)
        extent = torch.where(valid.sum(1) >= 2, extent, torch.zeros_like(extent))
        radius = (0.12 * extent).clamp_min(2.0) / 2
    else:
        if limb_width <= 0:
            raise ConfigError(f"limb_width must be > 0, got {limb_width}")
        radius = torch.full((T,), float(limb_width) / 2)
    r2 = (radius**2)[:, None, None]

    mask = torch.zeros(T, h, w, dtype=torch.bool)
    for a, b in skeleton.limbs:  # one vectorised pass per limb (over frames and pixels)
        ok = (valid[:, a] & valid[:, b])[:, None, None]
        pa, pb = pts[:, a, :, None, None], pts[:, b, :, None, None]  # (T, 2, 1, 1)
        d = pb - pa
        length2 = (d**2).sum(1).clamp_min(1e-12)
        t = (((gx - pa[:, 0]) * d[:, 0] + (gy - pa[:, 1]) * d[:, 1]) / length2).clamp(0, 1)
        ex = gx - (pa[:, 0] + t * d[:, 0])
        ey = gy - (pa[:, 1] + t * d[:, 1])
        mask |= ok & ((ex**2 + ey**2) <= r2)

    torso = [_named(skeleton, n) for n in ("right_shoulder", "left_shoulder", "left_hip", "right_hip")]
    if None not in torso:
        ok = valid[:, torso].all(1)[:, None, None]
        poly = pts[:, torso]  # (T, 4, 2)
        inside = torch.zeros(T, h, w, dtype=torch.bool)
        for k in range(4):  # even-odd rule, one pass per edge
            x1, y1 = poly[:, k, 0, None, None], poly[:, k, 1, None, None]
            x2, y2 = poly[:, (k + 1) % 4, 0, None, None], poly[:, (k + 1) % 4, 1, None, None]
            crosses = (y1 > gy) != (y2 > gy)
            dy = torch.where(y2 == y1, torch.ones_like(y1), y2 - y1)
            x_at = x1 + (gy - y1) * (x2 - x1) / dy
            inside ^= crosses & (gx < x_at)
        mask |= ok & inside

    head, neck = _named(skeleton, "face", "nose"), _named(skeleton, "neck")
    if head is not None:
        head_r = radius.clone()
        if neck is not None:
            dist = (pts[:, head] - pts[:, neck]).norm(dim=-1)
            head_r = torch.where(valid[:, neck], torch.maximum(radius, 0.6 * dist), radius)
        c = pts[:, head, :, None, None]
        disk = (gx - c[:, 0]) ** 2 + (gy - c[:, 1]) ** 2 <= (head_r**2)[:, None, None]
        mask |= valid[:, head, None, None] & disk

    out = mask.float()
    if dilation > 0:
        k = 2 * int(dilation) + 1
        yy, xx = torch.meshgrid(torch.arange(k) - dilation, torch.arange(k) - dilation, indexing="ij")
        kernel = ((xx**2 + yy**2) <= dilation**2).float()[None, None]
        out = (torch.nn.functional.conv2d(out[:, None], kernel, padding=dilation)[:, 0] > 0).float()
    if blur > 0:
        radius_px = max(1, int(math.ceil(3 * blur)))
        g = torch.exp(-(torch.arange(-radius_px, radius_px + 1, dtype=torch.float32) ** 2) / (2 * blur**2))
        g = g / g.sum()
        x = torch.nn.functional.conv2d(out[:, None], g.view(1, 1, 1, -1), padding=(0, radius_px))
        out = torch.nn.functional.conv2d(x, g.view(1, 1, -1, 1), padding=(radius_px, 0))[:, 0].clamp(0, 1)
    return out


def weaken_background(x: torch.Tensor, mask: torch.Tensor, factor: float) -> torch.Tensor:
    """``x * (mask + factor * (1 - mask))``: keep the person, scale the rest by ``factor`` in [0, 1].

    ``mask`` broadcasts against ``x`` (e.g. (1, T, H, W) against (3, T, H, W)).
    """
    if isinstance(factor, torch.Tensor):
        if factor.numel() != 1:
            raise ConfigError(f"factor must be a single number in [0, 1], got a tensor of shape "
                              f"{tuple(factor.shape)}")
        factor = float(factor)
    if isinstance(factor, bool) or not isinstance(factor, (int, float)):
        raise ConfigError(f"factor must be a number in [0, 1], got {type(factor).__name__}")
    if not (0.0 <= factor <= 1.0):  # also rejects NaN
        raise ConfigError(f"factor must be in [0, 1], got {factor}")
    if factor == 1.0:
        return x
    return x * (mask + factor * (1 - mask))
