"""Where a slide's bytes live: the one storage contract of the service and the workers.

A slide file is stored once per content at `slides/ab/cd/<sha256><suffix>` under the
data directory (the suffix kept because OpenSlide recognises some formats by it);
the same file registered at two sites is two slide records sharing one file. A
slide's pyramid is one tile pack, `pyramids/<slide id>.tilepack`, in the tile
format `PYRAMID_OPTIONS`; the tile routes serve it for requests in that format.
"""

from __future__ import annotations

import hashlib
import uuid
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
