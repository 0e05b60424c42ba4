"""What a backup holds, written last: a directory without its manifest is no backup.

    DEST/manifest.json             this file
    DEST/database.sqlite           SQLite's online backup (or database.pgdump: pg_dump -Fc)
    DEST/store/slides/ab/cd/<sha256><suffix>    the content-addressed slide files
    DEST/store/pyramids/<slide id>.tilepack     built pyramids (rebuilding takes hours)
    DEST/store/uploads/*.part, transfers/*.part slides still arriving (sparse files)

Every stored file has its size and SHA-256 here; a slide file's is its name too.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, Field

from tiler.errors import SlideBridgeError

MANIFEST = "manifest.json"
STORE = "store"
#: Bumped when the layout changes; restore refuses a format it does not know.
FORMAT = 1


class BackupError(SlideBridgeError):
    """A backup or restore that cannot go on, with the reason for the operator."""


class StoredFile(BaseModel):
    size: int
    sha256: str
    #: When the source was last changed: an unchanged pyramid is not read again.
    mtime_ns: int = 0


class Manifest(BaseModel):
    format: int = FORMAT
    created_at: datetime
    #: "sqlite" or "postgresql": which dump file the directory holds.
    database: str
    #: The schema's migration at the time of the dump.
    revision: str | None
    #: Path under `store/` (the same as under the data directory) -> its size and hash.
    files: dict[str, StoredFile] = Field(default_factory=dict)

    @property
    def database_file(self) -> str:
        return "database.sqlite" if self.database == "sqlite" else "database.pgdump"


def read(directory: Path) -> Manifest | None:
    path = directory / MANIFEST
    if not path.is_file():
        return None
    manifest = Manifest.model_validate_json(path.read_text())
    if manifest.format != FORMAT:
        raise BackupError(f"{path}: backup format {manifest.format}, this version reads {FORMAT}")
    return manifest


def write(directory: Path, manifest: Manifest) -> None:
    """Atomically: the old manifest stays until the new one is complete on disk."""
    path = directory / MANIFEST
    temporary = path.with_suffix(".tmp")
    with open(temporary, "w") as handle:
        json.dump(manifest.model_dump(mode="json"), handle, indent=1, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)
