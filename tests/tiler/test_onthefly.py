"""On-the-fly tiles: the Deep Zoom grid straight from the slide, byte-identical to the
built pyramid's; the handle cache drops handles that raised."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from tiler import BrokenSlideError, NotFoundError, SlideTooLargeError, hardening, open_slide
from tiler.cache import SlideCache
from tiler.deepzoom import TileOptions
from tiler.level_pixels import SlidePixels
from tiler.onthefly import SlideTiles
from tiler.pyramid import build_pyramid
from tiler.tilepack import TilePack

BYTE_IDENTICAL = [
    "odd-jpeg",
    "two-step",
    "no-mpp",
    "deflate",
    "aperio/CMU-1-Small-Region.svs",
    "aperio/small.svs",
    "dicom/highdicom-sm_image/sm_image.dcm",
    "generic-tiff/boxes.tiff",
    "generic-tiff/test_orient1.tif",
    "generic-tiff/small_la.tiff",
]


@pytest.mark.parametrize("name", BYTE_IDENTICAL)
def test_every_tile_is_the_built_pyramids(
    name: str, shared_slides: Path, synthetic_slides: dict[str, Path], tmp_path: Path
) -> None:
    """Every tile on the fly, in a shuffled order through one shared cache, has the bytes
    of the built pyramid (tile pack and DZI files); a sample asked first on a fresh
    handle too (nothing cached: the order tiles are asked in changes nothing)."""
    path = synthetic_slides[name] if name in synthetic_slides else shared_slides / name
    pack = TilePack(build_pyramid(path, tmp_path / "p.tilepack", layout="tilepack").path)
    build_pyramid(path, tmp_path / "dzi", layout="dzi", name="s")
    cache = SlideCache()
    tiles = cache.tiles(path)
    assert tiles.dzi_xml() == pack.dzi_xml()
    grid = tiles.grid
    every = [
        (z, col, row)
        for z in range(grid.level_count)
        for col in range(grid.tile_counts(z)[0])
        for row in range(grid.tile_counts(z)[1])
    ]
    random.Random(name).shuffle(every)
    for z, col, row in every:
        built = pack.tile(z, col, row)
        assert tiles.tile(z, col, row) == built, (z, col, row)
        assert (tmp_path / "dzi" / "s_files" / str(z) / f"{col}_{row}.jpeg").read_bytes() == built
    for z, col, row in every[:: max(1, len(every) // 12)]:
        fresh = SlideTiles(open_slide(path))
        assert fresh.tile(z, col, row) == pack.tile(z, col, row), (z, col, row)


def test_source_levels_are_chosen_by_the_rule(synthetic_slides: dict[str, Path]) -> None:
    """odd-jpeg (1x, 4x, 16x JPEG): two Deep Zoom levels from each of the first two
    levels, the rest from the 16x one; deflate: its 16x level reports 16.05 and only
    OpenSlide reads it, which would interpolate, so the rest comes from the 4x level."""
    with open_slide(synthetic_slides["odd-jpeg"]) as slide:
        pixels = SlidePixels(slide)
        z_max = pixels.grid.z_max
        assert [(b.level, b.factor, b.z_anchor, b.z_low) for b in pixels.bands] == [
            (0, 1, z_max, z_max - 1),
            (1, 4, z_max - 2, z_max - 3),
            (2, 16, z_max - 4, 0),
        ]
        assert pixels.jpeg_levels == {0, 1, 2}
    with open_slide(synthetic_slides["deflate"]) as slide:
        pixels = SlidePixels(slide)
        z_max = pixels.grid.z_max
        assert [(b.level, b.z_anchor, b.z_low) for b in pixels.bands] == [
            (0, z_max, z_max - 1),
            (1, z_max - 2, 0),
        ]
        assert pixels.jpeg_levels == set()
    with open_slide(synthetic_slides["two-step"]) as slide:
        bands = SlidePixels(slide).bands
        assert [b.factor for b in bands] == [1 << i for i in range(len(slide.info.levels))]
        assert all(b.z_anchor == b.z_low for b in bands[:-1])


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
    from tiler.jpeg_tiles import JpegPyramid

    path = shared_slides / "aperio/CMU-1-Small-Region.svs"
    with open_slide(path) as slide:
        pyramid = JpegPyramid.open(path, slide)
    assert pyramid is not None
    level = pyramid.levels[0]
    level.structure.counts[0] = 1 << 40  # what a hostile TIFF could claim
    with pytest.raises(BrokenSlideError, match="claims"):
        level.read_rgb(0, 0, 10, 10)


def test_huge_associated_image_is_refused(
    shared_slides: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slide = open_slide(shared_slides / "aperio/CMU-1-Small-Region.svs")
    monkeypatch.setattr(hardening, "MAX_DECODE_PIXELS", 100)
    with pytest.raises(SlideTooLargeError):
        slide.associated_image("label")
