"""MATLAB v5 .mat files: read a whole file, write one with reproducible bytes, and list its
variables from the headers alone (no decompression of the data; truncation is caught by sizes).

Every failure is a :class:`DataError` naming the file.
"""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

from actionpose.errors import DataError
from actionpose.io import atomic_path


def loadmat(path: Path) -> dict:
    """Every variable of a .mat file (scipy's reader)."""
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


def savemat(path: Path, data: dict) -> None:
    """A MATLAB v5 file with a fixed header: scipy's savemat stamps the time into it, which
    would make the same data give different bytes."""
    from scipy.io.matlab._mio5 import MatFile5Writer

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            # 116 bytes text, 8 bytes subsystem offset, version 0x0100, endian "IM" (little)
            fh.write(_MAT_HEADER + b"\x00" * 8 + (0x0100).to_bytes(2, "little") + b"IM")
            MatFile5Writer(fh, do_compression=True, oned_as="row").put_variables(data, write_header=False)


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


__all__ = ["loadmat", "savemat", "mat_variables"]
