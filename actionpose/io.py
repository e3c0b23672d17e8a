"""Atomic writes: a crash or a kill never leaves a half-written file or folder in place.

A file or folder is written under a temporary name beside its target and renamed over it once
complete. Temporary names are ``.<target>.<pid>.<random>.tmp`` (and ``....old`` for a folder
being replaced), so that the next write of the same target can tell its own leftovers from a
live writer's: leftovers of a process that has ended, untouched since this process started, are
removed then. Files and folders get the modes a plain ``open()`` / ``mkdir()`` gives them (the
umask applies). A full disk, a read-only file system or a path that cannot be created raises
:class:`~actionpose.errors.WriteError` naming the target.
"""
from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from actionpose.errors import WriteError

_STARTED = time.time()  # leftovers modified after this may belong to a live writer
# errors of the storage itself: whatever the body of a write was doing, the target is not written
_STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a new empty file beside ``path``; on success rename it over ``path``.

    On any exception the temporary file is removed and ``path`` keeps its old content.
    """
    path = Path(path)
    tmp = _temp_name(path, ".tmp", lambda p: os.close(os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)))
    try:
        yield tmp
        _guard(path, os.replace, tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        _raise_storage_error(path, exc)
        raise


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a new empty folder beside ``path``; on success it replaces ``path``.

    The old folder is renamed aside, the new one moved in, and only then the old one deleted: a
    kill at any point leaves the old or the new folder complete, at ``path`` or (between the two
    renames) aside as ``.<name>.<pid>.<random>.old``, which the next write of ``path`` moves back.
    """
    path = Path(path)
    tmp = _temp_name(path, ".tmp", lambda p: os.mkdir(p, 0o777))
    try:
        yield tmp
        aside = None
        if path.exists():
            aside = _temp_name(path, ".old", lambda p: None)
            _guard(path, os.replace, path, aside)
        try:
            _guard(path, os.replace, tmp, path)
        except BaseException:
            if aside is not None:
                os.replace(aside, path)
            raise
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        _raise_storage_error(path, exc)
        raise
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)


def write_json(path: str | Path, obj) -> None:
    """Write JSON atomically (sorted keys, indented)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_error(path: Path, exc: OSError) -> WriteError:
    """The one-line error for ``exc`` raised while writing ``path``."""
    reason = (exc.strerror or str(exc) or type(exc).__name__).lower()
    return WriteError(path, f"not written: {reason}", errno=exc.errno)


def _temp_name(path: Path, suffix: str, create) -> Path:
    """A fresh ``.<name>.<pid>.<random><suffix>`` beside ``path`` made by ``create`` (after the
    parent folder is made and stale leftovers of earlier writes of ``path`` are removed)."""
    blocker = next((p for p in (path.parent, *path.parent.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise WriteError(path, f"not written: {blocker} is a file, not a folder")
    _guard(path, path.parent.mkdir, parents=True, exist_ok=True)
    _clean_leftovers(path)
    while True:
        tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{suffix}"
        try:
            create(tmp)
            return tmp
        except FileExistsError:
            continue  # a name drawn twice
        except OSError as exc:
            raise write_error(path, exc) from exc


def _clean_leftovers(path: Path) -> None:
    """Remove temporaries of ``path`` left by ended processes; move back a folder left aside."""
    prefix = f".{path.name}."
    try:
        entries = [e for e in os.scandir(path.parent) if e.name.startswith(prefix)]
    except OSError:
        return
    for entry in sorted(entries, key=lambda e: not e.name.endswith(".old")):
        rest = entry.name[len(prefix):].split(".")
        if len(rest) != 3 or rest[2] not in ("tmp", "old") or not rest[0].isdigit():
            continue  # not one of ours
        try:
            if _alive(int(rest[0])) or entry.stat(follow_symlinks=False).st_mtime >= _STARTED:
                continue
            if rest[2] == "old" and not os.path.lexists(path):
                os.replace(entry.path, path)  # the old folder, put aside by a killed atomic_dir
            elif entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        except OSError:
            continue  # another process cleaned it first, or it cannot be removed: leave it


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def _guard(path: Path, func, *args, **kwargs):
    """``func(*args, **kwargs)``; an OSError becomes a WriteError naming ``path``."""
    try:
        return func(*args, **kwargs)
    except WriteError:
        raise
    except OSError as exc:
        raise write_error(path, exc) from exc


def _raise_storage_error(path: Path, exc: BaseException) -> None:
    """A full or read-only disk while the body wrote the temporary is about ``path``; torch's
    zip writer reports it as a RuntimeError whose context is the OSError."""
    seen, depth = exc, 0
    while seen is not None and not isinstance(seen, WriteError) and depth < 8:
        if isinstance(seen, OSError) and seen.errno in _STORAGE_ERRNOS:
            raise write_error(path, seen) from exc
        seen, depth = seen.__context__, depth + 1
