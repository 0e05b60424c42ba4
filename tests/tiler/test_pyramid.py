"""Pyramid builds: the exact Deep Zoom grid, pixels within a plain JPEG encode of the
reference, both layouts identical, and nothing left behind by a failed build."""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import numpy as np
import openslide
import pytest
from openslide.deepzoom import DeepZoomGenerator

from tests.tiler.reference import (
    decode,
    plain_jpeg_psnr,
    psnr,
    source_level,
    weighted_box_filter,
)
from tiler import BrokenSlideError, SlideError, UnsupportedFormatError, open_slide
from tiler.deepzoom import DeepZoomGrid, TileOptions
from tiler.level_pixels import SlidePixels
from tiler.levels import band_of
from tiler.pyramid import build_pyramid
from tiler.tilepack import TilePack

REAL = [
    "aperio/CMU-1-Small-Region.svs",
    "aperio/small.svs",
    "dicom/highdicom-sm_image/sm_image.dcm",
    "generic-tiff/boxes.tiff",
    "generic-tiff/test_orient1.tif",
    "generic-tiff/small_la.tiff",
]
SYNTHETIC = ["odd-jpeg", "two-step", "no-mpp", "deflate"]


def slide_path(name: str, shared: Path, synthetic: dict[str, Path]) -> Path:
    return synthetic[name] if name in synthetic else shared / name


def check_pixels(path: Path, pack: TilePack, options: TileOptions, sample_every: int) -> None:
    """Every `sample_every`-th tile of every level against an exact box filter of its
    source level."""
    grid = pack.grid
    with open_slide(path) as slide:
        pixels = SlidePixels(slide)
        bands = pixels.bands
        sources = {band.level: source_level(slide, band.level, band.factor) for band in bands}
        pixels.close()
    checked = 0
    for z in range(grid.level_count):
        band = band_of(bands, z)
        reference = weighted_box_filter(
            sources[band.level],
            grid.downsample(z) // band.factor,
            (grid.l0_width, grid.l0_height),
            band.factor,
        )
        assert reference.shape[:2] == grid.level_dimensions(z)[::-1]
        cols, rows = grid.tile_counts(z)
        for index in range(0, cols * rows, sample_every):
            col, row = index % cols, index // cols
            box = grid.tile_box(z, col, row)
            expected = reference[box.z_y : box.z_y + box.height, box.z_x : box.z_x + box.width]
            tile = decode(pack.tile(z, col, row))
            assert tile.shape == expected.shape, (z, col, row)
            ours, plain = psnr(tile, expected), plain_jpeg_psnr(expected, options.quality)
            assert ours >= plain - 1.0, (
                f"level {z} tile {col}_{row}: {ours:.2f} dB < {plain:.2f} dB - 1"
            )
            checked += 1
    assert checked >= grid.level_count


@pytest.mark.parametrize("name", REAL + SYNTHETIC)
def test_pyramid_pixels_and_grid(
    name: str, shared_slides: Path, synthetic_slides: dict[str, Path], tmp_path: Path
) -> None:
    path = slide_path(name, shared_slides, synthetic_slides)
    options = TileOptions()
    result = build_pyramid(path, tmp_path / "p.tilepack", options, layout="tilepack", processes=2)
    pack = TilePack(result.path)
    with open_slide(path) as slide:
        reference_grid = DeepZoomGenerator(openslide.OpenSlide(path), 254, 1)
        assert pack.grid.z_dimensions == list(reference_grid.level_dimensions)
        assert result.tiles == reference_grid.tile_count == pack.grid.tile_total
        assert (pack.grid.l0_width, pack.grid.l0_height) == (slide.info.width, slide.info.height)
    big = name in ("odd-jpeg", "deflate")
    check_pixels(path, pack, options, sample_every=7 if big else 1)
    if name == "odd-jpeg":
        assert result.pixel_source == "slide JPEG tiles"
    if name == "deflate":
        assert result.pixel_source == "OpenSlide"


def test_dzi_layout_matches_tilepack(synthetic_slides: dict[str, Path], tmp_path: Path) -> None:
    path = synthetic_slides["odd-jpeg"]
    build_pyramid(path, tmp_path / "dzi", layout="dzi", processes=2)
    pack = TilePack(build_pyramid(path, tmp_path / "p.tilepack", layout="tilepack").path)
    dzi = (tmp_path / "dzi" / "odd-jpeg.dzi").read_text()
    assert dzi == pack.dzi_xml()
    assert re.search(r'TileSize="254"', dzi) and re.search(r'Overlap="1"', dzi)
    assert 'Width="5001"' in dzi and 'Height="4003"' in dzi
    files = sorted((tmp_path / "dzi" / "odd-jpeg_files").rglob("*.jpeg"))
    grid = pack.grid
    expected = {
        f"{z}/{c}_{r}.jpeg"
        for z in range(grid.level_count)
        for c in range(grid.tile_counts(z)[0])
        for r in range(grid.tile_counts(z)[1])
    }
    assert {str(f.relative_to(tmp_path / "dzi" / "odd-jpeg_files")) for f in files} == expected
    for file in files[::50]:
        z, rest = file.parent.name, file.stem
        col, row = map(int, rest.split("_"))
        assert file.read_bytes() == pack.tile(int(z), col, row)
    # No scratch left beside the pyramid.
    assert sorted(p.name for p in (tmp_path / "dzi").iterdir()) == [
        "odd-jpeg.dzi",
        "odd-jpeg_files",
    ]


@pytest.mark.parametrize(
    "options",
    [
        TileOptions(tile_size=256, overlap=0),
        TileOptions(tile_size=510, overlap=2, format="webp", quality=80),
        TileOptions(tile_size=127, overlap=3, quality=90),
        # Regions of 128 pixels: four stages on a small slide, as a huge slide gets.
        TileOptions(tile_size=16, overlap=1),
    ],
    ids=["256-0", "webp-510-2", "127-3-q90", "16-1-many-stages"],
)
def test_other_tile_options(
    options: TileOptions, synthetic_slides: dict[str, Path], tmp_path: Path
) -> None:
    path = synthetic_slides["no-mpp"]
    result = build_pyramid(path, tmp_path / "p.tilepack", options, layout="tilepack")
    pack = TilePack(result.path)
    assert pack.options == options
    grid = DeepZoomGrid(1500, 900, options.tile_size, options.overlap)
    assert result.tiles == grid.tile_total
    if options.format == "jpeg":
        check_pixels(path, pack, options, sample_every=3)
    else:
        tile = pack.tile(grid.z_max, 1, 1)
        assert tile[:4] == b"RIFF" and tile[8:12] == b"WEBP"
        box = grid.tile_box(grid.z_max, 1, 1)
        assert decode(tile).shape == (box.height, box.width, 3)


def test_rebuild_replaces_dzi_atomically(synthetic_slides: dict[str, Path], tmp_path: Path) -> None:
    path = synthetic_slides["no-mpp"]
    build_pyramid(path, tmp_path, layout="dzi", options=TileOptions(quality=40))
    before = (tmp_path / "no-mpp_files" / "11" / "0_0.jpeg").read_bytes()
    build_pyramid(path, tmp_path, layout="dzi", options=TileOptions(quality=95))
    after = (tmp_path / "no-mpp_files" / "11" / "0_0.jpeg").read_bytes()
    assert len(after) > len(before)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["no-mpp.dzi", "no-mpp_files"]


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("broken/broken.svs", UnsupportedFormatError),
        ("broken/unopenable.tiff", BrokenSlideError),
        ("zeiss-czi/RGB-multichannel.czi", BrokenSlideError),
    ],
)
def test_broken_slide_leaves_nothing(
    name: str, error: type[SlideError], shared_slides: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    with pytest.raises(error):
        build_pyramid(shared_slides / name, out, layout="dzi")
    assert not out.exists() or not any(out.iterdir())
    with pytest.raises(error):
        build_pyramid(shared_slides / name, out / "x.tilepack", layout="tilepack")
    assert not out.exists() or not any(out.iterdir())


def test_damaged_tiles_fail_cleanly(synthetic_slides: dict[str, Path], tmp_path: Path) -> None:
    """A slide whose header is fine but whose tile data is garbage: a typed error, no output."""
    damaged = tmp_path / "damaged.svs"
    shutil.copy(synthetic_slides["odd-jpeg"], damaged)
    data = bytearray(damaged.read_bytes())
    # Overwrite the middle of the file (level-0 tile data) with noise.
    middle = len(data) // 3
    data[middle : middle + len(data) // 3] = np.random.default_rng(1).bytes(len(data) // 3)
    damaged.write_bytes(bytes(data))
    out = tmp_path / "out"
    with pytest.raises(BrokenSlideError) as raised:
        build_pyramid(damaged, out / "x.tilepack", layout="tilepack", processes=2)
    assert "damaged.svs" in raised.value.reason
    assert not any(out.iterdir())


def test_progress_reports_to_one(synthetic_slides: dict[str, Path], tmp_path: Path) -> None:
    seen: list[float] = []
    build_pyramid(
        synthetic_slides["odd-jpeg"],
        tmp_path / "p.tilepack",
        layout="tilepack",
        progress=seen.append,
    )
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 5
    assert math.isclose(seen[-1], 1.0)
