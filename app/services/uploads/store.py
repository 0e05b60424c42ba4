"""The bytes of an upload: `data_dir/uploads/<id>.part`, named by the upload id only.

A writer holds an exclusive `flock` on the part file for the length of one
request. flock belongs to the open file, so it is released when the handle is
closed: at the end of the request, when the client drops (the handler unwinds),
and when the process dies (the kernel closes everything), which is what lets a
restarted server or a reconnecting client take over at once.
"""

from __future__ import annotations

import fcntl
import os
import time
import uuid
from pathlib import Path
from typing import BinaryIO

from app.core.i18n import N_
from app.core.storage import sync_dir
from app.services.uploads.protocol import UploadGoneError, UploadLockedError


def uploads_dir(data_dir: Path) -> Path:
    return data_dir / "uploads"


def part_path(data_dir: Path, upload_id: uuid.UUID) -> Path:
    return uploads_dir(data_dir) / f"{upload_id.hex}.part"


def create_part(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "xb") as handle:
        os.fsync(handle.fileno())
    sync_dir(path.parent)


class PartWriter:
    """Exclusive appender to one part file; take it, then `begin` at the durable offset.

    The lock is taken before the offset is read from the database, so the offset
    cannot move between the check and the append.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            # Unbuffered: `sync` may run in another thread while the next batch is written,
            # and with no Python-side buffer every completed write is the kernel's.
            self.handle: BinaryIO = open(path, "r+b", buffering=0)  # noqa: SIM115 - see close()
        except FileNotFoundError:
            raise UploadGoneError(N_("the upload's bytes are gone")) from None
        try:
            fcntl.flock(self.handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.handle.close()
            raise UploadLockedError(N_("another request is writing this upload")) from None
        self.offset = 0

    def begin(self, offset: int) -> None:
        # Bytes past the committed offset were never acknowledged: drop them.
        self.rollback(offset)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:  # a raw write may take only part of the data
            written = self.handle.write(view)
            view = view[written:]
        self.offset += len(data)

    def sync(self) -> None:
        """Make every byte written before this call durable."""
        os.fsync(self.handle.fileno())

    def rollback(self, offset: int) -> None:
        """Forget bytes after `offset` (a failed checksum): they were never reported."""
        self.handle.truncate(offset)
        self.handle.seek(offset)
        self.offset = offset

    def close(self) -> None:
        self.handle.close()  # releases the lock


def wait_for_writer(path: Path, timeout: float) -> bool:
    """Wait up to `timeout` s for the upload's writer to finish; True if none is left.

    A client that lost its connection asks for the offset at once; the server may
    not yet have seen the drop. Waiting for that request to end (it commits the
    bytes that did arrive) makes the answer include them, instead of an older offset
    that would have the client send them again.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            PartWriter(path).close()
            return True
        except UploadLockedError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        except UploadGoneError:
            return True


def remove_part(path: Path) -> None:
    if path.exists():
        path.unlink()
        sync_dir(path.parent)
