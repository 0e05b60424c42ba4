"""Slides of several files (a DICOM WSI series, MIRAX `.mrxs` + folder), staged as one.

The client declares the set first, a manifest of every file's relative name, size and
SHA-256; each file is written to a staging folder of its own while hashed, and checked
against its declaration as its last byte arrives. The set becomes a slide only when
every declared file has arrived intact and nothing undeclared came with it; then
`slides.register` reads it through the engine (`tiler.slide_folder`: complete and of
one slide, then OpenSlide) and stores the folder content-addressed by the manifest's
digest (`storage.set_digest`). Any refusal removes the staging folder: nothing is kept.

Relative names are the one place a client's names become paths: the format needs them
(Slidedat.ini names its data files; the `.mrxs` and its folder share a stem), so they
are checked by `tiler.slide_folder.check_relative_name` (a small character set, at
most two levels, no `..`) and joined below a fresh staging folder only.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from pydantic import BaseModel, Field, ValidationError
from python_multipart.multipart import parse_options_header
from sqlalchemy import update
from sqlmodel import col, select
from starlette.requests import Request

from app.core.db import Database
from app.core.errors import PayloadTooLargeError, UnprocessableError
from app.core.i18n import N_
from app.core.storage import set_digest
from app.models.uploads import Upload, UploadPurpose, UploadStatus
from app.services.staging import (
    MAX_FIELD_BYTES,
    MAX_FIELDS,
    StagedFile,
    display_name,
    stream_parts,
)
from app.services.uploads.store import part_path, remove_part
from tiler.errors import SlideBridgeError
from tiler.slide_folder import MAX_FILES, check_relative_name, list_files

_CHUNK = 1024 * 1024
_SHA256 = r"^[0-9a-f]{64}$"


class SetFile(BaseModel):
    path: str = Field(max_length=260, description="relative name inside the slide's folder")
    size: int = Field(ge=0)
    sha256: str = Field(pattern=_SHA256)


class SetManifest(BaseModel):
    """What a client declares before the files of a slide set: all of them."""

    name: str = Field(default="slide", max_length=255, description="display name")
    files: list[SetFile] = Field(min_length=1, max_length=MAX_FILES)


@dataclass
class SetForm:
    staged: StagedFile
    fields: dict[str, str] = field(default_factory=dict)
    #: Declared files the body did not carry: sent before, resumably, as set parts
    #: (`fill_from_parts`), or the set is incomplete.
    missing: dict[str, SetFile] = field(default_factory=dict)


def _checked(manifest: SetManifest, max_bytes: int) -> dict[str, SetFile]:
    declared: dict[str, SetFile] = {}
    for item in manifest.files:
        try:
            name = check_relative_name(item.path).as_posix()
        except SlideBridgeError as error:
            raise UnprocessableError(error.reason) from error
        if name.lower() in {n.lower() for n in declared}:
            raise UnprocessableError(N_("{name}: declared twice", name=name))
        declared[name] = item
    if sum(f.size for f in manifest.files) > max_bytes:
        raise PayloadTooLargeError(
            N_("the slide's files are larger than {max_bytes} bytes", max_bytes=max_bytes)
        )
    return declared


def _refuse_mismatch(name: str, expected: SetFile, size: int, digest: str) -> None:
    if size != expected.size:
        raise UnprocessableError(
            N_(
                "{name}: {size} bytes arrived, the manifest says {expected}",
                name=name,
                size=size,
                expected=expected.size,
            )
        )
    if digest != expected.sha256:
        raise UnprocessableError(
            N_("{name}: its SHA-256 differs from the manifest's: send it again", name=name)
        )


def _staged(folder: Path, manifest: SetManifest) -> StagedFile:
    digest = set_digest((f.path, f.sha256) for f in manifest.files)
    total = sum(f.size for f in manifest.files)
    return StagedFile(folder, digest, total, display_name(manifest.name))


def stage_local_folder(source: Path, staging_dir: Path, max_bytes: int) -> StagedFile:
    """Copy a folder given on the command line into staging, each file hashed on the way
    (the manifest is made here, from what was read)."""
    try:
        names = list_files(source)
    except SlideBridgeError as error:
        raise UnprocessableError(error.reason) from error
    folder = staging_dir / uuid.uuid4().hex
    files: list[SetFile] = []
    try:
        total = 0
        for name in names:
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256()
            size = 0
            with open(source / name, "rb") as src, open(target, "wb") as dst:
                while chunk := src.read(_CHUNK):
                    size += len(chunk)
                    total += len(chunk)
                    if total > max_bytes:
                        raise PayloadTooLargeError(
                            N_("the folder is larger than {max_bytes} bytes", max_bytes=max_bytes)
                        )
                    digest.update(chunk)
                    dst.write(chunk)
                dst.flush()
                os.fsync(dst.fileno())
            files.append(SetFile(path=name, size=size, sha256=digest.hexdigest()))
        if not files:
            raise UnprocessableError(N_("{name}: an empty folder", name=source.name))
        return _staged(folder, SetManifest(name=source.name, files=files))
    except BaseException:
        StagedFile(folder, "", 0, "").discard()
        raise


class _SetReader:
    """Push-parser callbacks for a slide set: `manifest` first, then one `file` part per
    declared file (its filename the declared relative name), checked as it ends."""

    def __init__(self, staging_dir: Path, max_bytes: int) -> None:
        self.folder = staging_dir / uuid.uuid4().hex
        self.max_bytes = max_bytes
        self.fields: dict[str, str] = {}
        self.manifest: SetManifest | None = None
        self.declared: dict[str, SetFile] = {}
        self.received: set[str] = set()
        self.pending: list[bytes] = []
        self.handle: BinaryIO | None = None
        self.current: str | None = None
        self.digest = hashlib.sha256()
        self.size = 0
        self.total = 0
        self._field = b""
        self._value = b""
        self._headers: dict[str, bytes] = {}
        self._name = ""
        self._text = bytearray()

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self._begin,
            "on_header_field": lambda d, s, e: setattr(self, "_field", self._field + d[s:e]),
            "on_header_value": lambda d, s, e: setattr(self, "_value", self._value + d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._end,
        }

    def _begin(self) -> None:
        self._headers, self._text, self.current = {}, bytearray(), None

    def _header_end(self) -> None:
        self._headers[self._field.decode("latin-1").lower()] = self._value
        self._field, self._value = b"", b""

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get("content-disposition", b""))
        self._name = params.get(b"name", b"").decode("utf-8", "replace")
        filename = params.get(b"filename")
        if filename is None:
            if len(self.fields) >= MAX_FIELDS:
                raise UnprocessableError(N_("too many form fields"))
            return
        if self.manifest is None:
            raise UnprocessableError(N_("send the 'manifest' field before the files"))
        if self._name != "file":
            raise UnprocessableError(N_("send each file in a form field 'file'"))
        name = filename.decode("utf-8", "replace")
        if name not in self.declared:
            raise UnprocessableError(N_("{name} is not in the manifest", name=repr(name[:80])))
        if name in self.received:
            raise UnprocessableError(N_("{name}: sent twice", name=name))
        self.current = name
        target = self.folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(target, "wb")  # noqa: SIM115 - closed in _end()/abort()
        self.digest, self.size = hashlib.sha256(), 0

    def _data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self.current is None:
            self._text += chunk
            if len(self._text) > (1 << 20 if self._name == "manifest" else MAX_FIELD_BYTES):
                raise UnprocessableError(N_("form field {name} is too long", name=repr(self._name)))
            return
        self.size += len(chunk)
        self.total += len(chunk)
        if self.size > self.declared[self.current].size:
            raise UnprocessableError(
                N_("{current}: longer than the manifest says", current=self.current)
            )
        if self.total > self.max_bytes:
            raise PayloadTooLargeError(
                N_("the slide's files are larger than {max_bytes} bytes", max_bytes=self.max_bytes)
            )
        self.digest.update(chunk)
        self.pending.append(chunk)

    def _end(self) -> None:
        if self.current is None:
            text = self._text.decode("utf-8", "replace")
            if self._name == "manifest":
                if self.manifest is not None:
                    raise UnprocessableError(N_("one 'manifest' field per slide"))
                self.manifest = _parse_manifest(text)
                self.declared = _checked(self.manifest, self.max_bytes)
                self.folder.mkdir(parents=True)
            else:
                self.fields[self._name] = text
            return
        self.flush()
        assert self.handle is not None
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        self.handle = None
        name, self.current = self.current, None
        _refuse_mismatch(name, self.declared[name], self.size, self.digest.hexdigest())
        self.received.add(name)

    def flush(self) -> None:
        if self.handle is not None and self.pending:
            self.handle.write(b"".join(self.pending))
        self.pending = []

    def finish(self) -> SetForm:
        if self.manifest is None:
            raise UnprocessableError(N_("no 'manifest' field: declare the slide's files first"))
        missing = {n: f for n, f in self.declared.items() if n not in self.received}
        return SetForm(_staged(self.folder, self.manifest), self.fields, missing)

    def abort(self) -> None:
        if self.handle is not None:
            self.handle.close()
        StagedFile(self.folder, "", 0, "").discard()


def _parse_manifest(text: str) -> SetManifest:
    try:
        return SetManifest.model_validate(json.loads(text))
    except (ValueError, ValidationError) as error:
        reason = " ".join(str(error).split())[:300]
        raise UnprocessableError(
            N_("the manifest is not valid: {reason}", reason=reason)
        ) from error


async def receive_set(request: Request, staging_dir: Path, max_bytes: int) -> SetForm:
    """Parse a slide set's multipart body as it arrives; files go straight to staging."""
    content_type, params = parse_options_header(request.headers.get("content-type"))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise UnprocessableError(N_("send the slide's files as multipart/form-data"))
    return await stream_parts(request, _SetReader(staging_dir, max_bytes), boundary)


def fill_from_parts(
    db: Database, data_dir: Path, form: SetForm, site_id: uuid.UUID
) -> list[uuid.UUID]:
    """Each declared file the body did not carry, from a set part of the same site with
    its size and SHA-256 (sent before with tus, verified on arrival), hard-linked into
    the staging folder; the parts used. Refuses the set, naming a file, when one of them
    is held by no part: the set is incomplete."""
    used: list[uuid.UUID] = []
    unsent: list[str] = []
    for name, declared in sorted(form.missing.items()):
        part = _held_part(db, data_dir, site_id, declared)
        if part is None:
            unsent.append(name)
            continue
        target = form.staged.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(part_path(data_dir, part), target)
        except FileNotFoundError:  # reaped, or used by another manifest, just now
            unsent.append(name)
            continue
        used.append(part)
    if len(unsent) == 1:
        raise UnprocessableError(N_("incomplete slide: {name} was not sent", name=unsent[0]))
    if unsent:
        raise UnprocessableError(
            N_(
                "incomplete slide: {name} was not sent (and {count} more)",
                name=unsent[0],
                count=len(unsent) - 1,
            )
        )
    return used


def _held_part(
    db: Database, data_dir: Path, site_id: uuid.UUID, declared: SetFile
) -> uuid.UUID | None:
    with db.read() as session:
        ids = session.exec(
            select(Upload.id).where(
                Upload.site_id == site_id,
                Upload.purpose == UploadPurpose.set_part,
                Upload.status == UploadStatus.completed,
                Upload.sha256 == declared.sha256,
                Upload.length == declared.size,
                col(Upload.slide_id).is_(None),
            )
        ).all()
    return next((i for i in ids if part_path(data_dir, i).exists()), None)


def release_parts(
    db: Database, data_dir: Path, parts: list[uuid.UUID], slide_id: uuid.UUID
) -> None:
    """The parts a registered set was made of: their bytes are in the slide now (the row
    names it, as a finished slide upload's does)."""
    if not parts:
        return
    with db.write() as session:
        session.execute(update(Upload).where(col(Upload.id).in_(parts)).values(slide_id=slide_id))
    for upload_id in parts:
        remove_part(part_path(data_dir, upload_id))
