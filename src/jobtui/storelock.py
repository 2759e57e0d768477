"""Which console follows a batch: one lock file per batch beside the store.

Only one console may follow (and act on) a batch at a time. It holds an exclusive
`flock` on `locks/<batch>.lock` for as long as its store is open; the system drops the
lock when the process dies, even by kill -9, so a dead console never holds a batch.
The holder writes who it is into the file, for the message another console shows.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import socket
import time
from pathlib import Path


class StoreError(Exception):
    """The store cannot be opened, read or written, or does not hold what was asked."""


class BatchBusy(StoreError):
    """Another console follows the batch (and may act on it)."""


BATCH_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def follow(locks: Path, batch: str, command: str) -> int:
    """Take the batch's lock in `locks`; returns the descriptor that holds it (closing it
    lets go).

    Raises:
        BatchBusy: another console follows it; the message says which.
        StoreError: the batch id is not one, or the lock cannot be made.
    """
    if not BATCH_RE.match(batch):
        raise StoreError(f"invalid batch id {batch!r}")
    try:
        locks.mkdir(mode=0o700, exist_ok=True)
        fd = os.open(locks / f"{batch}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as e:
        raise StoreError(f"cannot lock batch {batch} in {locks}: {e.strerror}") from e
    try:
        _flock_soon(fd)
    except BlockingIOError:
        holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "another process"
        os.close(fd)
        raise BatchBusy(
            f"batch {batch} is followed by another console ({holder}); only one console"
            " may act on a batch: stop that one first, or look without acting with"
            " `jobtui watch -i INVENTORY`"
        ) from None
    who = f"pid {os.getpid()} on {socket.gethostname()}, {command}, since {time.ctime()}"
    os.ftruncate(fd, 0)
    os.pwrite(fd, who.encode(), 0)
    return fd


def follower(locks: Path, batch: str) -> str | None:
    """Who follows the batch now (as its follower wrote in the lock), or None: probed
    with a shared lock held for an instant (`follow` retries for a moment)."""
    if not BATCH_RE.match(batch):
        return None
    try:
        fd = os.open(locks / f"{batch}.lock", os.O_RDONLY)
    except FileNotFoundError:
        return None
    except OSError as e:
        return f"unknown: cannot read its lock: {e.strerror}"
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "another process"
    finally:
        os.close(fd)  # our probe's lock goes with it
    return None


def _flock_soon(fd: int, tries: int = 20) -> None:
    """Lock, retrying for a moment (`follower` may be probing); BlockingIOError if
    another console holds it."""
    for _ in range(tries - 1):
        with contextlib.suppress(BlockingIOError):
            return fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        time.sleep(0.01)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
