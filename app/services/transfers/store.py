"""The bytes of a transfer: `data_dir/transfers/<id>.part`, a sparse file of the declared size.

Each range is written at its own offset and fsynced before it is recorded: the
database never claims a byte the disk does not hold. Holes read as zeros and are
never read as data (the received ranges say what is there). One writer at a time
per transfer, across processes: an exclusive `flock` on the part file, held only
for the check, the write and the record (a range's body is read before it is taken).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from app.core.errors import ConflictError
from app.core.i18n import N_
from app.core.storage import sync_dir

#: How long a writer waits for another request on the same transfer to finish its write.
LOCK_WAIT_SECONDS = 30.0


def transfers_dir(data_dir: Path) -> Path:
    return data_dir / "transfers"


def part_path(data_dir: Path, transfer_id: uuid.UUID) -> Path:
    return transfers_dir(data_dir) / f"{transfer_id.hex}.part"


def relative_part_path(transfer_id: uuid.UUID) -> str:
    """The part file relative to the data directory: the slide record's storage path
    while its bytes arrive."""
    return f"transfers/{transfer_id.hex}.part"


def create_part(path: Path, size: int) -> None:
    """A sparse file of `size` bytes: no disk is used until ranges arrive."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "xb") as handle:
        handle.truncate(size)
        os.fsync(handle.fileno())
    sync_dir(path.parent)


def remove_part(path: Path) -> None:
    path.unlink(missing_ok=True)


@contextmanager
def locked(path: Path, timeout: float = LOCK_WAIT_SECONDS) -> Iterator[int]:
    """An exclusive lock on the part file for one write; yields the open descriptor."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        raise ConflictError(N_("the transfer's bytes are gone")) from None
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ConflictError(N_("another request is writing this transfer")) from None
                time.sleep(0.01)
        yield fd
    finally:
        os.close(fd)  # releases the lock


def write_at(fd: int, start: int, data: bytes) -> None:
    """Write `data` at `start` and make it durable."""
    view = memoryview(data)
    offset = start
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written
    os.fsync(fd)


def digest_at(path: Path, start: int, end: int) -> str:
    """SHA-256 of bytes [start, end) of the part file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        handle.seek(start)
        left = end - start
        while left:
            chunk = handle.read(min(left, 1 << 20))
            if not chunk:
                break
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()
