"""What to extract: the clips under an input path, and reading one clip's frames.

INPUT is one of
- a video file (class ``unlabeled``),
- a folder of videos: videos in class sub-folders take the sub-folder as label (as in HMDB51 or
  UCF101), videos directly in the folder get class ``unlabeled``,
- a folder of frames (.png/.jpg, no videos): one clip named after the folder, class ``unlabeled``,
- a JHMDB-format tree (a folder with ``Rename_Images/<class>/<video>/`` frame folders, e.g. an
  embedded world): one clip per frame folder, its class the tree's (:func:`is_frames_tree`).

Files beside the videos that are not videos (stills, notes, ...) are skipped with the reason: a
still is not a clip (put it in a folder of its own to extract it as a one-frame clip).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from actionpose.data import jhmdb
from actionpose.errors import DataError

__all__ = ["ClipSource", "UNLABELED", "find_clips", "is_frames_tree", "read_source", "resize", "header_frames"]

UNLABELED = "unlabeled"
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")


@dataclass(frozen=True)
class ClipSource:
    """One clip to extract: a video file, or a folder of frames (``kind`` "video" | "frames")."""

    path: Path
    cls: str
    video: str
    kind: str


def _is_video(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in jhmdb.VIDEO_EXTENSIONS


def _is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def is_frames_tree(path: str | Path) -> bool:
    """True for a JHMDB-format tree: a folder holding a ``Rename_Images`` folder of frames."""
    return (Path(path) / jhmdb.FRAMES_DIR).is_dir()


def _tree_clips(root: Path) -> tuple[list[ClipSource], list[tuple[str, str]]]:
    clips, skipped = [], []
    for cls_dir in _visible(root / jhmdb.FRAMES_DIR):
        if not cls_dir.is_dir():
            skipped.append((str(cls_dir), "not a class folder"))
            continue
        for clip in _visible(cls_dir):
            if clip.is_dir() and any(_is_image(q) for q in clip.iterdir()):
                clips.append(ClipSource(clip, cls_dir.name, clip.name, "frames"))
            else:
                skipped.append((str(clip), "not a folder of frames"))
    if not clips:
        raise DataError(root / jhmdb.FRAMES_DIR, "no frame folders (<class>/<video>/00001.png ...)")
    return clips, skipped


def find_clips(input_path: str | Path) -> tuple[list[ClipSource], list[tuple[str, str]]]:
    """The clips under INPUT and the entries skipped with a reason [(path, reason)]."""
    path = Path(input_path)
    if not path.exists():
        raise DataError(path, "input not found (expected a video file, a folder of videos or of "
                        "frames, or a JHMDB-format tree)")
    skipped: list[tuple[str, str]] = []
    if path.is_dir() and is_frames_tree(path):
        return _tree_clips(path)
    if path.is_file():
        if _is_video(path):
            return [ClipSource(path, UNLABELED, path.stem, "video")], skipped
        raise DataError(
            path, f"unsupported file type {path.suffix!r}; videos must be one of {', '.join(jhmdb.VIDEO_EXTENSIONS)}"
        )
    entries = _visible(path)
    has_videos = any(_is_video(p) for p in entries) or any(
        p.is_dir() and any(_is_video(q) for q in _visible(p)) for p in entries
    )
    if not has_videos:
        if any(_is_image(p) for p in entries):
            return [ClipSource(path, UNLABELED, path.name, "frames")], skipped
        raise DataError(
            path,
            f"no videos ({', '.join(jhmdb.VIDEO_EXTENSIONS)}) in the folder or its class "
            "sub-folders, and no frames (.png/.jpg)",
        )
    clips: list[ClipSource] = []
    seen: set[tuple[str, str]] = set()

    def add(p: Path, cls: str) -> None:
        if _is_video(p):
            if (cls, p.stem) in seen:
                skipped.append((str(p), f"another video of class {cls!r} is already named {p.stem!r}"))
            else:
                seen.add((cls, p.stem))
                clips.append(ClipSource(p, cls, p.stem, "video"))
        elif _is_image(p):
            skipped.append((str(p), "a still image, not a clip (put stills in a folder of their own to extract them as frames)"))
        elif p.is_file():
            skipped.append((str(p), f"unsupported file type {p.suffix or '(none)'!r}"))

    for p in entries:
        if p.is_dir():
            inner = _visible(p)
            if not any(_is_video(q) for q in inner):
                skipped.append((str(p), "folder holds no videos"))
                continue
            for q in inner:
                if q.is_dir():
                    skipped.append((str(q), "nested folder inside a class folder"))
                else:
                    add(q, p.name)
        else:
            add(p, UNLABELED)
    return clips, skipped


def header_frames(path: str | Path) -> int | None:
    """The frame count a video's header claims (None when the container does not say)."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
    finally:
        cap.release()
    return n if n > 0 else None


def read_source(src: ClipSource, max_frames: int | None) -> np.ndarray:
    """The clip's RGB frames uint8 (T, H, W, 3), at most ``max_frames``."""
    if src.kind == "frames":
        n = len(jhmdb.list_frame_files(src.path))
        return jhmdb.read_frames(src.path, None if max_frames is None else list(range(min(n, max_frames))))
    return jhmdb.read_video(src.path, max_frames=max_frames)


def resize(frames: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Frames resized to ``size`` (H, W); area interpolation when shrinking."""
    if size is None or tuple(frames.shape[1:3]) == tuple(size):
        return frames
    import cv2

    h, w = size
    interp = cv2.INTER_AREA if h * w < frames.shape[1] * frames.shape[2] else cv2.INTER_LINEAR
    return np.stack([cv2.resize(f, (w, h), interpolation=interp) for f in frames])
