"""Streaming one PATCH (or creation-with-upload) body into the part file.

The body is never held whole: chunks from the socket are gathered up to
`_BATCH` bytes and written (and hashed, for Upload-Checksum) in a worker
thread, so the event loop keeps serving other clients. The offset is reported
only after fsync:

- without a checksum, every `commit_bytes` and at the end, and also when the
  client drops mid-body: the bytes that did arrive are a correct prefix (TCP),
  so keeping them is what spares a flaky link from sending them again. The
  periodic fsync runs in the background while later bytes keep arriving (an
  fsync covers what was written before it), so the disk and the network overlap;
- with a checksum, only at the end and only if the digest matches; otherwise,
  or when the body is cut short, the part file is cut back and nothing is appended.

A body can take an hour over a slow link: when the request's credential falls
meanwhile (`ended()` says why), the body is refused (401) with what was made
durable kept, as for a client that dropped.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from starlette.requests import ClientDisconnect, Request

from app.core.errors import AuthenticationError
from app.core.i18n import N_
from app.services.uploads.protocol import Checksum, ChecksumMismatchError, UploadTooLargeError
from app.services.uploads.store import PartWriter

_BATCH = 1024 * 1024

Commit = Callable[[int], Awaitable[None]]


class _Durable:
    """fsync then commit a prefix of the upload, in the background or at the end."""

    def __init__(self, writer: PartWriter, commit: Commit) -> None:
        self.writer = writer
        self.commit = commit
        self.committed = writer.offset
        self.task: asyncio.Task[int] | None = None

    async def _run(self, target: int) -> int:
        await anyio.to_thread.run_sync(self.writer.sync)
        await self.commit(target)
        return target

    async def step(self, every: int) -> None:
        """Collect a finished background sync; start one if `every` bytes are pending."""
        if self.task is not None and self.task.done():
            await self.wait()
        if self.task is None and self.writer.offset - self.committed >= every:
            self.task = asyncio.create_task(self._run(self.writer.offset))

    async def wait(self) -> None:
        if self.task is not None:
            task, self.task = self.task, None
            self.committed = await task

    async def all_written(self) -> None:
        await self.wait()
        if self.writer.offset != self.committed:
            self.committed = await self._run(self.writer.offset)


class _Sink:
    """Writes batches and feeds the checksum; runs in a worker thread."""

    def __init__(self, writer: PartWriter, checksum: Checksum | None) -> None:
        self.writer = writer
        self.hasher: Any = checksum.new_hasher() if checksum else None

    def write(self, data: bytes) -> None:
        if self.hasher is not None:
            self.hasher.update(data)
        self.writer.write(data)


async def receive_body(
    request: Request,
    writer: PartWriter,
    length: int,
    checksum: Checksum | None,
    commit: Commit,
    commit_bytes: int,
    ended: Callable[[], str | None] = lambda: None,
) -> bool:
    """Append the body at `writer.offset`; returns False if the client went away.

    `commit(offset)` records a durable offset; it is called only after fsync.
    `ended()` is asked at every chunk: a reason refuses the rest of the body.
    """
    start = writer.offset
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and start + int(declared) > length:
        raise UploadTooLargeError(N_("the body goes past Upload-Length"))
    sink = _Sink(writer, checksum)
    durable = _Durable(writer, commit)
    # With a checksum nothing may be reported before the digest is checked.
    every = commit_bytes if checksum is None else length + 1
    batch = bytearray()
    completed = False
    try:
        async for chunk in request.stream():
            if (reason := ended()) is not None:
                raise AuthenticationError(reason)
            if writer.offset + len(batch) + len(chunk) > length:
                raise UploadTooLargeError(N_("the body goes past Upload-Length"))
            batch += chunk
            if len(batch) >= _BATCH:
                data, batch = bytes(batch), bytearray()
                await anyio.to_thread.run_sync(sink.write, data)
                await durable.step(every)
        completed = True
    except ClientDisconnect:
        pass
    except BaseException:
        await durable.wait()
        await anyio.to_thread.run_sync(writer.rollback, durable.committed)
        raise
    if batch:
        await anyio.to_thread.run_sync(sink.write, bytes(batch))
    if checksum is not None:
        if not completed:
            await anyio.to_thread.run_sync(writer.rollback, start)
            return False
        if not hmac.compare_digest(sink.hasher.digest(), checksum.digest):
            await anyio.to_thread.run_sync(writer.rollback, start)
            raise ChecksumMismatchError(
                N_("{algorithm} of the body does not match", algorithm=checksum.algorithm)
            )
    await durable.all_written()
    return completed
