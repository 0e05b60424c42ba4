"""Build a complete Deep Zoom pyramid from a slide, using every core.

Each Deep Zoom level is made from the slide level `tiler.levels` chooses for it,
so the build runs band by band: the levels made from one slide level are
computed from that level's pixels (for a slide with levels at 1x, 4x and 16x:
the two finest Deep Zoom levels from level 0, the next two from level 1, the
rest from level 2), with the exact arithmetic `tiler.levels` defines, and every
tile is byte-identical to the one `tiler.onthefly` serves before the build.

Within a band, a stage cuts its source level into square regions of 8 tiles a
side. Each region is read once (with a margin for the tiles' overlap), cut into
its tiles, box-reduced by two and four and cut again, in one worker process; for
a band longer than three levels the region's reduction by eight (the next stage
anchor) lands in a small shared array that the next stage tiles the same way,
until one region holds the whole level and the rest of the band is made in one
piece. A stage with nothing to hand on reads its region in the smallest blocks
its levels allow (one tile for one level, 2x2 tiles for two, 4x4 for three), so
that a block's pixels stay in the core's cache from the copy out of the decoded
source tiles to the encoder. A worker's cache of decoded source tiles makes every
source pixel decode once (a few decode twice where runs of regions meet), no worker
waits for another inside a stage, and memory stays at a few regions per worker
whatever the slide's size.

Pixels come from the slide's own JPEG tiles when they decode to exactly what
OpenSlide reads (checked on a sample of each level first), else from OpenSlide. A
region decoded from JPEG tiles is RGBX (four bytes a pixel) from the decoder to the
encoder, one read through OpenSlide RGB; the tiles' bytes are the same either way.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from tiler.decoded_cache import DecodedCache, OneThreadCache
from tiler.deepzoom import DEFAULT_OPTIONS, DeepZoomGrid, TileBox, TileOptions
from tiler.errors import BrokenSlideError, SlideError
from tiler.imaging import encode_tile, uniform_colour
from tiler.jpeg_tiles import JpegPyramid
from tiler.level_pixels import SlidePixels, anchor_reader, level_reader
from tiler.levels import (
    FRACTION_BITS,
    LEVELS_PER_STAGE,
    STAGE_FACTOR,
    Axis,
    Band,
    box_reduce,
    to_uint8,
)
from tiler.registry import open_slide
from tiler.slide import Slide
from tiler.tilepack import TileShard, pack_shards

Layout = Literal["dzi", "tilepack"]
ProgressCallback = Callable[[float], None]
Reader = Callable[[int, int, int, int], np.ndarray]
TileRecord = tuple[int, int, int, bytes]
#: A tile-pack shard file's name in the build's scratch directory (one per process).
SHARD_PATTERN = "shard-{pid}.sqlite"
#: Regions side by side in a worker's run (`_Stage.tasks`).
STRIP = 2
#: Each worker's cache of decoded source tiles: two regions' tiles and the row below
#: (about 190 tiles of 240x240), so a run of a strip decodes each shared tile once...
DECODED_CACHE_BYTES = 32 << 20
#: ... within this bound for all workers together (a worker holds ~30 MB besides), so
#: that many processes trade a few repeated decodes for memory: 8 MB each at 16.
DECODED_CACHE_TOTAL = 128 << 20


@dataclass(frozen=True)
class BuildResult:
    path: Path
    layout: Layout
    tiles: int
    seconds: float
    megapixels_per_second: float
    pixel_source: str


@dataclass(frozen=True)
class _SourceSpec:
    """How a worker process opens the stage's pixels (picklable): a band's anchor read
    from the slide, or the previous stage's reduction from a scratch file."""

    slide_path: Path | None = None
    band: Band | None = None
    use_jpeg_tiles: bool = False
    array_path: Path | None = None
    array_shape: tuple[int, int, int] = (0, 0, 3)

    def open(self, grid: DeepZoomGrid) -> Reader:
        if self.array_path is not None:
            pixels = np.memmap(self.array_path, np.uint16, "r", shape=self.array_shape)
            return lambda x, y, w, h: np.ascontiguousarray(pixels[y : y + h, x : x + w])
        assert self.slide_path is not None and self.band is not None
        slide, pyramid, decoded = _open_source(self.slide_path, self.use_jpeg_tiles)
        raw = None
        if self.use_jpeg_tiles:
            raw = pyramid.levels.get(self.band.level) if pyramid is not None else None
            if raw is None:
                raise BrokenSlideError(f"{self.slide_path.name}: JPEG level changed mid-build")
        return anchor_reader(self.band, level_reader(slide, self.band, raw, decoded))


@dataclass(frozen=True)
class _Stage:
    grid: DeepZoomGrid
    options: TileOptions
    source: _SourceSpec
    #: Deep Zoom level of the source's pixels (a stage anchor A_m).
    z_top: int
    #: Lowest Deep Zoom level of the band.
    z_low: int
    #: Where the stage's reduction by eight goes (None when the band ends in the stage).
    next_path: Path | None
    next_shape: tuple[int, int, int]
    #: Directory for standard DZI files, or None for a tile pack.
    dzi_dir: Path | None
    #: Where each process writes its shard of the tile pack (the build's scratch dir).
    shard_dir: Path

    @property
    def levels(self) -> int:
        """Deep Zoom levels the stage tiles (all the band's rest when it is whole)."""
        rest = self.z_top - self.z_low + 1
        return rest if self.whole else min(LEVELS_PER_STAGE, rest)

    @property
    def region_size(self) -> int:
        return self.grid.tile_size * STAGE_FACTOR

    @functools.cached_property
    def whole(self) -> bool:
        """One region holds the whole level: the band's rest is made in one piece."""
        return max(self.grid.level_dimensions(self.z_top)) <= self.region_size

    def region_counts(self) -> tuple[int, int]:
        w, h = self.grid.level_dimensions(self.z_top)
        return -(-w // self.region_size), -(-h // self.region_size)

    def tasks(self, wanted: int) -> list[list[tuple[int, int]]]:
        """The regions in at least `wanted` runs (where there are that many), each
        a piece of a strip STRIP regions wide taken row by row: the source tiles a
        region shares with its neighbour in the strip and with the region below are
        still in the worker's cache of decoded tiles when they are needed again."""
        if self.whole:
            return [[(0, 0)]]
        cols, rows = self.region_counts()
        strips = -(-cols // STRIP)
        height = -(-rows // max(1, -(-wanted // strips)))
        return [
            [
                (i, j)
                for j in range(top, min(rows, top + height))
                for i in range(strip * STRIP, min(cols, (strip + 1) * STRIP))
            ]
            for top in range(0, rows, height)
            for strip in range(strips)
        ]


class _StageWorker:
    """Per-process state: the open pixel source and the encoded blank tiles."""

    def __init__(self, stage: _Stage) -> None:
        self.stage = stage
        self.read = stage.source.open(stage.grid)
        self.width, self.height = stage.grid.level_dimensions(stage.z_top)
        self.axes = Axis.of(stage.grid, stage.z_top)
        self.next_pixels = (
            np.memmap(stage.next_path, np.uint16, "r+", shape=stage.next_shape)
            if stage.next_path
            else None
        )
        self.blank_tiles: dict[tuple[int, int, bytes], bytes] = {}
        self.blank_files: dict[bytes, str] = {}

    def blank_tile(self, width: int, height: int, colour: bytes) -> bytes:
        """One encoding per size and colour of blank glass: the bytes of encoding those
        pixels, as any other path would."""
        key = (height, width, colour)
        data = self.blank_tiles.get(key)
        if data is None:
            pixels = np.full((height, width, 3), np.frombuffer(colour, np.uint8))
            data = self.blank_tiles[key] = encode_tile(pixels, self.stage.options)
        return data

    def region_tiles(
        self, z: int, i: int, j: int, k: int, block: int = STAGE_FACTOR
    ) -> Iterator[TileBox]:
        """The tiles of block (i, j) of level z (`block` tiles a side: a region by
        default) at its k-th reduction."""
        grid = self.stage.grid
        cols, rows = grid.tile_counts(z - k)
        span = block >> k
        if self.stage.whole:
            i = j = 0
            span = max(cols, rows)
        for row in range(j * span, min(rows, (j + 1) * span)):
            for col in range(i * span, min(cols, (i + 1) * span)):
                yield grid.tile_box(z - k, col, row)

    def region_bounds(self, i: int, j: int, block: int) -> tuple[int, int, int, int]:
        """Pixels of level z_top read for block (i, j): its tiles and a margin that
        holds the overlap at its deepest level, a multiple of the block so that every
        reduction's blocks line up with the whole level."""
        grid, levels = self.stage.grid, self.stage.levels
        size = grid.tile_size * block
        margin = -(-(grid.overlap << (levels - 1)) // block) * block
        x0, y0 = max(0, i * size - margin), max(0, j * size - margin)
        x1 = min(self.width, (i + 1) * size + margin)
        y1 = min(self.height, (j + 1) * size + margin)
        return (x0, y0, x1, y1)

    def tiles_of_region(self, i: int, j: int) -> Iterator[tuple[int, int, int, bytes]]:
        stage = self.stage
        if stage.whole:
            yield from self.whole_band_tiles(self.read(0, 0, self.width, self.height))
            return
        if self.next_pixels is not None:
            yield from self.block_tiles(i, j, STAGE_FACTOR)
            return
        # Nothing to hand on: the region in the smallest blocks its levels allow (a tile
        # for a stage of one level, 2x2 tiles for two, 4x4 for three), so that a block's
        # pixels stay in the core's cache from the copy out of the decoded source tiles
        # to the encoder, where a whole region's (17 MB) would not: 8 % faster for one
        # level, where a row of tiles (2 MB) gained only 4 %.
        if stage.levels == 1:
            yield from self.single_tiles(i, j)
            return
        block = 1 << (stage.levels - 1)
        per = STAGE_FACTOR // block
        cols, rows = stage.grid.tile_counts(stage.z_top)
        for b_row in range(j * per, min((j + 1) * per, -(-rows // block))):
            for b_col in range(i * per, min((i + 1) * per, -(-cols // block))):
                yield from self.block_tiles(b_col, b_row, block)

    def single_tiles(self, i: int, j: int) -> Iterator[tuple[int, int, int, bytes]]:
        """A one-level stage's tiles of region (i, j), each read on its own: the stage
        of most of a slide's tiles (a slide level for each Deep Zoom level), so its
        loop is the one without reductions, blocks or nested generators."""
        for box in self.region_tiles(self.stage.z_top, i, j, 0):
            pixels = self.read(box.z_x, box.z_y, box.width, box.height)
            yield box.z, box.col, box.row, self.tile_bytes(pixels)

    def tile_bytes(self, pixels: np.ndarray) -> bytes:
        """A tile's encoding: blank glass told on the tile (a few sampled pixels settle a
        tissue tile) and encoded once per size and colour; tissue encoded from the view
        (libjpeg-turbo reads its rows straight from the larger array)."""
        colour = uniform_colour(pixels)
        if colour is None:
            return encode_tile(pixels, self.stage.options)
        return self.blank_tile(pixels.shape[1], pixels.shape[0], colour)

    def block_tiles(self, i: int, j: int, block: int) -> Iterator[tuple[int, int, int, bytes]]:
        """The stage's tiles of block (i, j), `block` tiles a side at level z_top; a
        region's (block 8) also hands its reduction by eight on to the next stage."""
        stage = self.stage
        x0, y0, x1, y1 = self.region_bounds(i, j, block)
        source = self.read(x0, y0, x1 - x0, y1 - y0)
        uniform = uniform_colour(source)
        if uniform is not None:
            # Blank glass all over (a third of a typical slide): every tile and every
            # reduction is that colour, so skip the pixel work entirely.
            value = np.frombuffer(uniform, source.dtype).reshape(1, 1, 3)
            colour = to_uint8(value).tobytes()
            for k in range(stage.levels):
                for box in self.region_tiles(stage.z_top, i, j, k, block):
                    yield box.z, box.col, box.row, self.blank_tile(box.width, box.height, colour)
            self.hand_on_colour(i, j, value.astype(np.uint16) << (16 - 8 * source.itemsize))
            return
        yield from self.stage_tiles(source, stage.z_top, stage.levels, x0, y0, i, j, block)
        if self.next_pixels is not None:
            reduced = box_reduce(source, STAGE_FACTOR, x0, y0, *self.axes, FRACTION_BITS)
            rows, cols = self.next_level_block(i, j)
            ox, oy = x0 // STAGE_FACTOR, y0 // STAGE_FACTOR
            self.next_pixels[rows, cols] = reduced[
                rows.start - oy : rows.stop - oy, cols.start - ox : cols.stop - ox, :3
            ]

    def cut(
        self, pixels: np.ndarray, boxes: Iterable[TileBox], x0: int, y0: int
    ) -> Iterator[tuple[int, int, int, bytes]]:
        """The tiles `boxes` of a level, cut from `pixels`, its window at (x0, y0)."""
        for box in boxes:
            top, left = box.z_y - y0, box.z_x - x0
            view = pixels[top : top + box.height, left : left + box.width]
            yield box.z, box.col, box.row, self.tile_bytes(view)

    def stage_tiles(
        self,
        source: np.ndarray,
        z: int,
        levels: int,
        x0: int,
        y0: int,
        i: int,
        j: int,
        block: int = STAGE_FACTOR,
    ) -> Iterator[tuple[int, int, int, bytes]]:
        """Tiles of block (i, j), levels z .. z - levels + 1 (at most three), cut from
        `source`, a window of level z at (x0, y0): level z - k is R(source, 2**k)."""
        axes = Axis.of(self.stage.grid, z)
        for k in range(levels):
            pixels = to_uint8(source) if k == 0 else box_reduce(source, 1 << k, x0, y0, *axes)
            tiles = self.region_tiles(z, i, j, k, block)
            yield from self.cut(pixels, tiles, x0 >> k, y0 >> k)

    def whole_band_tiles(self, pixels: np.ndarray) -> Iterator[tuple[int, int, int, bytes]]:
        """The band's remaining levels from one whole level: stages of three levels,
        each stage anchor the previous one reduced by eight."""
        z, left = self.stage.z_top, self.stage.levels
        while True:
            yield from self.stage_tiles(pixels, z, min(LEVELS_PER_STAGE, left), 0, 0, 0, 0)
            left -= LEVELS_PER_STAGE
            if left <= 0:
                return
            axes = Axis.of(self.stage.grid, z)
            pixels = box_reduce(pixels, STAGE_FACTOR, 0, 0, *axes, FRACTION_BITS)
            z -= LEVELS_PER_STAGE

    def next_level_block(self, i: int, j: int) -> tuple[slice, slice]:
        """Rows and columns of the next stage's level that region (i, j) produces."""
        assert self.next_pixels is not None
        size = self.stage.grid.tile_size
        nh, nw = self.next_pixels.shape[:2]
        return (
            slice(j * size, min(nh, (j + 1) * size)),
            slice(i * size, min(nw, (i + 1) * size)),
        )

    def hand_on_colour(self, i: int, j: int, value: np.ndarray) -> None:
        if self.next_pixels is not None:
            rows, cols = self.next_level_block(i, j)
            self.next_pixels[rows, cols] = value

    def run(self, i: int, j: int) -> int:
        """Build one region; DZI tiles are written as files, pack tiles into this
        process's shard: nothing but a count goes back to the parent."""
        tiles: list[TileRecord] = list(self.tiles_of_region(i, j))
        if self.stage.dzi_dir is None:
            _shard(self.stage.shard_dir).add(tiles)
        else:
            # All of a region's files at once, after its pixel work: creating a file
            # costs ext4 about four times more between encodes than in a run of
            # creates (its directory and inode structures fall out of the CPU caches).
            for z, col, row, data in tiles:
                self.write_file(z, col, row, data)
        # No flush: the mapping is shared, so the next stage's processes see these
        # pixels through the page cache; the file is scratch and never needs to be durable.
        return len(tiles)

    def write_file(self, z: int, col: int, row: int, data: bytes) -> None:
        assert self.stage.dzi_dir is not None
        # Plain strings: pathlib's joins cost more than the write itself here.
        path = f"{self.stage.dzi_dir}/{z}/{col}_{row}.{self.stage.options.format}"
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


#: Per worker process: the stage workers of the stages under way, and open slides.
_workers: dict[_Stage, _StageWorker] = {}
_opened: dict[Path, tuple[Slide, JpegPyramid | None, DecodedCache | None]] = {}
_in_worker = False
_cache_bytes = DECODED_CACHE_BYTES


def _init_worker(niceness: int, cache_bytes: int) -> None:
    global _in_worker, _cache_bytes
    _in_worker = True
    _cache_bytes = cache_bytes
    if niceness:
        os.nice(niceness)


#: This process's open shards, by build directory and process id (a forked worker
#: opens its own, never its parent's connection).
_shards: dict[tuple[Path, int], TileShard] = {}


def _shard(directory: Path) -> TileShard:
    """This process's shard of the tile pack being built in `directory`."""
    key = (directory, os.getpid())
    shard = _shards.get(key)
    if shard is None:
        shard = _shards[key] = TileShard(directory / SHARD_PATTERN.format(pid=os.getpid()))
    return shard


def _close_shard(directory: Path) -> None:
    shard = _shards.pop((directory, os.getpid()), None)
    if shard is not None:
        shard.close()


def _run_task(task: tuple[_Stage, list[tuple[int, int]]]) -> int:
    stage, regions = task
    worker = _workers.get(stage)
    if worker is None:
        if len(_workers) >= 16:  # stages of earlier rounds: their scratch files are gone
            _workers.pop(next(iter(_workers)))
        worker = _workers[stage] = _StageWorker(stage)
    return sum(worker.run(*region) for region in regions)


def _open_source(
    path: Path, use_jpeg_tiles: bool
) -> tuple[Slide, JpegPyramid | None, DecodedCache | None]:
    """The slide and its JPEG levels, opened once per worker process for every stage,
    with a cache of decoded JPEG tiles: those a region shares with the next one (its
    margin and the tiles straddling the boundary) decode once, as a worker goes down
    a strip of regions (`_Stage.tasks`); only those shared across strips, and between
    one run of a strip and the next, are decoded twice."""
    opened = _opened.get(path)
    if opened is None:
        slide = open_slide(path)
        # RGBX: libjpeg-turbo's faster conversion, and the regions stay four bytes a
        # pixel through the reductions and the encoder (`tiler.imaging`).
        pyramid = JpegPyramid.open(path, slide, 4) if use_jpeg_tiles or _in_worker else None
        opened = (slide, pyramid, OneThreadCache(_cache_bytes))
        if not _in_worker:  # the parent (the service) keeps nothing open after a build
            return opened
        _opened[path] = opened
    return opened


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
        self.pool: ProcessPoolExecutor | None = None

    def build(self, slide: Slide, dzi_dir: Path | None, pack_path: Path | None) -> str:
        info = slide.info
        grid = DeepZoomGrid(info.width, info.height, self.options.tile_size, self.options.overlap)
        self.total_tiles = grid.tile_total
        if dzi_dir is not None:
            for z in range(grid.level_count):
                (dzi_dir / str(z)).mkdir(parents=True)
        # The parent decides, once, which levels are read from their JPEG tiles and so
        # which bands there are: the same decision the on-the-fly path makes.
        pixels = SlidePixels(slide)
        bands = pixels.bands
        raw_levels = pixels.jpeg_levels
        pixels.close()  # each worker process opens its own readers
        # Bands are independent: the first stage of every band runs in one round, so no
        # core waits for a small band's last region; a long band's next stage follows.
        stages = [
            self._stage(
                grid,
                _SourceSpec(self.slide_path, band, band.level in raw_levels),
                band.z_anchor,
                band.z_low,
                dzi_dir,
            )
            for band in bands
        ]
        try:
            while stages:
                self._run_round(stages)
                stages = [
                    self._stage(
                        grid,
                        _SourceSpec(array_path=stage.next_path, array_shape=stage.next_shape),
                        stage.z_top - LEVELS_PER_STAGE,
                        stage.z_low,
                        dzi_dir,
                    )
                    for stage in stages
                    if stage.next_path is not None
                ]
        finally:
            if self.pool is not None:
                self.pool.shutdown(cancel_futures=True)  # workers exit: shards closed
            _close_shard(self.work_dir)
        pixel_source = "slide JPEG tiles" if raw_levels else "OpenSlide"
        if pack_path is not None:
            shards = sorted(self.work_dir.glob(SHARD_PATTERN.format(pid="*")))
            pack_shards(pack_path, shards, grid, self.options)
        return pixel_source

    def _stage(
        self,
        grid: DeepZoomGrid,
        source: _SourceSpec,
        z_top: int,
        z_low: int,
        dzi_dir: Path | None,
    ) -> _Stage:
        """A stage from `z_top`, with a scratch file for its reduction by eight if the
        band goes on past it."""
        stage = _Stage(
            grid, self.options, source, z_top, z_low, None, (0, 0, 3), dzi_dir, self.work_dir
        )
        z_next = z_top - LEVELS_PER_STAGE
        if stage.whole or z_next < z_low:
            return stage
        nw, nh = grid.level_dimensions(z_next)
        shape = (nh, nw, 3)
        path = self.work_dir / f"level-{z_next}.rgb"
        np.memmap(path, np.uint16, "w+", shape=shape).flush()
        return _Stage(grid, self.options, source, z_top, z_low, path, shape, dzi_dir, self.work_dir)

    def _collect(self, count: int) -> None:
        self.tiles_done += count
        if self.progress is not None:
            self.progress(min(1.0, self.tiles_done / self.total_tiles))

    def _run_round(self, stages: list[_Stage]) -> None:
        wanted = 8 * self.processes  # runs enough that no core idles at the end
        tasks = [(stage, run) for stage in stages for run in stage.tasks(wanted)]
        if self.processes <= 1 or len(tasks) <= 1:
            workers: dict[_Stage, _StageWorker] = {}  # the parent keeps nothing after a build
            for stage, run in tasks:
                worker = workers.get(stage) or workers.setdefault(stage, _StageWorker(stage))
                self._collect(sum(worker.run(*region) for region in run))
            return
        if self.pool is None:
            context = multiprocessing.get_context(_start_method())
            share = DECODED_CACHE_TOTAL // self.processes
            cache_bytes = max(8 << 20, min(DECODED_CACHE_BYTES, share))
            self.pool = ProcessPoolExecutor(
                self.processes, context, _init_worker, (self.niceness, cache_bytes)
            )
        for result in self.pool.map(_run_task, tasks):
            self._collect(result)


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
