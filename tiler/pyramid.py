"""Build a complete Deep Zoom pyramid from a slide, using every core.

The full-resolution level is cut into square regions of 2**K tiles a side.
Each region is read once (with a margin for the tiles' overlap), cut into its
tiles, box-reduced by two and cut again, K times, in one worker process; the
region's last reduction lands in a small array for the next stage, which does
the same on 1/2**K of the pixels, until one region holds the whole level. Every
pixel of the slide is decoded once, no worker waits for another inside a stage,
and memory stays at a few regions per worker whatever the slide's size.

Pixels come from the slide's own JPEG tiles when they decode to exactly what
OpenSlide reads (checked on a sample first), else from OpenSlide.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
from PIL import Image

from tiler.deepzoom import DEFAULT_OPTIONS, DeepZoomGrid, TileBox, TileOptions
from tiler.errors import BrokenSlideError, SlideError
from tiler.imaging import (
    encode_image,
    encode_tile,
    reduce_box,
    to_uint8,
    uniform_colour,
    uniform_image_colour,
    weighted_reduce,
)
from tiler.jpeg_tiles import JpegTileReader, verified_reader
from tiler.registry import open_slide
from tiler.slide import Slide
from tiler.tilepack import TilePackWriter

Layout = Literal["dzi", "tilepack"]
ProgressCallback = Callable[[float], None]

#: Deep Zoom levels one region produces before handing a reduced image on.
LEVELS_PER_STAGE = 3


@dataclass(frozen=True)
class BuildResult:
    path: Path
    layout: Layout
    tiles: int
    seconds: float
    megapixels_per_second: float
    pixel_source: str


class PixelSource(Protocol):
    width: int
    height: int

    def read_rgb(self, x: int, y: int, width: int, height: int) -> np.ndarray: ...


class _SlideSource:
    def __init__(self, slide: Slide) -> None:
        self.slide = slide
        self.width, self.height = slide.info.width, slide.info.height

    def read_rgb(self, x: int, y: int, width: int, height: int) -> np.ndarray:
        return self.slide.read_rgb((x, y), 0, (width, height))


class _ArraySource:
    def __init__(self, pixels: np.ndarray) -> None:
        self.pixels = pixels
        self.height, self.width = pixels.shape[:2]

    def read_rgb(self, x: int, y: int, width: int, height: int) -> np.ndarray:
        return np.ascontiguousarray(self.pixels[y : y + height, x : x + width])


@dataclass(frozen=True)
class _SourceSpec:
    """How a worker process opens the stage's pixels (picklable)."""

    slide_path: Path | None = None
    use_jpeg_tiles: bool = False
    array_path: Path | None = None
    array_shape: tuple[int, int, int] = (0, 0, 3)

    def open(self) -> PixelSource:
        if self.array_path is not None:
            return _ArraySource(np.memmap(self.array_path, np.uint8, "r", shape=self.array_shape))
        assert self.slide_path is not None
        slide = open_slide(self.slide_path)
        if self.use_jpeg_tiles:
            reader = JpegTileReader.open(self.slide_path, slide.info.vendor)
            if reader is not None:
                return reader
        return _SlideSource(slide)


@dataclass(frozen=True)
class _Stage:
    grid: DeepZoomGrid
    options: TileOptions
    source: _SourceSpec
    #: Deep Zoom level of the source's pixels.
    z_top: int
    levels: int
    #: Where the stage's last reduction goes (None when the stage ends at level 0).
    next_path: Path | None
    next_shape: tuple[int, int, int]
    #: Directory for standard DZI files, or None to hand tiles back for a tile pack.
    dzi_dir: Path | None

    @property
    def region_size(self) -> int:
        return self.grid.tile_size << (self.levels if self.next_path else 0)

    @property
    def margin(self) -> int:
        """Level-0 pixels read around a region: the overlap at its deepest level, kept
        a multiple of 2**levels so that every 2x2 box lines up with the full image."""
        step = 1 << self.levels
        needed = self.grid.overlap << (self.levels - 1)
        return -(-needed // step) * step

    def regions(self) -> list[tuple[int, int]]:
        w, h = self.grid.level_dimensions(self.z_top)
        if self.next_path is None:
            return [(0, 0)]
        size = self.region_size
        return [(i, j) for j in range(-(-h // size)) for i in range(-(-w // size))]


class _StageWorker:
    """Per-process state: the open pixel source and the encoded blank tiles."""

    def __init__(self, stage: _Stage) -> None:
        self.stage = stage
        self.source = stage.source.open()
        self.next_pixels = (
            np.memmap(stage.next_path, np.uint8, "r+", shape=stage.next_shape)
            if stage.next_path
            else None
        )
        self.blank_tiles: dict[tuple[int, int, bytes], bytes] = {}
        self.blank_files: dict[bytes, Path] = {}

    def encode(self, tile: Image.Image) -> bytes:
        colour = uniform_image_colour(tile)
        if colour is None:
            return encode_image(tile, self.stage.options)
        return self.blank_tile(tile.width, tile.height, colour)

    def blank_tile(self, width: int, height: int, colour: bytes) -> bytes:
        """One encoding per size and colour of blank glass."""
        key = (height, width, colour)
        data = self.blank_tiles.get(key)
        if data is None:
            pixels = np.full((height, width, 3), np.frombuffer(colour, np.uint8))
            data = self.blank_tiles[key] = encode_tile(pixels, self.stage.options)
        return data

    def region_tiles(self, i: int, j: int, k: int) -> Iterator[TileBox]:
        """The tiles of region (i, j) at the stage's k-th level."""
        grid, stage = self.stage.grid, self.stage
        z = stage.z_top - k
        cols, rows = grid.tile_counts(z)
        span = 1 << (stage.levels - k) if stage.next_path else max(cols, rows)
        for row in range(j * span, min(rows, (j + 1) * span)):
            for col in range(i * span, min(cols, (i + 1) * span)):
                yield grid.tile_box(z, col, row)

    def region_bounds(self, i: int, j: int) -> tuple[int, int, int, int]:
        stage = self.stage
        if stage.next_path is None:
            return (0, 0, self.source.width, self.source.height)
        size, margin = stage.region_size, stage.margin
        x0, y0 = max(0, i * size - margin), max(0, j * size - margin)
        x1 = min(self.source.width, (i + 1) * size + margin)
        y1 = min(self.source.height, (j + 1) * size + margin)
        return (x0, y0, x1, y1)

    def edge_weights(self, z: int, x1: int, y1: int) -> tuple[float, float]:
        """The grid's edge weights for a region reaching the slide's right/bottom edge;
        1 (nothing to correct) on a side where it does not."""
        column, row = self.stage.grid.edge_weights(z)
        return (
            column if x1 == self.source.width else 1.0,
            row if y1 == self.source.height else 1.0,
        )

    def tiles_of_region(self, i: int, j: int) -> Iterator[tuple[int, int, int, bytes]]:
        stage = self.stage
        x0, y0, x1, y1 = self.region_bounds(i, j)
        source = self.source.read_rgb(x0, y0, x1 - x0, y1 - y0)
        if stage.next_path is None:
            yield from self.last_stage_tiles(source)
            return
        colour = uniform_colour(source)
        if colour is not None:
            # Blank glass all over (a third of a typical slide): every tile and every
            # reduction is that colour, so skip the pixel work entirely.
            for k in range(stage.levels):
                for box in self.region_tiles(i, j, k):
                    yield box.z, box.col, box.row, self.blank_tile(box.width, box.height, colour)
            self.hand_on_colour(i, j, colour)
            return
        # Pillow images from here on: tiles are cropped, reduced and encoded in C,
        # with one numpy conversion per region instead of one per tile. Every level
        # is one box mean of the source, rounded once: chained 2x steps would round
        # half up at each step and bias flat tiles by a visible fraction of a unit.
        source_image = Image.fromarray(source)
        weights = self.edge_weights(stage.z_top, x1, y1)
        for k in range(stage.levels):
            z = stage.z_top - k
            ox, oy = x0 >> k, y0 >> k
            image = reduce_box(source_image, 1 << k, *weights) if k else source_image
            for box in self.region_tiles(i, j, k):
                left, top = box.z_x - ox, box.z_y - oy
                crop = image.crop((left, top, left + box.width, top + box.height))
                yield z, box.col, box.row, self.encode(crop)
        self.hand_on(i, j, x0, y0, x1, y1, source_image)

    def last_stage_tiles(self, pixels: np.ndarray) -> Iterator[tuple[int, int, int, bytes]]:
        """The whole remaining level in one piece: small, so reduce in float and round
        per tile, or rounding after each of many reductions would add up."""
        stage = self.stage
        width, height = self.source.width, self.source.height
        level: np.ndarray = pixels
        for k in range(stage.levels):
            z = stage.z_top - k
            rounded = to_uint8(level) if level.dtype != np.uint8 else level
            for box in self.region_tiles(0, 0, k):
                crop = rounded[box.z_y : box.z_y + box.height, box.z_x : box.z_x + box.width]
                yield z, box.col, box.row, self.encode(Image.fromarray(crop))
            level = weighted_reduce(level, *self.edge_weights(z, width, height))

    def next_level_block(self, i: int, j: int) -> tuple[slice, slice]:
        """Rows and columns of the next stage's level that region (i, j) produces."""
        assert self.next_pixels is not None
        size = self.stage.grid.tile_size
        nh, nw = self.next_pixels.shape[:2]
        return (
            slice(j * size, min(nh, (j + 1) * size)),
            slice(i * size, min(nw, (i + 1) * size)),
        )

    def hand_on_colour(self, i: int, j: int, colour: bytes) -> None:
        if self.next_pixels is not None:
            rows, cols = self.next_level_block(i, j)
            self.next_pixels[rows, cols] = np.frombuffer(colour, np.uint8)

    def hand_on(
        self, i: int, j: int, x0: int, y0: int, x1: int, y1: int, source: Image.Image
    ) -> None:
        """Store the region's share of the next stage's level: one box mean over
        2**levels source pixels, rounded once (rounding after each 2x step would bias
        the small levels by a fraction of a unit per step)."""
        assert self.next_pixels is not None
        stage = self.stage
        weights = self.edge_weights(stage.z_top, x1, y1)
        reduced = np.asarray(reduce_box(source, 1 << stage.levels, *weights))
        rows, cols = self.next_level_block(i, j)
        ox, oy = x0 >> stage.levels, y0 >> stage.levels
        self.next_pixels[rows, cols] = reduced[
            rows.start - oy : rows.stop - oy, cols.start - ox : cols.stop - ox
        ]

    def run(self, i: int, j: int) -> tuple[int, list[tuple[int, int, int, bytes]]]:
        """Build one region; DZI tiles are written here, pack tiles are handed back."""
        handed_back: list[tuple[int, int, int, bytes]] = []
        count = 0
        for z, col, row, data in self.tiles_of_region(i, j):
            count += 1
            if self.stage.dzi_dir is None:
                handed_back.append((z, col, row, data))
            else:
                self.write_file(z, col, row, data)
        # No flush: the mapping is shared, so the next stage's processes see these
        # pixels through the page cache; the file is scratch and never needs to be durable.
        return count, handed_back

    def write_file(self, z: int, col: int, row: int, data: bytes) -> None:
        assert self.stage.dzi_dir is not None
        path = self.stage.dzi_dir / str(z) / f"{col}_{row}.{self.stage.options.format}"
        # Blank glass (one encoding shared by many tiles): a hard link to its first file
        # costs a third of writing the same bytes again. Bytes compare lengths first, so
        # testing a tissue tile against the few blank encodings is cheap.
        blank = data in self.blank_tiles.values()
        first_copy = self.blank_files.get(data) if blank else None
        if first_copy is not None:
            os.link(first_copy, path)
            return
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        if blank:
            self.blank_files[data] = path


_worker: _StageWorker | None = None


def _init_worker(stage: _Stage, niceness: int) -> None:
    global _worker
    if niceness:
        os.nice(niceness)
    _worker = _StageWorker(stage)


def _run_region(region: tuple[int, int]) -> tuple[int, list[tuple[int, int, int, bytes]]]:
    assert _worker is not None
    return _worker.run(*region)


def _start_method() -> str:
    # fork is fastest, but forking a process that runs other threads (the web
    # service) can copy a lock held mid-operation; forkserver children start clean.
    return "fork" if threading.active_count() == 1 else "forkserver"


class _Builder:
    def __init__(
        self,
        slide_path: Path,
        work_dir: Path,
        options: TileOptions,
        progress: ProgressCallback | None,
        processes: int,
        niceness: int,
    ) -> None:
        self.niceness = niceness
        self.slide_path = slide_path
        self.work_dir = work_dir
        self.options = options
        self.progress = progress
        self.processes = processes
        self.tiles_done = 0
        self.pack: TilePackWriter | None = None

    def build(self, slide: Slide, dzi_dir: Path | None, pack_path: Path | None) -> str:
        info = slide.info
        grid = DeepZoomGrid(info.width, info.height, self.options.tile_size, self.options.overlap)
        self.total_tiles = grid.tile_total
        if dzi_dir is not None:
            for z in range(grid.level_count):
                (dzi_dir / str(z)).mkdir(parents=True)
        if pack_path is not None:
            self.pack = TilePackWriter(pack_path, grid, self.options)
        reader = verified_reader(slide, self.slide_path)
        use_jpeg = reader is not None
        if reader is not None:
            reader.close()  # each worker process opens its own
        source = _SourceSpec(slide_path=self.slide_path, use_jpeg_tiles=use_jpeg)
        z_top = grid.z_max
        while z_top >= 0:
            w, h = grid.level_dimensions(z_top)
            whole = max(w, h) <= grid.tile_size * 2**LEVELS_PER_STAGE
            levels = z_top + 1 if whole else LEVELS_PER_STAGE
            next_path: Path | None = None
            next_shape = (0, 0, 3)
            if not whole:
                nw, nh = grid.level_dimensions(z_top - levels)
                next_shape = (nh, nw, 3)
                next_path = self.work_dir / f"level-{z_top - levels}.rgb"
                np.memmap(next_path, np.uint8, "w+", shape=next_shape).flush()
            stage = _Stage(
                grid, self.options, source, z_top, levels, next_path, next_shape, dzi_dir
            )
            self._run_stage(stage)
            if next_path is None:
                break
            source = _SourceSpec(array_path=next_path, array_shape=next_shape)
            z_top -= levels
        if self.pack is not None:
            self.pack.finish()
        return "slide JPEG tiles" if use_jpeg else "OpenSlide"

    def _collect(self, count: int, tiles: list[tuple[int, int, int, bytes]]) -> None:
        self.tiles_done += count
        if self.pack is not None and tiles:
            self.pack.add(tiles)
        if self.progress is not None:
            self.progress(min(1.0, self.tiles_done / self.total_tiles))

    def _run_stage(self, stage: _Stage) -> None:
        regions = stage.regions()
        workers = min(self.processes, len(regions))
        if workers <= 1:
            worker = _StageWorker(stage)
            for region in regions:
                self._collect(*worker.run(*region))
            return
        context = multiprocessing.get_context(_start_method())
        with ProcessPoolExecutor(workers, context, _init_worker, (stage, self.niceness)) as pool:
            for result in pool.map(_run_region, regions, chunksize=1):
                self._collect(*result)


def _publish_dzi(building: Path, out_dir: Path, name: str, grid_xml: str) -> None:
    """Swap the finished `NAME_files` into place, then write `NAME.dzi` last."""
    files = out_dir / f"{name}_files"
    old = building / "replaced"
    if files.exists():
        files.rename(old)
    (building / f"{name}_files").rename(files)
    dzi_tmp = building / f"{name}.dzi"
    dzi_tmp.write_text(grid_xml)
    os.replace(dzi_tmp, out_dir / f"{name}.dzi")


def build_pyramid(
    slide_path: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    options: TileOptions = DEFAULT_OPTIONS,
    *,
    layout: Layout = "dzi",
    name: str | None = None,
    progress: ProgressCallback | None = None,
    processes: int | None = None,
    niceness: int = 0,
) -> BuildResult:
    """Build every Deep Zoom level of the slide at `slide_path`.

    layout "dzi": `dest` is a directory; writes `dest/NAME.dzi` and `dest/NAME_files/`
    (NAME defaults to the slide file's stem). layout "tilepack": `dest` is the pack file.
    Work happens aside and is renamed into place, so `dest` is complete or untouched.
    `niceness` lowers the worker processes' priority, for builds in the background.
    """
    started = time.perf_counter()
    slide_path = Path(slide_path)
    dest = Path(dest)
    slide = open_slide(slide_path)
    info = slide.info
    parent = dest if layout == "dzi" else dest.parent
    parent.mkdir(parents=True, exist_ok=True)
    name = name or slide_path.stem
    building = Path(tempfile.mkdtemp(prefix=f".{name}.building-", dir=parent))
    builder = _Builder(
        slide_path,
        building,
        options,
        progress,
        processes or os.cpu_count() or 1,
        niceness,
    )
    try:
        dzi_dir = building / f"{name}_files" if layout == "dzi" else None
        pack_path = building / "pyramid.tilepack" if layout == "tilepack" else None
        pixel_source = builder.build(slide, dzi_dir, pack_path)
        if layout == "dzi":
            grid = DeepZoomGrid(info.width, info.height, options.tile_size, options.overlap)
            _publish_dzi(building, dest, name, grid.dzi_xml(options))
            published = dest / f"{name}.dzi"
        else:
            assert pack_path is not None
            with open(pack_path, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(pack_path, dest)
            published = dest
    except SlideError:
        raise
    except Exception as error:  # a decoder or a worker process failing mid-build
        reason = " ".join(str(error).split()) or type(error).__name__
        raise BrokenSlideError(f"{slide_path.name}: pyramid build failed: {reason}") from error
    finally:
        if builder.pack is not None:
            builder.pack.abort()
        shutil.rmtree(building, ignore_errors=True)
        slide.close()
    seconds = time.perf_counter() - started
    return BuildResult(
        path=published,
        layout=layout,
        tiles=builder.tiles_done,
        seconds=seconds,
        megapixels_per_second=info.width * info.height / 1e6 / seconds,
        pixel_source=pixel_source,
    )
