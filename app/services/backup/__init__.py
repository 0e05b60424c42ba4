"""`slidebridge backup DEST` and `restore SRC`: the database and the slide store, together.

Backup dumps the database first, then copies the store: every file a row of the
dump names was stored before that row was committed, so it is in the copy (files
added meanwhile are extra, harmless). The manifest is written last. A second
backup into the same directory copies only what changed.

Restore refuses a database that holds tables unless told to replace them, copies
and checks the files first (a damaged backup stops before the database is touched),
then loads the database and migrates it to this version's schema. Stop the hub's
processes first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.core.config import Settings
from app.core.db import Database
from app.models.types import utcnow
from app.services.backup import database, manifest, store
from app.services.backup.manifest import BackupError, Manifest
from app.services.backup.store import Progress, Quiet, Report

__all__ = ["BackupError", "Progress", "Quiet", "Summary", "back_up", "restore"]


@dataclass(frozen=True)
class Summary:
    database: str
    database_bytes: int
    revision: str | None
    files: Report


def back_up(
    settings: Settings, dest: Path, progress: Progress | None = None, *, verify: bool = False
) -> Summary:
    """Back up into `dest` (made if missing; a previous backup there is updated)."""
    progress = progress or Quiet()
    dest.mkdir(parents=True, exist_ok=True)
    previous = manifest.read(dest)
    if previous is None and any(dest.iterdir()):
        raise BackupError(f"{dest} holds other files: back up into an empty directory")
    made = Manifest(created_at=utcnow(), database=database.kind(settings), revision=None)
    dump = dest / made.database_file
    database.dump(settings, dump)
    made.revision = database.revision(settings)
    files, report = store.back_up(
        settings.data_dir,
        dest / manifest.STORE,
        previous.files if previous else {},
        progress,
        verify=verify,
    )
    made.files = files
    manifest.write(dest, made)
    store.prune(dest / manifest.STORE, files)
    if previous is not None and previous.database_file != made.database_file:
        (dest / previous.database_file).unlink(missing_ok=True)
    return Summary(made.database, dump.stat().st_size, made.revision, report)


def restore(
    settings: Settings,
    source: Path,
    progress: Progress | None = None,
    *,
    replace: bool = False,
    verify: bool = False,
) -> Summary:
    """Restore the backup in `source` into the configured database and data directory."""
    progress = progress or Quiet()
    found = manifest.read(source)
    if found is None:
        raise BackupError(f"{source} holds no {manifest.MANIFEST}: not a finished backup")
    here = database.kind(settings)
    if found.database != here:
        raise BackupError(f"a {found.database} backup restores into {found.database}, not {here}")
    if not replace and database.holds_tables(settings):
        raise BackupError("the database is not empty: give --replace to overwrite it")
    report = store.restore(
        source / manifest.STORE, settings.data_dir, found.files, progress, verify=verify
    )
    dump = source / found.database_file
    database.load(settings, dump, replace=replace)
    db = Database.from_settings(settings)
    try:
        db.migrate()  # a backup of an older version comes up at this version's schema
    finally:
        db.dispose()
    return Summary(found.database, dump.stat().st_size, found.revision, report)
