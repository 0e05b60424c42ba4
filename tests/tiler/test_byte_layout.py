"""The byte layout of every real and synthetic slide: an exact partition of the file, TIFF
tile and strip extents as tifffile reads them, levels and associated images as OpenSlide
numbers and names them."""

from __future__ import annotations

from pathlib import Path

import openslide
import pytest
import tifffile

from tiler import BrokenSlideError, UnsupportedFormatError
from tiler.byte_layout import FileLayout, TileKey, file_layout, progressive_reason

# The real files OpenSlide opens; the others with the error file_layout gives.
READABLE = [
    "aperio/CMU-1-Small-Region.svs",
    "aperio/small.svs",
    "dicom/highdicom-sm_image/sm_image.dcm",
    "generic-tiff/boxes.tiff",
    "generic-tiff/test_orient1.tif",
    "generic-tiff/small_la.tiff",
]
UNREADABLE = {
    "ome-tiff/4D-series.ome.tiff": UnsupportedFormatError,
    "plain-tiff/grey10kx5k.tif": UnsupportedFormatError,
    "zeiss-czi/RGB-multichannel.czi": UnsupportedFormatError,
    "broken/unopenable.tiff": BrokenSlideError,
    "broken/broken.svs": UnsupportedFormatError,
    "broken/zero_gi.tif": UnsupportedFormatError,
    "broken/dicom-highdicom-jpegls/sm_image_jpegls.dcm": BrokenSlideError,
}
KINDS = {"structure", "associated", "tile", "unused", "other"}


def test_table_covers_every_shared_file(shared_slides: Path) -> None:
    on_disk = {
        str(p.relative_to(shared_slides))
        for p in shared_slides.rglob("*")
        if p.is_file() and p.suffix != ".md"
    }
    assert on_disk == set(READABLE) | set(UNREADABLE)


def assert_partition(layout: FileLayout) -> None:
    """Sorted, contiguous from 0 to the size, each range well-formed for its kind."""
    position = 0
    for r in layout.ranges:
        assert r.start == position and r.end > r.start, r
        assert r.kind in KINDS
        assert (r.name is not None) == (r.kind == "associated"), r
        if r.kind == "tile":
            assert r.tiles, r
        assert not r.needed_by or r.kind == "structure", r
        position = r.end
    assert position == layout.size


def assert_matches_openslide(path: Path, layout: FileLayout) -> None:
    with openslide.OpenSlide(path) as osr:
        assert layout.vendor == osr.properties["openslide.vendor"]
        assert [(lv.width, lv.height) for lv in layout.levels] == list(osr.level_dimensions)
        assert [lv.downsample for lv in layout.levels] == list(osr.level_downsamples)
        assert sorted(layout.associated) == sorted(osr.associated_images)
        for i, lv in enumerate(layout.levels):
            assert lv.tile_width == int(osr.properties[f"openslide.level[{i}].tile-width"])
            assert lv.tile_height == int(osr.properties[f"openslide.level[{i}].tile-height"])


def assert_matches_tifffile(path: Path, layout: FileLayout) -> None:
    """Every page's strips/tiles are the ranges of the role OpenSlide gives that page
    (levels and associated images told apart by their sizes, unique in these files)."""
    with openslide.OpenSlide(path) as osr:
        levels = list(osr.level_dimensions)
        associated = {osr.associated_images[n].size: n for n in osr.associated_images}
    starts = {r.start: r for r in layout.ranges}

    def holding(offset: int) -> object:
        return next(r for r in layout.ranges if r.start <= offset < r.end)

    with tifffile.TiffFile(path) as tif:
        for page in tif.pages:
            assert isinstance(page, tifffile.TiffPage)
            assert holding(page.offset).kind == "structure"  # type: ignore[attr-defined]
            size = (page.imagewidth, page.imagelength)
            pairs = list(zip(page.dataoffsets, page.databytecounts, strict=True))
            if page.is_tiled and size in levels:
                level = levels.index(size)
                cols = -(-page.imagewidth // page.tilewidth)
                for index, (offset, count) in enumerate(pairs):
                    if count == 0:
                        assert layout.range_of_tile(level, index % cols, index // cols) is None
                        continue
                    r = starts[offset]
                    assert (r.end, r.kind) == (offset + count, "tile")
                    assert TileKey(level, index % cols, index // cols) in r.tiles
            elif not page.is_tiled and size in associated:
                for offset, count in pairs:
                    r = holding(offset)
                    assert r.kind == "associated" and r.name == associated[size]
                    assert r.end >= offset + count  # neighbouring strips are one range
            else:
                for offset, count in pairs:
                    if count:
                        r = holding(offset)
                        assert r.kind in ("unused", "tile") and r.end >= offset + count


def assert_tables_match_tifffile(path: Path, layout: FileLayout) -> None:
    """The structure a level waits for is its pages' TileOffsets and TileByteCounts
    arrays as tifffile finds them, needed by that level, the byte counts of an Aperio
    slide by every coarser level too; the rest of the structure by no level."""
    with openslide.OpenSlide(path) as osr:
        levels = list(osr.level_dimensions)
    expected: list[tuple[int, int, tuple[int, ...]]] = []
    with tifffile.TiffFile(path) as tif:
        word = 8 if tif.is_bigtiff else 4
        for page in tif.pages:
            assert isinstance(page, tifffile.TiffPage)
            if not page.is_tiled or (page.imagewidth, page.imagelength) not in levels:
                continue
            level = levels.index((page.imagewidth, page.imagelength))
            for name in ("TileOffsets", "TileByteCounts"):
                tag = page.tags[name]
                if tag.valuebytecount <= word:
                    continue  # in the directory: structure every reader has
                coarser = layout.vendor == "aperio" and name == "TileByteCounts"
                needed = tuple(range(level, len(levels) if coarser else level + 1))
                expected.append((tag.valueoffset, tag.valueoffset + tag.valuebytecount, needed))
    joined: list[tuple[int, int, tuple[int, ...]]] = []
    for start, end, needed in sorted(expected):
        if joined and joined[-1][1] == start and joined[-1][2] == needed:
            joined[-1] = (joined[-1][0], end, needed)
        else:
            joined.append((start, end, needed))
    tables = [(r.start, r.end, r.needed_by) for r in layout.ranges if r.needed_by]
    assert tables == joined
    structure = layout.bytes_by_kind()["structure"]
    assert layout.describing_bytes() + sum(layout.level_bytes("structure")) == structure


@pytest.mark.parametrize("name", READABLE)
def test_real_slide_layout(shared_slides: Path, name: str) -> None:
    path = shared_slides / name
    layout = file_layout(path)
    assert layout.size == path.stat().st_size
    assert_partition(layout)
    assert_matches_openslide(path, layout)
    if layout.container != "dicom":
        assert_matches_tifffile(path, layout)
        assert_tables_match_tifffile(path, layout)
    else:
        assert not any(r.needed_by for r in layout.ranges)  # see dicom_slide


@pytest.mark.parametrize("name", sorted(UNREADABLE))
def test_unreadable_files_give_typed_errors(shared_slides: Path, name: str) -> None:
    with pytest.raises(UNREADABLE[name]) as caught:
        file_layout(shared_slides / name)
    assert caught.value.reason and "\n" not in caught.value.reason


def test_dicom_frames_are_tiles_in_tiled_full_order(shared_slides: Path) -> None:
    path = shared_slides / "dicom/highdicom-sm_image/sm_image.dcm"
    data = path.read_bytes()
    pixel_data = data.index(b"\xe0\x7f\x10\x00OB\x00\x00")  # explicit VR OB header: 12 bytes
    layout = file_layout(path)
    tiles = [r for r in layout.ranges if r.kind == "tile"]
    assert len(tiles) == 25
    for frame, r in enumerate(tiles):
        assert (r.start, r.end) == (
            pixel_data + 12 + 300 * frame,
            pixel_data + 12 + 300 * (frame + 1),
        )
        assert r.tiles == (TileKey(0, frame % 5, frame // 5),)
    assert layout.ranges[0].kind == "structure" and layout.ranges[0].end == pixel_data + 12
    assert progressive_reason(layout) is None  # uncompressed RGB frames


@pytest.mark.parametrize(
    "name",
    [
        "aperio-rgb",
        "aperio-ycbcr-big",
        "aperio-missing",
        "aperio-jp2k",
        "aperio-exif",
        "aperio-broken-exif",
        "generic",
        "generic-big",
        "dicom-jpeg",
        "dicom-basic",
        "dicom-extended-split",
        "dicom-sparse",
    ],
)
def test_synthetic_slide_layout(layout_slides: dict[str, Path], name: str) -> None:
    path = layout_slides[name]
    layout = file_layout(path)
    assert_partition(layout)
    assert_matches_openslide(path, layout)
    assert sum(layout.level_bytes()) == layout.bytes_by_kind()["tile"]
    reason = progressive_reason(layout)
    assert reason == ("level 0: JPEG 2000 tiles need OpenSlide" if "jp2k" in name else None)
    if layout.container != "dicom":
        assert_matches_tifffile(path, layout)
        assert_tables_match_tifffile(path, layout)
    assert layout.container == ("bigtiff" if name.endswith("-big") else layout.container)


def test_blank_tiles_stored_once_are_one_range(layout_slides: dict[str, Path]) -> None:
    layout = file_layout(layout_slides["aperio-rgb"])
    shared = [r for r in layout.ranges if len(r.tiles) > 1]
    assert len(shared) == 1
    # White tiles of levels 0 and 1 encode the same: one range serves both levels.
    assert {t.level for t in shared[0].tiles} == {0, 1}
    assert all(layout.range_of_tile(*t) is shared[0] for t in shared[0].tiles)


def test_a_page_that_is_not_a_level_is_unused(layout_slides: dict[str, Path]) -> None:
    layout = file_layout(layout_slides["generic"])
    with tifffile.TiffFile(layout_slides["generic"]) as tif:
        extra = tif.pages[3]
        assert isinstance(extra, tifffile.TiffPage)
        for offset in extra.dataoffsets:
            assert next(r for r in layout.ranges if r.start <= offset < r.end).kind == "unused"
    # Levels sorted by width, as OpenSlide does, although page 1 is the smallest.
    assert [lv.width for lv in layout.levels] == [700, 350, 175]


def test_missing_tiles_have_no_range(layout_slides: dict[str, Path]) -> None:
    layout = file_layout(layout_slides["aperio-missing"])
    cols = -(-layout.levels[0].width // layout.levels[0].tile_width)
    for index in (3, 20):
        assert layout.range_of_tile(0, index % cols, index // cols) is None


def test_dicom_fragments_and_sparse_frames(layout_slides: dict[str, Path]) -> None:
    split = file_layout(layout_slides["dicom-extended-split"])
    pieces: dict[TileKey, int] = {}
    for r in split.ranges:
        for key in r.tiles:
            pieces[key] = pieces.get(key, 0) + 1
    assert len(pieces) == 20 and set(pieces.values()) == {2}  # two fragments a frame
    sparse = file_layout(layout_slides["dicom-sparse"])
    keys = {key for r in sparse.ranges for key in r.tiles}
    assert len(keys) == 19 and TileKey(0, 4, 3) not in keys  # the tile no frame covers


def test_progressive_reasons(shared_slides: Path, synthetic_slides: dict[str, Path]) -> None:
    assert progressive_reason(file_layout(shared_slides / "aperio/CMU-1-Small-Region.svs")) is None
    reason = progressive_reason(file_layout(shared_slides / "generic-tiff/boxes.tiff"))
    assert reason is not None and "deflate" in reason
    reason = progressive_reason(file_layout(synthetic_slides["deflate"]))
    assert reason is not None and "deflate" in reason
    assert progressive_reason(file_layout(synthetic_slides["odd-jpeg"])) is None


@pytest.mark.parametrize(
    ("name", "container"),
    [("odd-jpeg", "tiff"), ("two-step", "bigtiff"), ("deflate", "bigtiff")],
)
def test_libvips_written_slides(
    synthetic_slides: dict[str, Path], name: str, container: str
) -> None:
    path = synthetic_slides[name]
    layout = file_layout(path)
    assert_partition(layout)
    assert_matches_openslide(path, layout)
    assert_matches_tifffile(path, layout)
    assert_tables_match_tifffile(path, layout)
    assert layout.container == container


def test_exif_directories_are_structure_and_a_broken_one_is_ignored(
    layout_slides: dict[str, Path],
) -> None:
    plain = file_layout(layout_slides["aperio-rgb"])
    valid = file_layout(layout_slides["aperio-exif"])
    # The appended one-entry EXIF directory (18 bytes) ends the file, as structure.
    assert valid.ranges[-1].kind == "structure" and valid.ranges[-1].end == valid.size
    assert valid.bytes_by_kind()["structure"] - plain.bytes_by_kind()["structure"] >= 18
    broken = file_layout(layout_slides["aperio-broken-exif"])  # OpenSlide ignores it too
    assert broken.levels == plain.levels
