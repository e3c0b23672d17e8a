"""The official JHMDB download -> the tree the reader expects: ``actionpose data prepare jhmdb SRC
--out ROOT``.

SRC holds the download's parts unpacked or still as archives (.zip, .tar, .tar.gz, .tgz, ...),
in any folder nesting: ``Rename_Images`` (frames), ``ReCompress_Videos`` (videos),
``joint_positions``, ``puppet_mask`` and the split files ``<class>_test_split<k>.txt``. Any part
may be absent (a subset); the split files are required. The tree is built in a temporary folder
beside ROOT, every clip is checked (:func:`actionpose.data.check.check_tree`, deep), and only then
is it moved to ROOT, so a failure leaves nothing behind. For the full download the counts are
verified: 928 clips in 21 classes, and the official split sizes.
"""
from __future__ import annotations

import os
import re
import shutil
import tarfile
import zipfile
from pathlib import Path

from actionpose.data import jhmdb
from actionpose.errors import DataError
from actionpose.io import atomic_dir

__all__ = ["prepare_jhmdb", "main", "JHMDB_CLIPS", "JHMDB_CLASSES", "JHMDB_SPLIT_SIZES"]

JHMDB_CLIPS = 928
JHMDB_CLASSES = 21
JHMDB_SPLIT_SIZES = {1: (660, 268), 2: (658, 270), 3: (663, 265)}  # (train, test)
ARCHIVES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
STAGING = ".unpacked"
MODALITY_NAMES = frozenset(jhmdb.MODALITY_DIRS.values())
SPLIT_FILE = re.compile(r"^.+_test_split\d+\.txt$")


def _is_archive(p: Path) -> bool:
    return p.is_file() and p.name.lower().endswith(ARCHIVES)


def _unpack(archive: Path, dest: Path) -> None:
    """Unpack one archive into ``dest``; members that would land outside it are refused."""
    try:
        if archive.name.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                for name in zf.namelist():
                    parts = Path(name).parts
                    if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
                        raise DataError(archive, f"member {name!r} would be written outside the output folder")
                zf.extractall(dest)
        else:
            with tarfile.open(archive) as tf:
                tf.extractall(dest, filter="data")
    except DataError:
        raise
    except tarfile.FilterError as exc:
        raise DataError(archive, f"unsafe member refused ({exc})") from exc
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(archive, f"cannot unpack ({type(exc).__name__}: {exc})") from exc


def _walk(top: Path, skip: set[Path]):
    """(modality folders, files) of each folder under ``top``, hidden ones and ``skip`` left out;
    the walk does not descend into a modality folder."""
    for dirpath, dirnames, filenames in os.walk(top):
        here = Path(dirpath)
        keep, modality = [], []
        for d in sorted(dirnames):
            if not d.startswith(".") and (here / d).resolve() not in skip:
                (modality if d in MODALITY_NAMES else keep).append(d)
        dirnames[:] = keep
        yield [here / d for d in modality], [here / f for f in sorted(filenames) if not f.startswith(".")]


def _find_parts(tops: list[Path], skip: set[Path]) -> tuple[dict[str, Path], list[Path], list[Path]]:
    """Modality folders by name, split files, and archives under ``tops``; a part found twice is refused."""
    folders: dict[str, Path] = {}
    splits: dict[str, Path] = {}
    archives: list[Path] = []
    for top in tops:
        for modality_dirs, files in _walk(top, skip):
            for d in modality_dirs:
                if d.name in folders:
                    raise DataError(d, f"a second {d.name} folder (the first is {folders[d.name]}); keep one")
                folders[d.name] = d
            for f in files:
                if SPLIT_FILE.match(f.name):
                    if f.name in splits:
                        raise DataError(f, f"a second copy of this split file (the first is {splits[f.name]}); keep one")
                    splits[f.name] = f
                elif _is_archive(f):
                    archives.append(f)
    return folders, sorted(splits.values()), archives


def _gather(src: Path, tmp: Path, skip: set[Path]) -> tuple[dict[str, Path], list[Path], dict[str, str]]:
    """The download's modality folders and split files, archives unpacked under ``tmp``; and for
    each part, where the user has it (a folder, or ``archive:path`` inside an archive)."""
    staging = tmp / STAGING
    folders, split_files, archives = _find_parts([src], skip) if src.is_dir() else ({}, [], [src])
    for i, archive in enumerate(archives):
        _unpack(archive, staging / f"{i}")
    sources = {name: str(p) for name, p in folders.items()}
    if split_files:
        sources[jhmdb.SPLITS_DIR] = str(split_files[0].parent)
    if not archives:
        return folders, split_files, sources

    def origin(p: Path) -> str:
        i = int(p.relative_to(staging).parts[0])
        return f"{archives[i]}:{p.relative_to(staging / str(i))}"

    more_folders, more_splits, nested = _find_parts([staging], set())
    if nested:
        raise DataError(nested[0], "an archive inside an archive; unpack it first")
    for name, p in more_folders.items():
        if name in folders:
            raise DataError(p, f"{name} is given twice ({folders[name]} too); keep one")
        sources[name], folders[name] = origin(p), p
    names = {f.name: f for f in split_files}
    for f in more_splits:
        if f.name in names:
            raise DataError(f, f"split file {f.name} is given twice ({names[f.name]} too); keep one")
    if more_splits and not split_files:
        sources[jhmdb.SPLITS_DIR] = origin(more_splits[0].parent)
    return folders, split_files + more_splits, sources


def _make_writable(folder: Path) -> None:
    """Copies keep the source's modes; a read-only download would give a tree its owner cannot update."""
    for dirpath, _, filenames in os.walk(folder):
        os.chmod(dirpath, os.stat(dirpath).st_mode | 0o700)
        for f in filenames:
            path = os.path.join(dirpath, f)
            os.chmod(path, os.stat(path).st_mode | 0o600)


def _origin(tmp: Path, sources: dict[str, str], path: str) -> str:
    """A path inside the temporary tree, named by where it came from (the user's file)."""
    rel = Path(path).relative_to(tmp) if Path(path).is_relative_to(tmp) else None
    if rel is None or not rel.parts or rel.parts[0] not in sources:
        return path
    return str(Path(sources[rel.parts[0]], *rel.parts[1:]))


def _splits_of(root: Path) -> dict[tuple[str, str], list[int]]:
    codes: dict[tuple[str, str], list[int]] = {}
    for k in range(1, jhmdb.NUM_SPLITS + 1):
        for e in jhmdb.read_split(root, k):
            codes.setdefault((e.cls, e.video), [0] * jhmdb.NUM_SPLITS)[k - 1] = 1 if e.subset == "train" else 2
    return codes


def prepare_jhmdb(src: str | Path, out: str | Path) -> dict:
    """Build a JHMDB tree at ``out`` from the download's parts under ``src``; returns a summary:
    ``classes``, ``clips`` (in the tree's splits), ``modalities`` {modality: clips},
    ``not_given`` [modality folders absent], ``missing`` {modality: [class/video in the splits
    without it]} (a part only a few clips have), ``dropped`` ["class/video (no ...)": listed
    clips left out of the splits, lacking a part most clips have or any data], ``splits``
    {k: (train, test)}, ``full`` (True when the full download's counts were verified)."""
    src, out = Path(src), Path(out)
    if not src.exists():
        raise DataError(src, "not found (expected the folder, or an archive, of the JHMDB download)")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DataError(out, "--out already exists and is not an empty folder; choose another or remove it")
    with atomic_dir(out) as tmp:
        folders, split_files, sources = _gather(src, tmp, skip={tmp.resolve(), out.resolve()})
        if not split_files:
            raise DataError(src, "no JHMDB split files (<class>_test_split<k>.txt, the download's splits.zip) found")
        staging = tmp / STAGING
        for name, p in folders.items():
            if p.is_relative_to(staging):
                os.replace(p, tmp / name)
            else:
                shutil.copytree(p, tmp / name)
                _make_writable(tmp / name)
        (tmp / jhmdb.SPLITS_DIR).mkdir()
        for f in split_files:
            shutil.copy2(f, tmp / jhmdb.SPLITS_DIR / f.name)
        shutil.rmtree(staging, ignore_errors=True)
        try:
            summary = _check(tmp, out, folders)
        except DataError as exc:
            if exc.path is None:
                raise
            raise DataError(_origin(tmp, sources, str(exc.path)), exc.problem) from exc
        if summary["full"]:
            for k, sizes in JHMDB_SPLIT_SIZES.items():
                if summary["splits"].get(k) != sizes:
                    raise DataError(
                        sources[jhmdb.SPLITS_DIR],
                        f"split {k} has train/test {summary['splits'].get(k)}, JHMDB's official split has {sizes}",
                    )
    return summary


def _incomplete(listed, present: dict) -> dict[tuple[str, str], list[str]]:
    """Listed clips the reader would refuse, with what they lack: no data at all, or a part
    (frames or video, joints, mask) that most listed clips have."""
    parts = {
        "frames": set(present["frames"]) | set(present["video"]),
        "joints": set(present["joints"]),
        "mask": set(present["mask"]),
    }
    lacking = {key: ["data"] for key in listed if not any(key in have for have in parts.values())}
    held = [key for key in listed if key not in lacking]
    for part, have in parts.items():
        missing = [key for key in held if key not in have]
        if len(held) - len(missing) > len(missing):
            for key in missing:
                lacking.setdefault(key, []).append(part)
    return lacking


def _check(tmp: Path, out: Path, folders: dict[str, Path]) -> dict:
    """Check every clip of the assembled tree ``tmp``. Listed clips the reader would refuse are
    left out of its splits (a subset) and reported; any other problem is an error."""
    from actionpose.data.check import check_tree, tree_clips

    listed = _splits_of(tmp)
    present = tree_clips(tmp)
    dropped = _incomplete(listed, present)
    kept = [key for key in sorted(listed) if key not in dropped]
    if dropped:
        for p in jhmdb.split_files(tmp)["official"]:
            p.unlink()
        jhmdb.write_splits(tmp, [(v, c, tuple(listed[(c, v)])) for c, v in kept], formats=("official",))
    report = check_tree(tmp, deep=True)
    errors = [p for p in report["problems"] if p["severity"] == "error"]
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise DataError(first["path"], f"{first['problem']}{more}")
    given = [m for m, sub in jhmdb.MODALITY_DIRS.items() if sub in folders]
    return {
        "out": str(out),
        "classes": len(report["classes"]),
        "clips": len(kept),
        "modalities": {m: len(present[m]) for m in given},
        "not_given": [jhmdb.MODALITY_DIRS[m] for m in jhmdb.MODALITY_DIRS if m not in given],
        "missing": {m: [f"{c}/{v}" for c, v in kept if (c, v) not in present[m]] for m in given},
        "dropped": [f"{c}/{v} (no {', '.join(parts)})" for (c, v), parts in sorted(dropped.items())],
        "splits": {int(k): (s["train"], s["test"]) for k, s in report["splits"].items()},
        "warnings": [p for p in report["problems"] if p["severity"] != "error"],
        "full": len(report["classes"]) == JHMDB_CLASSES and len(kept) == JHMDB_CLIPS,
    }


def main(args) -> int:
    """CLI handler of ``actionpose data prepare jhmdb``."""
    s = prepare_jhmdb(args.src, args.out)
    sizes = ", ".join(f"split {k}: {tr}/{te}" for k, (tr, te) in sorted(s["splits"].items()))
    print(f"data prepare jhmdb: {s['clips']} clips in {s['classes']} classes -> {s['out']} ({sizes} train/test)")
    for m, n in s["modalities"].items():
        gap = s["missing"][m]
        print(f"  {jhmdb.MODALITY_DIRS[m]}: {n} clips" + (f"; missing for {len(gap)}: {', '.join(gap[:5])}{' ...' if len(gap) > 5 else ''}" if gap else ""))
    for sub in s["not_given"]:
        print(f"  {sub}: not given")
    if s["dropped"]:
        print(f"  {len(s['dropped'])} listed clip(s) left out of the splits: {', '.join(s['dropped'][:5])}{' ...' if len(s['dropped']) > 5 else ''}")
    if s["full"]:
        print(f"  JHMDB's counts verified: {JHMDB_CLIPS} clips in {JHMDB_CLASSES} classes, official split sizes")
    else:
        print(f"  a subset of JHMDB ({JHMDB_CLIPS} clips, {JHMDB_CLASSES} classes in full); counts not verified")
    return 0
