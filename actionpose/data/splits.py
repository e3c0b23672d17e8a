"""JHMDB's split files, in either of its two formats (see the layout in :mod:`.jhmdb`)::

    splits/<class>_test_split<k>.txt    "<video>.avi 1|2|0" (train/test/unused), the official one
    splits/JHMDB_{train,test}<k>.txt    "<video> <class index 1..21>", the list files

The class of an official file is in its name; a list file's class index is the 1-based position
in the sorted class names. Every failure is a :class:`DataError` naming the file.
"""
from __future__ import annotations

import codecs
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


_BOMS = (  # UTF-32 first: its little-endian mark starts with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)


def read_text(path: str | Path) -> str:
    """A split file's text: UTF-8 (a BOM is dropped), or UTF-16/UTF-32 with a byte-order mark.

    Line ends (LF, CRLF, CR) are the caller's ``splitlines``. Anything else is a DataError.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(path, f"cannot read: {exc.strerror or exc}") from exc
    encoding = next((enc for bom, enc in _BOMS if data.startswith(bom)), None)
    if encoding is None and b"\x00" in data:
        raise DataError(path, "holds NUL bytes: UTF-16 or UTF-32 without a byte-order mark? "
                              "save it as UTF-8")
    try:
        return data.decode(encoding or "utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(path, f"not valid {encoding or 'UTF-8'} text (byte {exc.start}); "
                              "save it as UTF-8") from exc


def folder_classes(root: str | Path) -> list[str]:
    """Sorted names of the class folders under any modality folder (hidden ones skipped)."""
    root = Path(root)
    names: set[str] = set()
    for sub in MODALITY_DIRS.values():
        d = root / sub
        if d.is_dir():
            names.update(p.name for p in d.iterdir() if p.is_dir() and not p.name.startswith("."))
    return sorted(names)


def _official_lines(path: Path) -> list[tuple[str, str]]:
    """(video, code) of each line of a ``<class>_test_split<k>.txt``; code 1 train, 2 test, 0 unused."""
    found = []
    for lineno, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
            raise DataError(path, f"line {lineno}: expected '<video>.avi 0|1|2', got {line!r}")
        video = Path(parts[0]).stem if parts[0].lower().endswith(VIDEO_EXTENSIONS) else parts[0]
        found.append((video, parts[1]))
    return found


def ignored_classes(root: str | Path) -> dict[str, str]:
    """Class names the tree mentions that are not classes, with why: an official split file
    that marks no video train or test in any split, or a class folder holding nothing. They are
    left out of :func:`modality_classes`, so they never become a class nor shift an index."""
    root = Path(root)
    official = split_files(root)["official"]
    if official:
        by_class: dict[str, list[Path]] = {}
        for p in official:
            by_class.setdefault(_OFFICIAL.match(p.name).group("cls"), []).append(p)
        return {cls: f"{', '.join(p.name for p in files)} mark no video train or test"
                for cls, files in by_class.items()
                if not any(code != "0" for p in files for _, code in _official_lines(p))}
    ignored = {}
    for cls in folder_classes(root):
        folders = [root / sub / cls for sub in MODALITY_DIRS.values() if (root / sub / cls).is_dir()]
        if not any(not e.name.startswith(".") for d in folders for e in d.iterdir()):
            ignored[cls] = f"empty class folder ({', '.join(str(d) for d in folders)})"
    return ignored


def modality_classes(root: str | Path) -> list[str]:
    """Sorted class names: those of the official ``<class>_test_split<k>.txt`` files when the
    tree has them (a stray folder then cannot shift the class indices), else the class folders;
    either way without the :func:`ignored_classes` (empty files or folders)."""
    official = split_files(root)["official"]
    if official:
        names = {_OFFICIAL.match(p.name).group("cls") for p in official}
    else:
        names = set(folder_classes(root))
    return sorted(names - set(ignored_classes(root)))


def split_sources(root: str | Path, split: int) -> dict[str, list[Path]]:
    """The files of split ``split`` in each format present (empty lists for an absent one)."""
    files = split_files(root)
    return {
        "official": [p for p in files["official"] if int(_OFFICIAL.match(p.name).group("k")) == split],
        "lists": [p for p in files["lists"] if int(_LISTS.match(p.name).group("k")) == split],
    }


def read_split(root: str | Path, split: int = 1, classes: list[str] | None = None) -> list[SplitEntry]:
    """Official split ``split`` (1..3) as a list of (video, class, subset), unused clips dropped.

    Reads ``<class>_test_split<k>.txt`` if present, else ``JHMDB_{train,test}<k>.txt`` whose class
    index is the 1-based position in ``classes`` (default: :func:`modality_classes`). A tree with
    both formats must have them agree (a DataError names both files and a video that differs).
    """
    root = Path(root)
    if split not in (1, 2, 3):
        raise DataError(root / SPLITS_DIR, f"split must be 1, 2 or 3, got {split!r}")
    sources = split_sources(root, split)
    if not sources["official"] and not sources["lists"]:
        raise DataError(
            root / SPLITS_DIR,
            f"no split {split} files (expected <class>_test_split{split}.txt or "
            f"JHMDB_train{split}.txt / JHMDB_test{split}.txt)",
        )
    official = lists = None
    if sources["official"]:
        official = [SplitEntry(video, _OFFICIAL.match(p.name).group("cls"), "train" if code == "1" else "test", p)
                    for p in sources["official"] for video, code in _official_lines(p) if code != "0"]
    if sources["lists"]:
        lists = _read_lists(root, split, sources["lists"], classes)
    if official is not None and lists is not None:
        _agree(root, split, official, lists)
    return official if official is not None else lists


def _read_lists(root: Path, split: int, files: list[Path], classes: list[str] | None) -> list[SplitEntry]:
    by_subset = {_LISTS.match(p.name).group("subset"): p for p in files}
    if classes is None:
        classes = modality_classes(root)
    home = _video_folders(root)
    entries: list[SplitEntry] = []
    for subset in ("train", "test"):
        if subset not in by_subset:
            raise DataError(root / SPLITS_DIR / f"JHMDB_{subset}{split}.txt", "split file missing")
        p = by_subset[subset]
        for lineno, line in enumerate(read_text(p).splitlines(), start=1):
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


def _agree(root: Path, split: int, official: list[SplitEntry], lists: list[SplitEntry]) -> None:
    """Refuse two split formats that list different things: only one of them would be used."""
    a = {e.video: e for e in official}
    b = {e.video: e for e in lists}
    differ = sorted(v for v in set(a) | set(b) if v not in a or v not in b
                    or (a[v].cls, a[v].subset) != (b[v].cls, b[v].subset))
    if not differ:
        return
    v = differ[0]
    ea, eb = a.get(v), b.get(v)
    file_a = ea.source if ea else root / SPLITS_DIR / f"{eb.cls}_test_split{split}.txt"
    file_b = eb.source if eb else root / SPLITS_DIR / f"JHMDB_{ea.subset}{split}.txt"
    what_a = f"{ea.subset} ({ea.cls})" if ea else "not listed"
    what_b = f"{eb.subset} ({eb.cls})" if eb else "not listed"
    raise DataError(file_a, f"disagrees with {file_b}: video {v!r} is {what_a} here and {what_b} "
                            f"there ({len(differ)} videos differ between the two split formats)")


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
    "SplitEntry", "split_files", "split_sources", "read_text", "folder_classes", "ignored_classes",
    "modality_classes", "read_split", "write_splits",
]
