"""A pyramid in one file: an SQLite database of encoded tiles (like MBTiles).

25,000 small files cost more to write, copy, back up and delete than the pixels
cost to encode; one SQLite file is written in one transaction, renamed into
place atomically, read concurrently, and opened by any SQLite tool.

While a pyramid is built, each worker process writes the tiles it makes into a
shard of its own (`TileShard`: the same tiles table), so no process hands tile
bytes to another and no writer waits for a lock; the pack is the largest shard
with its metadata added and the others' rows copied in by SQLite (`pack_shards`),
one pass over the smaller shards' bytes in C.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from pathlib import Path

from tiler.deepzoom import DeepZoomGrid, TileOptions
from tiler.errors import NotFoundError, SlideBridgeError

_TILES = "CREATE TABLE tiles (key INTEGER PRIMARY KEY, data BLOB NOT NULL);"
_METADATA = "CREATE TABLE metadata (name TEXT PRIMARY KEY, value TEXT NOT NULL);"
#: The file is private until renamed into place, so no journal is needed; durability
#: comes from the fsync before the rename.
_PRIVATE = "PRAGMA page_size=16384; PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"


def tile_key(z: int, col: int, row: int) -> int:
    """One integer per tile, so lookups use SQLite's rowid B-tree directly."""
    return (z << 48) | (col << 24) | row


class TileShard:
    """One worker process's tiles of a pack being built: appended region by region, each
    region in one transaction (committed without a sync: the file is scratch)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.executescript(_PRIVATE + _TILES)

    def add(self, tiles: list[tuple[int, int, int, bytes]]) -> None:
        self._db.execute("BEGIN")
        self._db.executemany(
            "INSERT INTO tiles VALUES (?, ?)",
            [(tile_key(z, c, r), data) for z, c, r, data in tiles],
        )
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()


def pack_shards(path: Path, shards: list[Path], grid: DeepZoomGrid, options: TileOptions) -> None:
    """Make the pack at `path` from the workers' shards: the largest becomes the pack
    (renamed to `path`), the others' rows are copied into it, the metadata added."""
    largest = max(shards, key=lambda shard: shard.stat().st_size) if shards else None
    if largest is not None:
        os.replace(largest, path)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.executescript(_PRIVATE + ("" if largest else _TILES))
        for shard in shards:
            if shard != largest:  # ATTACH is refused inside a transaction: one per shard
                db.execute("ATTACH DATABASE ? AS shard", (str(shard),))
                db.execute("INSERT INTO tiles SELECT key, data FROM shard.tiles")
                db.execute("DETACH DATABASE shard")
        meta = {
            "format": "slidebridge-tilepack",
            "version": "1",
            "options": json.dumps(options.__dict__),
            "width": str(grid.l0_width),
            "height": str(grid.l0_height),
        }
        db.execute("BEGIN")
        db.execute(_METADATA)
        db.executemany("INSERT INTO metadata VALUES (?, ?)", meta.items())
        db.execute("COMMIT")
    finally:
        db.close()


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
