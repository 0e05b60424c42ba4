"""A pyramid in one file: an SQLite database of encoded tiles (like MBTiles).

25,000 small files cost more to write, copy, back up and delete than the pixels
cost to encode; one SQLite file is written in one transaction, renamed into
place atomically, read concurrently, and opened by any SQLite tool.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

from tiler.deepzoom import DeepZoomGrid, TileOptions
from tiler.errors import NotFoundError, SlideBridgeError

_SCHEMA = """
CREATE TABLE metadata (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE tiles (key INTEGER PRIMARY KEY, data BLOB NOT NULL);
"""


def tile_key(z: int, col: int, row: int) -> int:
    """One integer per tile, so lookups use SQLite's rowid B-tree directly."""
    return (z << 48) | (col << 24) | row


class TilePackWriter:
    """Collects tiles into a new file; `finish()` commits and fsyncs it."""

    def __init__(self, path: Path, grid: DeepZoomGrid, options: TileOptions) -> None:
        self._db = sqlite3.connect(path, isolation_level=None)
        # The file is private until renamed into place, so no journal is needed;
        # durability comes from the fsync in finish().
        self._db.executescript(
            "PRAGMA page_size=16384; PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + _SCHEMA
        )
        meta = {
            "format": "slidebridge-tilepack",
            "version": "1",
            "options": json.dumps(options.__dict__),
            "width": str(grid.l0_width),
            "height": str(grid.l0_height),
        }
        self._db.execute("BEGIN")
        self._db.executemany("INSERT INTO metadata VALUES (?, ?)", meta.items())

    def add(self, tiles: list[tuple[int, int, int, bytes]]) -> None:
        self._db.executemany(
            "INSERT INTO tiles VALUES (?, ?)",
            [(tile_key(z, c, r), data) for z, c, r, data in tiles],
        )

    def finish(self) -> None:
        self._db.execute("COMMIT")
        self._db.close()

    def abort(self) -> None:
        self._db.close()


class TilePack:
    """Read access to a finished tile pack; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        try:
            meta = dict(self._connection().execute("SELECT name, value FROM metadata"))
            if meta.get("format") != "slidebridge-tilepack":
                raise ValueError("not a tile pack")
            self.options = TileOptions(**json.loads(meta["options"]))
            self.grid = DeepZoomGrid(
                int(meta["width"]),
                int(meta["height"]),
                self.options.tile_size,
                self.options.overlap,
            )
        except (sqlite3.Error, ValueError, KeyError, TypeError) as error:
            raise SlideBridgeError(f"{self.path.name}: not a readable tile pack") from error

    def _connection(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            # immutable=1: the file never changes after publication, so SQLite skips locking.
            db = sqlite3.connect(
                f"file:{self.path}?mode=ro&immutable=1", uri=True, check_same_thread=False
            )
            self._local.db = db
        return db

    def tile(self, z: int, col: int, row: int) -> bytes:
        self.grid.tile_box(z, col, row)  # NotFoundError outside the grid
        found = (
            self._connection()
            .execute("SELECT data FROM tiles WHERE key = ?", (tile_key(z, col, row),))
            .fetchone()
        )
        if found is None:
            raise NotFoundError(f"tile {col}_{row} at level {z} is missing from the pack")
        return bytes(found[0])

    def dzi_xml(self) -> str:
        return self.grid.dzi_xml(self.options)

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
