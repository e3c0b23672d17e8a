"""Clip primitives: frame sampling, crop-box geometry (all modalities moved together), float
conversion, and the decoded-clip cache. The typed steps built on them are :mod:`.transforms`.

Geometry is expressed as a crop box in *fractions* of the frame (top, left, height, width), so
that frames cached at a reduced resolution, masks at native resolution and joints in native
pixels all follow one box exactly. Pixel convention: pixel i covers [i, i + 1), its centre is
i + 0.5 (``align_corners=False``).
"""
from __future__ import annotations

import hashlib
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from actionpose.errors import ConfigError
from actionpose.io import atomic_path
from actionpose.normalization import IMAGENET_MEAN, IMAGENET_STD

SAMPLERS = ("segment", "consecutive")

# --------------------------------------------------------------------------------------------
# sampling


def sample_indices(
    num_available: int,
    num_frames: int,
    *,
    train: bool,
    rng: np.random.Generator | None = None,
    clip: int = 0,
    clips_per_video: int = 1,
    sampler: str = "segment",
) -> np.ndarray:
    """``num_frames`` sorted frame indices in ``[0, num_available)``.

    ``segment`` (TSN): the clip is cut into ``num_frames`` equal segments; training takes a random
    frame from each, evaluation the frame at position ``(clip + 0.5) / clips_per_video`` inside
    each segment. ``consecutive``: ``num_frames`` adjacent frames from a random start (training)
    or from ``clips_per_video`` evenly spaced starts (evaluation). Clips shorter than
    ``num_frames`` repeat frames (each frame about ``num_frames / num_available`` times).
    """
    if num_available < 1:
        raise ValueError(f"a clip needs at least one frame, got {num_available}")
    if sampler not in SAMPLERS:
        raise ConfigError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    if not 0 <= clip < clips_per_video:
        raise ValueError(f"clip {clip} out of range for clips_per_video={clips_per_video}")
    n, f = num_available, num_frames
    if train and rng is None:
        raise ValueError("training sampling needs an rng")
    if n < f:  # stretch: frames repeat, order kept
        return np.floor(np.arange(f) * n / f).astype(np.int64)
    if sampler == "segment":
        starts = np.floor(np.arange(f) * n / f).astype(np.int64)
        ends = np.floor(np.arange(1, f + 1) * n / f).astype(np.int64)  # each segment >= 1 frame
        if train:
            return starts + np.floor(rng.random(f) * (ends - starts)).astype(np.int64)
        offset = (clip + 0.5) / clips_per_video
        return np.minimum(starts + np.floor(offset * (ends - starts)).astype(np.int64), ends - 1)
    if train:
        start = int(rng.integers(0, n - f + 1))
    elif clips_per_video == 1:
        start = (n - f) // 2
    else:
        start = int(round(clip * (n - f) / (clips_per_video - 1)))
    return np.arange(start, start + f, dtype=np.int64)


# --------------------------------------------------------------------------------------------
# geometry


@dataclass(frozen=True)
class CropBox:
    """A crop in fractions of the frame: top, left, height, width in [0, 1]."""

    top: float = 0.0
    left: float = 0.0
    height: float = 1.0
    width: float = 1.0

    def pixels(self, height: int, width: int) -> tuple[int, int, int, int]:
        """Integer (y0, y1, x0, x1) of this box in a ``height`` x ``width`` image (>= 1 px)."""
        y0 = min(int(round(self.top * height)), height - 1)
        x0 = min(int(round(self.left * width)), width - 1)
        y1 = max(min(int(round((self.top + self.height) * height)), height), y0 + 1)
        x1 = max(min(int(round((self.left + self.width) * width)), width), x0 + 1)
        return y0, y1, x0, x1


FULL_FRAME = CropBox()


def random_crop_box(
    rng: np.random.Generator,
    *,
    scale: tuple[float, float] = (0.8, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> CropBox:
    """A random resized crop: area fraction in ``scale``, aspect (relative to the frame's) with
    log-uniform ``ratio``; the box lies inside the frame."""
    if not 0 < scale[0] <= scale[1] <= 1:
        raise ConfigError(f"crop_scale must satisfy 0 < lo <= hi <= 1, got {scale}")
    area = rng.uniform(*scale)
    aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
    w = min(math.sqrt(area * aspect), 1.0)
    h = min(math.sqrt(area / aspect), 1.0)
    return CropBox(rng.uniform(0, 1 - h), rng.uniform(0, 1 - w), h, w)


def resized_crop(x: torch.Tensor, box: CropBox, size: tuple[int, int], *, flip: bool = False) -> torch.Tensor:
    """Crop ``box`` from (N, C, H, W) images and resize to ``size`` (antialiased bilinear).

    uint8 stays uint8 (torch's fast path); float stays float.
    """
    H, W = x.shape[-2:]
    y0, y1, x0, x1 = box.pixels(H, W)
    out = x[..., y0:y1, x0:x1]
    if out.shape[-2:] != tuple(size):
        out = F.interpolate(out, size=tuple(size), mode="bilinear", antialias=True, align_corners=False)
    if flip:
        out = out.flip(-1)
    return out


def transform_joints(
    joints: np.ndarray | torch.Tensor,
    *,
    frame_size: tuple[int, int],
    box: CropBox,
    size: tuple[int, int],
    flip: bool = False,
    flip_permutation: Sequence[int] | None = None,
) -> torch.Tensor:
    """Map (T, J, 2) 0-based joints of a ``frame_size`` frame through ``box`` to a ``size``
    output; a flip mirrors x (x' = W - 1 - x) and reorders joints by ``flip_permutation``."""
    xy = torch.as_tensor(np.asarray(joints, np.float32)).clone()
    (H0, W0), (H, W) = frame_size, size
    xy[..., 0] = ((xy[..., 0] + 0.5) / W0 - box.left) / box.width * W - 0.5
    xy[..., 1] = ((xy[..., 1] + 0.5) / H0 - box.top) / box.height * H - 0.5
    if flip:
        xy[..., 0] = W - 1 - xy[..., 0]
        if flip_permutation is not None:
            xy = xy[:, list(flip_permutation)]
    return xy


def normalize_video(video: torch.Tensor) -> torch.Tensor:
    """(T, 3, H, W) uint8 -> (3, T, H, W) float, ImageNet mean/std."""
    return _normalize_channels_first(video.permute(1, 0, 2, 3))


def _normalize_channels_first(video: torch.Tensor) -> torch.Tensor:
    """(..., 3, T, H, W) uint8 -> float, ImageNet mean/std (0..255 scale folded in)."""
    mean = torch.tensor(IMAGENET_MEAN, device=video.device).view(3, 1, 1, 1) * 255.0
    inv_std = 1.0 / (torch.tensor(IMAGENET_STD, device=video.device).view(3, 1, 1, 1) * 255.0)
    return video.contiguous().float().sub_(mean).mul_(inv_std)


def to_float_inputs(sample: dict, *, normalize: bool = True) -> dict:
    """A sample or a batch with uint8 ``video`` (..., 3, T, H, W) and ``mask`` (..., 1, T, H, W)
    as float: video ImageNet-normalised (or in [0, 1] with ``normalize=False``), mask in [0, 1].
    Float entries and every other key pass through unchanged."""
    out = dict(sample)
    video = out.get("video")
    if isinstance(video, torch.Tensor) and video.dtype == torch.uint8:
        out["video"] = _normalize_channels_first(video) if normalize else video.float() / 255.0
    mask = out.get("mask")
    if isinstance(mask, torch.Tensor) and mask.dtype == torch.uint8:
        out["mask"] = mask.float() / 255.0
    return out


def denormalize_video(video: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`normalize_video`: (3, T, H, W) float -> values in [0, 255]."""
    mean = torch.tensor(IMAGENET_MEAN, device=video.device).view(3, 1, 1, 1) * 255.0
    std = torch.tensor(IMAGENET_STD, device=video.device).view(3, 1, 1, 1) * 255.0
    return video * std + mean


def resize_uint8(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize (T, H, W, C) or (T, H, W) uint8 to ``size`` (antialiased bilinear), uint8."""
    if tuple(x.shape[1:3]) == tuple(size):
        return np.ascontiguousarray(x)
    t = torch.from_numpy(np.ascontiguousarray(x))
    t = t.permute(0, 3, 1, 2) if t.ndim == 4 else t[:, None]
    out = F.interpolate(t, size=tuple(size), mode="bilinear", antialias=True, align_corners=False)
    out = out.permute(0, 2, 3, 1) if x.ndim == 4 else out[:, 0]
    return np.ascontiguousarray(out.numpy())


# --------------------------------------------------------------------------------------------
# cache

CACHE_VERSION = 1


def source_key(paths: Iterable[str | Path], *extra: object) -> str:
    """A hex key from the files' paths, modification times and sizes plus ``extra``."""
    h = hashlib.sha1(f"v{CACHE_VERSION}".encode())
    for p in paths:
        st = os.stat(p)
        h.update(f"{os.path.abspath(p)}|{st.st_mtime_ns}|{st.st_size}\n".encode())
    for e in extra:
        h.update(repr(e).encode())
    return h.hexdigest()[:20]


_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class ClipCache:
    """Decoded arrays as ``.npy`` files under ``folder``.

    An entry is ``<name>.<key>.npy``; a new key for the same name (a changed source, another
    resolution) writes a new entry and removes the stale ones. Writes are atomic, so parallel
    DataLoader workers can fill the cache at the same time. :meth:`get` memory-maps a whole
    entry; :meth:`take` reads only the requested rows (the training path: an entry's header is
    parsed once per process, then each item costs one ``preadv`` per row).
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.hits = 0
        self.misses = 0
        self._headers: dict[Path, tuple[tuple[int, ...], np.dtype, int]] = {}
        self._fresh: set[Path] = set()  # built by _header, not yet read by take

    def path(self, name: str, key: str) -> Path:
        return self.folder / f"{_UNSAFE.sub('_', name)}.{key}.npy"

    def get(self, name: str, key: str, build: Callable[[], np.ndarray]) -> np.ndarray:
        """The cached array for (name, key), built and stored on a miss (read-only memmap)."""
        path = self.path(name, key)
        arr = self._load(path)
        if arr is not None:
            self.hits += 1
            return arr
        self.misses += 1
        return self._store(path, name, build)

    def shape(self, name: str, key: str, build: Callable[[], np.ndarray]) -> tuple[int, ...]:
        """The shape of the cached array for (name, key) (built on a miss)."""
        return self._header(name, key, build)[0]

    def take(self, name: str, key: str, build: Callable[[], np.ndarray],
             indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """``array[indices]`` (along the first axis) of the cached array, reading only those rows."""
        path = self.path(name, key)
        idx = np.asarray(indices, dtype=np.int64)
        for _ in range(2):
            shape, dtype, offset = self._header(name, key, build)
            if idx.size and (idx.min() < 0 or idx.max() >= shape[0]):
                raise IndexError(f"{path}: rows {idx.tolist()} out of range for {shape[0]} rows")
            uniq, inverse = np.unique(idx, return_inverse=True)
            out = np.empty((len(uniq), *shape[1:]), dtype)
            row = out[0].nbytes if len(uniq) else 0
            complete = False
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:  # removed meanwhile: rebuild
                pass
            else:
                try:
                    complete = all(
                        os.preadv(fd, [memoryview(out[j]).cast("B")], offset + int(r) * row) == row
                        for j, r in enumerate(uniq))
                finally:
                    os.close(fd)
            if complete:
                if path in self._fresh:
                    self._fresh.discard(path)  # counted as a miss when built
                else:
                    self.hits += 1
                return out[inverse]
            self._headers.pop(path, None)  # missing or truncated: rebuild it
            path.unlink(missing_ok=True)
        raise OSError(f"{path}: cache entry unreadable right after it was rebuilt")

    def _load(self, path: Path) -> np.ndarray | None:
        if path.is_file():
            try:
                return np.load(path, mmap_mode="r")
            except (ValueError, OSError, EOFError):
                path.unlink(missing_ok=True)  # a damaged entry: rebuild it
        return None

    def _store(self, path: Path, name: str, build: Callable[[], np.ndarray]) -> np.ndarray:
        arr = np.ascontiguousarray(build())
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, arr)
        prefix = f"{_UNSAFE.sub('_', name)}."
        for stale in self.folder.glob(f"{glob_escape(prefix)}*.npy"):
            if stale != path and stale.name[len(prefix):-4].isalnum():
                stale.unlink(missing_ok=True)
        return arr

    def _header(self, name: str, key: str, build: Callable[[], np.ndarray]
                ) -> tuple[tuple[int, ...], np.dtype, int]:
        """(shape, dtype, data offset) of the entry, parsed once per process."""
        path = self.path(name, key)
        header = self._headers.get(path)
        if header is None:
            if self._load(path) is None:  # missing or damaged
                self.misses += 1
                self._store(path, name, build)
                self._fresh.add(path)
            fmt = np.lib.format
            with open(path, "rb") as fh:
                version = fmt.read_magic(fh)
                read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
                shape, fortran_order, dtype = read(fh)
                if fortran_order or dtype.hasobject:
                    raise OSError(f"{path}: cache entry is not a plain C-ordered array")
                header = self._headers[path] = (tuple(shape), np.dtype(dtype), fh.tell())
        return header


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]])", r"[\1]", text)


__all__ = [
    "IMAGENET_MEAN", "IMAGENET_STD", "SAMPLERS", "sample_indices", "CropBox", "FULL_FRAME",
    "random_crop_box", "resized_crop", "transform_joints", "normalize_video", "to_float_inputs",
    "denormalize_video", "resize_uint8", "source_key", "ClipCache",
]
