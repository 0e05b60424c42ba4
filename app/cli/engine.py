"""`slidebridge info` and `slidebridge tile`: the slide engine on the command line.

Bad input (a missing, broken or unsupported file, a bad option) exits with
status 2 and one line on stderr, never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import fail


def info(
    path: Annotated[Path, typer.Argument(help="Slide file, or a folder of one slide's files.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    properties: Annotated[bool, typer.Option(help="Include every vendor property.")] = False,
) -> None:
    """Print a slide's metadata."""
    from tiler import SlideBridgeError, open_slide

    try:
        with open_slide(path) as slide:
            meta = slide.info.to_json(with_properties=properties)
    except SlideBridgeError as error:
        fail(error.reason)
    if as_json:
        typer.echo(json.dumps(meta, indent=2))
        return
    typer.echo(f"{path.name}: {meta['vendor']}, {meta['width']} x {meta['height']} pixels")
    for index, level in enumerate(meta["levels"]):
        size = f"{level['width']} x {level['height']}"
        typer.echo(f"  level {index}: {size} (downsample {level['downsample']:g})")
    mpp = (
        f"{meta['mpp_x']:g} x {meta['mpp_y']:g} µm/pixel"
        if meta["mpp_x"] and meta["mpp_y"]
        else "unknown"
    )
    typer.echo(f"  resolution: {mpp}; objective: {meta['objective_power'] or 'unknown'}")
    typer.echo(f"  associated images: {', '.join(meta['associated']) or 'none'}")


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[float], None] | None]:
    """A progress bar on a terminal; nothing when stderr is a file or a pipe."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    columns = (TextColumn(label), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(label, total=1.0)
        yield lambda done: bar.update(task, completed=done)


def tile(
    path: Annotated[Path, typer.Argument(help="Slide file, or a folder of one slide's files.")],
    outdir: Annotated[Path, typer.Argument(help="Writes OUTDIR/NAME.dzi and OUTDIR/NAME_files/.")],
    tile_size: Annotated[int, typer.Option(help="Tile size without overlap.")] = 254,
    overlap: Annotated[int, typer.Option(help="Pixels shared with each neighbour.")] = 1,
    format: Annotated[str, typer.Option(help="jpeg or webp.")] = "jpeg",
    quality: Annotated[int, typer.Option(help="Encoder quality, 1-100.")] = 75,
    layout: Annotated[
        str, typer.Option(help="dzi (standard files) or tilepack (one file, OUTDIR/NAME.tilepack).")
    ] = "dzi",
    processes: Annotated[int, typer.Option(help="Worker processes; 0 = one per core.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
) -> None:
    """Build a complete Deep Zoom pyramid of a slide."""
    from tiler import SlideBridgeError
    from tiler.deepzoom import TileOptions
    from tiler.pyramid import Layout, build_pyramid

    try:
        options = TileOptions(tile_size=tile_size, overlap=overlap, format=format, quality=quality)
    except ValueError as error:
        fail(str(error))
    if layout not in ("dzi", "tilepack"):
        fail("layout must be dzi or tilepack")
    chosen: Layout = "dzi" if layout == "dzi" else "tilepack"
    dest = outdir if chosen == "dzi" else outdir / f"{path.stem}.tilepack"
    try:
        with progress_bar(f"tiling {path.name}") as progress:
            result = build_pyramid(
                path, dest, options, layout=chosen, progress=progress, processes=processes or None
            )
    except SlideBridgeError as error:
        fail(error.reason)
    except OSError as error:
        fail(f"cannot write {outdir}: {error.strerror or error}")
    summary = {
        "tiles": result.tiles,
        "seconds": round(result.seconds, 3),
        "megapixels_per_second": round(result.megapixels_per_second, 1),
        "path": str(result.path),
        "layout": result.layout,
        "pixel_source": result.pixel_source,
    }
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        typer.echo(
            f"{result.path}: {result.tiles} tiles in {result.seconds:.2f} s "
            f"({result.megapixels_per_second:.0f} megapixels/s, from {result.pixel_source})"
        )


def register(cli: typer.Typer) -> None:
    """Attach the slide commands to the root command."""
    cli.command()(info)
    cli.command()(tile)
