"""The partial reader: OpenSlide's metadata and pixels from a finished file, nothing
before the structure arrives, and exactly the arrived tiles from a sparse file whose
other bytes are garbage."""

from __future__ import annotations

import os
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import openslide
import pytest

from tiler import open_slide
from tiler.byte_layout import ByteRange, FileLayout, file_layout
from tiler.errors import NotArrivedError, NotDecodableError, NotFoundError
from tiler.partial import PartialSlide
from tiler.received import ReceivedRanges

REAL = [
    "aperio/CMU-1-Small-Region.svs",
    "aperio/small.svs",
    "dicom/highdicom-sm_image/sm_image.dcm",
    "generic-tiff/boxes.tiff",
    "generic-tiff/test_orient1.tif",
    "generic-tiff/small_la.tiff",
]
SYNTHETIC = [
    "aperio-rgb",
    "aperio-ycbcr-big",
    "aperio-missing",
    "aperio-jp2k",
    "aperio-exif",
    "generic",
    "generic-big",
    "dicom-jpeg",
    "dicom-basic",
    "dicom-extended-split",
    "dicom-sparse",
]


def slide_path(name: str, shared: Path, made: dict[str, Path]) -> Path:
    return made[name] if name in made else shared / name


def whole(path: Path) -> PartialSlide:
    size = path.stat().st_size
    received = ReceivedRanges(size)
    received.add(0, size)
    return PartialSlide(path, size, received)


def level_pixels(path: Path) -> list[np.ndarray]:
    """Each level as OpenSlide reads it from the origin (no sub-pixel offset), RGBA."""
    with openslide.OpenSlide(path) as osr:
        return [
            np.asarray(osr.read_region((0, 0), i, size))
            for i, size in enumerate(osr.level_dimensions)
        ]


def tile_of(level: np.ndarray, partial: PartialSlide, index: int, col: int, row: int) -> np.ndarray:
    grid = partial.tile_grid(index)
    return level[
        row * grid.tile_height : (row + 1) * grid.tile_height,
        col * grid.tile_width : (col + 1) * grid.tile_width,
    ]


@pytest.mark.parametrize("name", REAL + SYNTHETIC + ["odd-jpeg"])
def test_finished_file_gives_openslides_metadata_and_pixels(
    shared_slides: Path,
    layout_slides: dict[str, Path],
    synthetic_slides: dict[str, Path],
    name: str,
) -> None:
    path = slide_path(name, shared_slides, layout_slides | synthetic_slides)
    with whole(path) as partial, open_slide(path) as slide:
        assert partial.ready
        assert partial.info.to_json() == slide.info.to_json()
        for key, value in partial.info.properties.items():
            assert slide.info.properties[key] == value, key
        decoded = 0
        for index, level in enumerate(level_pixels(path)):
            grid = partial.tile_grid(index)
            arrived = partial.arrived_tiles(index)
            for row in range(grid.rows):
                for col in range(grid.cols):
                    try:
                        ours = partial.read_level_tile(index, col, row)
                    except NotDecodableError:
                        assert not arrived[row, col]
                        continue
                    assert ours is not None and arrived[row, col]
                    theirs = tile_of(level, partial, index, col, row)
                    assert (theirs[..., 3] == 255).all()
                    assert ours.shape == theirs[..., :3].shape
                    assert np.array_equal(ours, theirs[..., :3]), (index, col, row)
                    decoded += 1
        for image in slide.info.associated:
            ours = partial.read_associated(image)
            assert ours is not None
            assert np.array_equal(ours, np.asarray(slide.associated_image(image)))
    decodable = name not in (
        "generic-tiff/boxes.tiff",
        "generic-tiff/test_orient1.tif",
        "generic-tiff/small_la.tiff",
        "aperio-jp2k",
    )
    assert (decoded > 0) == decodable


def test_openslide_draws_missing_tiles_itself(layout_slides: dict[str, Path]) -> None:
    with whole(layout_slides["aperio-missing"]) as partial:
        cols = partial.tile_grid(0).cols
        for index in (3, 20):
            with pytest.raises(NotDecodableError):
                partial.read_level_tile(0, index % cols, index // cols)
        # The level-1 tiles covering them are drawn from level 0 too (they have bytes).
        with pytest.raises(NotDecodableError):
            partial.read_level_tile(1, 3 // 2, 0)
        assert not partial.arrived_tiles(1)[0, 1]


def sparse_copy(source: Path, target: Path, ranges: list[tuple[int, int]], seed: int) -> None:
    """The file as the hub holds it mid-transfer: received ranges in place, every other
    byte random (a reader that looked at one would give wrong pixels or fail)."""
    data = source.read_bytes()
    rng = np.random.default_rng(seed)
    out = bytearray(rng.integers(0, 256, len(data), dtype=np.uint8).tobytes())
    for start, end in ranges:
        out[start:end] = data[start:end]
    target.write_bytes(bytes(out))


def structure_ranges(layout: FileLayout) -> list[tuple[int, int]]:
    return [(r.start, r.end) for r in layout.ranges if r.kind == "structure"]


@pytest.mark.parametrize("name", ["aperio/CMU-1-Small-Region.svs", *SYNTHETIC])
def test_random_subset_of_tiles(
    shared_slides: Path, layout_slides: dict[str, Path], tmp_path: Path, name: str
) -> None:
    path = slide_path(name, shared_slides, layout_slides)
    layout = file_layout(path)
    rng = random.Random(name)
    tiles = [r for r in layout.ranges if r.kind == "tile"]
    chosen = [r for r in tiles if rng.random() < 0.4]
    images = [r for r in layout.ranges if r.kind == "associated"]
    images_chosen = [r for r in images if rng.random() < 0.5]
    received_list = structure_ranges(layout) + [(r.start, r.end) for r in chosen + images_chosen]
    copy = tmp_path / path.name
    sparse_copy(path, copy, received_list, seed=len(name))
    received = ReceivedRanges(layout.size)
    for start, end in received_list:
        received.add(start, end)
    got = {(r.start, r.end) for r in chosen}
    with PartialSlide(copy, layout.size, received) as partial, whole(path) as finished:
        assert partial.info.to_json(with_properties=True) == finished.info.to_json(
            with_properties=True
        )
        for index in range(len(layout.levels)):
            grid = partial.tile_grid(index)
            arrived = partial.arrived_tiles(index)
            for row in range(grid.rows):
                for col in range(grid.cols):
                    pieces = [r for r in tiles if (index, col, row) in r.tiles]
                    expected = bool(pieces) and all((r.start, r.end) in got for r in pieces)
                    try:
                        ours = partial.read_level_tile(index, col, row)
                    except NotDecodableError:
                        assert not partial.has_level_tile(index, col, row)
                        assert not arrived[row, col]
                        continue
                    assert partial.has_level_tile(index, col, row) == expected
                    assert bool(arrived[row, col]) == expected
                    assert (ours is not None) == expected
                    if ours is not None:
                        reference = finished.read_level_tile(index, col, row)
                        assert reference is not None and np.array_equal(ours, reference)
        for name_ in layout.associated:
            expected_image = all(
                (r.start, r.end) in {(i.start, i.end) for i in images_chosen}
                for r in images
                if r.name == name_
            )
            assert partial.has_associated(name_) == expected_image
            image = partial.read_associated(name_)
            assert (image is not None) == expected_image
            if image is not None:
                reference_image = finished.read_associated(name_)
                assert reference_image is not None and np.array_equal(image, reference_image)


def test_nothing_before_the_structure(layout_slides: dict[str, Path], tmp_path: Path) -> None:
    path = layout_slides["aperio-rgb"]
    layout = file_layout(path)
    received = ReceivedRanges(layout.size)
    copy = tmp_path / "arriving.svs"
    sparse_copy(path, copy, [], seed=1)
    structure = structure_ranges(layout)
    with PartialSlide(copy, layout.size, received) as partial:
        for start, end in structure:
            assert not partial.ready
            with pytest.raises(NotArrivedError):
                partial.info  # noqa: B018
            with pytest.raises(NotArrivedError):
                partial.read_level_tile(0, 0, 0)
            with open(copy, "r+b") as f:
                f.seek(start)
                f.write(path.read_bytes()[start:end])
            received.add(start, end)
        assert partial.ready
        assert partial.info.to_json() == open_slide(path).info.to_json()
        assert not partial.arrived_tiles(0).any()
        assert partial.read_level_tile(0, 0, 0) is None
        assert partial.read_associated("label") is None
        with pytest.raises(NotFoundError):
            partial.read_level_tile(0, 999, 0)
        with pytest.raises(NotFoundError):
            partial.read_level_tile(7, 0, 0)
        with pytest.raises(NotFoundError):
            partial.read_associated("barcode")


def test_reads_from_a_thread_pool_while_ranges_arrive(
    layout_slides: dict[str, Path], tmp_path: Path
) -> None:
    path = layout_slides["aperio-ycbcr-big"]
    layout = file_layout(path)
    data = path.read_bytes()
    copy = tmp_path / "arriving.svs"
    sparse_copy(path, copy, structure_ranges(layout), seed=2)
    received = ReceivedRanges(layout.size)
    for start, end in structure_ranges(layout):
        received.add(start, end)
    tiles = [r for r in layout.ranges if r.kind == "tile"]
    random.Random(3).shuffle(tiles)
    keys = [
        (lv, c, r)
        for lv, level in enumerate(layout.levels)
        for r in range(-(-level.height // level.tile_height))
        for c in range(-(-level.width // level.tile_width))
    ]
    with whole(path) as finished, PartialSlide(copy, layout.size, received) as partial:
        reference = {key: finished.read_level_tile(*key) for key in keys}

        def arrive() -> None:
            fd = os.open(copy, os.O_WRONLY)
            try:
                for r in tiles:
                    os.pwrite(fd, data[r.start : r.end], r.start)  # write, then record
                    received.add(r.start, r.end)
            finally:
                os.close(fd)

        def read(key: tuple[int, int, int]) -> bool:
            pixels = partial.read_level_tile(*key)
            expected = reference[key]
            assert pixels is None or (expected is not None and np.array_equal(pixels, expected))
            return pixels is not None

        with ThreadPoolExecutor(4) as pool:
            writer = pool.submit(arrive)
            for _ in range(3):
                list(pool.map(read, keys))
            writer.result()
        assert all(pool_result for pool_result in map(read, keys))


def table_of(layout: FileLayout, level: int) -> list[ByteRange]:
    """The structure ranges the level's tiles wait for (its tile table)."""
    return [r for r in layout.ranges if r.kind == "structure" and level in r.needed_by]


@pytest.mark.parametrize(
    "name",
    [
        "aperio/CMU-1-Small-Region.svs",
        "generic-tiff/test_orient1.tif",
        "aperio-rgb",
        "aperio-ycbcr-big",
        "aperio-missing",
        "generic",
        "generic-big",
        "odd-jpeg",
        "two-step",
    ],
)
def test_described_before_the_tile_tables(
    shared_slides: Path,
    layout_slides: dict[str, Path],
    synthetic_slides: dict[str, Path],
    tmp_path: Path,
    name: str,
) -> None:
    """The structure every reader needs, every tile and image, but no level's tile
    table: the slide is described as OpenSlide describes it and no tile has arrived,
    each waiting for its table's bytes. The tables arriving coarsest first bring exactly
    their level's tiles (an Aperio level's only with every finer level's byte counts)."""
    path = slide_path(name, shared_slides, layout_slides | synthetic_slides)
    layout = file_layout(path)
    first = [r for r in layout.ranges if not r.needed_by and r.kind != "other"]
    copy = tmp_path / path.name
    sparse_copy(path, copy, [(r.start, r.end) for r in layout.ranges], seed=5)
    received = ReceivedRanges(layout.size)
    for r in first:
        received.add(r.start, r.end)
    levels = range(len(layout.levels))
    with PartialSlide(copy, layout.size, received) as partial, whole(path) as finished:
        assert partial.ready
        assert partial.info.to_json(with_properties=True) == finished.info.to_json(
            with_properties=True
        )
        assert all(partial.has_associated(image) for image in layout.associated)
        inline = {level for level in levels if not table_of(layout, level)}
        assert {key[0] for key in partial.tiles_in(0, layout.size)} <= inline
        for level in set(levels) - inline:
            grid = partial.tile_grid(level)
            window = (0, 0, grid.cols, grid.rows)
            assert not partial.table_arrived(level)
            assert not partial.arrived_tiles(level).any()
            assert not partial.has_level_tile(level, 0, 0)
            if layout.levels[level].decode_reason is None:
                assert partial.read_level_tile(level, 0, 0) is None
                expected = merged_spans([(r.start, r.end) for r in table_of(layout, level)])
                assert partial.missing_ranges(level, window) == expected
        for level in inline:  # one tile: its place is in its directory
            assert partial.tile_grid(level).cols * partial.tile_grid(level).rows == 1
            assert partial.table_arrived(level)
        for coarsest in reversed(levels):
            for r in layout.ranges:
                if r.needed_by and max(r.needed_by) == coarsest:
                    received.add(r.start, r.end)
            for level in levels:
                complete = all(received.covers(r.start, r.end) for r in table_of(layout, level))
                assert partial.table_arrived(level) == complete
                arrived = partial.arrived_tiles(level)
                assert np.array_equal(arrived, finished.arrived_tiles(level) & complete)
                assert partial.has_level_tile(level, 0, 0) == bool(arrived[0, 0])
        partial.check_tables()


def merged_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def test_an_aperio_level_waits_for_the_finer_byte_counts(
    layout_slides: dict[str, Path], tmp_path: Path
) -> None:
    """OpenSlide draws the level-1 tile over a missing level-0 tile from level 0: which
    level-1 tiles it draws so is known only from level 0's byte counts, so level 1 has
    not arrived before them, whatever its own table says."""
    path = layout_slides["aperio-missing"]
    layout = file_layout(path)
    counts_of_0 = [
        r for r in layout.ranges if r.needed_by and 0 in r.needed_by and 1 in r.needed_by
    ]
    assert len(counts_of_0) == 1
    rest = [(r.start, r.end) for r in layout.ranges if r not in counts_of_0]
    copy = tmp_path / "arriving.svs"
    sparse_copy(path, copy, [(r.start, r.end) for r in layout.ranges], seed=6)
    received = ReceivedRanges(layout.size)
    for start, end in rest:
        received.add(start, end)
    with PartialSlide(copy, layout.size, received) as partial:
        assert not partial.table_arrived(0) and not partial.table_arrived(1)
        assert not partial.arrived_tiles(1).any()
        (counts,) = counts_of_0
        assert partial.missing_ranges(1, (0, 0, 2, 2)) == [(counts.start, counts.end)]
        received.add(counts.start, counts.end)
        assert partial.table_arrived(1)
        arrived = partial.arrived_tiles(1)
        assert not arrived[0, 1] and arrived.sum() == arrived.size - 1  # over tile 3
        with pytest.raises(NotDecodableError):
            partial.read_level_tile(1, 1, 0)
