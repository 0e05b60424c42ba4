"""The files of a data directory copied to a backup and back, each hashed as it is copied.

A slide file is named by its SHA-256, so a copy already in the backup is the same
bytes and is not read again (`--verify` reads everything anyway); a slide whose bytes
no longer match its name is reported, never copied over a good copy. Pyramids are
copied again when their size or modification time changed; the part files of slides
still arriving every time (they grow). Part files are sparse: holes stay holes.
Every copy is written aside, fsynced and renamed: a file in the backup is whole.
"""

from __future__ import annotations

import errno
import hashlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Protocol

from app.services.backup.manifest import BackupError, StoredFile

#: The parts of a data directory a backup holds (the database is dumped on its own).
PARTS = ("slides", "pyramids", "uploads", "transfers")
CHUNK = 4 * 1024 * 1024
_ZEROS = bytes(CHUNK)


class Progress(Protocol):
    """Told how many bytes there are to copy, then as they are copied."""

    def begin(self, description: str, total: int) -> None: ...

    def advance(self, done: int) -> None: ...

    def end(self) -> None: ...


class Quiet:
    def begin(self, description: str, total: int) -> None:
        pass

    def advance(self, done: int) -> None:
        pass

    def end(self) -> None:
        pass


@dataclass
class Report:
    copied: int = 0
    copied_bytes: int = 0
    unchanged: int = 0
    unchanged_bytes: int = 0
    #: Slide files whose bytes do not match their name: damaged on the hub's disk.
    damaged: list[str] = field(default_factory=list)

    def kept(self, size: int) -> None:
        self.unchanged += 1
        self.unchanged_bytes += size

    def wrote(self, size: int) -> None:
        self.copied += 1
        self.copied_bytes += size


def checked_path(relative: str) -> PurePosixPath:
    """A manifest's path, refused unless it is a plain file path inside one of `PARTS`
    (a backup directory comes from outside the service)."""
    path = PurePosixPath(relative)
    if (
        path.is_absolute()
        or ".." in path.parts
        or len(path.parts) < 2
        or path.parts[0] not in PARTS
    ):
        raise BackupError(f"not a stored file's path: {relative[:200]!r}")
    return path


def _content_addressed(relative: str) -> str | None:
    """The SHA-256 a slide file's name promises, or None for other files."""
    path = PurePosixPath(relative)
    return path.name[:64] if path.parts[0] == "slides" else None


def source_files(data_dir: Path) -> Iterator[tuple[str, Path, os.stat_result]]:
    """Every stored file under the data directory, skipping temporaries (dot files)."""
    for part in PARTS:
        root = data_dir / part
        for directory, subdirectories, names in os.walk(root):
            subdirectories[:] = sorted(name for name in subdirectories if not name.startswith("."))
            for name in sorted(names):
                if name.startswith("."):
                    continue
                path = Path(directory) / name
                stat = path.lstat()
                if path.is_file() and not path.is_symlink():
                    yield path.relative_to(data_dir).as_posix(), path, stat


def _segments(fd: int, size: int) -> Iterator[tuple[int, int, bool]]:
    """(start, end, holds data) over the file's first `size` bytes: a sparse file's
    holes are not read."""
    position = 0
    while position < size:
        try:
            data = os.lseek(fd, position, os.SEEK_DATA)
        except OSError as error:
            if error.errno != errno.ENXIO:
                raise
            data = size  # nothing but a hole to the end
        data = min(data, size)
        if data > position:
            yield position, data, False
        if data >= size:
            return
        hole = min(os.lseek(fd, data, os.SEEK_HOLE), size)
        yield data, hole, True
        position = hole


def copy_hashed(source: Path, target: Path, size: int, progress: Progress) -> str:
    """Copy the first `size` bytes of `source` to `target` (aside, fsync, rename); the
    SHA-256 of what was copied."""
    target.parent.mkdir(parents=True, exist_ok=True)
    aside = target.parent / f".{target.name}.{uuid.uuid4().hex}.tmp"
    digest = hashlib.sha256()
    try:
        with open(source, "rb") as reader, open(aside, "wb") as writer:
            writer.truncate(size)
            for start, end, has_data in _segments(reader.fileno(), size):
                position = start
                while position < end:
                    count = min(CHUNK, end - position)
                    if has_data:
                        chunk = os.pread(reader.fileno(), count, position)
                        if len(chunk) < count:
                            raise BackupError(f"{source} shrank while it was copied")
                        os.pwrite(writer.fileno(), chunk, position)
                        digest.update(chunk)
                    else:
                        digest.update(_ZEROS[:count])
                    position += count
                    progress.advance(count)
            os.fsync(writer.fileno())
        aside.replace(target)
    finally:
        aside.unlink(missing_ok=True)
    return digest.hexdigest()


def file_hash(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _unchanged(
    relative: str,
    source: Path,
    stat: os.stat_result,
    old: StoredFile | None,
    target: Path,
    verify: bool,
) -> bool:
    """Is the backup's copy still good for this file? With `verify`, both the hub's file
    and the copy are read again (a scrub of both)."""
    if old is None or old.size != stat.st_size or not target.is_file():
        return False
    if target.stat().st_size != old.size:
        return False
    if relative.startswith("slides/"):
        same = True  # the name is the content
    elif relative.startswith("pyramids/"):
        same = old.mtime_ns == stat.st_mtime_ns  # published once, replaced by a rename
    else:
        same = False  # a part file grows while its slide arrives
    if not same or not verify:
        return same
    return file_hash(target) == old.sha256 and file_hash(source) == old.sha256


def back_up(
    data_dir: Path,
    store: Path,
    previous: dict[str, StoredFile],
    progress: Progress,
    *,
    verify: bool = False,
) -> tuple[dict[str, StoredFile], Report]:
    """Copy what changed since `previous` (the last backup's files) into `store`."""
    report = Report()
    files: dict[str, StoredFile] = {}
    to_copy: list[tuple[str, Path, os.stat_result]] = []
    for relative, path, stat in source_files(data_dir):
        old = previous.get(relative)
        if _unchanged(relative, path, stat, old, store / relative, verify):
            assert old is not None
            files[relative] = old
            report.kept(old.size)
        else:
            to_copy.append((relative, path, stat))
    progress.begin("slide store", sum(stat.st_size for _, _, stat in to_copy))
    for relative, path, stat in to_copy:
        promised = _content_addressed(relative)
        target = store / relative
        if promised is not None:
            # Hashed into a scratch name first: damaged bytes never replace a good copy.
            scratch = target.with_name(f".{target.name}.check")
            digest = copy_hashed(path, scratch, stat.st_size, progress)
            if digest != promised:
                scratch.unlink()
                report.damaged.append(relative)
                old = previous.get(relative)
                if old is not None and target.is_file():
                    files[relative] = old
                continue
            scratch.replace(target)
        else:
            digest = copy_hashed(path, target, stat.st_size, progress)
        files[relative] = StoredFile(size=stat.st_size, sha256=digest, mtime_ns=stat.st_mtime_ns)
        report.wrote(stat.st_size)
    progress.end()
    return files, report


def prune(store: Path, keep: dict[str, StoredFile]) -> None:
    """Remove what the backup no longer holds (slides deleted since the last one)."""
    for part in PARTS:
        for directory, _subdirectories, names in os.walk(store / part):
            for name in names:
                path = Path(directory) / name
                if path.relative_to(store).as_posix() not in keep:
                    path.unlink()


def restore(
    store: Path,
    data_dir: Path,
    files: dict[str, StoredFile],
    progress: Progress,
    *,
    verify: bool = False,
) -> Report:
    """Copy the backup's files into the data directory, each checked against its hash."""
    report = Report()
    to_copy: list[tuple[str, StoredFile]] = []
    for relative, entry in sorted(files.items()):
        checked_path(relative)
        target = data_dir / relative
        present = target.is_file() and target.stat().st_size == entry.size
        if (
            present
            and relative.startswith("slides/")
            and (not verify or file_hash(target) == entry.sha256)
        ):
            report.kept(entry.size)
        else:
            to_copy.append((relative, entry))
    progress.begin("slide store", sum(entry.size for _, entry in to_copy))
    for relative, entry in to_copy:
        source = store / relative
        if not source.is_file() or source.stat().st_size != entry.size:
            raise BackupError(f"the backup lacks {relative} (or it has the wrong size)")
        target = data_dir / relative
        scratch = target.with_name(f".{target.name}.restore")
        if copy_hashed(source, scratch, entry.size, progress) != entry.sha256:
            scratch.unlink()
            raise BackupError(f"the backup's {relative} is damaged: its SHA-256 changed")
        scratch.replace(target)
        report.wrote(entry.size)
    progress.end()
    return report
