"""On-the-fly tiles: the Deep Zoom grid straight from the slide, close to the built
pyramid's pixels; the handle cache drops handles that raised."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.tiler.reference import decode, psnr
from tiler import BrokenSlideError, NotFoundError, SlideTooLargeError, hardening, open_slide
from tiler.cache import SlideCache
from tiler.deepzoom import TileOptions
from tiler.onthefly import SlideTiles
from tiler.pyramid import build_pyramid
from tiler.tilepack import TilePack


@pytest.mark.parametrize("name", ["odd-jpeg", "deflate"])
def test_every_level_matches_the_pyramid(
    name: str, synthetic_slides: dict[str, Path], tmp_path: Path
) -> None:
    path = synthetic_slides[name]
    pack = TilePack(build_pyramid(path, tmp_path / "p.tilepack", layout="tilepack").path)
    tiles = SlideTiles(open_slide(path))
    assert tiles.dzi_xml() == pack.dzi_xml()
    grid = tiles.grid
    for z in range(grid.level_count):
        cols, rows = grid.tile_counts(z)
        for col, row in {(0, 0), (cols - 1, rows - 1), (cols // 2, rows // 2)}:
            box = grid.tile_box(z, col, row)
            ours = decode(tiles.tile(z, col, row))
            built = decode(pack.tile(z, col, row))
            assert ours.shape == built.shape == (box.height, box.width, 3)
            # A scanner's lower levels are rounded down in size (libvips drops an odd
            # last column), so the slide's last pixels at the far edge exist only at
            # level 0: compare without them.
            level_w, level_h = grid.level_dimensions(z)
            keep_w = (
                box.width - 2 if box.z_x + box.width == level_w and box.width > 4 else box.width
            )
            keep_h = (
                box.height - 2 if box.z_y + box.height == level_h and box.height > 4 else box.height
            )
            if min(keep_w, keep_h) <= 4:
                continue  # nothing but that edge strip
            ours, built = ours[:keep_h, :keep_w], built[:keep_h, :keep_w]
            if min(box.width, box.height) >= 16:
                # Both are JPEG at Q75 of nearly the same pixels: allow a second encode.
                assert psnr(ours, built) > 28, (z, col, row)
            else:
                # A few pixels: PSNR means little there, but the colour must be the same.
                difference = ours.mean(axis=(0, 1)) - built.mean(axis=(0, 1))
                assert np.abs(difference).max() < 12, (z, col, row)


def test_out_of_grid_requests(shared_slides: Path) -> None:
    tiles = SlideTiles(open_slide(shared_slides / "aperio/CMU-1-Small-Region.svs"))
    z_max = tiles.grid.z_max
    for z, col, row in [(z_max + 1, 0, 0), (-1, 0, 0), (z_max, 9, 0), (z_max, 0, -1), (0, 1, 0)]:
        with pytest.raises(NotFoundError):
            tiles.tile(z, col, row)


def test_webp_tiles(shared_slides: Path) -> None:
    tiles = SlideTiles(
        open_slide(shared_slides / "generic-tiff/boxes.tiff"), TileOptions(format="webp")
    )
    data = tiles.tile(tiles.grid.z_max, 0, 0)
    assert data[8:12] == b"WEBP"


def test_cache_reuses_and_drops_broken_handles(
    synthetic_slides: dict[str, Path], tmp_path: Path
) -> None:
    damaged = tmp_path / "damaged.svs"
    shutil.copy(synthetic_slides["odd-jpeg"], damaged)
    cache = SlideCache(max_open=2)
    first = cache.tiles(damaged)
    assert cache.tiles(damaged) is first
    # Damage the tile data after the header was read: the next read fails, the
    # handle is marked broken and the cache opens the file afresh.
    data = bytearray(damaged.read_bytes())
    third = len(data) // 3
    data[third : 2 * third] = np.random.default_rng(2).bytes(third)
    damaged.write_bytes(bytes(data))
    with pytest.raises(BrokenSlideError):
        for col in range(first.grid.tile_counts(first.grid.z_max)[0]):
            first.tile(first.grid.z_max, col, 8)
    assert first.slide.broken  # type: ignore[attr-defined]
    assert cache.tiles(damaged) is not first


def test_cache_evicts_least_recent(shared_slides: Path) -> None:
    cache = SlideCache(max_open=2)
    a = cache.slide(shared_slides / "aperio/small.svs")
    cache.slide(shared_slides / "generic-tiff/boxes.tiff")
    cache.slide(shared_slides / "generic-tiff/test_orient1.tif")
    assert cache.slide(shared_slides / "aperio/small.svs") is not a


def test_absurd_dimensions_are_refused(
    shared_slides: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hardening, "MAX_SLIDE_PIXELS", 1000 * 1000)
    with pytest.raises(SlideTooLargeError) as raised:
        open_slide(shared_slides / "aperio/CMU-1-Small-Region.svs")
    assert "2220x2967" in raised.value.reason


def test_forged_tile_byte_count_is_refused(shared_slides: Path) -> None:
    from tiler.jpeg_tiles import JpegTileReader

    path = shared_slides / "aperio/CMU-1-Small-Region.svs"
    reader = JpegTileReader.open(path, "aperio")
    assert reader is not None
    reader._counts[0] = 1 << 40  # what a hostile TIFF could claim
    with pytest.raises(ValueError, match="claims"):
        reader.read_rgb(0, 0, 10, 10)


def test_huge_associated_image_is_refused(
    shared_slides: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slide = open_slide(shared_slides / "aperio/CMU-1-Small-Region.svs")
    monkeypatch.setattr(hardening, "MAX_DECODE_PIXELS", 100)
    with pytest.raises(SlideTooLargeError):
        slide.associated_image("label")
