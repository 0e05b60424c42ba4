"""The pyramid builders that `benchmarks.tiling` races, each as a command line.

Every contender runs as its own process tree writing into an empty directory,
with the same settings: tile 254, overlap 1, JPEG quality 75, every level down
to 1x1. A contender that is missing on this machine is left out with a note; one
that fails is reported as failed, not hidden.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.report import clean_env, vips_cli

TILE_SUFFIXES = {".jpeg", ".jpg", ".webp", ".png"}

Argv = Callable[[Path, Path], list[str]]


@dataclass(frozen=True)
class Contender:
    name: str
    argv: Argv
    #: True for SlideBridge's own builders: the ones the goals apply to.
    ours: bool = False
    #: True when it writes a container rather than one file per tile, so the
    #: tile count must come from its own report.
    container: bool = False
    #: Worker processes asked for (ours), or None: the contender's own default.
    processes: int | None = None
    #: What runs, with versions (the anchors' line above the table).
    version: str = ""


def _slidebridge() -> str:
    # The console script next to this interpreter, so a venv run uses the venv's.
    beside = Path(sys.executable).with_name("slidebridge")
    return str(beside) if beside.exists() else (shutil.which("slidebridge") or "slidebridge")


def _python_module(module: str) -> Argv:
    return lambda slide, out: [sys.executable, "-m", module, str(slide), str(out)]


def _tile_command(layout: str, processes: int) -> Argv:
    extra = ["--layout", "tilepack"] if layout == "tilepack" else []

    def argv(slide: Path, out: Path) -> list[str]:
        command = [_slidebridge(), "tile", str(slide), str(out), "--json"]
        return [*command, "--processes", str(processes), *extra]

    return argv


def ours(processes: list[int]) -> list[Contender]:
    """SlideBridge's builders, DZI files and tile pack, at each worker-process count."""
    return [
        Contender(
            f"slidebridge-{layout}" + (f" x{count}" if len(processes) > 1 else ""),
            _tile_command(layout, count),
            ours=True,
            container=layout == "tilepack",
            processes=count,
        )
        for count in processes
        for layout in ("dzi", "tilepack")
    ]


def _dist(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


def anchors() -> tuple[list[Contender], list[str]]:
    """The anchors available here, with their versions, and notes on the ones left out."""
    import openslide
    import pyvips

    notes: list[str] = []
    contenders = []
    cli = vips_cli()
    if cli is not None:
        done = subprocess.run(
            [cli, "--version"], capture_output=True, text=True, check=False, env=clean_env()
        )
        contenders.append(
            Contender(
                "vips-dzsave",
                lambda slide, out: [
                    cli,
                    "dzsave",
                    str(slide),
                    str(out / slide.stem),
                    "--tile-size",
                    "254",
                    "--overlap",
                    "1",
                    "--suffix",
                    ".jpg[Q=75]",
                ],
                version=f"{cli}: {done.stdout.strip() or 'unknown version'} (system package)",
            )
        )
    else:
        notes.append("vips CLI not found: vips-dzsave skipped, ratios are to pyvips-dzsave")
    libvips = f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}"
    contenders.append(
        Contender(
            "pyvips-dzsave",
            _python_module("benchmarks.pyvips_baseline"),
            version=f"pyvips {_dist('pyvips')}, libvips {libvips} (pyvips-binary wheel)",
        )
    )
    contenders.append(
        Contender(
            "deepzoom-generator",
            _python_module("benchmarks.deepzoom_baseline"),
            version=(
                f"openslide-python {_dist('openslide-python')} DeepZoomGenerator, "
                f"OpenSlide {openslide.__library_version__}, Pillow {_dist('pillow')}"
            ),
        )
    )
    return contenders, notes


def vips_cli_loader(slide: Path) -> str | None:
    """Which libvips loader the CLI picks for `slide` (openslideload for a scan)."""
    cli = vips_cli()
    if cli is None:
        return None
    header = Path(cli).with_name("vipsheader")
    done = subprocess.run(
        [str(header), "-f", "vips-loader", str(slide)],
        capture_output=True,
        text=True,
        check=False,
        env=clean_env(),
    )
    return done.stdout.strip() or None


def anchor_name(contenders: list[Contender]) -> str:
    names = {c.name for c in contenders}
    return "vips-dzsave" if "vips-dzsave" in names else "pyvips-dzsave"


def expected_tiles(l0_width: int, l0_height: int, tile_size: int = 254) -> int:
    """Deep Zoom's tile total, computed here rather than taken from the tiler under test."""
    total = 0
    w, h = l0_width, l0_height
    while True:
        total += -(-w // tile_size) * -(-h // tile_size)
        if (w, h) == (1, 1):
            return total
        w, h = max(1, -(-w // 2)), max(1, -(-h // 2))


def count_output(outdir: Path) -> tuple[int, int]:
    """Tile files written, and bytes of everything written."""
    tiles = 0
    size = 0
    for path in outdir.rglob("*"):
        if path.is_file():
            size += path.stat().st_size
            tiles += path.suffix.lower() in TILE_SUFFIXES
    return tiles, size


def reported_summary(stdout: str) -> dict[str, Any]:
    """The JSON object a contender printed (whole stdout, else its last JSON line), if any."""
    try:
        whole = json.loads(stdout)
    except json.JSONDecodeError:
        whole = None
    if isinstance(whole, dict):
        return whole
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                return value
    return {}
