"""Incoming slide files: written once to the staging area while hashing, never trusted by name.

Uploads are parsed as a stream (python-multipart's push parser), so a slide of
many gigabytes never sits in memory or in a second temporary file, the size limit
is enforced while bytes arrive, and an unauthenticated client is refused before
its body is read (the route checks the user first). The client's file name is
display text only: the staged file is named by a random id plus a sanitised suffix,
which OpenSlide needs to recognise some formats.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol, TypeVar

import anyio
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from app.core.errors import PayloadTooLargeError, UnprocessableError
from app.core.i18n import N_

T = TypeVar("T", covariant=True)
_SUFFIX = re.compile(r"\.[a-z0-9]{1,8}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CHUNK = 1024 * 1024
#: Text fields of the upload form are short (a site code, a flag).
MAX_FIELD_BYTES = 1024
MAX_FIELDS = 16


@dataclass
class StagedFile:
    path: Path
    sha256: str
    size: int
    display_name: str

    def discard(self) -> None:
        if self.path.is_dir():  # the files of one slide (`slide_sets`)
            shutil.rmtree(self.path, ignore_errors=True)
        else:
            self.path.unlink(missing_ok=True)


@dataclass
class UploadForm:
    file: StagedFile | None = None
    fields: dict[str, str] = field(default_factory=dict)


def display_name(filename: str) -> str:
    """The last path component of a client's file name, without control characters."""
    name = re.split(r"[\\/]", filename)[-1]
    name = _CONTROL.sub("", name).strip() or "slide"
    return name[:255]


def safe_suffix(filename: str) -> str:
    suffix = Path(display_name(filename)).suffix.lower()
    return suffix if _SUFFIX.fullmatch(suffix) else ""


def staging_path(staging_dir: Path, filename: str) -> Path:
    staging_dir.mkdir(parents=True, exist_ok=True)
    return staging_dir / f"{uuid.uuid4().hex}{safe_suffix(filename)}"


def stage_local_file(source: Path, staging_dir: Path, max_bytes: int) -> StagedFile:
    """Copy a file given on the command line into staging, hashing it on the way."""
    target = staging_path(staging_dir, source.name)
    digest = hashlib.sha256()
    size = 0
    try:
        with open(source, "rb") as src, open(target, "wb") as dst:
            while chunk := src.read(_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise PayloadTooLargeError(
                        N_("file is larger than {max_bytes} bytes", max_bytes=max_bytes)
                    )
                digest.update(chunk)
                dst.write(chunk)
            _sync(dst)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return StagedFile(target, digest.hexdigest(), size, display_name(source.name))


def _sync(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())


class _FormReader:
    """Callbacks for the push parser; file bytes are queued and written off the event loop."""

    def __init__(self, staging_dir: Path, max_bytes: int) -> None:
        self.staging_dir = staging_dir
        self.max_bytes = max_bytes
        self.form = UploadForm()
        self.pending: list[bytes] = []
        self.handle: BinaryIO | None = None
        self.digest = hashlib.sha256()
        self.size = 0
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[str, bytes] = {}
        self._name = ""
        self._is_file = False
        self._text = bytearray()

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field_data,
            "on_header_value": self._header_value_data,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._headers = {}
        self._text = bytearray()

    def _header_field_data(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_field.decode("latin-1").lower()] = self._header_value
        self._header_field = b""
        self._header_value = b""

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get("content-disposition", b""))
        self._name = params.get(b"name", b"").decode("utf-8", "replace")
        filename = params.get(b"filename")
        self._is_file = filename is not None
        if not self._is_file:
            if len(self.form.fields) >= MAX_FIELDS:
                raise UnprocessableError(N_("too many form fields"))
            return
        if self._name != "file" or self.form.file is not None:
            raise UnprocessableError(N_("send exactly one file, in the form field 'file'"))
        client_name = filename.decode("utf-8", "replace") if filename else "slide"
        path = staging_path(self.staging_dir, client_name)
        self.handle = open(path, "wb")  # noqa: SIM115 - closed in finish()/abort()
        self.form.file = StagedFile(path, "", 0, display_name(client_name))

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if not self._is_file:
            self._text += chunk
            if len(self._text) > MAX_FIELD_BYTES:
                raise UnprocessableError(N_("form field {name} is too long", name=repr(self._name)))
            return
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise PayloadTooLargeError(
                N_("file is larger than {max_bytes} bytes", max_bytes=self.max_bytes)
            )
        self.digest.update(chunk)
        self.pending.append(chunk)

    def _part_end(self) -> None:
        if not self._is_file:
            self.form.fields[self._name] = self._text.decode("utf-8", "replace")

    def flush(self) -> None:
        if self.handle is not None and self.pending:
            self.handle.write(b"".join(self.pending))
        self.pending = []

    def finish(self) -> UploadForm:
        self.flush()
        if self.handle is not None and self.form.file is not None:
            _sync(self.handle)
            self.handle.close()
            self.form.file.sha256 = self.digest.hexdigest()
            self.form.file.size = self.size
        return self.form

    def abort(self) -> None:
        if self.handle is not None:
            self.handle.close()
        if self.form.file is not None:
            self.form.file.discard()


async def receive_upload(request: Request, staging_dir: Path, max_bytes: int) -> UploadForm:
    """Parse a multipart/form-data body as it arrives; the file goes straight to staging."""
    content_type, params = parse_options_header(request.headers.get("content-type"))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise UnprocessableError(N_("send the slide as multipart/form-data with a 'file' field"))
    form = await stream_parts(request, _FormReader(staging_dir, max_bytes), boundary)
    if form.file is None or form.file.size == 0:
        if form.file is not None:
            form.file.discard()
        raise UnprocessableError(N_("no file: send the slide in the form field 'file'"))
    return form


class PartReader(Protocol[T]):
    """What `stream_parts` drives: push-parser callbacks, file bytes queued in `pending`."""

    pending: list[bytes]

    def callbacks(self) -> dict[str, Callable[..., None]]: ...
    def flush(self) -> None: ...
    def finish(self) -> T: ...
    def abort(self) -> None: ...


async def stream_parts(request: Request, reader: PartReader[T], boundary: bytes) -> T:
    """Feed a multipart body to `reader` as it arrives, file bytes written off the event
    loop; `reader.abort()` (nothing kept) on any failure."""
    parser = MultipartParser(boundary, reader.callbacks())  # type: ignore[arg-type]
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            if reader.pending:
                await anyio.to_thread.run_sync(reader.flush)
        parser.finalize()
        return await anyio.to_thread.run_sync(reader.finish)
    except MultipartParseError as error:
        reader.abort()
        raise UnprocessableError(N_("malformed multipart body: {error}", error=error)) from error
    except BaseException:
        reader.abort()
        raise


def move_into_place(staged: StagedFile, target: Path) -> None:
    """Publish a staged file at its content address; identical content may already be there."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        staged.discard()
        return
    try:
        os.replace(staged.path, target)
    except OSError:  # staging on another filesystem (should not happen, but be correct)
        shutil.move(staged.path, target)


def sweep(staging_dir: Path, older_than_s: float = 24 * 3600) -> int:
    """Delete staged files a killed process left behind; young ones may be uploads in flight."""
    if not staging_dir.is_dir():
        return 0
    cutoff = time.time() - older_than_s
    removed = 0
    for path in staging_dir.iterdir():
        if path.is_file() and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed += 1
    return removed
