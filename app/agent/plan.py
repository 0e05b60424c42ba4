"""In which order a slide's bytes cross the link: what the pathologist needs first.

The structure every reader needs first (the hub can then describe the slide), its
small images, then the levels from the coarsest to full resolution, each level's tile
table (where its tiles lie: most of a pyramid's structure is the full resolution's)
right before its tissue, its tissue before its blank glass, and the bytes nothing
reads last. Neighbouring
ranges in that order are joined into pieces of at most `piece_bytes`, so a request
carries enough to keep the link busy without making a viewer's wish wait long behind it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from tiler import SlideError, open_slide
from tiler.byte_layout import ByteRange, FileLayout, TileKey

log = logging.getLogger(__name__)

#: Bytes per request by default: one second of a 2 Mbit/s link.
PIECE_BYTES = 256 * 1024
#: The tissue mask is read from the coarsest level only if it is at most this big.
MASK_PIXELS = 4096 * 4096
#: Associated images in the order a screen shows them.
_ASSOCIATED = {"thumbnail": 0, "macro": 1, "label": 2}

Span = tuple[int, int]


def tissue_mask(path: Path) -> tuple[np.ndarray, float] | None:
    """Where the slide has tissue, read from its coarsest level: (mask, level-0 pixels per
    mask pixel), or None when the engine cannot read it cheaply."""
    try:
        with open_slide(path) as slide:
            info = slide.info
            level = len(info.levels) - 1
            width, height = info.levels[level].width, info.levels[level].height
            if width * height > MASK_PIXELS:
                return None
            rgb = slide.read_rgb((0, 0), level, (width, height)).astype(np.int16)
    except SlideError as error:
        log.info("no tissue mask for %s: %s", path.name, error.reason)
        return None
    # Glass is bright and grey; stain is darker or coloured.
    saturation = rgb.max(axis=2) - rgb.min(axis=2)
    mask = (saturation > 18) | (rgb.mean(axis=2) < 200)
    return mask, info.width / width


def tissue_of(layout: FileLayout, mask: tuple[np.ndarray, float] | None) -> dict[TileKey, float]:
    """Each level tile's share of tissue, 0..1 (every tile counts as tissue without a mask)."""
    scores: dict[TileKey, float] = {}
    if mask is None:
        return scores
    pixels, scale = mask
    rows, cols = pixels.shape
    for item in layout.ranges:
        for key in item.tiles:
            level = layout.levels[key.level]
            step = level.downsample / scale
            x0 = int(key.t_col * level.tile_width * step)
            y0 = int(key.t_row * level.tile_height * step)
            x1 = min(cols, max(x0 + 1, math.ceil((key.t_col + 1) * level.tile_width * step)))
            y1 = min(rows, max(y0 + 1, math.ceil((key.t_row + 1) * level.tile_height * step)))
            window = pixels[min(y0, rows - 1) : y1, min(x0, cols - 1) : x1]
            scores[key] = float(window.mean()) if window.size else 0.0
    return scores


#: A glass tile this small between two tissue tiles goes with them: one request for the
#: run instead of a round trip per stretch of tissue.
BRIDGE_BYTES = 32 * 1024


def _glass(layout: FileLayout, tissue: dict[TileKey, float]) -> set[int]:
    """Starts of the tile ranges sent after the tissue of their level: glass, except
    short stretches of glass between tissue in the file (a row of a scan is one run of
    bytes: sending a few kilobytes of glass with it saves round trips)."""
    tiles = [item for item in layout.ranges if item.kind == "tile"]
    glass = {
        item.start
        for item in tiles
        if max((tissue.get(key, 1.0) for key in item.tiles), default=1.0) < 0.02
    }
    run: list[ByteRange] = []
    before: ByteRange | None = None
    for item in tiles:
        if item.start in glass:
            run.append(item)
            continue
        level = min(key.level for key in item.tiles)
        bounded = before is not None and min(k.level for k in before.tiles) == level
        if run and bounded and sum(part.length for part in run) <= BRIDGE_BYTES:
            glass.difference_update(part.start for part in run)
        run, before = [], item
    return glass


def _rank(item: ByteRange, layout: FileLayout, glass: set[int]) -> tuple[int, ...]:
    coarsest = len(layout.levels)
    if item.kind == "structure" and item.needed_by:  # before the coarsest level needing it
        return (2, coarsest - max(item.needed_by), -1)
    if item.kind == "structure":
        return (0, 0, 0)
    if item.kind == "associated":
        return (1, _ASSOCIATED.get(item.name or "", 3), 0)
    if item.kind == "tile":
        level = min(key.level for key in item.tiles)
        return (2, coarsest - level, int(item.start in glass))
    return (3, 0, 0)


def send_order(
    layout: FileLayout, tissue: dict[TileKey, float] | None = None, piece_bytes: int = PIECE_BYTES
) -> list[Span]:
    """Every byte of the file once, as pieces in the order to send them."""
    glass = _glass(layout, tissue or {})
    ranked = sorted(layout.ranges, key=lambda item: (*_rank(item, layout, glass), item.start))
    return list(pieces(((item.start, item.end) for item in ranked), piece_bytes))


def pieces(spans: Iterable[Span], piece_bytes: int) -> Iterable[Span]:
    """Join neighbours that follow each other in the file; cut what is longer."""
    start = end = -1
    for span_start, span_end in spans:
        if span_start == end and span_end - start <= piece_bytes:
            end = span_end
            continue
        if end > start:
            yield from _cut(start, end, piece_bytes)
        start, end = span_start, span_end
    if end > start:
        yield from _cut(start, end, piece_bytes)


def _cut(start: int, end: int, piece_bytes: int) -> Iterable[Span]:
    for offset in range(start, end, piece_bytes):
        yield offset, min(end, offset + piece_bytes)
