"""Validate a JHMDB-format tree: cheap per-file probes (shared with the dataset) and
``actionpose data check ROOT [--json]``.

The probes read as little as they can: .mat variable headers without decompressing the data
(plus a size check that catches truncated files), PNG headers, the video container's header.
Errors that only show when the data is decoded (a corrupt compressed block, a broken PNG in the
middle of a clip) surface later, as :class:`DataError` naming the file, when the clip is read.
"""
from __future__ import annotations

import json
import statistics
import struct
import sys
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from actionpose.data import jhmdb as J
from actionpose.errors import DataError

# --------------------------------------------------------------------------------------------
# .mat headers

_MAT_CLASSES = {
    1: "cell", 2: "struct", 3: "object", 4: "char", 5: "sparse", 6: "double", 7: "single",
    8: "int8", 9: "uint8", 10: "int16", 11: "uint16", 12: "int32", 13: "uint32", 14: "int64",
    15: "uint64",
}
_MI_MATRIX, _MI_COMPRESSED = 14, 15


def _subelement(body: bytes, off: int, endian: str) -> tuple[int, bytes, int]:
    """(mdtype, data, next offset) of the data element at ``off`` (small or full format)."""
    if off + 8 > len(body):
        raise ValueError("element header past the end of the data read")
    mdtype, nbytes = struct.unpack(endian + "II", body[off:off + 8])
    if mdtype >> 16:  # small data element: 2-byte size, 2-byte type, data in the next 4 bytes
        n = mdtype >> 16
        return mdtype & 0xFFFF, body[off + 4:off + 4 + n], off + 8
    data = body[off + 8:off + 8 + nbytes]
    if len(data) < nbytes:
        raise ValueError("element data past the end of the data read")
    return mdtype, data, off + 8 + ((nbytes + 7) // 8) * 8


def _matrix_header(body: bytes, endian: str) -> tuple[str, tuple[int, ...], str]:
    """Name, shape and class of a miMATRIX element body (after its own tag)."""
    _, flags, off = _subelement(body, 0, endian)
    mclass = _MAT_CLASSES.get(struct.unpack(endian + "I", flags[:4])[0] & 0xFF, "unknown")
    _, dims, off = _subelement(body, off, endian)
    shape = struct.unpack(endian + f"{len(dims) // 4}i", dims)
    _, name, _ = _subelement(body, off, endian)
    return name.decode("latin-1"), tuple(int(d) for d in shape), mclass


def mat_variables(path: str | Path) -> dict[str, tuple[tuple[int, ...], str]]:
    """Variables of a MATLAB .mat file as ``{name: (shape, class)}``, read from headers only.

    Raises :class:`DataError` for a missing, truncated, non-.mat or v7.3 (HDF5) file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(128)
        if not head.startswith(b"MATLAB"):
            return _whosmat_v4(path)
        if len(head) < 128:
            raise DataError(path, f"truncated .mat file ({size} bytes, the header alone needs 128)")
        if head.startswith(b"MATLAB 7.3"):
            raise DataError(path, "MATLAB v7.3 (HDF5) .mat files are not supported; save with -v7")
        endian = {b"IM": "<", b"MI": ">"}.get(head[126:128])
        if endian is None:
            raise DataError(path, "not a MATLAB v5 .mat file (bad endian indicator)")
        variables: dict[str, tuple[tuple[int, ...], str]] = {}
        pos = 128
        while pos < size:
            fh.seek(pos)
            tag = fh.read(8)
            if len(tag) < 8:
                raise DataError(path, f"truncated .mat file: {size - pos} stray bytes at offset {pos}")
            mdtype, nbytes = struct.unpack(endian + "II", tag)
            if mdtype >> 16:
                pos += 8
                continue
            end = pos + 8 + nbytes
            if end > size:
                raise DataError(
                    path, f"truncated .mat file: a variable needs {end} bytes, the file has {size}"
                )
            try:
                if mdtype == _MI_COMPRESSED:
                    inflated = zlib.decompressobj().decompress(fh.read(min(nbytes, 4096)), 4096)
                    inner, inner_n = struct.unpack(endian + "II", inflated[:8])
                    if inner != _MI_MATRIX:
                        raise ValueError(f"compressed element holds type {inner}, not a matrix")
                    name, shape, mclass = _matrix_header(inflated[8:], endian)
                elif mdtype == _MI_MATRIX:
                    name, shape, mclass = _matrix_header(fh.read(min(nbytes, 4096)), endian)
                else:
                    pos = end
                    continue
            except (ValueError, struct.error, zlib.error) as exc:
                raise DataError(path, f"corrupt .mat variable header at offset {pos}: {exc}") from exc
            variables[name] = (shape, mclass)
            pos = end
    return variables


def _whosmat_v4(path: Path) -> dict[str, tuple[tuple[int, ...], str]]:
    import scipy.io

    try:
        return {name: (tuple(shape), mclass) for name, shape, mclass in scipy.io.whosmat(str(path))}
    except Exception as exc:
        raise DataError(path, f"not a MATLAB .mat file: {exc}") from exc


# --------------------------------------------------------------------------------------------
# per-modality probes


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


def probe_frames(root: str | Path, cls: str, video: str, *, decode_ends: bool = False) -> FramesProbe:
    """The clip's PNG/JPG frames: file list and frame size (from the first file's header).

    ``decode_ends`` decodes the first and last frame too and checks they have the same size.
    """
    files = J.list_frame_files(J.frames_dir(root, cls, video))
    size = _png_size(files[0])
    if decode_ends:
        for f in (files[0], files[-1]):
            img = J.read_frame(f)
            if img.shape[:2] != size:
                raise DataError(f, f"frame size {img.shape[:2]} differs from the first frame's {size}")
    return FramesProbe(files, size)


def probe_video(root: str | Path, cls: str, video: str, *, count_frames: bool = False) -> VideoProbe:
    """The clip's video file: frame size from the first frame; the frame count from the
    container (unreliable: JHMDB's avi files often claim more frames than they hold) or, with
    ``count_frames``, by demuxing every frame."""
    import cv2

    path = J.video_path(root, cls, video)
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


def probe_joints(root: str | Path, cls: str, video: str) -> J.JointsFile:
    """Read the (small) joint file in full: catches truncation, bad shapes and NaN joints."""
    return J.read_joints(J.joints_path(root, cls, video))


def probe_mask(root: str | Path, cls: str, video: str) -> tuple[int, int, int]:
    """The puppet mask's shape (H, W, T), from the .mat header only."""
    path = J.mask_path(root, cls, video)
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


# --------------------------------------------------------------------------------------------
# the whole tree


def tree_clips(root: str | Path) -> dict[str, dict[tuple[str, str], bool]]:
    """Clips present per modality: ``{modality: {(class, video): True}}``."""
    root = Path(root)
    found: dict[str, dict[tuple[str, str], bool]] = {m: {} for m in ("frames", "video", "joints", "mask")}
    for modality, sub in J.MODALITY_DIRS.items():
        base = root / sub
        if not base.is_dir():
            continue
        for cdir in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
            for entry in sorted(cdir.iterdir()):
                if entry.name.startswith("."):
                    continue
                if modality == "video":
                    if entry.is_file() and entry.suffix.lower() in J.VIDEO_EXTENSIONS:
                        found[modality][(cdir.name, entry.stem)] = True
                elif entry.is_dir():
                    found[modality][(cdir.name, entry.name)] = True
    return found


def _stats(values: list[int]) -> dict:
    if not values:
        return {}
    return {"clips": len(values), "min": min(values), "max": max(values),
            "mean": round(statistics.fmean(values), 2), "median": statistics.median(values)}


def _split_file(root: Path, split: int, fmt: str, cls: str, subset: str) -> Path:
    if fmt == "official":
        return root / J.SPLITS_DIR / f"{cls}_test_split{split}.txt"
    return root / J.SPLITS_DIR / f"JHMDB_{subset}{split}.txt"


def check_tree(root: str | Path, *, deep: bool = False) -> dict:
    """Validate a JHMDB-format tree; returns a JSON-able report.

    Keys: root, classes, clips, modalities (clips per modality), splits (per split: format,
    train/test counts, per-class counts), frame_counts (stats per modality), problems
    ([{path, problem, severity}]), errors, warnings. ``deep`` decodes every mask in full
    (slower; the default reads headers and sizes, and the first/last frame of each clip).
    """
    root = Path(root)
    problems: list[dict] = []

    def problem(path, text: str, severity: str = "error") -> None:
        problems.append({"path": str(path), "problem": text, "severity": severity})

    report: dict = {"root": str(root), "classes": [], "clips": 0, "modalities": {}, "splits": {},
                    "frame_counts": {}, "problems": problems}
    if not root.is_dir():
        problem(root, "dataset root not found")
        return _finish(report)
    present = tree_clips(root)
    if not any((root / sub).is_dir() for sub in J.MODALITY_DIRS.values()):
        problem(root, f"no modality folder ({', '.join(J.MODALITY_DIRS.values())})")
    all_clips = sorted(set().union(*[set(v) for v in present.values()]))
    classes = J.modality_classes(root)
    report["classes"] = classes
    for stray in sorted(set(J.folder_classes(root)) - set(classes)):
        problem(root, f"folder {stray!r} under a modality folder is not a class of the split files; "
                      "it is ignored", "warning")
    report["clips"] = len(all_clips)
    report["modalities"] = {m: len(v) for m, v in present.items() if v}
    where: dict[str, set[str]] = defaultdict(set)  # video -> classes it is found under
    for cls, video in all_clips:
        where[video].add(cls)
    for video, owners in where.items():
        if len(owners) > 1:
            problem(root, f"video {video!r} appears under several classes: {sorted(owners)}")

    # splits
    split_sets: dict[int, set[str]] = {}
    files = J.split_files(root)
    fmt = "official" if files["official"] else "lists"
    if not files["official"] and not files["lists"]:
        problem(root / J.SPLITS_DIR, "no split files")
    else:
        for k in range(1, J.NUM_SPLITS + 1):
            try:
                entries = J.read_split(root, k)
            except DataError as exc:
                problem(exc.path, exc.problem)
                continue
            per_class: dict[str, Counter] = defaultdict(Counter)
            seen: dict[str, str] = {}
            for e in entries:
                per_class[e.cls][e.subset] += 1
                split_path = _split_file(root, k, fmt, e.cls, e.subset)
                if e.cls not in classes:
                    problem(split_path, f"unknown class {e.cls!r} for video {e.video!r}")
                if e.video in seen:
                    problem(split_path, f"video {e.video!r} listed twice ({seen[e.video]} and {e.subset})")
                seen[e.video] = e.subset
                if e.video not in where:
                    problem(split_path, f"video {e.video!r} ({e.cls}) does not exist in any modality")
                elif e.cls not in where[e.video]:
                    problem(split_path, f"video {e.video!r} listed as {e.cls!r} but found under "
                                        f"{sorted(where[e.video])}")
            split_sets[k] = set(seen)
            report["splits"][str(k)] = {
                "format": fmt,
                "train": sum(e.subset == "train" for e in entries),
                "test": sum(e.subset == "test" for e in entries),
                "per_class": {c: {"train": per_class[c]["train"], "test": per_class[c]["test"]}
                              for c in sorted(per_class)},
                "unlisted": len(set(where) - set(seen)),
            }
        if len(set(map(frozenset, split_sets.values()))) > 1:
            sizes = {k: len(v) for k, v in split_sets.items()}
            problem(root / J.SPLITS_DIR, f"the splits list different sets of videos (sizes {sizes})",
                    "warning")

    # clips
    counts: dict[str, list[int]] = defaultdict(list)
    mismatches = 0
    for cls, video in all_clips:
        lengths: dict[str, int] = {}
        sizes: dict[str, tuple[int, int]] = {}
        try:
            if (cls, video) in present["frames"]:
                fp = probe_frames(root, cls, video, decode_ends=True)
                lengths["frames"], sizes["frames"] = fp.count, fp.size
            if (cls, video) in present["video"]:
                vp = probe_video(root, cls, video, count_frames=True)
                if vp.count is not None:
                    lengths["video"] = vp.count
                sizes["video"] = vp.size
        except DataError as exc:
            problem(exc.path, exc.problem)
        for modality in ("joints", "mask"):
            if (cls, video) not in present[modality]:
                continue
            try:
                if modality == "joints":
                    lengths["joints"] = probe_joints(root, cls, video).num_frames
                else:
                    H, W, T = probe_mask(root, cls, video)
                    if deep:
                        H, W, T = J.read_mask(J.mask_path(root, cls, video)).shape
                    lengths["mask"], sizes["mask"] = T, (H, W)
            except DataError as exc:
                problem(exc.path, exc.problem)
        for modality, n in lengths.items():
            counts[modality].append(n)
        if len(set(lengths.values())) > 1:
            mismatches += 1
            detail = ", ".join(f"{m} {n}" for m, n in lengths.items())
            problem(root / "*" / cls / video, f"frame counts disagree ({detail}); the reader uses "
                                              f"the common length {min(lengths.values())}", "warning")
        if len(set(sizes.values())) > 1:
            detail = ", ".join(f"{m} {h}x{w}" for m, (h, w) in sizes.items())
            problem(root / "*" / cls / video, f"frame sizes disagree ({detail})", "warning")
    report["frame_counts"] = {m: _stats(v) for m, v in counts.items()}
    report["frame_count_mismatches"] = mismatches
    return _finish(report)


def _finish(report: dict) -> dict:
    report["errors"] = sum(p["severity"] == "error" for p in report["problems"])
    report["warnings"] = sum(p["severity"] == "warning" for p in report["problems"])
    return report


def format_report(report: dict, *, max_problems: int = 50) -> str:
    """The human-readable summary printed by ``actionpose data check``."""
    lines = [f"JHMDB tree {report['root']}",
             f"  {len(report['classes'])} classes, {report['clips']} clips"]
    if report["modalities"]:
        lines.append("  modalities: " + ", ".join(f"{m} {n}" for m, n in report["modalities"].items()))
    for m, s in report["frame_counts"].items():
        if s:
            lines.append(f"  frames per clip ({m}): min {s['min']}, max {s['max']}, "
                         f"mean {s['mean']}, median {s['median']}")
    if "frame_count_mismatches" in report:
        lines.append(f"  clips whose modalities disagree on frame count: {report['frame_count_mismatches']}")
    splits = report["splits"]
    for k, s in splits.items():
        lines.append(f"  split {k} ({s['format']}): train {s['train']}, test {s['test']}, "
                     f"unlisted {s['unlisted']}")
    if splits:
        ks = sorted(splits)
        width = max([len(c) for c in report["classes"]] + [5])
        lines.append("  clips per class, train/test: " + "  ".join(f"split {k}" for k in ks))
        for cls in report["classes"]:
            cells = []
            for k in ks:
                pc = splits[k]["per_class"].get(cls, {"train": 0, "test": 0})
                cells.append(f"{pc['train']:>3}/{pc['test']:<3}")
            lines.append(f"    {cls:<{width}}  " + "    ".join(cells))
    problems = report["problems"]
    lines.append(f"  problems: {report['errors']} errors, {report['warnings']} warnings")
    for p in problems[:max_problems]:
        lines.append(f"    {p['severity'].upper()}: {p['path']}: {p['problem']}")
    if len(problems) > max_problems:
        lines.append(f"    ... and {len(problems) - max_problems} more (use --json for all)")
    return "\n".join(lines)


def main(args) -> int:
    """``actionpose data check ROOT [--json]``: exit 1 when the tree has errors."""
    report = check_tree(args.root, deep=bool(getattr(args, "deep", False)))
    if getattr(args, "json", False):
        json.dump(report, sys.stdout, indent=2, sort_keys=True, default=str)
        sys.stdout.write("\n")
    else:
        print(format_report(report))
    return 1 if report["errors"] else 0


__all__ = ["mat_variables", "FramesProbe", "VideoProbe", "probe_frames", "probe_video",
           "probe_joints", "probe_mask", "tree_clips", "check_tree", "format_report", "main"]
