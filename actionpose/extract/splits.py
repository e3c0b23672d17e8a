"""The splits of an extracted tree: from a dataset's official split files (HMDB51's or UCF101's
format), or a hashed 70/30 split when none are given (not comparable with published results)."""
from __future__ import annotations

import codecs
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from actionpose.data import jhmdb
from actionpose.errors import DataError

__all__ = ["hashed_splits", "TRAIN_FRACTION", "SplitSpec", "read_split_files", "read_text_lines"]

TRAIN_FRACTION = 0.7


def _num_train(n: int) -> int:
    """Train videos of a class of ``n``: 70% rounded, at least one in each subset when n >= 2."""
    return n if n == 1 else min(n - 1, max(1, round(TRAIN_FRACTION * n)))


def hashed_splits(clips: dict[str, list[str]]) -> list[tuple[str, str, tuple[int, int, int]]]:
    """Per class, a deterministic 70/30 train/test split of {class: videos}, three times.

    Videos are ordered by a hash of (k, class, name), so the three splits differ; a class with
    one video puts it in train. Returns ``jhmdb.write_splits`` assignments.
    """
    assignments = []
    for cls, videos in clips.items():
        codes: dict[str, list[int]] = {v: [] for v in videos}
        for k in range(1, jhmdb.NUM_SPLITS + 1):
            order = sorted(videos, key=lambda v: hashlib.sha1(f"{k}:{cls}/{v}".encode()).hexdigest())
            for rank, v in enumerate(order):
                codes[v].append(1 if rank < _num_train(len(videos)) else 2)
        assignments += [(v, cls, tuple(codes[v])) for v in videos]
    return assignments


# --------------------------------------------------------------------------------------------
# official split files in: HMDB51's and UCF101's

_HMDB = re.compile(r"^(?P<cls>.+)_test_split(?P<k>\d+)\.txt$")
_UCF = re.compile(r"^(?P<subset>train|test)list0?(?P<k>\d+)\.txt$")
UCF_CLASSES = "classInd.txt"


@dataclass(frozen=True)
class SplitSpec:
    """Split files read in: ``assignments`` {(class, video): (s1, s2, s3)}, s in {0, 1, 2}
    (unused, train, test); ``line`` {(class, video): "file:line"} where each was first listed."""

    source: str  # "hmdb51" | "ucf101"
    folder: Path
    classes: tuple[str, ...]
    assignments: dict
    line: dict


def read_text_lines(path: Path) -> list[str]:
    """A text file's lines: UTF-8 (a BOM allowed) or UTF-16 with its BOM; CRLF or LF endings."""
    data = path.read_bytes()
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        encoding = "utf-8-sig"
        if b"\x00" in data:
            lineno = data[: data.index(b"\x00")].count(b"\n") + 1
            raise DataError(path, f"line {lineno}: NUL bytes (UTF-16 without a byte-order mark?); save it as UTF-8")
    try:
        return data.decode(encoding).splitlines()
    except UnicodeDecodeError as exc:
        lineno = data[: exc.start].count(b"\n") + 1
        name = "UTF-16" if encoding == "utf-16" else "UTF-8"
        raise DataError(path, f"line {lineno}: not {name} text ({exc.reason}); save it as UTF-8") from exc


def _stem(name: str) -> str:
    return Path(name).stem if name.lower().endswith(jhmdb.VIDEO_EXTENSIONS) else name


def _split_index(path: Path, k: str) -> int:
    if int(k) not in range(1, jhmdb.NUM_SPLITS + 1):
        raise DataError(path, f"split {int(k)} is not one of 1..{jhmdb.NUM_SPLITS}")
    return int(k)


class _Collector:
    """Gathers (class, video, split k, code) and refuses duplicates, naming both lines."""

    def __init__(self):
        self.codes: dict[tuple[str, str], list[int]] = {}
        self.line: dict[tuple[str, str], str] = {}
        self.seen: dict[tuple[str, int], tuple[str, str]] = {}  # (video, k) -> (class, file:line)

    def add(self, cls: str, video: str, k: int, code: int, path: Path, lineno: int) -> None:
        where = f"{path}:{lineno}"
        if (video, k) in self.seen:
            other_cls, other = self.seen[(video, k)]
            raise DataError(path, f"line {lineno}: video {video!r} is listed twice in split {k} (also at {other}, class {other_cls!r})")
        self.seen[(video, k)] = (cls, where)
        self.codes.setdefault((cls, video), [0] * jhmdb.NUM_SPLITS)[k - 1] = code
        self.line.setdefault((cls, video), where)


def _read_hmdb(folder: Path, files: list[tuple[Path, re.Match]]) -> SplitSpec:
    out = _Collector()
    by_class: dict[str, set[int]] = {}
    for path, m in files:
        k = _split_index(path, m.group("k"))
        by_class.setdefault(m.group("cls"), set()).add(k)
        for lineno, line in enumerate(read_text_lines(path), start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise DataError(path, f"line {lineno}: expected '<video>.avi 0|1|2', got {line.strip()!r}")
            out.add(m.group("cls"), _stem(parts[0]), k, int(parts[1]), path, lineno)
    for cls, ks in sorted(by_class.items()):
        for k in range(1, jhmdb.NUM_SPLITS + 1):
            if k not in ks:
                raise DataError(folder / f"{cls}_test_split{k}.txt", f"missing: class {cls!r} has split files for {sorted(ks)} only")
    return SplitSpec("hmdb51", folder, tuple(sorted(by_class)), {c: tuple(v) for c, v in out.codes.items()}, out.line)


def _read_classes(path: Path) -> dict[int, str]:
    if not path.is_file():
        raise DataError(path, "missing: UCF101-style split lists need classInd.txt ('<index> <class>' per line)")
    classes: dict[int, str] = {}
    for lineno, line in enumerate(read_text_lines(path), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or not parts[0].isdigit():
            raise DataError(path, f"line {lineno}: expected '<index> <class>', got {line.strip()!r}")
        idx, name = int(parts[0]), parts[1]
        if idx in classes or name in classes.values():
            raise DataError(path, f"line {lineno}: index {idx} or class {name!r} is listed twice")
        classes[idx] = name
    if sorted(classes) != list(range(1, len(classes) + 1)):
        raise DataError(path, f"class indices must run 1..{len(classes)}, got {sorted(classes)}")
    return classes


def _read_ucf(folder: Path, files: list[tuple[Path, re.Match]]) -> SplitSpec:
    classes = _read_classes(folder / UCF_CLASSES)
    names = set(classes.values())
    out = _Collector()
    present = {(_split_index(p, m.group("k")), m.group("subset")) for p, m in files}
    for k in range(1, jhmdb.NUM_SPLITS + 1):
        for subset in ("train", "test"):
            if (k, subset) not in present:
                raise DataError(folder / f"{subset}list0{k}.txt", f"missing: UCF101-style splits need train and test lists for splits 1..{jhmdb.NUM_SPLITS}")
    for path, m in files:
        k, subset = int(m.group("k")), m.group("subset")
        for lineno, line in enumerate(read_text_lines(path), start=1):
            parts = line.split()
            if not parts:
                continue
            shape_ok = len(parts) in ((1, 2) if subset == "train" else (1,)) and parts[0].count("/") == 1
            if not shape_ok or (len(parts) == 2 and not parts[1].isdigit()):
                want = "'<class>/<video>.avi <label>'" if subset == "train" else "'<class>/<video>.avi'"
                raise DataError(path, f"line {lineno}: expected {want}, got {line.strip()!r}")
            cls, name = parts[0].split("/")
            if cls not in names:
                raise DataError(path, f"line {lineno}: unknown class {cls!r} (not in {UCF_CLASSES})")
            if len(parts) == 2 and classes.get(int(parts[1])) != cls:
                raise DataError(path, f"line {lineno}: label {parts[1]} is {classes.get(int(parts[1]))!r} in {UCF_CLASSES}, but the video lies under {cls!r}")
            out.add(cls, _stem(name), k, 1 if subset == "train" else 2, path, lineno)
    ordered = tuple(classes[i] for i in sorted(classes))
    return SplitSpec("ucf101", folder, ordered, {c: tuple(v) for c, v in out.codes.items()}, out.line)


def read_split_files(folder: str | Path) -> SplitSpec:
    """Read HMDB51's (``<class>_test_split<k>.txt``) or UCF101's (``trainlist0<k>.txt``,
    ``testlist0<k>.txt``, ``classInd.txt``) official split files from ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, "--splits must be a folder of split files")
    entries = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    hmdb = [(p, m) for p in entries if (m := _HMDB.match(p.name))]
    ucf = [(p, m) for p in entries if (m := _UCF.match(p.name))]
    if hmdb and ucf:
        raise DataError(folder, "holds both HMDB51-style (<class>_test_split<k>.txt) and UCF101-style (trainlist/testlist) split files; keep one")
    if hmdb:
        return _read_hmdb(folder, hmdb)
    if ucf:
        return _read_ucf(folder, ucf)
    raise DataError(
        folder, "no split files: expected HMDB51's <class>_test_split<k>.txt or UCF101's "
        "trainlist0<k>.txt, testlist0<k>.txt and classInd.txt",
    )
