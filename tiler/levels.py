"""Which slide level each Deep Zoom level is made from, and exactly which pixels it gets.

One definition for every path (on the fly, the pyramid builder, a slide still
arriving): the same source level, the same arithmetic, so a tile's bytes depend
only on the pixels of its source level, never on the order tiles were asked in.

Source level. Deep Zoom level z has downsample d = 2**(z_max - z). A slide level L
*qualifies* with the integer factor f_L when:

- f_L is a power of two and the level's reported downsample is f_L within 1 %
  (scanners round level sizes down, so 4.0019 means 4), or, for small levels where
  one pixel of rounding is more than 1 %, each stored side is floor or ceil of
  l0 / f_L for f_L the power of two nearest the downsample;
- each stored side is at least ceil(l0 / f_L) - 1 (at most one pixel short);
- its pixels can be read exactly at any position (`exact_levels` below): decoded
  from its own JPEG tiles, or through OpenSlide when its reported downsample is
  exactly f_L. OpenSlide interpolates a read whose level-0 origin is not a whole
  level pixel, and with a downsample of 4.0019 no origin but (0, 0) is, so such a
  level read through OpenSlide would give pixels that depend on where they were read.

Level 0 always qualifies (f = 1). Level z is made from the coarsest qualifying level
with f_L <= d; both are powers of two, so d / f_L is one, and every reduction is a
box filter. The levels made from one slide level form its *band*: from its *anchor*
z_a = z_max - log2(f_L), whose Deep Zoom size ceil(l0 / f_L) the level has, down to
just above the next coarser source's anchor (to 0 for the coarsest).

The anchor's pixels. Pixel (x, y) of the anchor is the stored pixel
(min(x, w_L - 1), min(y, h_L - 1)): a level one pixel short of ceil(l0 / f_L)
repeats its last column/row, a longer one is cropped.

Reductions. Within a band, stages of three levels: A_0 is the anchor (uint8),
A_(m+1) = R8(A_m, 8), and level z_a - (3m + i) = R(A_m, 2**i) for i in 0, 1, 2.
R(X, r) replaces each r x r block of X (the last block of a row or column holds
what remains) by its weighted mean rounded half up to an integer, in exact integer
arithmetic: floor((2 * sum(w * p) + sum(w)) / (2 * sum(w))); R8 does the same to
multiples of 1/256 (FRACTION_BITS), which the stage anchors A_1, A_2, ... keep as
uint16. So every level is its block's exact mean rounded once, up to the 1/512 a
stage anchor may be off: a 1x1 level is the slide's mean colour, not the result of
a rounding at every stage. A pixel's weight is the
share of the slide it covers, in level-0 pixels: the product of its column's and its
row's, which are X's downsample for every column but the last, and
l0 - (size - 1) * downsample for the last (`DeepZoomGrid.edge_weights`, as integers).
Every implementation that is exact gives the same bytes: Pillow's `reduce` is exact
for whole, equally weighted blocks of uint8 (a power-of-two divisor; libvips' `shrink`
is not: it rounds otherwise), sums of whole blocks are exact in uint16, and the rest
is computed here in integers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tiler.deepzoom import DeepZoomGrid, TileBox
from tiler.imaging import pillow_image
from tiler.slide import Level, SlideInfo

#: Deep Zoom levels per stage: A_(m+1) is R(A_m, 2**LEVELS_PER_STAGE).
LEVELS_PER_STAGE = 3
STAGE_FACTOR = 1 << LEVELS_PER_STAGE
#: Stage anchors after the first (A_1, A_2, ...) keep this many fraction bits (uint16),
#: so that the small levels are rounded once, not once per stage.
FRACTION_BITS = 8


def level_factor(level: Level, l0_width: int, l0_height: int) -> int | None:
    """The power-of-two factor a level was made with, or None (see the module doc)."""
    if level.downsample < 1 or level.width < 1 or level.height < 1:
        return None
    factor = 1 << max(0, round(math.log2(level.downsample)))
    close = abs(level.downsample - factor) <= 0.01 * factor
    rounded = all(
        side in (l0 // factor, -(-l0 // factor))
        for side, l0 in ((level.width, l0_width), (level.height, l0_height))
    )
    long_enough = level.width >= -(-l0_width // factor) - 1 and (
        level.height >= -(-l0_height // factor) - 1
    )
    return factor if (close or rounded) and long_enough else None


@dataclass(frozen=True)
class Band:
    """The Deep Zoom levels made from one slide level."""

    level: int
    factor: int
    #: Deep Zoom level whose size the slide level has (its anchor, A_0).
    z_anchor: int
    #: Lowest Deep Zoom level made from it.
    z_low: int
    #: The slide level's stored size.
    l_width: int
    l_height: int

    def position(self, z: int) -> tuple[int, int]:
        """(m, i): level z is R(A_m, 2**i)."""
        return divmod(self.z_anchor - z, LEVELS_PER_STAGE)

    def anchor(self, m: int) -> int:
        """Deep Zoom level of A_m."""
        return self.z_anchor - LEVELS_PER_STAGE * m


def source_bands(
    info: SlideInfo, grid: DeepZoomGrid, exact: Callable[[int], bool] = lambda level: True
) -> list[Band]:
    """The bands of the slide, finest first; `exact(level)` says whether a level's
    pixels can be read exactly at any position (level 0 always can)."""
    by_anchor: dict[int, tuple[int, int]] = {}
    for index, level in enumerate(info.levels):
        factor = 1 if index == 0 else level_factor(level, info.width, info.height)
        if factor is None or (index and not exact(index)):
            continue
        z_anchor = grid.z_max - int(math.log2(factor))
        if z_anchor >= 0 and z_anchor not in by_anchor:
            by_anchor[z_anchor] = (index, factor)
    anchors = sorted(by_anchor, reverse=True)
    bands = []
    for position, z_anchor in enumerate(anchors):
        index, factor = by_anchor[z_anchor]
        z_low = anchors[position + 1] + 1 if position + 1 < len(anchors) else 0
        level = info.levels[index]
        bands.append(Band(index, factor, z_anchor, z_low, level.width, level.height))
    return bands


def band_of(bands: list[Band], z: int) -> Band:
    return next(band for band in bands if band.z_low <= z <= band.z_anchor)


def source_window(band: Band, grid: DeepZoomGrid, box: TileBox) -> tuple[int, int, int, int]:
    """The stored pixels [x0, x1) x [y0, y1) of the band's slide level that the tile
    `box` is made from: once they have all arrived, the tile is final."""
    scale = 1 << (band.z_anchor - box.z)
    width, height = grid.level_dimensions(band.z_anchor)
    x1 = min(width, (box.z_x + box.width) * scale)
    y1 = min(height, (box.z_y + box.height) * scale)
    return stored_rect(band, box.z_x * scale, box.z_y * scale, x1, y1)


def stored_rect(band: Band, x0: int, y0: int, x1: int, y1: int) -> tuple[int, int, int, int]:
    """The stored pixels of the band's slide level that pixels [x0, x1) x [y0, y1) of its
    anchor are (a level one pixel short repeats its last column and row)."""
    sx0, sy0 = min(x0, band.l_width - 1), min(y0, band.l_height - 1)
    return (
        sx0,
        sy0,
        max(sx0 + 1, min(x1, band.l_width)),
        max(sy0 + 1, min(y1, band.l_height)),
    )


@dataclass(frozen=True)
class Axis:
    """One axis of a Deep Zoom level: its size and the level-0 pixels each pixel covers."""

    size: int
    full: int
    last: int

    @classmethod
    def of(cls, grid: DeepZoomGrid, z: int) -> tuple[Axis, Axis]:
        width, height = grid.level_dimensions(z)
        d = grid.downsample(z)
        return (
            cls(width, d, grid.l0_width - (width - 1) * d),
            cls(height, d, grid.l0_height - (height - 1) * d),
        )

    def weights(self, start: int, count: int) -> np.ndarray:
        """Weights of pixels [start, start + count) (int64)."""
        weights = np.full(count, self.full, dtype=np.int64)
        if start + count == self.size:
            weights[-1] = self.last
        return weights


def box_reduce(
    pixels: np.ndarray,
    factor: int,
    x0: int,
    y0: int,
    x_axis: Axis,
    y_axis: Axis,
    fraction_out: int = 0,
) -> np.ndarray:
    """R(pixels, factor) for the window of a level whose top-left pixel is (x0, y0) and
    whose axes are given. `pixels` is uint8 (an anchor A_0: HxWx3, or HxWx4 RGBX) or
    uint16 with FRACTION_BITS fraction bits (a later stage anchor); the result has the
    same channels and `fraction_out` fraction bits (uint8 for 0, else uint16). The
    window starts on a block and ends on one or at the level's edge. Returns a new
    array."""
    height, width = pixels.shape[:2]
    if x0 % factor or y0 % factor:
        raise ValueError("a reduction window must start on a block")
    at_right, at_bottom = x0 + width == x_axis.size, y0 + height == y_axis.size
    if (width % factor and not at_right) or (height % factor and not at_bottom):
        raise ValueError("a reduction window must end on a block or at the level's edge")
    fraction_in = 0 if pixels.dtype == np.uint8 else FRACTION_BITS
    if factor == 1 and fraction_out == 0:
        return np.array(to_uint8(pixels))
    if fraction_in == fraction_out == 0:
        # Pillow is exact for whole, equally weighted blocks (a power-of-two divisor),
        # and faster than numpy or libvips here (`benchmarks.tiling_stages`).
        out = np.array(pillow_image(pixels).reduce(factor))
    elif fraction_in == 0 and factor == STAGE_FACTOR:
        out = block_sums(pixels, factor) << (FRACTION_BITS - 6)  # (sum / 64) * 256, exact
    else:
        return _exact_reduce(pixels, factor, x0, y0, x_axis, y_axis, fraction_out)
    # Redo the last column/row where the block is partial or weighted.
    if at_right and (width % factor or x_axis.last != x_axis.full):
        start = (out.shape[1] - 1) * factor
        out[:, -1:] = _exact_reduce(
            pixels[:, start:], factor, x0 + start, y0, x_axis, y_axis, fraction_out
        )
    if at_bottom and (height % factor or y_axis.last != y_axis.full):
        start = (out.shape[0] - 1) * factor
        out[-1:, :] = _exact_reduce(
            pixels[start:], factor, x0, y0 + start, x_axis, y_axis, fraction_out
        )
    return out


def block_sums(pixels: np.ndarray, factor: int) -> np.ndarray:
    """Sums of the factor x factor blocks of uint8 pixels (a power of two up to 8), as
    uint16 (at most 64 * 255), by pairwise adds of rows then columns (several times
    faster than a reshaped sum); a partial last block gives a value the caller replaces."""
    height, width = pixels.shape[:2]
    out_h, out_w = -(-height // factor), -(-width // factor)
    if height != out_h * factor or width != out_w * factor:
        padded = np.zeros((out_h * factor, out_w * factor, pixels.shape[2]), dtype=np.uint8)
        padded[:height, :width] = pixels
        pixels = padded
    sums = pixels[0::2].astype(np.uint16)
    sums += pixels[1::2]
    sums = sums[:, 0::2] + sums[:, 1::2]
    while factor > 2:
        sums = sums[0::2] + sums[1::2]
        sums = sums[:, 0::2] + sums[:, 1::2]
        factor >>= 1
    return sums


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """A stage anchor's pixels (FRACTION_BITS fraction bits) rounded half up to uint8."""
    if pixels.dtype == np.uint8:
        return pixels
    half = 1 << (FRACTION_BITS - 1)
    rounded: np.ndarray = ((pixels.astype(np.uint32) + half) >> FRACTION_BITS).astype(np.uint8)
    return rounded


def _exact_reduce(
    pixels: np.ndarray,
    factor: int,
    x0: int,
    y0: int,
    x_axis: Axis,
    y_axis: Axis,
    fraction_out: int,
) -> np.ndarray:
    """The weighted block mean rounded half up once, in exact integers (int64, or Python
    integers where a tiny level's weights could overflow int64)."""
    height, width = pixels.shape[:2]
    fraction_in = 0 if pixels.dtype == np.uint8 else FRACTION_BITS
    out_h, out_w = -(-height // factor), -(-width // factor)
    big = max(x_axis.full, y_axis.full) >= 1 << 15
    dtype = object if big else np.int64
    wy = np.zeros(out_h * factor, dtype=np.int64)
    wx = np.zeros(out_w * factor, dtype=np.int64)
    wy[:height] = y_axis.weights(y0, height)
    wx[:width] = x_axis.weights(x0, width)
    channels = pixels.shape[2]
    padded = np.zeros((len(wy), len(wx), channels), dtype=dtype)
    padded[:height, :width] = pixels
    blocks = (out_h, factor, out_w, factor)
    weights = wy.astype(dtype)[:, None] * wx.astype(dtype)[None, :]
    num = (padded * weights[..., None]).reshape(*blocks, channels).sum(axis=(1, 3))
    den = weights.reshape(blocks).sum(axis=(1, 3))[..., None]
    if fraction_out >= fraction_in:
        num = num * (1 << (fraction_out - fraction_in))
    else:
        den = den * (1 << (fraction_in - fraction_out))
    reduced = (2 * num + den) // (2 * den)
    return np.asarray(reduced, dtype=np.uint8 if fraction_out == 0 else np.uint16)


def clamp_indices(start: int, count: int, stored: int) -> np.ndarray | None:
    """Stored-level indices for anchor pixels [start, start + count), or None when they
    are all inside the stored level (no clamping needed)."""
    if start + count <= stored:
        return None
    return np.minimum(np.arange(start, start + count), stored - 1)
