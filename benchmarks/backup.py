"""`slidebridge backup` and `restore` of a large slide store, against `cp` and `sha256sum`.

`python -m benchmarks.backup [--size-mb 2048] [--files 64] [--json PATH]`

A data directory with a migrated SQLite database and `--files` slide files of random
bytes (named by their SHA-256, as the store names them) adding up to `--size-mb`
is backed up (the first time, then again with nothing changed, then again with
`--verify`) and restored into an empty data directory, through the library calls the
commands make. Anchors, on the same files in the same run: `cp -a` of the store
(copying only), and `cp -a` followed by `sha256sum` of the copies (what a careful
operator would do by hand; the backup copies and hashes in one read). The files were
just written, so every side reads them from the page cache: this measures the
program, not the disk. Numbers from one run; the machine may be shared.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.core.config import Settings
from app.core.db import Database
from app.core.storage import content_path
from app.services.backup import back_up, restore
from benchmarks.report import Column, console, print_goal, print_table, write_json

CHUNK = 8 * 1024 * 1024


def make_store(data_dir: Path, total: int, files: int) -> None:
    for index in range(files):
        size = total // files
        digest = hashlib.sha256()
        scratch = data_dir / f"slide-{index}.tmp"
        with open(scratch, "wb") as handle:
            left = size
            while left:
                chunk = os.urandom(min(CHUNK, left))
                digest.update(chunk)
                handle.write(chunk)
                left -= len(chunk)
        target = data_dir / content_path(digest.hexdigest(), ".svs")
        target.parent.mkdir(parents=True, exist_ok=True)
        scratch.replace(target)


def timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _cp_and_hash(source: Path, target: Path, hash_too: bool) -> None:
    subprocess.run(["cp", "-a", str(source), str(target)], check=True)
    if hash_too:
        names = [str(path) for path in sorted(target.rglob("*")) if path.is_file()]
        subprocess.run(["sha256sum", *names], check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=2048)
    parser.add_argument("--files", type=int, default=64)
    parser.add_argument("--json", type=Path, default=Path("var/benchmarks/backup.json"))
    args = parser.parse_args()
    total = args.size_mb * 1024 * 1024
    work = Path(tempfile.mkdtemp(prefix="slidebridge-backup-bench-"))
    try:
        data = work / "data"
        settings = Settings(environment="test", secret_key="x" * 32, data_dir=data)
        db = Database.from_settings(settings)
        db.migrate()
        db.dispose()
        make_store(data, total, args.files)
        dest = work / "backup"
        restored = Settings(environment="test", secret_key="x" * 32, data_dir=work / "restored")
        phases = [
            ("cp -a (anchor)", lambda: _cp_and_hash(data / "slides", work / "cp1", False), total),
            (
                "cp -a + sha256sum (anchor)",
                lambda: _cp_and_hash(data / "slides", work / "cp2", True),
                total,
            ),
            ("backup, first", lambda: back_up(settings, dest), total),
            ("backup, nothing changed", lambda: back_up(settings, dest), 0),
            ("backup --verify, nothing changed", lambda: back_up(settings, dest, verify=True), 0),
            ("restore", lambda: restore(restored, dest), total),
        ]
        rows = []
        for name, action, copied in phases:
            seconds = timed(action)
            rows.append(
                {
                    "phase": name,
                    "seconds": seconds,
                    "copied_mb": copied / 1024**2,
                    "mb_per_s": copied / 1024**2 / seconds if copied else None,
                }
            )
        anchor = rows[1]["seconds"]
        for row in rows:
            row["vs_cp_and_hash"] = row["seconds"] / anchor
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table(
        f"backup of {args.files} slide files, {args.size_mb} MiB (page cache; one run)",
        [
            Column("phase", "phase"),
            Column("seconds", "seconds", ".2f"),
            Column("MiB copied", "copied_mb", ".0f"),
            Column("MiB/s", "mb_per_s", ".0f"),
            Column("time / (cp + sha256sum)", "vs_cp_and_hash", ".2f"),
        ],
        rows,
    )
    first = rows[2]["vs_cp_and_hash"]
    print_goal("first backup within 1.5x of cp + sha256sum", first <= 1.5, f"{first:.2f}x")
    again = rows[3]["seconds"] / rows[2]["seconds"]
    print_goal("an unchanged store backs up in < 10% of the first", again < 0.1, f"{again:.1%}")
    write_json(args.json, {"size_mb": args.size_mb, "files": args.files, "rows": rows})
    console.print("the machine may be shared: ratios are from one run, both sides under it")


if __name__ == "__main__":
    main()
