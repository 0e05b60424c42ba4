"""Rendering a region of a slide at any size (IIIF images, thumbnails) in bounded memory.

Pixels are read at the slide level closest above the output scale, so a zoomed-out
view decodes a small level, never the full resolution. The output is then made tile
by tile: each tile reads one chunk of that level (its filter's reach as margin; at
most CHUNK_PIXELS level pixels are decoded at a time) and resamples it with a Lanczos
filter over the tile's exact, fractional source box; a reduction by more than
REDUCE_GAP (a slide without the levels for it) is a box mean of whole blocks first. A
tile's pixels are therefore those a single resize of the whole region would give
(edges included: chunks are clipped where the whole region is), and memory is the
output plus one chunk whatever the region's size. libvips then turns and encodes the
output without a copy (`vips.encode`).

Why Pillow resamples rather than libvips: libvips' resize and reduce have no
sub-pixel origin, so each strip resized on its own would start up to a source pixel
off its neighbour and seams would show; Pillow's resize takes a fractional box.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from app.core.errors import PayloadTooLargeError
from app.core.i18n import N_
from app.services.imaging import vips
from app.services.imaging.iiif import ImageRequest
from tiler import Slide

#: Most level pixels read at once (one chunk: ~30 MB while it is resampled).
CHUNK_PIXELS = 2 * 1024 * 1024
#: Reach of Pillow's Lanczos filter, in source pixels at scale 1.
LANCZOS_SUPPORT = 3.0
#: Largest reduction left to the Lanczos filter; beyond, box means of whole blocks first.
REDUCE_GAP = 2.0


@dataclass(frozen=True)
class Source:
    """Where a render reads: a slide level, and the region on it in level pixels.

    (`l_x`, `l_y`, `l_width`, `l_height`) is the exact, fractional region; the
    integer bounds `l_x0..l_x1`, `l_y0..l_y1` are the level pixels it touches."""

    level: int
    downsample: float
    l_x: float
    l_y: float
    l_width: float
    l_height: float
    l_x0: int
    l_y0: int
    l_x1: int
    l_y1: int

    @property
    def pixels(self) -> int:
        return (self.l_x1 - self.l_x0) * (self.l_y1 - self.l_y0)


def plan(
    slide: Slide, box: tuple[int, int, int, int], size: tuple[int, int], max_read_pixels: int
) -> Source:
    """The level and level pixels that make the level-0 `box` (x, y, w, h) at `size`;
    PayloadTooLargeError (413) if that is more than `max_read_pixels` decoded pixels."""
    l0_x, l0_y, l0_w, l0_h = box
    out_w, out_h = size
    level = slide.best_level_for_downsample(max(1.0, min(l0_w / out_w, l0_h / out_h)))
    stored = slide.info.levels[level]
    ds = stored.downsample
    l_x, l_y, l_w, l_h = l0_x / ds, l0_y / ds, l0_w / ds, l0_h / ds
    l_x0, l_y0 = min(math.floor(l_x), stored.width - 1), min(math.floor(l_y), stored.height - 1)
    l_x1 = max(l_x0 + 1, min(stored.width, math.ceil(l_x + l_w)))
    l_y1 = max(l_y0 + 1, min(stored.height, math.ceil(l_y + l_h)))
    source = Source(level, ds, l_x, l_y, l_w, l_h, l_x0, l_y0, l_x1, l_y1)
    if source.pixels > max_read_pixels:
        raise PayloadTooLargeError(
            N_(
                "this region needs {pixels} decoded pixels at the nearest slide level "
                "(at most {max_pixels}); ask for a smaller region or size",
                pixels=source.pixels,
                max_pixels=max_read_pixels,
            )
        )
    return source


def _spans(total: int, step: int) -> list[tuple[int, int]]:
    return [(start, min(total, start + step)) for start in range(0, total, step)]


def _inside(b0: float, b1: float, r0: int, r1: int) -> tuple[float, float]:
    """The source box [b0, b1) relative to the chunk [r0, r1), kept inside it: a
    region's last fraction of a pixel can pass the end of a level that the scanner
    stored a pixel short."""
    size = r1 - r0
    start = min(b0 - r0, size - 1e-6)
    return start, max(start + 1e-6, min(b1 - r0, size))


@dataclass(frozen=True)
class _Blocks:
    """The source level seen through box means of `k_x` x `k_y` blocks, counted from the
    region's first level pixel (`Source.l_x0`, `l_y0`): block (u, v) is the mean of the
    level pixels it covers inside the region. Its pixels do not depend on how a render
    is cut into chunks, so a Lanczos filter over them joins chunks without seams."""

    source: Source
    k_x: int
    k_y: int

    @property
    def width(self) -> int:
        return -(-(self.source.l_x1 - self.source.l_x0) // self.k_x)

    @property
    def height(self) -> int:
        return -(-(self.source.l_y1 - self.source.l_y0) // self.k_y)

    def read(self, slide: Slide, u0: int, v0: int, u1: int, v1: int, budget: int) -> np.ndarray:
        """Blocks [u0, u1) x [v0, v1) as H x W x 3 uint8, reading at most `budget` level
        pixels at a time (a block may span several reads)."""
        src = self.source
        x0, y0 = src.l_x0 + u0 * self.k_x, src.l_y0 + v0 * self.k_y
        x1, y1 = min(src.l_x1, src.l_x0 + u1 * self.k_x), min(src.l_y1, src.l_y0 + v1 * self.k_y)
        if self.k_x == self.k_y == 1 and (x1 - x0) * (y1 - y0) <= budget:
            return slide.read_rgb(
                (round(x0 * src.downsample), round(y0 * src.downsample)), src.level,
                (x1 - x0, y1 - y0),
            )  # fmt: skip
        # Sums of up to k_x * k_y pixels of 255: 32 bits unless a block is a 4096-square.
        wide = np.uint64 if self.k_x * self.k_y * 255 >= 2**32 else np.uint32
        sums = np.zeros((v1 - v0, u1 - u0, 3), dtype=wide)
        step_w = min(x1 - x0, budget)
        step_h = max(1, budget // step_w)
        for r_y0, r_y1 in _spans(y1 - y0, step_h):
            for r_x0, r_x1 in _spans(x1 - x0, step_w):
                pixels = slide.read_rgb(
                    (round((x0 + r_x0) * src.downsample), round((y0 + r_y0) * src.downsample)),
                    src.level,
                    (r_x1 - r_x0, r_y1 - r_y0),
                )
                # Which block each column and row falls in; sums per block, both axes.
                cols = (x0 - src.l_x0 + np.arange(r_x0, r_x1)) // self.k_x - u0
                rows = (y0 - src.l_y0 + np.arange(r_y0, r_y1)) // self.k_y - v0
                col_starts = np.flatnonzero(np.diff(cols, prepend=-1))
                row_starts = np.flatnonzero(np.diff(rows, prepend=-1))
                part = np.add.reduceat(pixels, col_starts, axis=1, dtype=wide)
                part = np.add.reduceat(part, row_starts, axis=0, dtype=wide)
                sums[rows[row_starts][:, None], cols[col_starts][None, :]] += part
        count_x = np.minimum(self.k_x, x1 - (x0 + np.arange(u1 - u0) * self.k_x))
        count_y = np.minimum(self.k_y, y1 - (y0 + np.arange(v1 - v0) * self.k_y))
        counts = (count_y[:, None] * count_x[None, :]).astype(wide)[..., None]
        means: np.ndarray = ((2 * sums + counts) // (2 * counts)).astype(np.uint8)  # half up
        return means


def render_pixels(
    slide: Slide, source: Source, size: tuple[int, int], chunk_pixels: int = CHUNK_PIXELS
) -> np.ndarray:
    """The source region resampled to `size`: H x W x 3 uint8, made one chunk at a time.

    A reduction by more than REDUCE_GAP is a box mean of whole blocks first (as Pillow's
    `reducing_gap` does), so the Lanczos filter spans a few pixels, not a few thousand,
    and no chunk needs a margin wider than itself."""
    out_w, out_h = size
    blocks = _Blocks(
        source,
        max(1, math.floor(source.l_width / out_w / REDUCE_GAP)),
        max(1, math.floor(source.l_height / out_h / REDUCE_GAP)),
    )
    # The region in block coordinates, and the scale from there to the output.
    x, y = (source.l_x - source.l_x0) / blocks.k_x, (source.l_y - source.l_y0) / blocks.k_y
    scale_x = source.l_width / blocks.k_x / out_w
    scale_y = source.l_height / blocks.k_y / out_h
    # Blocks each side that the filter of a tile's edge pixels reaches (+1 rounding).
    margin_x = math.ceil(LANCZOS_SUPPORT * max(scale_x, 1.0)) + 1
    margin_y = math.ceil(LANCZOS_SUPPORT * max(scale_y, 1.0)) + 1
    side = math.sqrt(chunk_pixels)
    tile_w = max(1, math.floor((side - 2 * margin_x) / scale_x))
    tile_h = max(1, math.floor((side - 2 * margin_y) / scale_y))
    output = np.empty((out_h, out_w, 3), dtype=np.uint8)
    for o_y0, o_y1 in _spans(out_h, tile_h):
        b_y0, b_y1 = y + o_y0 * scale_y, y + o_y1 * scale_y
        r_y0 = max(0, math.floor(b_y0) - margin_y)
        r_y1 = min(blocks.height, math.ceil(b_y1) + margin_y)
        for o_x0, o_x1 in _spans(out_w, tile_w):
            b_x0, b_x1 = x + o_x0 * scale_x, x + o_x1 * scale_x
            r_x0 = max(0, math.floor(b_x0) - margin_x)
            r_x1 = min(blocks.width, math.ceil(b_x1) + margin_x)
            chunk = blocks.read(slide, r_x0, r_y0, r_x1, r_y1, chunk_pixels)
            (x0, x1), (y0, y1) = _inside(b_x0, b_x1, r_x0, r_x1), _inside(b_y0, b_y1, r_y0, r_y1)
            tile = Image.fromarray(chunk).resize(
                (o_x1 - o_x0, o_y1 - o_y0), Image.Resampling.LANCZOS, box=(x0, y0, x1, y1)
            )
            del chunk
            output[o_y0:o_y1, o_x0:o_x1] = np.asarray(tile)
    return output


def render(slide: Slide, request: ImageRequest, source: Source) -> bytes:
    """A planned IIIF request (`plan`), encoded."""
    pixels = render_pixels(slide, source, (request.width, request.height))
    return vips.encode(
        pixels,
        mirror=request.mirror,
        rotation=request.rotation,
        quality=request.quality,
        fmt=request.format,
    )


def thumbnail_plan(
    slide: Slide, longest_side: int, max_read_pixels: int
) -> tuple[Source, tuple[int, int]]:
    """The whole slide scaled to fit `longest_side` (never up): its source and size."""
    width, height = slide.info.width, slide.info.height
    scale = min(longest_side / width, longest_side / height, 1.0)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return plan(slide, (0, 0, width, height), size, max_read_pixels), size


def thumbnail(slide: Slide, source: Source, size: tuple[int, int]) -> bytes:
    pixels = render_pixels(slide, source, size)
    return vips.encode(pixels, mirror=False, rotation=0, quality="default", fmt="jpg")
