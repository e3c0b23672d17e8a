"""JHMDB's on-disk format: read and write it exactly (see DESIGN.md).

Layout under a root::

    Rename_Images/<class>/<video>/00001.png ...       RGB frames
    ReCompress_Videos/<class>/<video>.avi             the same clip as a video
    joint_positions/<class>/<video>/joint_positions.mat   pos_img (2, 15, T): row 0 = x (column),
                                                       row 1 = y (row), 1-based pixels
    puppet_mask/<class>/<video>/puppet_mask.mat       part_mask uint8 (H, W, T)
    splits/<class>_test_split<k>.txt                  "<video>.avi 1|2|0" (train/test/unused)
    splits/JHMDB_{train,test}<k>.txt                  "<video> <class index 1..21>"

Everything here works on one file at a time and raises :class:`DataError` naming the file.
The pose extractor adds an optional ``confidence`` (15, T) array to joint_positions.mat; a NaN
joint is legal only where that confidence is 0 (no person found).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from actionpose.errors import DataError
from actionpose.io import atomic_dir, atomic_path

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


# --------------------------------------------------------------------------------------------
# paths


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


# --------------------------------------------------------------------------------------------
# .mat files


def _loadmat(path: Path) -> dict:
    import scipy.io

    if not path.is_file():
        raise DataError(path, "file not found")
    try:
        return scipy.io.loadmat(str(path))
    except Exception as exc:  # scipy raises ValueError, TypeError, OSError... for bad files
        raise DataError(
            path, f"not a readable MATLAB .mat file (truncated or another format): {exc}"
        ) from exc


_MAT_HEADER = b"MATLAB 5.0 MAT-file, written by actionpose".ljust(116, b" ")


def _savemat(path: Path, data: dict) -> None:
    """A MATLAB v5 file with a fixed header: scipy's savemat stamps the time into it, which
    would make the same data give different bytes."""
    from scipy.io.matlab._mio5 import MatFile5Writer

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            # 116 bytes text, 8 bytes subsystem offset, version 0x0100, endian "IM" (little)
            fh.write(_MAT_HEADER + b"\x00" * 8 + (0x0100).to_bytes(2, "little") + b"IM")
            MatFile5Writer(fh, do_compression=True, oned_as="row").put_variables(data, write_header=False)


@dataclass
class JointsFile:
    """Contents of a joint_positions.mat. ``pos_img`` is (2, 15, T), 1-based, row 0 = x."""

    pos_img: np.ndarray
    pos_world: np.ndarray | None = None
    scale: np.ndarray | None = None  # (T,)
    viewpoint: str = ""
    confidence: np.ndarray | None = None  # (15, T) in [0, 1], None = ground truth (all 1)

    @property
    def num_frames(self) -> int:
        return int(self.pos_img.shape[2])

    def joints_xy(self) -> np.ndarray:
        """(T, 15, 2) float32 joints in 0-based pixels, x = column."""
        return (np.transpose(self.pos_img, (2, 1, 0)) - 1.0).astype(np.float32)

    def joint_confidence(self) -> np.ndarray:
        """(T, 15) float32 confidence; ground truth counts as 1 except NaN joints."""
        if self.confidence is not None:
            conf = np.asarray(self.confidence, np.float32).T.copy()
        else:
            conf = np.ones((self.num_frames, NUM_JOINTS), np.float32)
        conf[np.isnan(self.pos_img).any(axis=0).T] = 0.0
        return conf


def read_joints(path: str | Path) -> JointsFile:
    """Read and validate a joint_positions.mat."""
    path = Path(path)
    mat = _loadmat(path)
    if "pos_img" not in mat:
        keys = sorted(k for k in mat if not k.startswith("__"))
        raise DataError(path, f"no variable 'pos_img' (found {keys})")
    pos_img = np.asarray(mat["pos_img"], dtype=np.float64)
    if pos_img.ndim != 3 or pos_img.shape[:2] != (2, NUM_JOINTS) or pos_img.shape[2] < 1:
        raise DataError(path, f"pos_img has shape {pos_img.shape}, expected (2, {NUM_JOINTS}, T)")
    T = pos_img.shape[2]
    pos_world = None
    if "pos_world" in mat:
        pos_world = np.asarray(mat["pos_world"], dtype=np.float64)
        if pos_world.shape != pos_img.shape:
            raise DataError(path, f"pos_world has shape {pos_world.shape}, pos_img {pos_img.shape}")
    scale = None
    if "scale" in mat:
        scale = np.asarray(mat["scale"], dtype=np.float64).reshape(-1)
        if scale.shape[0] != T:
            raise DataError(path, f"scale has {scale.shape[0]} entries for {T} frames")
    viewpoint = ""
    if "viewpoint" in mat:
        vp = mat["viewpoint"]
        viewpoint = str(vp[0]) if getattr(vp, "size", 0) else ""
    confidence = None
    if "confidence" in mat:
        confidence = np.asarray(mat["confidence"], dtype=np.float32)
        if confidence.shape != (NUM_JOINTS, T):
            raise DataError(path, f"confidence has shape {confidence.shape}, expected (15, {T})")
    nan = np.isnan(pos_img).any(axis=0)  # (15, T)
    if nan.any():
        legal = confidence is not None and bool((confidence[nan] == 0).all())
        if not legal:
            frames = sorted(set((np.nonzero(nan)[1] + 1).tolist()))
            raise DataError(path, f"NaN joints in frames {frames[:10]}{'...' if len(frames) > 10 else ''}")
    return JointsFile(pos_img, pos_world, scale, viewpoint, confidence)


def write_joints(
    path: str | Path,
    pos_img: np.ndarray,
    *,
    pos_world: np.ndarray | None = None,
    scale: np.ndarray | None = None,
    viewpoint: str | None = None,
    confidence: np.ndarray | None = None,
) -> None:
    """Write a joint_positions.mat atomically. ``pos_img`` is (2, 15, T), 1-based pixels."""
    path = Path(path)
    pos_img = np.asarray(pos_img, dtype=np.float64)
    if pos_img.ndim != 3 or pos_img.shape[:2] != (2, NUM_JOINTS):
        raise ValueError(f"{path}: pos_img must be (2, 15, T), got {pos_img.shape}")
    data: dict = {"pos_img": pos_img}
    data["pos_world"] = pos_img if pos_world is None else np.asarray(pos_world, np.float64)
    if scale is not None:
        data["scale"] = np.asarray(scale, np.float64).reshape(1, -1)
    if viewpoint is not None:
        data["viewpoint"] = np.array([viewpoint])
    if confidence is not None:
        data["confidence"] = np.asarray(confidence, np.float32)
    _savemat(path, data)


def read_mask(path: str | Path) -> np.ndarray:
    """Read and validate a puppet_mask.mat: uint8 (H, W, T) with values {0, 1}."""
    path = Path(path)
    mat = _loadmat(path)
    if "part_mask" not in mat:
        keys = sorted(k for k in mat if not k.startswith("__"))
        raise DataError(path, f"no variable 'part_mask' (found {keys})")
    mask = np.asarray(mat["part_mask"])
    if mask.ndim == 2:  # a one-frame clip saved by MATLAB loses its trailing axis
        mask = mask[:, :, None]
    if mask.ndim != 3 or min(mask.shape) < 1:
        raise DataError(path, f"part_mask has shape {mask.shape}, expected (H, W, T)")
    if mask.dtype != np.uint8:
        if not np.isfinite(mask).all():
            raise DataError(path, "part_mask has non-finite values")
        mask = mask.astype(np.uint8)
    if mask.max(initial=0) > 1:
        # JHMDB masks are {0, 1}; some tools write {0, 255}
        mask = (mask > 0).astype(np.uint8)
    return mask


def write_mask(path: str | Path, mask: np.ndarray) -> None:
    """Write a puppet_mask.mat atomically; ``mask`` is (H, W, T) {0, 1}."""
    mask = np.asarray(mask)
    if mask.ndim != 3:
        raise ValueError(f"{path}: part_mask must be (H, W, T), got {mask.shape}")
    _savemat(Path(path), {"part_mask": (mask > 0).astype(np.uint8)})


# --------------------------------------------------------------------------------------------
# frames and videos


def list_frame_files(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, "frame folder not found")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    if not files:
        raise DataError(folder, "frame folder holds no .png/.jpg frames")
    return files


def read_frame(path: str | Path) -> np.ndarray:
    """One RGB frame, uint8 (H, W, 3)."""
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DataError(path, "unreadable image (corrupt or not an image)")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_frames(folder: str | Path, indices: list[int] | None = None) -> np.ndarray:
    """RGB frames of a clip folder, uint8 (T, H, W, 3); ``indices`` picks 0-based frames."""
    files = list_frame_files(folder)
    if indices is not None:
        files = [files[i] for i in indices]
    frames = [read_frame(f) for f in files]
    shape = frames[0].shape
    for f, img in zip(files, frames):
        if img.shape != shape:
            raise DataError(f, f"frame size {img.shape[:2]} differs from the clip's {shape[:2]}")
    return np.stack(frames)


def write_frames(folder: str | Path, frames: np.ndarray) -> None:
    """Write (T, H, W, 3) uint8 RGB frames as 00001.png ... atomically (whole folder)."""
    import cv2

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"{folder}: frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    with atomic_dir(folder) as tmp:
        for i, img in enumerate(frames, start=1):
            if not cv2.imwrite(str(tmp / f"{i:05d}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR)):
                raise DataError(tmp / f"{i:05d}.png", "could not write frame")


def read_video(path: str | Path, max_frames: int | None = None) -> np.ndarray:
    """Decode a video with OpenCV into uint8 RGB (T, H, W, 3)."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise DataError(path, "video file not found")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise DataError(path, "OpenCV cannot open this video (corrupt or unsupported codec)")
    frames = []
    try:
        while max_frames is None or len(frames) < max_frames:
            ok, img = cap.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
    finally:
        cap.release()
    if not frames:
        raise DataError(path, "video has no decodable frames")
    return np.stack(frames)


def write_video(path: str | Path, frames: np.ndarray, fps: float = 30.0) -> None:
    """Write (T, H, W, 3) uint8 RGB frames as an MJPG .avi atomically."""
    import cv2

    path = Path(path)
    T, H, W, _ = frames.shape
    with atomic_path(path) as tmp:
        tmp_avi = tmp.with_suffix(".avi")
        writer = cv2.VideoWriter(str(tmp_avi), cv2.VideoWriter_fourcc(*"MJPG"), fps, (W, H))
        if not writer.isOpened():
            raise DataError(path, "OpenCV cannot open a video writer")
        for img in frames:
            writer.write(cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2BGR))
        writer.release()
        tmp_avi.replace(tmp)


# --------------------------------------------------------------------------------------------
# splits

_OFFICIAL = re.compile(r"^(?P<cls>.+)_test_split(?P<k>\d+)\.txt$")
_LISTS = re.compile(r"^JHMDB_(?P<subset>train|test)(?P<k>\d+)\.txt$")


@dataclass(frozen=True)
class SplitEntry:
    video: str
    cls: str
    subset: str  # "train" | "test"


def split_files(root: str | Path) -> dict[str, list[Path]]:
    """The split files present under ``root/splits``, by format ("official", "lists")."""
    folder = Path(root) / SPLITS_DIR
    found: dict[str, list[Path]] = {"official": [], "lists": []}
    if folder.is_dir():
        for p in sorted(folder.iterdir()):
            if _OFFICIAL.match(p.name):
                found["official"].append(p)
            elif _LISTS.match(p.name):
                found["lists"].append(p)
    return found


def folder_classes(root: str | Path) -> list[str]:
    """Sorted names of the class folders under any modality folder (hidden ones skipped)."""
    root = Path(root)
    names: set[str] = set()
    for sub in MODALITY_DIRS.values():
        d = root / sub
        if d.is_dir():
            names.update(p.name for p in d.iterdir() if p.is_dir() and not p.name.startswith("."))
    return sorted(names)


def modality_classes(root: str | Path) -> list[str]:
    """Sorted class names: those of the official ``<class>_test_split<k>.txt`` files when the
    tree has them (a stray folder then cannot shift the class indices), else the class folders."""
    official = split_files(root)["official"]
    if official:
        return sorted({_OFFICIAL.match(p.name).group("cls") for p in official})
    return folder_classes(root)


def read_split(root: str | Path, split: int = 1, classes: list[str] | None = None) -> list[SplitEntry]:
    """Official split ``split`` (1..3) as a list of (video, class, subset), unused clips dropped.

    Reads ``<class>_test_split<k>.txt`` if present, else ``JHMDB_{train,test}<k>.txt`` whose class
    index is the 1-based position in ``classes`` (default: the sorted class folders).
    """
    root = Path(root)
    if split not in (1, 2, 3):
        raise DataError(root / SPLITS_DIR, f"split must be 1, 2 or 3, got {split!r}")
    files = split_files(root)
    official = [p for p in files["official"] if int(_OFFICIAL.match(p.name).group("k")) == split]
    entries: list[SplitEntry] = []
    if official:
        for p in official:
            cls = _OFFICIAL.match(p.name).group("cls")
            for lineno, line in enumerate(p.read_text().splitlines(), start=1):
                if not line.strip():
                    continue
                parts = line.split()
                if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                    raise DataError(p, f"line {lineno}: expected '<video>.avi 0|1|2', got {line!r}")
                video = Path(parts[0]).stem if parts[0].lower().endswith(VIDEO_EXTENSIONS) else parts[0]
                if parts[1] != "0":
                    entries.append(SplitEntry(video, cls, "train" if parts[1] == "1" else "test"))
        return entries
    lists = {
        _LISTS.match(p.name).group("subset"): p
        for p in files["lists"]
        if int(_LISTS.match(p.name).group("k")) == split
    }
    if not lists:
        raise DataError(
            root / SPLITS_DIR,
            f"no split {split} files (expected <class>_test_split{split}.txt or "
            f"JHMDB_train{split}.txt / JHMDB_test{split}.txt)",
        )
    if classes is None:
        classes = [c for c in modality_classes(root)]
    home = _video_folders(root)
    for subset in ("train", "test"):
        if subset not in lists:
            raise DataError(root / SPLITS_DIR / f"JHMDB_{subset}{split}.txt", "split file missing")
        p = lists[subset]
        for lineno, line in enumerate(p.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 2 or not parts[1].isdigit():
                raise DataError(p, f"line {lineno}: expected '<video> <class index>', got {line!r}")
            idx = int(parts[1])
            if not 1 <= idx <= len(classes):
                raise DataError(
                    p, f"line {lineno}: unknown class index {idx} (the tree has {len(classes)} classes)"
                )
            video, cls = Path(parts[0]).stem, classes[idx - 1]
            if video in home and cls not in home[video]:
                raise DataError(
                    p, f"line {lineno}: class index {idx} means {cls!r} (the {len(classes)} class folders "
                       f"sorted), but {video!r} lies under {sorted(home[video])}; is there a stray folder "
                       "under a modality folder?")
            entries.append(SplitEntry(video, cls, subset))
    return entries


def _video_folders(root: Path) -> dict[str, set[str]]:
    """video name -> the class folders it lies under, over every modality folder."""
    found: dict[str, set[str]] = {}
    for sub in MODALITY_DIRS.values():
        base = root / sub
        if not base.is_dir():
            continue
        for cdir in base.iterdir():
            if cdir.is_dir() and not cdir.name.startswith("."):
                for entry in cdir.iterdir():
                    if not entry.name.startswith("."):
                        found.setdefault(entry.stem if entry.is_file() else entry.name, set()).add(cdir.name)
    return found


def write_splits(
    root: str | Path,
    assignments: list[tuple[str, str, tuple[int, int, int]]],
    *,
    formats: tuple[str, ...] = ("official", "lists"),
) -> None:
    """Write the three splits. ``assignments``: (video, class, (s1, s2, s3)), s in {0, 1, 2}.

    ``formats``: "official" (``<class>_test_split<k>.txt``), "lists" (``JHMDB_{train,test}<k>.txt``).
    """
    folder = Path(root) / SPLITS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    classes = sorted({cls for _, cls, _ in assignments})
    for k in range(1, NUM_SPLITS + 1):
        if "official" in formats:
            for cls in classes:
                lines = [f"{v}.avi {s[k - 1]}" for v, c, s in assignments if c == cls]
                with atomic_path(folder / f"{cls}_test_split{k}.txt") as tmp:
                    tmp.write_text("\n".join(lines) + "\n")
        if "lists" in formats:
            for subset, code in (("train", 1), ("test", 2)):
                lines = [
                    f"{v} {classes.index(c) + 1}" for v, c, s in assignments if s[k - 1] == code
                ]
                with atomic_path(folder / f"JHMDB_{subset}{k}.txt") as tmp:
                    tmp.write_text("\n".join(lines) + "\n")


def write_clip(
    root: str | Path,
    cls: str,
    video: str,
    *,
    frames: np.ndarray | None = None,
    pos_img: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    video_file: bool = False,
    fps: float = 30.0,
    **joint_fields,
) -> None:
    """Write whichever modalities are given for one clip (each file atomically)."""
    if frames is not None:
        write_frames(frames_dir(root, cls, video), frames)
        if video_file:
            write_video(Path(root) / VIDEOS_DIR / cls / f"{video}.avi", frames, fps=fps)
    if pos_img is not None:
        write_joints(joints_path(root, cls, video), pos_img, **joint_fields)
    if mask is not None:
        write_mask(mask_path(root, cls, video), mask)


__all__ = [
    "FRAMES_DIR", "VIDEOS_DIR", "JOINTS_DIR", "MASK_DIR", "SPLITS_DIR", "MODALITY_DIRS",
    "NUM_JOINTS", "VIDEO_EXTENSIONS", "JointsFile", "SplitEntry",
    "frames_dir", "video_path", "joints_path", "mask_path",
    "read_joints", "write_joints", "read_mask", "write_mask",
    "list_frame_files", "read_frame", "read_frames", "write_frames", "read_video", "write_video",
    "split_files", "folder_classes", "modality_classes", "read_split", "write_splits", "write_clip",
]
