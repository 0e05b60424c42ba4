"""The source-level rule and the exact reduction every path shares (tiler.levels), and
the JPEG levels' tile-granular API (tiler.jpeg_tiles)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tiler import open_slide
from tiler.deepzoom import DeepZoomGrid
from tiler.jpeg_tiles import JpegPyramid, verified_levels
from tiler.levels import (
    FRACTION_BITS,
    Axis,
    box_reduce,
    level_factor,
    source_bands,
    source_window,
)
from tiler.slide import Level, SlideInfo


def info(width: int, height: int, *levels: tuple[int, int, float]) -> SlideInfo:
    all_levels = [Level(width, height, 1.0), *(Level(w, h, d) for w, h, d in levels)]
    return SlideInfo("aperio", width, height, all_levels, None, None, None, [])


@pytest.mark.parametrize(
    ("level", "factor"),
    [
        (Level(1250, 1000, 4.0019), 4),  # sizes rounded down: within 1 %
        (Level(1251, 1001, 3.998), 4),  # rounded up: cropped to ceil(l0 / 4)
        (Level(37, 31, 8.086), 8),  # tiny: 1.07 % off, but floor(300/8) x floor(250/8)
        (Level(1667, 1334, 3.0), None),  # not a power of two
        (Level(1200, 960, 4.17), None),  # neither within 1 % nor a rounding of l0 / 4
    ],
)
def test_level_factor(level: Level, factor: int | None) -> None:
    l0 = (5001, 4003) if level.width > 100 else (300, 250)
    assert level_factor(level, *l0) == factor


def test_coarsest_exact_power_of_two_level_wins() -> None:
    slide = info(5001, 4003, (2500, 2001, 2.0), (1250, 1000, 4.0019), (312, 250, 16.02))
    grid = DeepZoomGrid(5001, 4003)
    z_max = grid.z_max
    bands = source_bands(slide, grid)
    assert [(b.level, b.z_anchor, b.z_low) for b in bands] == [
        (0, z_max, z_max),
        (1, z_max - 1, z_max - 1),
        (2, z_max - 2, z_max - 3),
        (3, z_max - 4, 0),
    ]
    # A level that cannot be read exactly anywhere is skipped: its band goes to the next.
    bands = source_bands(slide, grid, exact=lambda level: level != 2)
    assert [(b.level, b.z_anchor, b.z_low) for b in bands][1:3] == [
        (1, z_max - 1, z_max - 3),
        (3, z_max - 4, 0),
    ]


def exact_reference(
    pixels: np.ndarray, factor: int, x0: int, y0: int, axes: tuple[Axis, Axis], out_bits: int
) -> np.ndarray:
    """R written as plainly as possible: Python integers, one block at a time."""
    in_bits = 0 if pixels.dtype == np.uint8 else FRACTION_BITS
    height, width = pixels.shape[:2]
    wx, wy = axes[0].weights(x0, width), axes[1].weights(y0, height)
    out = np.zeros((-(-height // factor), -(-width // factor), 3), dtype=np.int64)
    for oy in range(out.shape[0]):
        for ox in range(out.shape[1]):
            ys, xs = (
                range(oy * factor, min(height, (oy + 1) * factor)),
                range(ox * factor, min(width, (ox + 1) * factor)),
            )
            den = sum(int(wy[y]) * int(wx[x]) for y in ys for x in xs) << in_bits
            for c in range(3):
                num = sum(int(wy[y]) * int(wx[x]) * int(pixels[y, x, c]) for y in ys for x in xs)
                num <<= out_bits
                out[oy, ox, c] = (2 * num + den) // (2 * den)
    return out


@pytest.mark.parametrize("factor", [2, 4, 8])
@pytest.mark.parametrize("out_bits", [0, FRACTION_BITS])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_box_reduce_is_exact(factor: int, out_bits: int, dtype: type) -> None:
    """Pillow, the 8x8 sums and the integer edge strips give R exactly, edges included
    (a 301 x 203 slide level whose last pixels cover part of a full one)."""
    grid = DeepZoomGrid(4 * 301 - 3, 4 * 203 - 1)
    z = grid.z_max - 2
    axes = Axis.of(grid, z)
    rng = np.random.default_rng(factor)
    top = 255 if dtype == np.uint8 else 255 << FRACTION_BITS
    level = rng.integers(0, top + 1, (axes[1].size, axes[0].size, 3)).astype(dtype)
    level[:40, :40] = level[0, 0]  # flat areas, where rounding ties are common
    for x0, y0 in [(0, 0), (8 * factor, 16 * factor), (296 - 296 % factor, 200 - 200 % factor)]:
        window = level[y0:, x0:] if x0 else level[y0 : y0 + 24 * factor, : 24 * factor]
        ours = box_reduce(window, factor, x0, y0, *axes, out_bits)
        expected = exact_reference(window, factor, x0, y0, axes, out_bits)
        assert ours.dtype == (np.uint8 if out_bits == 0 else np.uint16)
        assert (ours.astype(np.int64) == expected).all(), (x0, y0)


def test_jpeg_levels_tile_api(synthetic_slides: dict[str, Path]) -> None:
    """Each level's tile decodes to OpenSlide's pixels of that tile, from the byte range
    the API names (what a reader of a file still arriving needs)."""
    path = synthetic_slides["odd-jpeg"]
    data = path.read_bytes()
    with open_slide(path) as slide:
        pyramid = verified_levels(slide, path)
        assert pyramid is not None and set(pyramid.levels) == {0, 1, 2}
        for index, level in pyramid.levels.items():
            t_col, t_row = level.cols - 1, 0
            offset, length = level.tile_range(t_col, t_row)
            assert data[offset : offset + 2] == b"\xff\xd8"
            assert data[offset + length - 2 : offset + length] == b"\xff\xd9"
            pixels = level.decode_tile(t_col, t_row)
            width = level.width - t_col * level.tile_width
            height = min(level.tile_height, level.height)
            assert pixels.shape == (height, width, 3)  # clipped to the level
            # From OpenSlide's origin of the level, where it never interpolates.
            whole = slide.read_rgb((0, 0), index, (level.width, height))
            assert np.array_equal(pixels, whole[:, t_col * level.tile_width :])
        with pytest.raises(ValueError):
            pyramid.levels[0].tile_range(pyramid.levels[0].cols, 0)
        pyramid.close()


def test_deflate_levels_have_no_jpeg_reader(synthetic_slides: dict[str, Path]) -> None:
    path = synthetic_slides["deflate"]
    with open_slide(path) as slide:
        assert JpegPyramid.open(path, slide) is None


def test_source_windows_cover_each_stored_level() -> None:
    """The stored pixels each tile is made from lie inside the stored level (one pixel
    short here), and the tiles of a level together need all of it."""
    slide = info(5001, 4003, (1250, 1000, 4.0019), (312, 250, 16.02))
    grid = DeepZoomGrid(5001, 4003)
    for band in source_bands(slide, grid):
        for z in (band.z_anchor, band.z_low):
            covered = np.zeros((band.l_height, band.l_width), dtype=bool)
            cols, rows = grid.tile_counts(z)
            for col in range(cols):
                for row in range(rows):
                    x0, y0, x1, y1 = source_window(band, grid, grid.tile_box(z, col, row))
                    assert 0 <= x0 < x1 <= band.l_width and 0 <= y0 < y1 <= band.l_height
                    covered[y0:y1, x0:x1] = True
            assert covered.all(), (band.level, z)
