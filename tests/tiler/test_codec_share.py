"""`benchmarks.codec_share` times the build's own codec calls: a build whose decodes or
encodes moved elsewhere would report a floor of nothing, so the counts are checked
against the slide."""

from __future__ import annotations

from pathlib import Path

from benchmarks.codec_share import measure
from tiler.deepzoom import DeepZoomGrid
from tiler.tilepack import TilePack


def test_every_decode_and_encode_of_a_build_is_timed(
    synthetic_slides: dict[str, Path], tmp_path: Path
) -> None:
    slide = synthetic_slides["two-step"]  # 3001x2203, JPEG tiles of 240 at every halving
    row = measure(slide, "tilepack", 1, tmp_path)
    pack = TilePack(tmp_path / "run-1" / "pyramid.tilepack")
    grid: DeepZoomGrid = pack.grid
    # The slide stores 13x10 + 7x5 + 4x3 + 2x2 + 1 = 182 JPEG tiles, each decoded once at
    # most (one run of regions covers each level; repeated blank glass decodes once),
    # and every tile written but repeated blank glass is encoded.
    assert 0 < row["decodes"] <= 182
    assert 0 < row["encodes"] <= grid.tile_total
    assert 0 < row["decode_s"] + row["encode_s"] < row["build_s"]
    assert row["own_s"] > 0 and 0 < row["of_floor"] < 1
