"""What both benchmarks print and write: a table, goal lines, and a JSON record.

The JSON carries the machine and library versions because a number without them
cannot be compared with a later run.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()
if not console.is_terminal:
    # Piped or logged: rich would assume 80 columns and squeeze the tables unreadable.
    console = Console(width=160)


@dataclass(frozen=True)
class Column:
    title: str
    key: str
    #: Python format spec for numbers, e.g. ".2f"; other values print as str().
    fmt: str = ""


def _cell(value: object, fmt: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, int | float) and not isinstance(value, bool) and fmt:
        return format(value, fmt)
    return str(value)


def print_table(title: str, columns: Sequence[Column], rows: Sequence[dict[str, Any]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column.title, justify="left" if column.fmt == "" else "right")
    for row in rows:
        table.add_row(*(_cell(row.get(c.key), c.fmt) for c in columns))
    console.print(table)


def print_goal(label: str, met: bool | None, detail: str) -> None:
    mark = {True: "[green]met[/]", False: "[red]NOT met[/]", None: "[yellow]unknown[/]"}[met]
    console.print(f"goal: {label}: {mark} ({detail})")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def clean_env() -> dict[str, str]:
    """The environment this interpreter started with, for every child process.

    Importing pyvips-binary makes its libvips setenv() VIPSHOME to the wheel's
    build prefix, and a child started with the inherited C environment gets it
    too: Debian's `vips` then looks for its modules there, misses the
    openslideload module and silently reads the slide with tiffload instead. os.environ
    is the startup snapshot, without that change.
    """
    return dict(os.environ)


def vips_cli() -> str | None:
    """Path of the libvips command-line tool, or None where it is not installed."""
    return shutil.which("vips")


def _vips_cli_version() -> str | None:
    cli = vips_cli()
    if cli is None:
        return None
    done = subprocess.run(
        [cli, "--version"], capture_output=True, text=True, check=False, env=clean_env()
    )
    return done.stdout.strip() or None


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "openslide_python": _version("openslide-python"),
        "pyvips": _version("pyvips"),
        "pillow": _version("pillow"),
        "vips_cli": _vips_cli_version(),
    }
    # Imported here so that a broken native library shows up as a missing
    # version, not as a benchmark that cannot start.
    try:
        import openslide

        info["openslide"] = openslide.__library_version__
    except (ImportError, OSError) as exc:
        info["openslide"] = f"unavailable: {exc}"
    try:
        import pyvips

        info["libvips_pyvips"] = f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}"
    except (ImportError, OSError) as exc:
        info["libvips_pyvips"] = f"unavailable: {exc}"
    return info


def write_json(path: Path, payload: dict[str, Any]) -> None:
    record = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        **payload,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(partial, path)
    console.print(f"wrote {path}")
