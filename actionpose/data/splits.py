"""JHMDB's split files, in either of its two formats (see the layout in :mod:`.jhmdb`)::

    splits/<class>_test_split<k>.txt    "<video>.avi 1|2|0" (train/test/unused), the official one
    splits/JHMDB_{train,test}<k>.txt    "<video> <class index 1..21>", the list files

The class of an official file is in its name; a list file's class index is the 1-based position
in the sorted class names. Every failure is a :class:`DataError` naming the file.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from actionpose.data.layout import MODALITY_DIRS, NUM_SPLITS, SPLITS_DIR, VIDEO_EXTENSIONS
from actionpose.errors import DataError
from actionpose.io import atomic_path

_OFFICIAL = re.compile(r"^(?P<cls>.+)_test_split(?P<k>\d+)\.txt$")
_LISTS = re.compile(r"^JHMDB_(?P<subset>train|test)(?P<k>\d+)\.txt$")


@dataclass(frozen=True)
class SplitEntry:
    """One listed video; ``source`` is the split file that lists it (not part of equality)."""

    video: str
    cls: str
    subset: str  # "train" | "test"
    source: Path | None = field(default=None, compare=False)


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
                    entries.append(SplitEntry(video, cls, "train" if parts[1] == "1" else "test", p))
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
            entries.append(SplitEntry(video, cls, subset, p))
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


__all__ = [
    "SplitEntry", "split_files", "folder_classes", "modality_classes", "read_split",
    "write_splits",
]
