"""An area's pixels from whatever level tiles have arrived, for a slide still arriving.

A `Canvas` is an output area (its level-0 origin, level-0 pixels per output pixel,
its size) that starts as the slide's background. `paint` resamples the arrived tiles
of one stored level onto the pixels still unknown: finest level first, so what is
left falls to coarser levels, and what no level knows stays glass. Only tiles that
have arrived are read: a hole in the file is never looked at.

Resampling: a level at the output's own scale whose pixels fall on the output's is
copied exactly; a finer one is box-averaged (Pillow's BOX), a coarser one scaled up
bilinearly, each with a mask resampled the same way, so an output pixel is painted
only when every stored pixel it was made from has arrived. An output pixel thus
depends on stored pixels under it or at most one stored pixel (of a coarser level)
or half an output pixel (of a finer one) beyond it, which is what
`tiler.arriving.ChangedArea` allows for.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

#: (t_col0, t_row0, t_col1, t_row1) -> rows x cols booleans: which tiles have arrived.
ArrivedFn = Callable[[tuple[int, int, int, int]], np.ndarray]
#: (t_col, t_row) -> an arrived tile's pixels (clipped to the level).
TileFn = Callable[[int, int], np.ndarray]


@dataclass(frozen=True)
class StoredLevel:
    """A stored level as a canvas reads it."""

    downsample: float
    width: int
    height: int
    tile_width: int
    tile_height: int
    arrived: ArrivedFn
    tile: TileFn
    #: Output beyond the stored level repeats its last column and row (a Deep Zoom
    #: anchor one pixel short, `tiler.levels`) instead of staying unknown.
    clamp: bool = False


class Canvas:
    """Output pixels [l0_x, l0_x + width * downsample) x ... in level-0 pixels."""

    def __init__(
        self,
        l0_x: float,
        l0_y: float,
        downsample: float,
        size: tuple[int, int],
        background: tuple[int, int, int],
    ) -> None:
        self.l0_x, self.l0_y, self.downsample = l0_x, l0_y, downsample
        self.width, self.height = size
        # A repeated 3-byte pattern is built fastest as bytes (numpy fills it per pixel).
        glass = bytes(background) * (self.width * self.height)
        self.pixels = np.frombuffer(glass, np.uint8).reshape(self.height, self.width, 3).copy()
        self.known = np.zeros((self.height, self.width), dtype=bool)

    @property
    def complete(self) -> bool:
        return bool(self.known.all())

    def paint(self, level: StoredLevel, max_pixels: int | None = None) -> None:
        """Paint the still unknown pixels that `level`'s arrived tiles give; a level whose
        stored window would exceed `max_pixels` is skipped (too costly to read)."""
        scale = self.downsample / level.downsample  # stored pixels per output pixel
        fx0, fy0 = self.l0_x / level.downsample, self.l0_y / level.downsample
        fx1, fy1 = fx0 + self.width * scale, fy0 + self.height * scale
        margin = max(1, math.ceil(scale))
        extent_w = max(level.width, math.ceil(fx1)) if level.clamp else level.width
        extent_h = max(level.height, math.ceil(fy1)) if level.clamp else level.height
        # Output pixels inside the level (its last pixel may be cut by the output's end).
        ox0, oy0 = _first_inside(fx0, scale), _first_inside(fy0, scale)
        ox1 = min(self.width, math.ceil((extent_w - fx0) / scale))
        oy1 = min(self.height, math.ceil((extent_h - fy0) / scale))
        if ox1 <= ox0 or oy1 <= oy0:
            return
        cx0, cy0 = max(0, math.floor(fx0) - margin), max(0, math.floor(fy0) - margin)
        cx1 = min(level.width, math.ceil(fx1) + margin)
        cy1 = min(level.height, math.ceil(fy1) + margin)
        if cx1 <= cx0 or cy1 <= cy0:  # all of it beyond a clamped level's last pixel
            cx0, cy0 = min(cx0, level.width - 1), min(cy0, level.height - 1)
        if max_pixels is not None and (cx1 - cx0) * (cy1 - cy0) > max_pixels:
            return
        crop = self._read(level, cx0, cy0, cx1, cy1)
        if crop is None:
            return
        pixels, mask = crop
        if level.clamp:  # repeat the last column/row out to the output's end
            pad_x = max(0, min(extent_w, math.ceil(fx1) + margin) - cx1)
            pad_y = max(0, min(extent_h, math.ceil(fy1) + margin) - cy1)
            if pad_x or pad_y:
                pixels = np.pad(pixels, ((0, pad_y), (0, pad_x), (0, 0)), mode="edge")
                mask = np.pad(mask, ((0, pad_y), (0, pad_x)), mode="edge")
        height, width = mask.shape
        bx0, by0 = fx0 + ox0 * scale - cx0, fy0 + oy0 * scale - cy0
        bx1 = min(width, fx0 + ox1 * scale - cx0)
        by1 = min(height, fy0 + oy1 * scale - cy0)
        size = (ox1 - ox0, oy1 - oy0)
        if scale == 1 and bx0 == int(bx0) and by0 == int(by0):
            x, y = int(bx0), int(by0)
            values = pixels[y : y + size[1], x : x + size[0]]
            known = mask[y : y + size[1], x : x + size[0]] == 255
        else:
            box = (max(0.0, bx0), max(0.0, by0), bx1, by1)
            kind = Image.Resampling.BOX if scale > 1 else Image.Resampling.BILINEAR
            values = np.asarray(Image.fromarray(pixels).resize(size, kind, box=box))
            if mask.all():
                known = np.ones((size[1], size[0]), dtype=bool)
            else:
                known = np.asarray(Image.fromarray(mask).resize(size, kind, box=box)) == 255
        target = self.known[oy0:oy1, ox0:ox1]
        fresh = known & ~target
        if fresh.all():
            self.pixels[oy0:oy1, ox0:ox1] = values
        else:
            np.copyto(self.pixels[oy0:oy1, ox0:ox1], values, where=fresh[..., None])
        target |= fresh

    @staticmethod
    def _read(
        level: StoredLevel, x0: int, y0: int, x1: int, y1: int
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Stored pixels [x0, x1) x [y0, y1) and a 0/255 mask of those that arrived, or
        None when none did."""
        tw, th = level.tile_width, level.tile_height
        c0, r0 = x0 // tw, y0 // th
        c1, r1 = (x1 - 1) // tw + 1, (y1 - 1) // th + 1
        arrived = level.arrived((c0, r0, c1, r1))
        if not arrived.any():
            return None
        pixels = np.zeros((y1 - y0, x1 - x0, 3), dtype=np.uint8)
        mask = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
        for row, col in zip(*np.nonzero(arrived), strict=True):
            t_col, t_row = c0 + int(col), r0 + int(row)
            tile = level.tile(t_col, t_row)
            tx0, ty0 = t_col * tw, t_row * th
            sx0, sy0 = max(x0, tx0), max(y0, ty0)
            sx1 = min(x1, tx0 + tile.shape[1])
            sy1 = min(y1, ty0 + tile.shape[0])
            pixels[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = tile[
                sy0 - ty0 : sy1 - ty0, sx0 - tx0 : sx1 - tx0
            ]
            mask[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = 255
        return pixels, mask


def _first_inside(start: float, scale: float) -> int:
    """The first output pixel at or after a level's origin, for an output starting at
    level coordinate `start`."""
    return 0 if start >= 0 else math.ceil(-start / scale)
