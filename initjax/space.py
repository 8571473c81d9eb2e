"""Disk space: refuse a write that cannot fit, and name a full disk in one line.

A full disk otherwise surfaces as whatever the writer says (orbax tracebacks, netCDF's
"HDF error"); :func:`require` checks before writing, :func:`translate` turns a failed write
on a full disk into :class:`DiskFull`, which says the folder and the bytes needed.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

MARGIN = 1.2
"""Writes are refused unless the free space exceeds the estimate by this factor."""


class DiskFull(OSError):
    """Not enough free space in ``folder`` for a write of about ``needed`` bytes."""

    def __init__(self, folder: Path, needed: int, free: int, what: str):
        self.folder, self.needed, self.free = folder, needed, free
        super().__init__(
            errno.ENOSPC,
            f"disk full: {what} needs about {_size(needed)} in {folder}, "
            f"{_size(free)} free; free some space and run the same command again",
        )

    def __str__(self) -> str:
        return str(self.strerror)


def _size(n: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:,} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n} bytes"


def free_bytes(folder: Path) -> int:
    """Free bytes on the file system of ``folder`` (or its nearest existing parent)."""
    here = Path(folder).absolute()
    while not here.exists() and here != here.parent:
        here = here.parent
    return int(shutil.disk_usage(here).free)


def require(folder: Path, needed: int, what: str) -> None:
    """Raise :class:`DiskFull` unless ``folder`` has ``MARGIN × needed`` bytes free."""
    free = free_bytes(folder)
    if free < MARGIN * needed:
        raise DiskFull(Path(folder), int(MARGIN * needed), free, what)


def translate(e: BaseException, folder: Path, needed: int, what: str) -> BaseException:
    """``e`` as :class:`DiskFull` when the write failed for lack of space, else ``e``.

    netCDF/HDF5 and orbax do not keep the errno, so a failure while too little space is
    left counts as a full disk too.
    """
    if isinstance(e, DiskFull):
        return e
    no_space = isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT)
    free = free_bytes(folder)
    if no_space or free < MARGIN * needed:
        return DiskFull(Path(folder), int(MARGIN * needed), free, what)
    return e


def tree_bytes(*arrays: object) -> int:
    """Total bytes of numpy-like arrays (anything with ``nbytes``)."""
    return int(sum(getattr(a, "nbytes", 0) for a in arrays))
