"""Where a slide's bytes live: the one storage contract of the service and the workers.

A slide file is stored once per content at `slides/ab/cd/<sha256><suffix>` under the
data directory (the suffix kept because OpenSlide recognises some formats by it); a
slide of several files (MIRAX, a DICOM series) is a folder `slides/ab/cd/<sha256>/`
holding them under their relative names, its SHA-256 that of its manifest (`set_digest`);
the same file registered at two sites is two slide records sharing one file. A
slide's pyramid is one tile pack, `pyramids/<slide id>.tilepack`, in the tile
format `PYRAMID_OPTIONS`; the tile routes serve it for requests in that format.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterable
from pathlib import Path

from app.core.config import Settings
from tiler.deepzoom import TileOptions

#: The pyramid every slide gets.
PYRAMID_OPTIONS = TileOptions()


def content_path(sha256: str, suffix: str) -> Path:
    """Where a file with this content lives, relative to the data directory."""
    return Path("slides") / sha256[:2] / sha256[2:4] / f"{sha256}{suffix}"


def slide_file(settings: Settings, storage_path: str) -> Path:
    """The stored file of a slide record (`SlideRecord.storage_path`)."""
    return settings.data_dir / storage_path


def pyramid_path(settings: Settings, slide_id: uuid.UUID) -> Path:
    return settings.pyramids_dir / f"{slide_id}.tilepack"


def file_sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def set_digest(files: Iterable[tuple[str, str]]) -> str:
    """The SHA-256 of a slide of several files: of its manifest, one line per file
    (`<sha256>  <relative path>`, as sha256sum prints them) in path order. Any file's
    content, name or presence changes it."""
    lines = "".join(f"{sha}  {name}\n" for name, sha in sorted(files))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def stored_sha256(path: Path) -> str:
    """The SHA-256 of a stored slide as its record keeps it: a file's, or a folder's
    manifest's (every file hashed)."""
    if not path.is_dir():
        return file_sha256(path)
    files = [p for p in path.rglob("*") if p.is_file()]
    return set_digest((p.relative_to(path).as_posix(), file_sha256(p)) for p in files)


def sync_dir(directory: Path) -> None:
    """Make a new or removed name in `directory` durable (a file's own fsync does not)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
