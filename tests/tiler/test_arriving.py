"""Deep Zoom tiles and a Slide of a file whose bytes are still arriving: written range
by range into a sparse copy whose other bytes are garbage, in several orders. At each
step every tile answers; a final tile has the finished slide's bytes (on the fly and
in the built pyramid); a tile whose source has arrived is final; an interim tile names
exactly the bytes that make it final; `affected` covers every tile that changed."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import openslide
import pytest
from PIL import Image

from tiler import open_slide
from tiler.arriving import ArrivingTiles, ChangedArea, merge_tiles
from tiler.arriving_slide import ArrivingSlide
from tiler.byte_layout import ByteRange, FileLayout, file_layout
from tiler.deepzoom import TileOptions
from tiler.errors import NotDecodableError, NotFoundError
from tiler.imaging import encode_tile
from tiler.level_pixels import SlidePixels, SlideSource
from tiler.levels import Band, band_of, source_window
from tiler.onthefly import SlideTiles
from tiler.partial import PartialSlide
from tiler.pyramid import build_pyramid
from tiler.received import ReceivedRanges
from tiler.tilepack import TilePack

Key = tuple[int, int, int]
SLIDES = ["odd-jpeg", "two-step", "aperio/CMU-1-Small-Region.svs"]
#: Small slides written byte by byte: YCbCr BigTIFF whose blank tiles share one range,
#: and DICOM (levels read through OpenSlide when finished, by hand while arriving).
MADE = ["aperio-ycbcr-big", "dicom-jpeg"]


@dataclass
class Finished:
    """The finished slide: its layout, bands and every tile on the fly and built."""

    path: Path
    layout: FileLayout
    bands: list[Band]
    tiles: dict[Key, bytes]


@pytest.fixture(scope="module")
def finished(
    shared_slides: Path,
    synthetic_slides: dict[str, Path],
    layout_slides: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Finished]]:
    made: dict[str, Finished] = {}

    def get(name: str) -> Finished:
        if name not in made:
            path = (synthetic_slides | layout_slides).get(name) or shared_slides / name
            folder = tmp_path_factory.mktemp("pack")
            pack = TilePack(build_pyramid(path, folder / "p.tilepack", layout="tilepack").path)
            slide = open_slide(path)
            pixels = SlidePixels(slide)
            on_the_fly = SlideTiles(slide, pixels=pixels)
            grid = on_the_fly.grid
            tiles = {}
            for key in keys_of(grid):
                tiles[key] = on_the_fly.tile(*key)
                assert pack.tile(*key) == tiles[key], key
            made[name] = Finished(path, file_layout(path), pixels.bands, tiles)
        return made[name]

    yield get  # type: ignore[misc]


def keys_of(grid: object) -> list[Key]:
    return [
        (z, col, row)
        for z in range(grid.level_count)  # type: ignore[attr-defined]
        for col in range(grid.tile_counts(z)[0])  # type: ignore[attr-defined]
        for row in range(grid.tile_counts(z)[1])  # type: ignore[attr-defined]
    ]


class Transfer:
    """A sparse copy of a slide filled range by range, as the hub writes it: garbage in
    every byte not received (a reader that looked at one would give wrong pixels)."""

    def __init__(self, source: Path, target: Path, seed: int) -> None:
        self.data = source.read_bytes()
        noise = np.random.default_rng(seed).integers(0, 256, len(self.data), dtype=np.uint8)
        target.write_bytes(noise.tobytes())
        self.path = target
        self.received = ReceivedRanges(len(self.data))

    @classmethod
    def structure_first(cls, source: Path, folder: Path, seed: int) -> Transfer:
        """A transfer whose structure has arrived, and nothing else."""
        transfer = cls(source, folder / f"arriving-{source.name}", seed)
        layout = file_layout(source)
        transfer.arrive([(r.start, r.end) for r in layout.ranges if r.kind == "structure"])
        return transfer

    def partial(self) -> PartialSlide:
        return PartialSlide(self.path, len(self.data), self.received)

    def arrive(self, ranges: list[tuple[int, int]]) -> None:
        with open(self.path, "r+b") as f:
            for start, end in ranges:
                f.seek(start)
                f.write(self.data[start:end])  # written, then recorded
        for start, end in ranges:
            self.received.add(start, end)


def plan(layout: FileLayout, order: str, seed: int) -> list[list[tuple[int, int]]]:
    """The steps of a transfer: lists of ranges, the structure every reader needs first;
    the levels' tile tables come with the rest, before or after their tiles."""
    rng = random.Random(seed)
    structure = [(r.start, r.end) for r in layout.ranges if is_outline(r)]
    rest = [r for r in layout.ranges if not is_outline(r)]
    spans = lambda ranges: [(r.start, r.end) for r in ranges]  # noqa: E731
    if order == "random":
        rng.shuffle(rest)
        cuts = [0, len(rest) // 10, len(rest) // 3, 2 * len(rest) // 3, len(rest)]
        return [structure] + [spans(rest[a:b]) for a, b in itertools.pairwise(cuts)]
    if order == "coarse-first":

        def level(r: ByteRange) -> int:
            return max((t.level for t in r.tiles), default=len(layout.levels))

        rest.sort(key=lambda r: (-level(r), r.start))
        by_level: dict[int, list[ByteRange]] = {}
        for r in rest:
            by_level.setdefault(level(r), []).append(r)
        steps = [structure]
        for index in sorted(by_level, reverse=True):
            ranges = by_level[index]
            if index == 0:  # the full resolution in two halves
                steps += [spans(ranges[: len(ranges) // 2]), spans(ranges[len(ranges) // 2 :])]
            else:
                steps.append(spans(ranges))
        return steps
    assert order == "few-full-resolution"
    full = [r for r in rest if any(t.level == 0 for t in r.tiles)]
    few = rng.sample(full, min(4, len(full)))
    return [structure, spans(few), spans([r for r in rest if r not in few])]


def is_outline(r: ByteRange) -> bool:
    """Structure every reader needs (not a level's tile table)."""
    return r.kind == "structure" and not r.needed_by


def table_gaps(layout: FileLayout, level: int, received: ReceivedRanges) -> list[tuple[int, int]]:
    """The bytes of the level's tile table not yet received, from the layout."""
    table = [r for r in layout.ranges if r.kind == "structure" and level in r.needed_by]
    return merged([gap for r in table for gap in received.missing(r.start, r.end)])


def expected_final(
    layout: FileLayout, bands: list[Band], tiles: ArrivingTiles, received: ReceivedRanges, key: Key
) -> bool:
    """Whether the band level's tile table and every stored tile the Deep Zoom tile is
    made from have arrived, from the layout (not from the reader under test)."""
    box = tiles.grid.tile_box(*key)
    band = band_of(bands, key[0])
    if table_gaps(layout, band.level, received):
        return False
    x0, y0, x1, y1 = source_window(band, tiles.grid, box)
    level = layout.levels[band.level]
    for t_col in range(x0 // level.tile_width, (x1 - 1) // level.tile_width + 1):
        for t_row in range(y0 // level.tile_height, (y1 - 1) // level.tile_height + 1):
            r = layout.range_of_tile(band.level, t_col, t_row)
            if r is None or not received.covers(r.start, r.end):
                return False
    return True


def covered(areas: list[ChangedArea], tiles: ArrivingTiles, key: Key) -> bool:
    z, col, row = key
    for area in areas:
        window = area.tiles(tiles.grid, z)
        if window is not None and window[0] <= col < window[2] and window[1] <= row < window[3]:
            return True
    return False


@pytest.mark.parametrize("order", ["random", "coarse-first", "few-full-resolution"])
@pytest.mark.parametrize("name", SLIDES + MADE)
def test_tiles_while_the_slide_arrives(
    finished: object, tmp_path: Path, name: str, order: str
) -> None:
    reference: Finished = finished(name)  # type: ignore[operator]
    layout = reference.layout
    transfer = Transfer(reference.path, tmp_path / reference.path.name, seed=len(name))
    steps = plan(layout, order, seed=len(order))
    transfer.arrive(steps[0])
    partial = transfer.partial()
    tiles = ArrivingTiles(partial)
    assert tiles.bands == reference.bands  # the finished slide's choice
    assert tiles.dzi_xml() == SlideTiles(open_slide(reference.path)).dzi_xml()
    keys = list(reference.tiles)
    previous: dict[Key, tuple[bytes, bool]] | None = None
    for number, step in enumerate(steps):
        if number:
            transfer.arrive(step)
        now = {key: tiles.tile(*key) for key in keys}
        for key, (data, final) in now.items():
            assert final == expected_final(layout, reference.bands, tiles, transfer.received, key)
            assert final == tiles.is_final(*key)
            if final:
                assert data == reference.tiles[key], key
                assert tiles.missing_ranges(*key) == []
        check_missing_ranges(tiles, layout, reference.bands, transfer.received, now)
        if previous is not None:
            areas = tiles.affected(step)
            changed = [key for key in keys if now[key] != previous[key]]
            assert all(covered(areas, tiles, key) for key in changed)
            # Compact: one area per rectangle of level tiles, not one per tile.
            assert len(areas) <= sum(
                1 for r in step if r in {(x.start, x.end) for x in layout.ranges}
            )
        previous = now
    assert transfer.received.complete
    assert all(final for _, final in previous.values())  # type: ignore[union-attr]
    assert tiles.overview_final() and tiles.received_fraction == 1.0
    assert tiles.same_tiles_as(SlidePixels(open_slide(reference.path)))
    cache = tiles.pixels.cache
    assert cache.bytes > 0
    tiles.close()
    assert cache.bytes == 0


def assert_compact(
    areas: list[ChangedArea], layout: FileLayout, tiles: ArrivingTiles, step: list[tuple[int, int]]
) -> None:
    """No more areas than level tiles arrived, and no more surface than theirs (grown by
    one stored pixel)."""
    bands = {band.level: band for band in tiles.bands}
    arrived = {(r.start, r.end): r for r in layout.ranges if r.kind == "tile"}
    keys = {t for span in step if span in arrived for t in arrived[span].tiles if t.level in bands}
    assert len(areas) <= len(keys)
    surface = 0
    for key in keys:
        level, f = layout.levels[key.level], bands[key.level].factor
        surface += (level.tile_width + 2) * (level.tile_height + 2) * f * f
    assert sum((a.l0_x1 - a.l0_x0) * (a.l0_y1 - a.l0_y0) for a in areas) <= surface


def check_missing_ranges(
    tiles: ArrivingTiles,
    layout: FileLayout,
    bands: list[Band],
    received: ReceivedRanges,
    now: dict[Key, tuple[bytes, bool]],
) -> None:
    """An interim tile's missing ranges are bytes not yet received: its level's tile
    table while that has not arrived, then exactly those that make it final (checked on
    a copy of the received ranges, for a sample)."""
    interim = [key for key, (_, final) in now.items() if not final]
    for key in interim[:: max(1, len(interim) // 25)]:
        missing = tiles.missing_ranges(*key)
        assert missing, key
        assert all(not received.covers(start, start + 1) for start, _ in missing)
        table = table_gaps(layout, band_of(bands, key[0]).level, received)
        if table:
            assert missing == table, key
            continue
        after = ReceivedRanges.from_pairs(received.size, received.to_pairs())
        for start, end in missing:
            after.add(start, end)
        assert expected_final(layout, bands, tiles, after, key), key
        # Nothing extra: without any one of them the tile would not be final.
        for index in range(len(missing)):
            fewer = ReceivedRanges.from_pairs(received.size, received.to_pairs())
            for start, end in missing[:index] + missing[index + 1 :]:
                fewer.add(start, end)
            assert not expected_final(layout, bands, tiles, fewer, key), key


def test_nothing_is_read_from_holes(finished: object, tmp_path: Path) -> None:
    """The whole file on disk, only its structure (then one level) recorded as received:
    a tile is glass until a level it is painted from is received, whatever the file's
    other bytes say."""
    reference: Finished = finished("odd-jpeg")  # type: ignore[operator]
    layout = reference.layout
    copy = tmp_path / "whole.svs"
    copy.write_bytes(reference.path.read_bytes())
    received = ReceivedRanges(layout.size)
    for r in layout.ranges:
        if r.kind == "structure":
            received.add(r.start, r.end)
    with PartialSlide(copy, layout.size, received) as partial:
        tiles = ArrivingTiles(partial)
        for key in reference.tiles:
            box = tiles.grid.tile_box(*key)
            glass = encode_tile(np.full((box.height, box.width, 3), 255, np.uint8), tiles.options)
            assert tiles.tile(*key) == (glass, False), key
        coarsest = reference.bands[-1]
        for r in layout.ranges:
            if r.kind == "tile" and r.level == coarsest.level:
                received.add(r.start, r.end)
        for key in reference.tiles:
            data, final = tiles.tile(*key)
            assert final == (key[0] <= coarsest.z_anchor)
            if final:
                assert data == reference.tiles[key]


def test_interim_tiles_look_like_the_final_ones(finished: object, tmp_path: Path) -> None:
    """With every level but the full resolution in, a full-resolution tile is the level
    below scaled up: close to the final tile, not glass."""
    reference: Finished = finished("odd-jpeg")  # type: ignore[operator]
    layout = reference.layout
    transfer = Transfer(reference.path, tmp_path / "arriving.svs", seed=3)
    transfer.arrive([(r.start, r.end) for r in layout.ranges if r.level != 0])
    with transfer.partial() as partial:
        tiles = ArrivingTiles(partial)
        z = tiles.grid.z_max
        tissue = sorted(
            (key for key in reference.tiles if key[0] == z),
            key=lambda key: -float(decoded(reference.tiles[key]).std()),
        )
        for _, col, row in tissue[:4]:
            data, final = tiles.tile(z, col, row)
            assert not final
            ours, theirs = decoded(data), decoded(reference.tiles[(z, col, row)])
            assert ours.shape == theirs.shape
            # What the coarser level holds is there, in place (at its resolution, no
            # shift by one of its pixels matches better), and much nearer the final tile
            # than glass is.
            small_ours, small_theirs = reduced(ours, 4)[2:-2, 2:-2], reduced(theirs, 4)
            inner = small_theirs[2:-2, 2:-2]
            in_place = difference(small_ours, inner)
            for dx, dy in [(1, 0), (-1, 0), (0, 1), (0, -1)]:
                shifted = np.roll(small_theirs, (dy, dx), axis=(0, 1))[2:-2, 2:-2]
                assert in_place < difference(small_ours, shifted), (col, row, dx, dy)
            glass = np.full_like(theirs, 255)
            assert difference(ours, theirs) < difference(glass, theirs) / 2, (col, row)


def reduced(pixels: np.ndarray, factor: int) -> np.ndarray:
    return np.asarray(Image.fromarray(pixels).reduce(factor))


def difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(float) - b.astype(float)).mean())


def decoded(data: bytes) -> np.ndarray:
    import io

    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def test_partly_arrived_tile_is_exact_where_its_source_arrived(
    finished: object, tmp_path: Path
) -> None:
    """A full-resolution tile over four level tiles, one of which arrived: its pixels over
    that level tile are the final tile's (before encoding)."""
    reference: Finished = finished("odd-jpeg")  # type: ignore[operator]
    layout = reference.layout
    transfer = Transfer.structure_first(reference.path, tmp_path, seed=4)
    one = layout.range_of_tile(0, 1, 1)
    assert one is not None
    transfer.arrive([(one.start, one.end)])
    with transfer.partial() as partial:
        tiles = ArrivingTiles(partial)
        finished_pixels = SlidePixels(open_slide(reference.path))
        grid = tiles.grid
        box = grid.tile_box(grid.z_max, 1, 1)  # level-0 pixels 253..509: tiles 1 and 2
        band = band_of(tiles.bands, grid.z_max)
        canvas = tiles._interim(band, box)
        exact = finished_pixels.tile_pixels(box)
        inside = slice(240 - box.z_y, 480 - box.z_y), slice(240 - box.z_x, 480 - box.z_x)
        assert np.array_equal(canvas[inside], exact[inside])
        assert (canvas[480 - box.z_y :, :] == 255).all()  # nothing known there: glass
        assert tiles.missing_ranges(grid.z_max, 1, 1) == merged(
            [
                (r.start, r.end)
                for r in (layout.range_of_tile(0, c, r) for c in (1, 2) for r in (1, 2))
                if r is not None and r != one
            ]
        )


def test_missing_ranges_and_affected_on_a_small_example(finished: object, tmp_path: Path) -> None:
    reference: Finished = finished("two-step")  # type: ignore[operator]
    layout = reference.layout
    transfer = Transfer.structure_first(reference.path, tmp_path, seed=5)
    with transfer.partial() as partial:
        tiles = ArrivingTiles(partial)
        z = tiles.grid.z_max
        first = [layout.range_of_tile(0, c, r) for c in range(2) for r in range(2)]
        assert tiles.missing_ranges(z, 0, 0) == merged([(r.start, r.end) for r in first if r])
        block = [(r.start, r.end) for r in first if r is not None]
        transfer.arrive(block)
        assert tiles.is_final(z, 0, 0)
        areas = tiles.affected(block)
        assert len(areas) == 1  # four neighbouring level tiles: one rectangle
        (area,) = areas
        assert (area.l0_x0, area.l0_y0) == (0, 0)
        side = 2 * layout.levels[0].tile_width + 1  # grown by one stored pixel
        assert area.l0_x1 == area.l0_y1 == side == 481
        assert area.z_low == tiles.bands[0].z_low
        assert area.tiles(tiles.grid, z) == (0, 0, 2, 2)  # tile 1 spans 253..509, 2 from 507
        assert area.tiles(tiles.grid, area.z_low - 1) is None
        assert area.to_json() == {
            "z_low": area.z_low,
            "x": 0,
            "y": 0,
            "width": side,
            "height": side,
        }
        assert tiles.affected([(0, 8)]) == []  # structure bytes: no level tile
        assert not tiles.overview_final()
        with pytest.raises(NotFoundError):
            tiles.tile(z + 1, 0, 0)
        with pytest.raises(NotFoundError):
            tiles.missing_ranges(z, 10_000, 0)


def merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def test_merge_tiles() -> None:
    tiles = {(0, 0), (1, 0), (0, 1), (1, 1), (3, 0), (0, 3), (1, 3), (2, 3)}
    rects = merge_tiles(tiles)
    assert rects == [(0, 0, 2, 2), (0, 3, 3, 4), (3, 0, 4, 1)]
    assert merge_tiles({(5, 5)}) == [(5, 5, 6, 6)]
    covered_tiles = {
        (c, r) for c0, r0, c1, r1 in rects for c in range(c0, c1) for r in range(r0, r1)
    }
    assert covered_tiles == tiles


def test_overview_final_once_the_small_levels_arrived(finished: object, tmp_path: Path) -> None:
    reference: Finished = finished("odd-jpeg")  # type: ignore[operator]
    layout = reference.layout
    transfer = Transfer.structure_first(reference.path, tmp_path, seed=6)
    with transfer.partial() as partial:
        tiles = ArrivingTiles(partial)
        assert not tiles.overview_final()
        z_top = tiles.grid.z_max - 4
        needed = {b.level for b in tiles.bands if b.z_low <= z_top}
        transfer.arrive([(r.start, r.end) for r in layout.ranges if r.level in needed])
        assert tiles.overview_final()
        assert all(tiles.is_final(*key) for key in reference.tiles if key[0] <= z_top)
        assert 0 < tiles.received_fraction < 0.5


def test_a_level_openslide_rejects_at_completion_is_detected(
    finished: object, tmp_path: Path
) -> None:
    """Had OpenSlide's check rejected the JPEG levels of odd-jpeg at completion, its 4x
    level (downsample 4.0019, which OpenSlide would interpolate) could not be a source:
    the finished slide's bands differ from those the tiles were made with."""
    reference: Finished = finished("odd-jpeg")  # type: ignore[operator]
    transfer = Transfer(reference.path, tmp_path / "arriving.svs", seed=13)
    transfer.arrive([(r.start, r.end) for r in reference.layout.ranges])
    with transfer.partial() as partial, open_slide(reference.path) as slide:
        tiles = ArrivingTiles(partial)
        assert tiles.same_tiles_as(SlidePixels(slide))
        rejected = SlidePixels(slide, source=SlideSource(slide, None))
        assert rejected.bands != tiles.bands
        assert not tiles.same_tiles_as(rejected)


def test_a_slide_only_openslide_decodes_is_refused(
    synthetic_slides: dict[str, Path], layout_slides: dict[str, Path]
) -> None:
    for path in (synthetic_slides["deflate"], layout_slides["aperio-jp2k"]):
        size = path.stat().st_size
        received = ReceivedRanges(size)
        received.add(0, size)
        with PartialSlide(path, size, received) as partial, pytest.raises(NotDecodableError):
            ArrivingTiles(partial)


def test_other_tile_formats(finished: object, tmp_path: Path) -> None:
    reference: Finished = finished("aperio/CMU-1-Small-Region.svs")  # type: ignore[operator]
    layout = reference.layout
    transfer = Transfer(reference.path, tmp_path / "arriving.svs", seed=7)
    transfer.arrive([(r.start, r.end) for r in layout.ranges])
    options = TileOptions(tile_size=510, overlap=0, format="webp")
    with transfer.partial() as partial:
        tiles = ArrivingTiles(partial, options)
        expected = SlideTiles(open_slide(reference.path), options)
        for key in keys_of(tiles.grid):
            assert tiles.tile(*key) == (expected.tile(*key), True)


# -- the arriving Slide ----------------------------------------------------------------


def rgba(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGBA"))


@pytest.mark.parametrize("name", SLIDES)
def test_arriving_slide_reads_as_openslide_once_complete(finished: object, name: str) -> None:
    reference: Finished = finished(name)  # type: ignore[operator]
    path = reference.path
    size = path.stat().st_size
    received = ReceivedRanges(size)
    received.add(0, size)
    rng = random.Random(name)
    with (
        PartialSlide(path, size, received) as partial,
        openslide.OpenSlide(path) as osr,
        open_slide(path) as ours_finished,
    ):
        slide = ArrivingSlide(partial)
        assert slide.info.to_json() == ours_finished.info.to_json()
        assert slide.background_rgb == ours_finished.background_rgb
        for level, (width, height) in enumerate(osr.level_dimensions):
            downsample = osr.level_downsamples[level]
            places = [(0, 0, min(width, 700), min(height, 500))]
            if downsample == int(downsample):  # OpenSlide reads it without interpolating
                for _ in range(4):
                    w, h = rng.randrange(1, 400), rng.randrange(1, 300)
                    x, y = rng.randrange(-50, width), rng.randrange(-50, height)
                    places.append((x * int(downsample), y * int(downsample), w, h))
            for x, y, w, h in places:
                ours = rgba(slide.read_region((x, y), level, (w, h)))
                theirs = rgba(osr.read_region((x, y), level, (w, h)))
                assert np.array_equal(ours, theirs), (level, x, y, w, h)
        for image in slide.info.associated:
            assert np.array_equal(
                np.asarray(slide.associated_image(image)),
                np.asarray(ours_finished.associated_image(image)),
            )
        with pytest.raises(NotFoundError):
            slide.read_region((0, 0), len(osr.level_dimensions), (1, 1))
        with pytest.raises(NotFoundError):
            slide.associated_image("barcode")


def test_arriving_slide_fills_what_has_not_arrived(finished: object, tmp_path: Path) -> None:
    """Nothing in: transparent (background once composited). The coarser levels in:
    level 0 is their pixels scaled up, opaque and close to the real ones. One level-0
    tile in: exact over it. Everything in: OpenSlide's pixels."""
    reference: Finished = finished("odd-jpeg")  # type: ignore[operator]
    layout = reference.layout
    transfer = Transfer.structure_first(reference.path, tmp_path, seed=8)
    region = ((400, 300), 0, (300, 200))
    with (
        transfer.partial() as partial,
        open_slide(reference.path) as slide_done,
    ):
        slide = ArrivingSlide(partial)
        theirs = slide_done.read_rgb(*region)
        assert (rgba(slide.read_region(*region)) == 0).all()
        assert (slide.read_rgb(*region) == 255).all()
        transfer.arrive([(r.start, r.end) for r in layout.ranges if r.level in (1, 2)])
        filled = rgba(slide.read_region(*region))
        assert (filled[..., 3] == 255).all()
        assert np.abs(filled[..., :3].astype(float) - theirs).mean() < 12
        edge = rgba(slide.read_region((4900, 3900), 0, (200, 200)))  # the slide is 5001x4003
        assert (edge[:103, :101, 3] == 255).all() and (edge[103:, :, 3] == 0).all()
        assert (edge[:, 101:, 3] == 0).all()
        one = layout.range_of_tile(0, 2, 1)  # level-0 pixels 480..720 x 240..480
        assert one is not None
        transfer.arrive([(one.start, one.end)])
        ours = slide.read_rgb(*region)
        assert np.array_equal(ours[:180, 80:300], theirs[:180, 80:300])
        assert not np.array_equal(ours, theirs)
        transfer.arrive(
            [
                (r.start, r.end)
                for r in layout.ranges
                if not transfer.received.covers(r.start, r.end)
            ]
        )
        assert np.array_equal(slide.read_rgb(*region), theirs)


def test_associated_images_once_they_arrived(finished: object, tmp_path: Path) -> None:
    reference: Finished = finished("aperio/CMU-1-Small-Region.svs")  # type: ignore[operator]
    layout = reference.layout
    transfer = Transfer.structure_first(reference.path, tmp_path, seed=9)
    with (
        transfer.partial() as partial,
        open_slide(reference.path) as slide_done,
    ):
        slide = ArrivingSlide(partial)
        assert slide.info.associated == slide_done.info.associated != []
        for name in slide.info.associated:
            with pytest.raises(NotFoundError):
                slide.associated_image(name)
        transfer.arrive([(r.start, r.end) for r in layout.ranges if r.kind == "associated"])
        for name in slide.info.associated:
            assert np.array_equal(
                np.asarray(slide.associated_image(name)),
                np.asarray(slide_done.associated_image(name)),
            )


def test_a_zoomed_out_tile_is_final_before_its_neighbours(tmp_path: Path) -> None:
    """A single-level slide: a tile three levels down is made from a reduction by 8 whose
    cached chunks span more than the tile. It is final, with the finished slide's bytes,
    as soon as its own source has arrived, though the chunks around it have not."""
    from benchmarks.synthetic_slide import SyntheticSlideSpec, build_slide

    path = build_slide(
        tmp_path / "wide.svs", SyntheticSlideSpec(width=6000, height=700, levels=(1,))
    )
    layout = file_layout(path)
    transfer = Transfer.structure_first(path, tmp_path, seed=10)
    expected = SlideTiles(open_slide(path))
    with transfer.partial() as partial:
        tiles = ArrivingTiles(partial)
        z = tiles.grid.z_max - 3
        (band,) = tiles.bands
        assert band.position(z) == (1, 0)
        box = tiles.grid.tile_box(z, 1, 0)  # reduction pixels 253..509: chunks 0 and 1
        x0, _, x1, _ = source_window(band, tiles.grid, box)
        assert (x0, x1) == (253 * 8, 509 * 8)
        transfer.arrive(tiles.missing_ranges(z, 1, 0))
        assert not tiles.is_final(z, 0, 0)
        assert tiles.tile(z, 1, 0) == (expected.tile(z, 1, 0), True)
        assert not tiles.tile(z, 0, 0)[1]
        transfer.arrive(
            [
                (r.start, r.end)
                for r in layout.ranges
                if not transfer.received.covers(r.start, r.end)
            ]
        )
        for key in keys_of(tiles.grid):
            assert tiles.tile(*key) == (expected.tile(*key), True)


def test_requests_while_ranges_arrive(finished: object, tmp_path: Path) -> None:
    """Tiles asked from a thread pool while another thread writes and records ranges:
    every answer is a tile, every final one the finished slide's."""
    from concurrent.futures import ThreadPoolExecutor

    reference: Finished = finished("odd-jpeg")  # type: ignore[operator]
    layout = reference.layout
    transfer = Transfer.structure_first(reference.path, tmp_path, seed=11)
    rest = [(r.start, r.end) for r in layout.ranges if r.kind != "structure"]
    random.Random(12).shuffle(rest)
    keys = list(reference.tiles)
    with transfer.partial() as partial:
        tiles = ArrivingTiles(partial)

        def arrive() -> None:
            for index in range(0, len(rest), 2):
                transfer.arrive(rest[index : index + 2])

        def ask(key: Key) -> bool:
            data, final = tiles.tile(*key)
            assert not final or data == reference.tiles[key], key
            return final

        with ThreadPoolExecutor(4) as pool:
            writer = pool.submit(arrive)
            while not writer.done():
                list(pool.map(ask, keys))
            writer.result()
        assert all(map(ask, keys))


def test_a_band_whose_table_shows_missing_tiles_stays_interim(tmp_path: Path) -> None:
    """The bands are chosen before the tile tables arrive, as if every tile were stored:
    level 1 (downsample 2.002) counts as read from its JPEG tiles. Its table shows tiles
    OpenSlide draws from level 0, so the finished slide makes those Deep Zoom levels from
    level 0: their tiles stay interim (and wait for no bytes) until the file is whole,
    while level 0's band is final where its tiles are in."""
    from tests.tiler import slide_files as make

    path = make.aperio_slide(tmp_path / "missing.svs", width=1101, height=701, missing=(3, 20))
    layout = file_layout(path)
    finished = SlidePixels(open_slide(path))
    assert [band.level for band in finished.bands] == [0]
    transfer = Transfer(path, tmp_path / "arriving.svs", seed=14)
    transfer.arrive([(r.start, r.end) for r in layout.ranges if is_outline(r)])
    expected = SlideTiles(open_slide(path), pixels=finished)
    with transfer.partial() as partial:
        tiles = ArrivingTiles(partial)
        assumed = tiles.bands
        assert [band.level for band in assumed] == [0, 1, 2]
        transfer.arrive([(r.start, r.end) for r in layout.ranges if not is_outline(r)])
        level_0 = band_of(assumed, tiles.grid.z_max)
        finals = 0
        for key in keys_of(tiles.grid):
            data, final = tiles.tile(*key)
            if key[0] < level_0.z_low:  # made from levels 1 and 2: not as the finished slide
                assert not final and tiles.missing_ranges(*key) == [], key
            elif final:
                assert data == expected.tile(*key), key
                finals += 1
        assert finals and tiles.is_final(tiles.grid.z_max, 2, 1)  # no missing tile under it
        assert not tiles.is_final(tiles.grid.z_max, 0, 0)  # over missing tiles 3 and 20
        assert not tiles.overview_final()
        assert not tiles.same_tiles_as(finished)
