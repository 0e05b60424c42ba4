"""Hostile structure bytes: truncated, flipped and random structure, directory loops,
offsets beyond the file, absurd counts and sizes, DICOM lengths that lie. The layout and
the partial reader answer with a typed SlideError or a valid result, never anything
else, never a hang or a giant allocation."""

from __future__ import annotations

import contextlib
import random
import struct
from pathlib import Path

import pytest

from tiler import SlideError, SlideTooLargeError
from tiler.arriving import ArrivingTiles
from tiler.arriving_slide import ArrivingSlide
from tiler.byte_layout import FileLayout, file_layout
from tiler.errors import BrokenSlideError, NotDecodableError
from tiler.partial import PartialSlide
from tiler.received import ReceivedRanges

SEEDS_REAL = [
    "aperio/CMU-1-Small-Region.svs",
    "aperio/small.svs",
    "generic-tiff/boxes.tiff",
    "generic-tiff/small_la.tiff",
    "dicom/highdicom-sm_image/sm_image.dcm",
]
SEEDS_MADE = ["aperio-rgb", "generic-big", "dicom-sparse", "dicom-extended-split"]


def check(path: Path) -> None:
    """Layout and partial reader of a (possibly hostile) file: typed errors or results."""
    try:
        layout = file_layout(path)
    except SlideError as error:
        assert error.reason and "\n" not in error.reason
        layout = None
    if layout is not None:
        assert_partition(layout)
    size = path.stat().st_size
    received = ReceivedRanges(size)
    if size:
        received.add(0, size)
    try:
        with PartialSlide(path, size, received) as partial:
            info = partial.info
            for level in range(len(info.levels)):
                grid = partial.tile_grid(level)
                for row in range(min(grid.rows, 3)):
                    for col in range(min(grid.cols, 3)):
                        with contextlib.suppress(BrokenSlideError, NotDecodableError):
                            partial.read_level_tile(level, col, row)
            for name in info.associated:
                with contextlib.suppress(BrokenSlideError):
                    partial.read_associated(name)
            check_arriving(partial)
    except SlideError as error:
        assert error.reason and "\n" not in error.reason


def check_arriving(partial: PartialSlide) -> None:
    """Deep Zoom tiles and regions of the (possibly hostile) slide once it has arrived and
    while only its structure has: tiles or typed errors."""
    size = partial.received.size
    structure_only = ReceivedRanges(size)
    for start, end in sorted(partial.structure.structure):
        end = min(end, size)
        gaps = structure_only.missing(start, end) if start < end else []
        for gap_start, gap_end in gaps:
            structure_only.add(gap_start, gap_end)
    with PartialSlide(partial.path, size, structure_only) as early:
        for reader in (partial, early):
            with contextlib.suppress(SlideError):
                tiles = ArrivingTiles(reader)
                grid = tiles.grid
                for z in (0, grid.z_max):
                    cols, rows = grid.tile_counts(z)
                    for key in [(z, 0, 0), (z, cols - 1, rows - 1)]:
                        with contextlib.suppress(SlideError):
                            tiles.tile(*key)
                            tiles.missing_ranges(*key)
            with contextlib.suppress(SlideError):
                ArrivingSlide(reader).read_region((0, 0), 0, (64, 64))


def assert_partition(layout: FileLayout) -> None:
    position = 0
    for r in layout.ranges:
        assert r.start == position < r.end
        position = r.end
    assert position == layout.size


def seeds(shared: Path, made: dict[str, Path]) -> list[Path]:
    return [shared / n for n in SEEDS_REAL] + [made[n] for n in SEEDS_MADE]


def test_truncated_files(
    shared_slides: Path, layout_slides: dict[str, Path], tmp_path: Path
) -> None:
    rng = random.Random(1)
    for source in seeds(shared_slides, layout_slides):
        data = source.read_bytes()
        structure = [r for r in file_layout(source).ranges if r.kind == "structure"]
        cuts = {0, 1, 7, 8, 131, len(data) - 1, len(data) // 2}
        cuts |= {rng.randrange(r.start, r.end) for r in structure for _ in range(3)}
        for cut in sorted(c for c in cuts if 0 <= c < len(data)):
            target = tmp_path / f"cut-{cut}{source.suffix}"
            target.write_bytes(data[:cut])
            check(target)


def test_flipped_and_random_structure_bytes(
    shared_slides: Path, layout_slides: dict[str, Path], tmp_path: Path
) -> None:
    rng = random.Random(2)
    for source in seeds(shared_slides, layout_slides):
        data = source.read_bytes()
        structure = [r for r in file_layout(source).ranges if r.kind == "structure"]
        for trial in range(40):
            corrupt = bytearray(data)
            r = rng.choice(structure)
            at = rng.randrange(r.start, r.end)
            if trial % 3 == 0:
                corrupt[at] ^= 1 << rng.randrange(8)
            elif trial % 3 == 1:
                corrupt[at] = rng.choice([0x00, 0xFF, 0x7F, 0x80])
            else:
                length = min(r.end - at, rng.randrange(1, 64))
                corrupt[at : at + length] = rng.randbytes(length)
            target = tmp_path / f"flip{source.suffix}"
            target.write_bytes(bytes(corrupt))
            check(target)


def test_random_files(tmp_path: Path) -> None:
    rng = random.Random(3)
    for trial in range(60):
        head = rng.choice([b"II*\0", b"MM\0*", b"II+\0\x08\0\0\0", b"\0" * 128 + b"DICM", b""])
        target = tmp_path / f"random-{trial}.bin"
        target.write_bytes(head + rng.randbytes(rng.randrange(0, 4000)))
        check(target)


# -- hand-made hostile TIFFs -------------------------------------------------------------


def tiff(
    entries: list[tuple[int, int, int, int]], *, next_ifd: int = 0, tail: bytes = b""
) -> bytes:
    """A classic little-endian TIFF: header, one IFD at 8 (entries: tag, type, count,
    value), then `tail`."""
    ifd = struct.pack("<H", len(entries))
    for tag, type_, count, value in entries:
        ifd += struct.pack("<HHII", tag, type_, count, value)
    return b"II*\0" + struct.pack("<I", 8) + ifd + struct.pack("<I", next_ifd) + tail


def tiled(
    width: int = 64, height: int = 64, *, offset: int = 200, count: int = 10
) -> list[tuple[int, int, int, int]]:
    return [
        (256, 4, 1, width),
        (257, 4, 1, height),
        (259, 3, 1, 7),
        (262, 3, 1, 6),
        (277, 3, 1, 3),
        (322, 3, 1, 64),
        (323, 3, 1, 64),
        (324, 4, 1, offset),
        (325, 4, 1, count),
    ]


HOSTILE_TIFFS = {
    "ifd loop": (tiff(tiled(), next_ifd=8, tail=bytes(300)), "loop"),
    "ifd beyond the file": (tiff(tiled(), next_ifd=1 << 30, tail=bytes(300)), "beyond"),
    "tile beyond the file": (tiff(tiled(offset=1 << 30), tail=bytes(300)), "beyond"),
    "tile count beyond the file": (tiff(tiled(count=1 << 31), tail=bytes(300)), "beyond"),
    "huge tag count": (tiff([*tiled(), (270, 2, 1 << 31, 100)], tail=bytes(300)), "claims"),
    "huge offsets array": (
        tiff([*tiled()[:-2], (324, 4, 1 << 28, 200), (325, 4, 1 << 28, 200)]),
        "absurd tile counts",
    ),
    "unknown field type": (tiff([*tiled(), (999, 99, 1, 0)], tail=bytes(300)), "field type"),
    "absurd size": (tiff(tiled(width=1 << 30, height=1 << 30), tail=bytes(300)), "accepted"),
    "zero tile size": (
        tiff([*tiled()[:5], (322, 3, 1, 0), (323, 3, 1, 0), *tiled()[7:]]),
        "tile size",
    ),
    "entry table beyond the file": (b"II*\0" + struct.pack("<IH", 8, 4000), "past the file"),
    "bigtiff bad header": (b"II+\0\x08\0\x01\0" + bytes(32), "BigTIFF header"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_TIFFS))
def test_hostile_tiffs(tmp_path: Path, name: str) -> None:
    target = tmp_path / "hostile.tiff"
    data, reason = HOSTILE_TIFFS[name]
    target.write_bytes(data)
    with pytest.raises(SlideError, match=reason):
        file_layout(target)
    check(target)


def test_absurd_size_is_refused_as_too_large(tmp_path: Path) -> None:
    target = tmp_path / "huge.tiff"
    target.write_bytes(HOSTILE_TIFFS["absurd size"][0])
    with pytest.raises(SlideTooLargeError):
        file_layout(target)


# -- hand-made hostile DICOM -------------------------------------------------------------


def _replace(data: bytes, old: bytes, new: bytes) -> bytes:
    assert old in data
    return data.replace(old, new, 1)


def test_dicom_lengths_that_lie(layout_slides: dict[str, Path], tmp_path: Path) -> None:
    data = layout_slides["dicom-sparse"].read_bytes()
    rows = struct.pack("<HH", 0x0028, 0x0010) + b"US" + struct.pack("<H", 2)
    per_frame = struct.pack("<HH", 0x5200, 0x9230) + b"SQ\0\0"
    pixel = struct.pack("<HH", 0x7FE0, 0x0010) + b"OB\0\0" + b"\xff\xff\xff\xff"
    item = struct.pack("<HH", 0xFFFE, 0xE000)
    first_fragment = data.index(item, data.index(pixel) + 12 + 8)
    frames = struct.pack("<HH", 0x0028, 0x0008) + b"IS" + struct.pack("<H", 2)
    cases = {
        "runs past its container": _replace(data, rows, rows[:6] + struct.pack("<H", 0xFFF0)),
        "sequence 52009230 runs past the file's end": _replace(
            data, per_frame, per_frame + struct.pack("<I", 0x7FFFFFF0)
        )[: len(data) + 4],
        "fragment runs past the file's end": data[: first_fragment + 4]
        + struct.pack("<I", 0x7FFFFFF0)
        + data[first_fragment + 8 :],
        "offset table has 19 entries for 18 frames": _replace(data, frames + b"19", frames + b"18"),
        "NumberOfFrames is malformed": _replace(data, frames + b"19", frames + b"0 "),
        "runs past the file's end": data[: data.index(pixel)],  # no Pixel Data
    }
    deep = b"".join(
        struct.pack("<HH", 0x0009, 0x1000) + b"SQ\0\0" + b"\xff" * 4 + item + b"\xff" * 4
        for _ in range(40)
    )
    cases["nest too deep"] = _replace(data, per_frame, deep + per_frame)
    for number, (reason, corrupt) in enumerate(cases.items()):
        target = tmp_path / str(number) / "s.dcm"
        target.parent.mkdir()
        target.write_bytes(corrupt)
        with pytest.raises(SlideError, match=reason):
            file_layout(target)
        check(target)


def test_lying_tile_header_is_not_decoded(layout_slides: dict[str, Path], tmp_path: Path) -> None:
    """A JPEG tile whose frame header claims 65535x65535 pixels is refused before any
    decode (a decoder would allocate 12 GB for it)."""
    path = layout_slides["aperio-rgb"]
    layout = file_layout(path)
    r = next(r for r in layout.ranges if r.kind == "tile" and len(r.tiles) == 1)
    data = bytearray(path.read_bytes())
    tile = bytes(data[r.start : r.end])
    sof = tile.index(b"\xff\xc0")
    data[r.start + sof + 5 : r.start + sof + 9] = b"\xff\xff\xff\xff"
    target = tmp_path / "lying.svs"
    target.write_bytes(bytes(data))
    size = len(data)
    received = ReceivedRanges(size)
    received.add(0, size)
    with PartialSlide(target, size, received) as partial, pytest.raises(BrokenSlideError):
        partial.read_level_tile(*r.tiles[0])


# -- tile tables that arrive after the slide was described -----------------------------


def staged_tiff(
    offsets: tuple[int, ...] = (300, 310),
    counts: tuple[int, ...] = (10, 10),
    *,
    declared: int = 2,
    at: int | None = None,
) -> tuple[bytes, tuple[int, int]]:
    """A two-tile JPEG level whose tile table lies out of line after the directory: the
    file, and where its table lies. `declared`: the entries the directory claims;
    `at`: where it says the offsets are (default: where they are)."""
    bits_at, table_at = 200, 208
    entries = [
        *tiled(width=128)[:7],
        (258, 3, 3, bits_at),
        (324, 4, declared, table_at if at is None else at),
        (325, 4, declared, table_at + 4 * len(offsets)),
    ]
    head = tiff(sorted(entries))
    tail = bytes(bits_at - len(head)) + struct.pack("<3H", 8, 8, 8) + bytes(2)
    table = struct.pack(f"<{len(offsets)}I", *offsets) + struct.pack(f"<{len(counts)}I", *counts)
    data = head + tail + table
    return data + bytes(320 - len(data)), (table_at, table_at + len(table))


def test_a_tile_table_is_checked_when_it_arrives(tmp_path: Path) -> None:
    """Described from its directories, the slide's table arrives pointing beyond the
    file: a typed error then, from every question about the level's tiles."""
    data, (start, end) = staged_tiff(offsets=(300, 1 << 30))
    target = tmp_path / "late.tiff"
    target.write_bytes(data)
    received = ReceivedRanges(len(data))
    received.add(0, start)
    received.add(end, len(data))
    with PartialSlide(target, len(data), received) as partial:
        assert partial.ready and partial.info.width == 128
        assert not partial.table_arrived(0) and not partial.arrived_tiles(0).any()
        assert partial.missing_ranges(0, (0, 0, 2, 1)) == [(start, end)]
        partial.check_tables()  # nothing to check yet
        received.add(start, end)
        for question in (
            partial.check_tables,
            lambda: partial.table_arrived(0),
            lambda: partial.arrived_tiles(0),
            lambda: partial.read_level_tile(0, 1, 0),
        ):
            with pytest.raises(BrokenSlideError, match="beyond the file's end"):
                question()
    with pytest.raises(BrokenSlideError, match="beyond the file's end"):
        file_layout(target)  # the finished file fails the same way
    check(target)


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ({"declared": 1, "offsets": (300,), "counts": (10,)}, "has 1 tiles, needs 2"),
        ({"at": 1 << 20}, "points beyond the file's end"),
        ({"declared": 1 << 23}, "absurd tile counts"),
    ],
)
def test_a_tile_table_declared_wrong_is_refused_before_it_arrives(
    tmp_path: Path, case: dict[str, object], reason: str
) -> None:
    """What the directory says of its table (how many entries, where) is checked with
    the directory: nothing of the table has arrived, and the slide is refused."""
    data, (start, _) = staged_tiff(**case)  # type: ignore[arg-type]
    target = tmp_path / "declared.tiff"
    target.write_bytes(data)
    received = ReceivedRanges(len(data))
    received.add(0, start)
    with (
        PartialSlide(target, len(data), received) as partial,
        pytest.raises(BrokenSlideError, match=reason),
    ):
        partial.ready  # noqa: B018
    check(target)
