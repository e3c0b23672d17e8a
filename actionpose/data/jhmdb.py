"""JHMDB's on-disk format: read and write it exactly, and probe what a clip holds cheaply.

Layout under a root::

    Rename_Images/<class>/<video>/00001.png ...       RGB frames
    ReCompress_Videos/<class>/<video>.avi             the same clip as a video
    joint_positions/<class>/<video>/joint_positions.mat   pos_img (2, 15, T): row 0 = x (column),
                                                       row 1 = y (row), 1-based pixels
    puppet_mask/<class>/<video>/puppet_mask.mat       part_mask uint8 (H, W, T)
    splits/<class>_test_split<k>.txt                  "<video>.avi 1|2|0" (train/test/unused)
    splits/JHMDB_{train,test}<k>.txt                  "<video> <class index 1..21>"

Everything here works on one file at a time and raises :class:`DataError` naming the file.
This module is the format's one entry point: the layout (:mod:`.layout`), the split files
(:mod:`.splits`) and the .mat reader (:mod:`.matfile`) are importable from here.
The pose extractor adds an optional ``confidence`` (15, T) array to joint_positions.mat; a NaN
joint is legal only where that confidence is 0 (no person found).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from actionpose.data.layout import (
    FRAMES_DIR, JOINTS_DIR, JOINTS_FILE, MASK_DIR, MASK_FILE, MODALITY_DIRS, NUM_JOINTS, NUM_SPLITS,
    SPLITS_DIR, VIDEO_EXTENSIONS, VIDEOS_DIR, frames_dir, joints_path, mask_path, video_path,
)
from actionpose.data.matfile import loadmat, mat_variables, savemat
from actionpose.data.splits import (
    SplitEntry, folder_classes, ignored_classes, modality_classes, read_split, read_text, split_files,
    split_sources, write_splits,
)
from actionpose.errors import DataError
from actionpose.io import atomic_dir, atomic_path


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
    mat = loadmat(path)
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
        raise DataError(path, f"pos_img must be (2, 15, T), got {pos_img.shape}")
    data: dict = {"pos_img": pos_img}
    data["pos_world"] = pos_img if pos_world is None else np.asarray(pos_world, np.float64)
    if scale is not None:
        data["scale"] = np.asarray(scale, np.float64).reshape(1, -1)
    if viewpoint is not None:
        data["viewpoint"] = np.array([viewpoint])
    if confidence is not None:
        data["confidence"] = np.asarray(confidence, np.float32)
    savemat(path, data)


def read_mask(path: str | Path) -> np.ndarray:
    """Read and validate a puppet_mask.mat: uint8 (H, W, T) with values {0, 1}."""
    path = Path(path)
    mat = loadmat(path)
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
        raise DataError(path, f"part_mask must be (H, W, T), got {mask.shape}")
    savemat(Path(path), {"part_mask": (mask > 0).astype(np.uint8)})


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
        raise DataError(folder, f"frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
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


def write_video(path: str | Path, frames, fps: float = 30.0, *, fourcc: str = "MJPG") -> None:
    """Write uint8 RGB frames ((T, H, W, 3), or any iterable of (H, W, 3)) atomically with OpenCV;
    the container follows ``path``'s suffix (MJPG in .avi by default)."""
    import cv2

    path = Path(path)
    with atomic_path(path) as tmp:
        tmp_video = tmp.with_name(tmp.name + (path.suffix or ".avi"))
        writer = None
        try:
            for img in frames:
                if writer is None:
                    H, W = img.shape[:2]
                    writer = cv2.VideoWriter(str(tmp_video), cv2.VideoWriter_fourcc(*fourcc), fps, (W, H))
                    if not writer.isOpened():
                        raise DataError(path, f"OpenCV cannot open a {fourcc} video writer")
                writer.write(cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2BGR))
            if writer is None:
                raise DataError(path, "no frames to write")
            writer.release()
            tmp_video.replace(tmp)
        finally:
            tmp_video.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# probes: what a clip holds, read as cheaply as possible


@dataclass
class FramesProbe:
    files: list[Path]
    size: tuple[int, int]  # (H, W)

    @property
    def count(self) -> int:
        return len(self.files)


@dataclass
class VideoProbe:
    path: Path
    count: int | None  # the container's frame count (None: unknown)
    size: tuple[int, int]


def _png_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    try:
        with Image.open(path) as img:
            w, h = img.size
    except Exception as exc:
        raise DataError(path, f"unreadable image header (corrupt or not an image): {exc}") from exc
    return int(h), int(w)


_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the empty IEND chunk with its CRC
_JPEG_END = b"\xff\xd9"


def check_image_end(path: Path) -> None:
    """Refuse an image whose file does not end as its format must (a PNG's IEND chunk, a JPEG's
    end-of-image marker): the cheap test for a truncated frame, one small read per file."""
    png = path.suffix.lower() == ".png"
    try:
        with open(path, "rb") as fh:
            fh.seek(max(fh.seek(0, 2) - 16, 0))
            tail = fh.read()
    except OSError as exc:
        raise DataError(path, f"cannot read: {exc.strerror or exc}") from exc
    if png and not tail.endswith(_PNG_END):
        raise DataError(path, "unreadable image: the PNG does not end with its IEND chunk (truncated)")
    if not png and not tail.rstrip(b"\x00").endswith(_JPEG_END):
        raise DataError(path, "unreadable image: the JPEG does not end with its end-of-image "
                              "marker (truncated)")


FRAME_CHECKS = ("ends", "decode_ends", "decode_all")


def probe_frames(root: str | Path, cls: str, video: str, *, check: str = "ends") -> FramesProbe:
    """The clip's PNG/JPG frames: file list and frame size (from the first file's header).

    ``check``: "ends" tests that every file ends as its format must (catches truncated frames
    cheaply); "decode_ends" also decodes the first and last frame; "decode_all" decodes every
    frame. Decoded frames must all have the first frame's size.
    """
    if check not in FRAME_CHECKS:
        raise ValueError(f"check must be one of {FRAME_CHECKS}, got {check!r}")
    files = list_frame_files(frames_dir(root, cls, video))
    size = _png_size(files[0])
    for f in files:
        check_image_end(f)
    decode = {"ends": [], "decode_ends": [files[0], files[-1]], "decode_all": files}[check]
    for f in decode:
        img = read_frame(f)
        if img.shape[:2] != size:
            raise DataError(f, f"frame size {img.shape[:2]} differs from the first frame's {size}")
    return FramesProbe(files, size)


def probe_video(root: str | Path, cls: str, video: str, *, count_frames: bool = False) -> VideoProbe:
    """The clip's video file: frame size from the first frame; the frame count from the
    container (unreliable: JHMDB's avi files often claim more frames than they hold) or, with
    ``count_frames``, by demuxing every frame."""
    import cv2

    path = video_path(root, cls, video)
    if not path.is_file():
        raise DataError(path, "video file not found")
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise DataError(path, "OpenCV cannot open this video (corrupt or unsupported codec)")
        count: int | None = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        ok, img = cap.read()
        if not ok:
            raise DataError(path, "video has no decodable frames")
        size = img.shape[:2]
        if count_frames:
            count = 1
            while cap.grab():
                count += 1
    finally:
        cap.release()
    return VideoProbe(path, count if count and count > 0 else None, size)


def probe_joints(root: str | Path, cls: str, video: str) -> JointsFile:
    """Read the (small) joint file in full: catches truncation, bad shapes and NaN joints."""
    return read_joints(joints_path(root, cls, video))


def probe_mask(root: str | Path, cls: str, video: str) -> tuple[int, int, int]:
    """The puppet mask's shape (H, W, T), from the .mat header only."""
    path = mask_path(root, cls, video)
    variables = mat_variables(path)
    if "part_mask" not in variables:
        raise DataError(path, f"no variable 'part_mask' (found {sorted(variables)})")
    shape, mclass = variables["part_mask"]
    if len(shape) == 2:
        shape = (*shape, 1)
    if len(shape) != 3 or min(shape) < 1:
        raise DataError(path, f"part_mask has shape {tuple(shape)}, expected (H, W, T)")
    if mclass in ("cell", "struct", "object", "char", "sparse", "unknown"):
        raise DataError(path, f"part_mask is a MATLAB {mclass}, expected a numeric (H, W, T) array")
    return tuple(int(s) for s in shape)  # type: ignore[return-value]


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
    "FRAMES_DIR", "VIDEOS_DIR", "JOINTS_DIR", "MASK_DIR", "SPLITS_DIR", "JOINTS_FILE", "MASK_FILE",
    "MODALITY_DIRS", "NUM_JOINTS", "NUM_SPLITS", "VIDEO_EXTENSIONS", "JointsFile", "SplitEntry",
    "loadmat", "savemat", "mat_variables",
    "FramesProbe", "VideoProbe", "FRAME_CHECKS", "check_image_end", "probe_frames", "probe_video",
    "probe_joints", "probe_mask",
    "frames_dir", "video_path", "joints_path", "mask_path",
    "read_joints", "write_joints", "read_mask", "write_mask",
    "list_frame_files", "read_frame", "read_frames", "write_frames", "read_video", "write_video",
    "split_files", "split_sources", "read_text", "folder_classes", "ignored_classes", "modality_classes",
    "read_split", "write_splits", "write_clip",
]
