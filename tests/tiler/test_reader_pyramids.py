"""The newer readers through the whole engine, as `test_pyramid` and `test_onthefly` do
for single-file slides: pictures read by libvips, OME-TIFF, a DICOM series folder and a
MIRAX folder. Every tile of the built pyramid meets the pixel criterion against an exact
box filter of its source level, and tiles on the fly have the built pyramid's bytes."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.tiler.mirax_files import mirax_slide
from tests.tiler.slide_files import dicom_series
from tests.tiler.test_pyramid import check_pixels
from tiler import open_slide
from tiler.cache import SlideCache
from tiler.deepzoom import TileOptions
from tiler.pyramid import build_pyramid
from tiler.tilepack import TilePack

NAMES = ["ome", "phone", "alpha", "camera16", "dicom-series", "mirax"]


@pytest.fixture(scope="module")
def reader_slides(
    tmp_path_factory: pytest.TempPathFactory, shared_slides: Path, pictures: dict[str, Path]
) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("readers")
    return {
        "ome": shared_slides / "ome-tiff/4D-series.ome.tiff",
        "phone": pictures["phone"],
        "alpha": pictures["alpha"],
        "camera16": pictures["camera16"],
        "dicom-series": dicom_series(folder / "series"),
        "mirax": mirax_slide(folder / "mirax"),
    }


@pytest.mark.parametrize("name", NAMES)
def test_pixels_of_every_reader_and_tiles_on_the_fly(
    name: str, reader_slides: dict[str, Path], tmp_path: Path
) -> None:
    path = reader_slides[name]
    options = TileOptions()
    result = build_pyramid(path, tmp_path / "p.tilepack", options, layout="tilepack", processes=2)
    pack = TilePack(result.path)
    with open_slide(path) as slide:
        assert (pack.grid.l0_width, pack.grid.l0_height) == (slide.info.width, slide.info.height)
    check_pixels(path, pack, options, sample_every=1)
    tiles = SlideCache().tiles(path)
    assert tiles.dzi_xml() == pack.dzi_xml()
    grid = tiles.grid
    every = [
        (z, col, row)
        for z in range(grid.level_count)
        for col in range(grid.tile_counts(z)[0])
        for row in range(grid.tile_counts(z)[1])
    ]
    random.Random(name).shuffle(every)
    for z, col, row in every[:60]:
        assert tiles.tile(z, col, row) == pack.tile(z, col, row), (z, col, row)
