"""Data pipeline speed: decoded-clip cache vs decoding PNGs, and clips/s through a DataLoader."""
from __future__ import annotations

import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import measurement, median_seconds


def write_tree(root: Path, *, clips: int, frames: int, height: int, width: int, seed: int = 0) -> None:
    """A JHMDB-format tree of smooth random clips (frames, joints, masks) and its splits."""
    import cv2

    from actionpose.data import jhmdb as J

    rng = np.random.default_rng(seed)
    assignments = []
    for i in range(clips):
        cls = f"class{i % 4}"
        base = rng.integers(0, 255, (frames, height // 8, width // 8, 3), dtype=np.uint8)
        video = np.stack([cv2.resize(b, (width, height), interpolation=cv2.INTER_CUBIC) for b in base])
        video = np.clip(video.astype(np.int16) + rng.integers(-8, 8, video.shape), 0, 255).astype(np.uint8)
        pos = np.stack([rng.uniform(1, width, (15, frames)), rng.uniform(1, height, (15, frames))])
        mask = np.zeros((height, width, frames), np.uint8)
        mask[height // 4: 3 * height // 4, width // 3: 2 * width // 3] = 1
        J.write_clip(root, cls, f"v{i:03d}", frames=video, pos_img=pos, mask=mask)
        assignments.append((f"v{i:03d}", cls, (1, 1, 1)))
    J.write_splits(root, assignments, formats=("lists",))


def _epoch(ds) -> None:
    for i in range(len(ds)):
        ds[i]


def _cache_rows(root: Path, label: str, cache_dir: Path, repeats: int, *, judge: bool = True,
                **kw) -> list[dict]:
    """Clips/s of one eval epoch without cache, filling the cache, and from the cache.

    ``judge``: compare with the >= 5x target (not in smoke mode, whose tiny clips decode fast).
    """
    from actionpose.data.dataset import JHMDB

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = JHMDB(root, **kw)
        cached = JHMDB(root, cache_dir=cache_dir, **kw)
    n = len(plain)
    t0 = time.perf_counter()
    _epoch(cached)  # first epoch: decodes and writes the cache
    cold = time.perf_counter() - t0
    t_plain = median_seconds(lambda: _epoch(plain), repeats=repeats, warmup=0)
    t_cached = median_seconds(lambda: _epoch(cached), repeats=repeats, warmup=0)
    ratio = t_plain / t_cached
    desc = f"{kw['num_frames']}x{kw['size'][0]}x{kw['size'][1]}, {'+'.join(kw['modalities'])}"
    desc += ", train transforms" if kw.get("train") else ", eval"
    return [
        measurement(f"data: {label} uncached clips/s ({desc})", n / t_plain, "clips/s"),
        measurement(f"data: {label} cache-filling epoch clips/s", n / cold, "clips/s"),
        measurement(f"data: {label} cached clips/s", n / t_cached, "clips/s", baseline=n / t_plain,
                    ratio=ratio, target=">= 5x uncached" if judge else None,
                    met=ratio >= 5 if judge else None),
    ]


def run(smoke: bool, root: str | Path | None = None) -> list[dict]:
    """Cached vs uncached clip loading and DataLoader throughput (tmp tree unless ``root``)."""
    rows: list[dict] = []
    threads = torch.get_num_threads()
    # per-clip loading runs single-threaded, as inside a DataLoader worker (torch sets 1 there);
    # intra-op threads on tensors this small cost more than they save on a shared 2-core box
    torch.set_num_threads(1)
    try:
        rows += _run(smoke, root)
    finally:
        torch.set_num_threads(threads)
    return rows


def _run(smoke: bool, root: str | Path | None) -> list[dict]:
    from torch.utils.data import DataLoader

    from actionpose.data.dataset import JHMDB
    from actionpose.paths import shared_jhmdb

    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if root is None:
            root = tmp / "tree"
            clips, frames, hw = (4, 10, (60, 80)) if smoke else (20, 30, (120, 160))
            write_tree(root, clips=clips, frames=frames, height=hw[0], width=hw[1])
        kw = dict(split=1, subset="train", train=False, modalities=("frames", "joints", "mask"),
                  num_frames=16, size=(112, 112))
        rows += _cache_rows(Path(root), "synthetic" if root == tmp / "tree" else str(root),
                            tmp / "cache", 1 if smoke else 3, judge=not smoke, **kw)

        # training reads (random crops from a 1.25x cache, flips): no target, for the record
        rows += _cache_rows(Path(root), "train-mode", tmp / "cache_train", 1 if smoke else 3,
                            judge=False, **{**kw, "train": True})

        real = shared_jhmdb()
        if real is not None and not smoke:  # the one complete real clip: 40 PNGs of 320x240
            rows += _cache_rows(real, "real JHMDB clip x8", tmp / "cache_real", 5, skip_bad=True,
                                **{**kw, "clips_per_video": 8})

        train_kw = {**kw, "train": True}
        ds = JHMDB(root, cache_dir=tmp / "cache", **train_kw)
        _epoch(ds)
        workers = 2
        loader = DataLoader(ds, batch_size=4, shuffle=True, num_workers=workers,
                            persistent_workers=True, generator=torch.Generator().manual_seed(0))
        epochs = 1 if smoke else 3
        for _ in loader:  # start the workers
            break
        t0 = time.perf_counter()
        for _ in range(epochs):
            for _ in loader:
                pass
        dt = time.perf_counter() - t0
        rows.append(measurement(
            f"data: DataLoader {workers} workers, cached, train transforms, batch 4", epochs * len(ds) / dt,
            "clips/s", workers=workers, epochs=epochs, clips=len(ds)))
        del loader
    return rows
