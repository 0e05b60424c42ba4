"""The scanner agent's memory: which files in a scanner's folder are ready, and which were sent.

A unit is one top-level entry of the folder: a file, or a directory (a DICOM
series, or a MIRAX `.mrxs` together with its data directory of the same stem).
A unit is ready when none of its files changed size or mtime for `settle`
seconds. The state file records each unit sent (by name, size, mtime and the
slide it became) and is replaced atomically, so a restart neither repeats nor
loses one; an upload cut off by the restart resumes from the tus URL store.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Files scanners write next to slides that are not slides themselves.
_IGNORED_SUFFIXES = {".tmp", ".part", ".partial", ".crdownload", ".lock"}


@dataclass(frozen=True)
class Unit:
    name: str
    files: tuple[Path, ...]
    signature: tuple[tuple[str, int, int], ...]

    @property
    def multi_file(self) -> bool:
        return len(self.files) != 1 or self.files[0].suffix.lower() == ".mrxs"

    def base(self, root: Path) -> Path:
        """What the unit's relative file names start from: its own folder (a DICOM
        series), or the scanner's folder (a MIRAX `.mrxs` beside its folder)."""
        folder = root / self.name
        return folder if folder.is_dir() else root


def _signature(root: Path, files: list[Path]) -> tuple[tuple[str, int, int], ...]:
    out = []
    for path in files:
        stat = path.stat()
        out.append((path.relative_to(root).as_posix(), stat.st_size, stat.st_mtime_ns))
    return tuple(out)


def scan(root: Path) -> list[Unit]:
    """Units in the folder; a MIRAX index joins the directory named after it."""
    entries = {entry.name: entry for entry in root.iterdir() if not entry.name.startswith(".")}
    units: list[Unit] = []
    taken: set[str] = set()
    for name, entry in sorted(entries.items()):
        if name in taken or entry.suffix.lower() in _IGNORED_SUFFIXES:
            continue
        files: list[Path] = []
        if entry.is_file():
            files.append(entry)
            companion = entries.get(entry.stem)
            if entry.suffix.lower() == ".mrxs" and companion is not None and companion.is_dir():
                files += sorted(p for p in companion.rglob("*") if p.is_file())
                taken.add(companion.name)
        elif entry.is_dir():
            mrxs = entries.get(f"{name}.mrxs")
            if mrxs is not None:
                continue  # travels with its index file
            files += sorted(p for p in entry.rglob("*") if p.is_file())
        if files:
            units.append(Unit(name, tuple(files), _signature(root, files)))
    return units


@dataclass
class WatchState:
    """What was sent, persisted; and, in memory only, when each unit was last seen changing."""

    path: Path
    sent: dict[str, dict[str, Any]] = field(default_factory=dict)
    seen: dict[str, tuple[tuple[tuple[str, int, int], ...], float, float]] = field(
        default_factory=dict
    )

    @classmethod
    def load(cls, path: Path) -> WatchState:
        sent = json.loads(path.read_text())["sent"] if path.exists() else {}
        return cls(path, sent)

    def save(self) -> None:
        temporary = self.path.with_suffix(".tmp")
        with open(temporary, "w") as handle:
            json.dump({"sent": self.sent}, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)

    def is_sent(self, unit: Unit) -> bool:
        record = self.sent.get(unit.name)
        return record is not None and record.get("signature") == [list(s) for s in unit.signature]

    def record(self, unit: Unit, **details: Any) -> None:
        self.sent[unit.name] = {"signature": [list(s) for s in unit.signature], **details}
        self.save()

    def ready(self, units: list[Unit], settle: float, now: float | None = None) -> list[Unit]:
        """Unsent units unchanged for `settle` seconds, in order of arrival (first seen)."""
        now = time.monotonic() if now is None else now
        ready: list[tuple[float, str, Unit]] = []
        for unit in units:
            if self.is_sent(unit):
                continue
            previous = self.seen.get(unit.name)
            if previous is None or previous[0] != unit.signature:
                first = previous[1] if previous else now
                self.seen[unit.name] = (unit.signature, first, now)
                continue
            _, first, changed = previous
            if now - changed >= settle:
                ready.append((first, unit.name, unit))
        return [unit for _, _, unit in sorted(ready)]
