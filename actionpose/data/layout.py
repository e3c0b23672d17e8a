"""Where each part of a JHMDB-format tree lives (the layout is drawn in :mod:`.jhmdb`)."""
from __future__ import annotations

from pathlib import Path

FRAMES_DIR = "Rename_Images"
VIDEOS_DIR = "ReCompress_Videos"
JOINTS_DIR = "joint_positions"
MASK_DIR = "puppet_mask"
SPLITS_DIR = "splits"
JOINTS_FILE = "joint_positions.mat"
MASK_FILE = "puppet_mask.mat"
NUM_JOINTS = 15
NUM_SPLITS = 3
VIDEO_EXTENSIONS = (".avi", ".mp4", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".m4v")

# modality name -> folder under the root
MODALITY_DIRS = {"frames": FRAMES_DIR, "video": VIDEOS_DIR, "joints": JOINTS_DIR, "mask": MASK_DIR}


def frames_dir(root: str | Path, cls: str, video: str) -> Path:
    return Path(root) / FRAMES_DIR / cls / video


def video_path(root: str | Path, cls: str, video: str) -> Path:
    """The clip's video file; ``.avi`` unless another supported extension exists."""
    base = Path(root) / VIDEOS_DIR / cls
    for ext in VIDEO_EXTENSIONS:
        candidate = base / f"{video}{ext}"
        if candidate.exists():
            return candidate
    return base / f"{video}.avi"


def joints_path(root: str | Path, cls: str, video: str) -> Path:
    return Path(root) / JOINTS_DIR / cls / video / JOINTS_FILE


def mask_path(root: str | Path, cls: str, video: str) -> Path:
    return Path(root) / MASK_DIR / cls / video / MASK_FILE


__all__ = [
    "FRAMES_DIR", "VIDEOS_DIR", "JOINTS_DIR", "MASK_DIR", "SPLITS_DIR", "JOINTS_FILE", "MASK_FILE",
    "NUM_JOINTS", "NUM_SPLITS", "VIDEO_EXTENSIONS", "MODALITY_DIRS",
    "frames_dir", "video_path", "joints_path", "mask_path",
]
