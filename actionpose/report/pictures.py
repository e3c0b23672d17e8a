"""Pictures of data and models for the notebooks: clips with joints and masks, 2-D maps,
first-layer filters."""
from __future__ import annotations

import numpy as np


def draw_skeleton(ax, joints: np.ndarray, confidence: np.ndarray | None = None, *, color="lime",
                  skeleton=None) -> None:
    """Draw one frame's joints (J, 2; 0-based, x = column) and limbs on ``ax``."""
    from actionpose.pose.skeletons import JHMDB15

    skeleton = skeleton or JHMDB15
    ok = np.isfinite(joints).all(axis=1)
    if confidence is not None:
        ok &= confidence > 0.1
    for a, b in skeleton.limbs:
        if ok[a] and ok[b]:
            ax.plot(joints[[a, b], 0], joints[[a, b], 1], color=color, lw=1.5)
    ax.scatter(joints[ok, 0], joints[ok, 1], s=8, color="red", zorder=3)


def show_clip(frames: np.ndarray, *, joints: np.ndarray | None = None, mask: np.ndarray | None = None,
              confidence: np.ndarray | None = None, n: int = 6, title: str = ""):
    """``n`` evenly spaced frames (T, H, W, 3 uint8) with joints (T, J, 2) and mask (T, H, W)."""
    import matplotlib.pyplot as plt

    T = len(frames)
    idx = np.linspace(0, T - 1, min(n, T)).round().astype(int)
    fig, axes = plt.subplots(1, len(idx), figsize=(2.4 * len(idx), 2.2), squeeze=False)
    for ax, t in zip(axes[0], idx):
        ax.imshow(frames[t])
        if mask is not None:
            ax.contour(mask[t] > 0.5, levels=[0.5], colors="yellow", linewidths=0.8)
        if joints is not None:
            draw_skeleton(ax, joints[t], None if confidence is None else confidence[t])
        ax.set_title(f"frame {t + 1}", fontsize=8)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def show_maps(maps: np.ndarray, *, titles: list[str] | None = None, background: np.ndarray | None = None,
              cmap: str = "magma", title: str = ""):
    """A row of 2-D maps (N, h, w), optionally over a background image (H, W, 3)."""
    import matplotlib.pyplot as plt

    N = len(maps)
    fig, axes = plt.subplots(1, N, figsize=(2.2 * N, 2.2), squeeze=False)
    for i, ax in enumerate(axes[0]):
        if background is not None:
            H, W = background.shape[:2]
            ax.imshow(background)
            ax.imshow(maps[i], cmap=cmap, alpha=0.6, extent=(-0.5, W - 0.5, H - 0.5, -0.5))
        else:
            ax.imshow(maps[i], cmap=cmap)
        if titles:
            ax.set_title(titles[i], fontsize=8)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def show_first_layer(weight: np.ndarray, frames: int, *, n_filters: int = 8, title: str = ""):
    """First-layer filters of a stacked-frame stream: rows = filters, columns = frames (RGB)."""
    import matplotlib.pyplot as plt

    w = np.asarray(weight, dtype=np.float32)[:n_filters]  # (O, 3F, k, k)
    O = len(w)
    w = w.reshape(O, frames, -1, w.shape[-2], w.shape[-1])
    fig, axes = plt.subplots(O, frames, figsize=(1.0 * frames, 1.0 * O), squeeze=False)
    for o in range(O):
        scale = np.abs(w[o]).max() + 1e-8
        for f in range(frames):
            img = w[o, f]
            img = np.transpose(img[:3], (1, 2, 0)) if img.shape[0] >= 3 else img[0]
            axes[o, f].imshow(np.clip(0.5 + 0.5 * img / scale, 0, 1), cmap=None if img.ndim == 3 else "gray")
            axes[o, f].axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    return fig
