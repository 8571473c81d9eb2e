"""One writer per folder: an exclusive lock held for a sweep's lifetime.

``flock`` on ``<folder>/.initjax.lock``, which records the holder's PID and host. The kernel
drops the lock when its process dies however it dies (kill -9 included), so a lock left by
a dead process is simply taken over; only a live holder makes :func:`hold` raise
:class:`FolderLocked`, naming its PID. ``flock`` is reliable on local file systems; on NFS
use one writer per folder by hand.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

LOCK = ".initjax.lock"


class FolderLocked(RuntimeError):
    """Another live process holds ``folder``'s lock."""

    def __init__(self, folder: Path, holder: str):
        self.folder, self.holder = folder, holder
        super().__init__(
            f"{folder} is in use by another initjax sweep ({holder}); wait for it to finish, "
            "stop it, or use another --out folder"
        )


def holder(folder: Path) -> str:
    """What the lock file of ``folder`` says about its holder (``pid N on HOST since T``)."""
    try:
        text = (Path(folder) / LOCK).read_text().split()
    except OSError:
        return "holder unknown"
    if len(text) >= 3:
        return f"PID {text[0]} on {text[1]}, since {time.ctime(float(text[2]))}"
    return "holder unknown"


def check(folder: str | os.PathLike[str]) -> None:
    """Raise :class:`FolderLocked` when a live process holds ``folder``'s lock; write nothing
    (a dry run's check: the folder and lock file are neither created nor changed)."""
    path = Path(folder) / LOCK
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # no lock file: nobody holds it
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # conflicts with a holder's LOCK_EX
    except BlockingIOError:
        raise FolderLocked(Path(folder), holder(Path(folder))) from None
    finally:
        os.close(fd)  # closing drops the shared lock


@contextlib.contextmanager
def hold(folder: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold ``folder``'s exclusive lock inside the block (the folder is created if needed).

    Raises :class:`FolderLocked` at once when a live process holds it. On exit the lock file
    is removed, and the folder too if this call created it and it is left empty.
    """
    folder = Path(folder)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise FolderLocked(folder, holder(folder)) from None
        # A releasing holder unlinks the file: if we locked an unlinked inode, try again.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {socket.gethostname()} {time.time():.0f}\n".encode())
        yield path
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)
        if created:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only succeeds when empty
