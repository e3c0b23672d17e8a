"""Rendering for the synthetic dataset: procedural backgrounds ("styles"), clothing textures,
moving distractor shapes, the capsule puppet and the final composite with camera jitter and noise.

Everything is drawn with OpenCV without anti-aliasing (so the body mask is exact) or with numpy
broadcasting over the pixel grid; nothing loops over pixels.
"""
from __future__ import annotations

import colorsys

import cv2
import numpy as np

from actionpose.data.synthetic_motion import Body

NUM_PATTERNS = 8
BG, SKIN, SHIRT, PANTS = 0, 1, 2, 3
_SHIFT = 4  # cv2 fixed-point bits for sub-pixel drawing
_ONE = 1 << _SHIFT


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, float(np.clip(s, 0, 1)), float(np.clip(v, 0, 1)))) * 255


# ---------------------------------------------------------------------------------------------
# backgrounds


def style_palette(style: int) -> tuple[float, float, float]:
    """The (hue, saturation, value) anchor of a background style; hues spread by the golden ratio."""
    hue = (style * 0.6180339887) % 1.0
    sat = 0.35 + 0.4 * ((style * 0.381966) % 1.0)
    val = 0.45 + 0.35 * ((style * 0.7548776) % 1.0)
    return hue, sat, val


def background(style: int, shape: tuple[int, int], rng: np.random.Generator,
               contrast: float = 1.0) -> np.ndarray:
    """A (H, W, 3) float32 textured background of ``style``: pattern = style % 8, palette from
    the style, frequency/offset/colour jittered per clip; ``contrast`` scales the pattern."""
    H, W = shape
    hue, sat, val = style_palette(style)
    hue += rng.uniform(-0.03, 0.03)
    c1 = _hsv(hue, sat + rng.uniform(-0.1, 0.1), val + rng.uniform(-0.08, 0.08))
    other = _hsv(hue + 0.1 + rng.uniform(-0.03, 0.03), sat * 0.7, val * rng.uniform(0.55, 0.8))
    c2 = c1 + contrast * (other - c1)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    period = rng.uniform(0.08, 0.2) * min(H, W)
    off = rng.uniform(0, period, size=2)
    pattern = style % NUM_PATTERNS
    if pattern == 0:  # horizontal stripes
        a = (np.floor((yy + off[0]) / period) % 2)
    elif pattern == 1:  # vertical stripes
        a = (np.floor((xx + off[1]) / period) % 2)
    elif pattern == 2:  # checkerboard
        a = (np.floor((yy + off[0]) / period) + np.floor((xx + off[1]) / period)) % 2
    elif pattern == 3:  # diagonal stripes
        a = (np.floor((xx + yy + off[0]) / (1.2 * period)) % 2)
    elif pattern == 4:  # soft blobs: low-resolution noise upsampled
        low = rng.uniform(size=(max(2, int(H / period)) + 1, max(2, int(W / period)) + 1))
        a = cv2.resize(low.astype(np.float32), (W, H), interpolation=cv2.INTER_CUBIC)
        a = np.clip((a - 0.5) * 2.5 + 0.5, 0, 1)
    elif pattern == 5:  # sky / ground with a horizon and a gradient
        horizon = rng.uniform(0.45, 0.7) * H
        a = np.where(yy > horizon, 1.0, 0.35 * yy / max(horizon, 1.0))
    elif pattern == 6:  # dots on a plain field
        r = 0.28 * period
        dy = np.mod(yy + off[0], period) - period / 2
        dx = np.mod(xx + off[1], period) - period / 2
        a = ((dx * dx + dy * dy) < r * r).astype(np.float32)
    else:  # bricks: rows of offset blocks with mortar lines
        row = np.floor((yy + off[0]) / (0.5 * period))
        shift = (row % 2) * 0.5 * period
        mortar = (np.mod(yy + off[0], 0.5 * period) < 1.5) | (np.mod(xx + shift + off[1], period) < 1.5)
        a = mortar.astype(np.float32)
    a = a.astype(np.float32)[..., None]
    img = (1 - a) * c1 + a * c2
    return img.astype(np.float32)


# ---------------------------------------------------------------------------------------------
# clothing


def clothing_texture(rng: np.random.Generator, shape: tuple[int, int], colour: np.ndarray) -> np.ndarray:
    """(H, W, 3) float32 texture: plain, stripes, checks or speckle around ``colour``."""
    H, W = shape
    kind = rng.integers(4)
    second = np.clip(colour * rng.uniform(0.45, 0.75) + rng.uniform(-25, 25, size=3), 0, 255)
    if kind == 0:
        return np.broadcast_to(colour.astype(np.float32), (H, W, 3)).copy()
    yy, xx = np.mgrid[0:H, 0:W]
    period = int(rng.integers(3, 7))
    if kind == 1:
        a = (yy // period) % 2
    elif kind == 2:
        a = ((yy // period) + (xx // period)) % 2
    else:
        a = rng.uniform(size=(H, W)) < 0.3
    a = a.astype(np.float32)[..., None]
    return ((1 - a) * colour + a * second).astype(np.float32)


def skin_colour(rng: np.random.Generator) -> np.ndarray:
    tone = rng.uniform()
    light, dark = np.array([240, 205, 180]), np.array([95, 62, 45])
    return np.clip(light * (1 - tone) + dark * tone + rng.uniform(-10, 10, size=3), 0, 255)


def random_colour(rng: np.random.Generator) -> np.ndarray:
    return _hsv(rng.uniform(), rng.uniform(0.2, 0.9), rng.uniform(0.25, 0.95))


def actor_textures(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """(4, H, W, 3) float32: slot 0 unused (background), then skin, shirt, pants."""
    H, W = shape
    tex = np.zeros((4, H, W, 3), np.float32)
    tex[SKIN] = np.broadcast_to(skin_colour(rng), (H, W, 3))
    tex[SHIRT] = clothing_texture(rng, shape, random_colour(rng))
    tex[PANTS] = clothing_texture(rng, shape, random_colour(rng))
    return tex


# ---------------------------------------------------------------------------------------------
# the puppet


def _pt(p: np.ndarray) -> tuple[int, int]:
    return int(round(float(p[0]) * _ONE)), int(round(float(p[1]) * _ONE))


def draw_puppet(joints: np.ndarray, body: Body, height_px: float, thickness: float,
                sleeves: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
    """(T, H, W) uint8 part labels (0 background, SKIN, SHIRT, PANTS) of the capsule puppet.

    ``joints`` (T, 15, 2) pixels, x = column; ``sleeves`` = (upper-arm label, forearm label).
    """
    T = joints.shape[0]
    H, W = shape
    labels = np.zeros((T, H, W), np.uint8)
    limb = max(2, int(round(0.07 * height_px * thickness)))
    leg = max(2, int(round(0.09 * height_px * thickness)))
    torso = max(3, int(round(0.2 * height_px * thickness)))
    neck = max(2, int(round(0.07 * height_px * thickness)))
    head_r = max(2, int(round(body.head_radius * height_px * _ONE)))
    hand_r = max(1, int(round(0.03 * height_px * thickness * _ONE)))
    upper_label, fore_label = sleeves
    line = lambda img, a, b, lab, th: cv2.line(img, _pt(a), _pt(b), int(lab), th, cv2.LINE_8, _SHIFT)  # noqa: E731
    for t in range(T):
        img = labels[t]
        j = joints[t]
        # left limbs behind, then torso, then right limbs, head on top
        for hip, knee, ankle in ((6, 10, 14),):
            line(img, j[hip], j[knee], PANTS, leg)
            line(img, j[knee], j[ankle], PANTS, leg)
        line(img, j[4], j[8], upper_label, limb)
        line(img, j[8], j[12], fore_label, limb)
        cv2.circle(img, _pt(j[12]), hand_r, SKIN, -1, cv2.LINE_8, _SHIFT)
        quad = np.array([_pt(j[3]), _pt(j[4]), _pt(j[6]), _pt(j[5])], np.int32)
        cv2.fillPoly(img, [quad], SHIRT, cv2.LINE_8, _SHIFT)
        line(img, j[0], j[1], SHIRT, torso)
        line(img, j[3], j[4], SHIRT, limb)
        line(img, j[5], j[6], PANTS, leg)
        line(img, j[1], j[5], PANTS, leg)
        line(img, j[1], j[6], PANTS, leg)
        for hip, knee, ankle in ((5, 9, 13),):
            line(img, j[hip], j[knee], PANTS, leg)
            line(img, j[knee], j[ankle], PANTS, leg)
        line(img, j[0], j[2], SKIN, neck)
        cv2.circle(img, _pt(j[2]), head_r, SKIN, -1, cv2.LINE_8, _SHIFT)
        line(img, j[3], j[7], upper_label, limb)
        line(img, j[7], j[11], fore_label, limb)
        cv2.circle(img, _pt(j[11]), hand_r, SKIN, -1, cv2.LINE_8, _SHIFT)
    return labels


# ---------------------------------------------------------------------------------------------
# distractors and the composite


def _bounce(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Reflect positions into [lo, hi] (a triangle wave): shapes bounce off the frame edges."""
    span = max(hi - lo, 1e-6)
    y = np.mod(x - lo, 2 * span)
    return lo + np.where(y > span, 2 * span - y, y)


def draw_distractors(frames: np.ndarray, rng: np.random.Generator, count: int, speed: float) -> None:
    """Draw ``count`` moving shapes (discs, boxes, rotating bars) into float (T, H, W, 3) frames."""
    T, H, W, _ = frames.shape
    t = np.arange(T)
    for _ in range(count):
        kind = rng.integers(3)
        colour = tuple(float(c) for c in random_colour(rng))
        size = rng.uniform(0.05, 0.14) * min(H, W)
        vel = rng.uniform(-speed, speed, size=2)
        x = _bounce(rng.uniform(0, W) + vel[0] * t, 0, W)
        y = _bounce(rng.uniform(0, H) + vel[1] * t, 0, H)
        ang = rng.uniform(0, np.pi) + rng.uniform(-0.25, 0.25) * t
        for k in range(T):
            c = (x[k], y[k])
            if kind == 0:
                cv2.circle(frames[k], _pt(c), int(size * _ONE / 2), colour, -1, cv2.LINE_8, _SHIFT)
            elif kind == 1:
                half = np.array([size / 2, size / 3])
                cv2.rectangle(frames[k], _pt(c - half), _pt(c + half), colour, -1, cv2.LINE_8, _SHIFT)
            else:
                d = 0.8 * size * np.array([np.cos(ang[k]), np.sin(ang[k])])
                cv2.line(frames[k], _pt(c - d), _pt(c + d), colour, max(2, int(size / 5)),
                         cv2.LINE_8, _SHIFT)


def camera_path(rng: np.random.Generator, T: int, amplitude: float) -> np.ndarray:
    """(T, 2) camera offsets in pixels: a slow drift plus a small shake, |offset| <= amplitude."""
    if amplitude <= 0:
        return np.zeros((T, 2))
    drift = np.cumsum(rng.normal(0, 0.25 * amplitude, size=(T, 2)), axis=0) / np.sqrt(max(T, 1))
    shake = rng.normal(0, 0.25 * amplitude, size=(T, 2))
    return np.clip(drift + shake, -amplitude, amplitude)


def crop_background(canvas: np.ndarray, offsets: np.ndarray, shape: tuple[int, int], margin: int) -> np.ndarray:
    """(T, H, W, 3) crops of a larger background canvas at integer camera ``offsets``."""
    H, W = shape
    off = np.rint(offsets).astype(int) + margin
    return np.stack([canvas[oy:oy + H, ox:ox + W] for ox, oy in off])


def composite(bg: np.ndarray, labels: np.ndarray, textures: np.ndarray) -> np.ndarray:
    """Paint the actor's part labels (T, H, W) with ``textures`` (4, H, W, 3) over ``bg``."""
    out = bg.copy()
    for part in (SKIN, SHIRT, PANTS):
        hit = labels == part
        if hit.any():
            out[hit] = np.broadcast_to(textures[part], out.shape)[hit]
    return out


def finish(frames: np.ndarray, rng: np.random.Generator, noise: float, flicker: float) -> np.ndarray:
    """Add sensor noise and per-frame brightness flicker; return uint8 (T, H, W, 3)."""
    T = frames.shape[0]
    gain = 1.0 + rng.uniform(-flicker, flicker, size=(T, 1, 1, 1)).astype(np.float32)
    out = frames * gain + 0.5  # + 0.5: the uint8 cast below truncates, so this rounds
    if noise > 0:
        out += np.float32(noise) * rng.standard_normal(size=frames.shape, dtype=np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


__all__ = ["NUM_PATTERNS", "SKIN", "SHIRT", "PANTS", "style_palette", "background",
           "actor_textures", "draw_puppet", "draw_distractors", "camera_path", "crop_background",
           "composite", "finish"]
