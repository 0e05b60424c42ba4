"""The pyramid builder's pixel stages, one by one: numpy/Pillow/simplejpeg/imagecodecs
against libvips.

`python -m benchmarks.tiling_stages [SLIDE] [--regions N] [--json PATH]`

Each stage runs on the same tissue regions of the benchmark slide (2048x2048 pixels of
level 0, read from the slide's own JPEG tiles), as the builder runs it: decode a
240x240 source tile to RGBX, put the decoded tiles into one region array, turn that
array into the library's image, reduce it by two and by four, cut and encode its
254-pixel tiles (JPEG Q75 and WebP), and tell blank tiles. libvips runs through pyvips
with untrusted loaders blocked (`tiler.hardening`), on our decoded regions
(`new_from_memory`, no copy).
For every alternative the table says whether its output is byte-identical to the one
the builder uses: a faster stage that changes tiles' bytes cannot be used (the pyramid,
on-the-fly tiles and an arriving slide's final tiles must stay byte for byte the same).
Times are the process's CPU time (libvips' threads included), best of `--repeat`:
the machine is shared, and a pool worker has one core to spend.
"""

from __future__ import annotations

import argparse
import io
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("VIPS_CONCURRENCY", "1")

import numpy as np
import pyvips
import simplejpeg
from PIL import Image

from benchmarks import slides
from benchmarks.report import Column, print_table, write_json
from benchmarks.synthetic_slide import SyntheticSlideSpec
from tiler import hardening as _hardening  # noqa: F401 - block_untrusted on
from tiler.deepzoom import TileOptions
from tiler.imaging import encode_tile, pillow_image, uniform_colour
from tiler.jpeg_stream import jpeg_stream
from tiler.jpeg_tiles import JpegPyramid, assemble
from tiler.levels import block_sums
from tiler.registry import open_slide

REGION = 2048
TILE = 254
QUALITY = 75

COLUMNS = [
    Column("stage", "stage"),
    Column("how", "how"),
    Column("CPU ms / region", "ms", ".2f"),
    Column("MP/s", "mps", ".0f"),
    Column("x used", "speed_vs_used", ".2f"),
    Column("same bytes", "same"),
    Column("used", "used"),
]


def _timed(run: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best = float("inf")
    result = None
    for _ in range(repeat):
        # CPU time of the whole process (libvips' threads included), not wall time:
        # the machine is shared, and a pool worker has one core's worth to spend.
        start = time.process_time()
        result = run()
        best = min(best, time.process_time() - start)
    return best, result


def _vips(pixels: np.ndarray) -> pyvips.Image:
    pixels = np.ascontiguousarray(pixels)
    height, width, bands = pixels.shape
    return pyvips.Image.new_from_memory(pixels.data, width, height, bands, "uchar")


def _vips_array(image: pyvips.Image) -> np.ndarray:
    return np.ndarray((image.height, image.width, image.bands), np.uint8, image.write_to_memory())


#: The JFIF segment Pillow writes after SOI and libvips leaves out (keep="none").
_JFIF = bytes.fromhex("ffe000104a46494600010100000100010000")


def _split(data: bytes) -> tuple[bytes, bytes]:
    return data[:2], data[2:]


def _same_arrays(ours: list[np.ndarray], theirs: list[np.ndarray]) -> bool:
    """The same pixels (the RGB of an RGBX array against an RGB one)."""
    return all(
        np.array_equal(a[..., : b.shape[2]], b[..., : a.shape[2]])
        for a, b in zip(ours, theirs, strict=True)
    )


def _pil_uniform(image: Image.Image) -> bytes | None:
    """The blank test on a Pillow image, as the builder did it before numpy views."""
    width, height = image.size
    first = image.getpixel((0, 0))
    for xy in ((width - 1, height - 1), (width // 2, height // 2), (width - 1, 0)):
        if image.getpixel(xy) != first:
            return None
    colour = bytes(first)  # type: ignore[arg-type]
    return colour if image.tobytes() == colour * (width * height) else None


def _pil_jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=QUALITY)
    return buffer.getvalue()


def _pil_webp(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "WEBP", quality=QUALITY, method=2)
    return buffer.getvalue()


def _boxes(size: int) -> list[tuple[int, int, int, int]]:
    return [
        (x, y, min(TILE + 2, size - x), min(TILE + 2, size - y))
        for y in range(0, size - 1, TILE)
        for x in range(0, size - 1, TILE)
    ]


def _tissue_regions(level: Any, count: int) -> list[tuple[int, int]]:
    """Top-left corners of regions that hold no blank glass at their corners or centre."""
    found = []
    for y in range(0, level.height - REGION, REGION):
        for x in range(0, level.width - REGION, REGION):
            probe = level.read_rgb(x + REGION // 2, y + REGION // 2, 16, 16)
            if probe.min() < 230:
                found.append((x, y))
            if len(found) == count:
                return found
    return found


def measure(slide_path: Path, regions: int, repeat: int) -> list[dict[str, Any]]:
    slide = open_slide(slide_path)
    pyramid = JpegPyramid.open(slide_path, slide, 4)
    assert pyramid is not None, "the stage benchmark needs a slide of JPEG tiles"
    level = pyramid.levels[0]
    corners = _tissue_regions(level, regions)
    tw, th = level.tile_width, level.tile_height
    rows: list[dict[str, Any]] = []

    def add(stage: str, how: str, seconds: float, pixels: int, same: Any, used: bool) -> None:
        rows.append(
            {
                "stage": stage,
                "how": how,
                "ms": 1e3 * seconds / len(corners),
                "mps": pixels / seconds / 1e6,
                "same": same,
                "used": "yes" if used else "",
            }
        )

    # Decoding: the region's source tiles, the streams as the builder decodes them.
    decoded: dict[tuple[int, int], np.ndarray] = {}
    for x, y in corners:
        for t_row in range(y // th, (y + REGION - 1) // th + 1):
            for t_col in range(x // tw, (x + REGION - 1) // tw + 1):
                decoded[t_col, t_row] = level.decode_tile(t_col, t_row)
    raw = level._reader
    structure = raw.structure.levels[0]
    jpegs = []
    for t_col, t_row in decoded:
        offset, length = level.tile_range(t_col, t_row)
        data = raw._read_at(offset, length, arrived=True)
        jpegs.append(jpeg_stream(data, structure.jpeg_tables, structure.jpeg_colorspace)[0])
    stage, count = "decode 240x240 JPEG tiles", len(jpegs) * tw * th

    def simplejpeg_decode(colorspace: str = "RGBX") -> list[np.ndarray]:
        return [
            simplejpeg.decode_jpeg(j, colorspace=colorspace, fastdct=False, fastupsample=False)
            for j in jpegs
        ]

    def vips_decode() -> list[np.ndarray]:
        return [_vips_array(pyvips.Image.jpegload_buffer(j, fail_on="error")) for j in jpegs]

    def pil_decode() -> list[np.ndarray]:
        return [np.asarray(Image.open(io.BytesIO(j)).convert("RGB")) for j in jpegs]

    seconds, ours = _timed(simplejpeg_decode, repeat)
    add(stage, "simplejpeg (libjpeg-turbo) to RGBX", seconds, count, "-", True)
    for how, run in (
        ("simplejpeg to RGB (before)", lambda: simplejpeg_decode("RGB")),
        ("libvips jpegload_buffer", vips_decode),
        ("Pillow", pil_decode),
    ):
        seconds, theirs = _timed(run, repeat)
        add(stage, how, seconds, count, _same_arrays(ours, theirs), False)

    # Assembling the region from its decoded tiles.
    stage, count = "assemble the region", len(corners) * REGION * REGION

    def numpy_assemble() -> list[np.ndarray]:
        return [
            assemble(lambda c, r: decoded[c, r], tw, th, x, y, REGION, REGION) for x, y in corners
        ]

    def vips_assemble() -> list[np.ndarray]:
        out = []
        for x, y in corners:
            cols = range(x // tw, (x + REGION - 1) // tw + 1)
            rows_ = range(y // th, (y + REGION - 1) // th + 1)
            tiles = [_vips(decoded[c, r]) for r in rows_ for c in cols]
            joined = pyvips.Image.arrayjoin(tiles, across=len(cols))
            left, top = x - cols[0] * tw, y - rows_[0] * th
            out.append(_vips_array(joined.crop(left, top, REGION, REGION)))
        return out

    seconds, regions_ = _timed(numpy_assemble, repeat)
    add(stage, "numpy copies (RGBX)", seconds, count, "-", True)
    seconds, theirs = _timed(vips_assemble, repeat)
    add(stage, "libvips arrayjoin + crop", seconds, count, _same_arrays(regions_, theirs), False)
    # The same regions as RGB, for the stages' earlier forms and libvips' savers.
    rgb_regions = [np.ascontiguousarray(r[..., :3]) for r in regions_]
    images = [Image.fromarray(r) for r in rgb_regions]
    vimages = [_vips(r) for r in rgb_regions]

    # Reductions by 2 and 4 (whole blocks, uint8: rounded half up).
    for factor in (2, 4):
        stage = f"reduce by {factor}"

        def numpy_reduce(f: int = factor) -> list[np.ndarray]:
            half = f * f // 2
            return [((block_sums(r, f) + half) // (f * f)).astype(np.uint8) for r in regions_]

        def pil_reduce(f: int = factor) -> list[np.ndarray]:
            return [np.array(pillow_image(r).reduce(f)) for r in regions_]

        def vips_reduce(f: int = factor) -> list[np.ndarray]:
            return [_vips_array(v.shrink(f, f)) for v in vimages]

        seconds, ours = _timed(pil_reduce, repeat)
        add(stage, "Pillow reduce (RGBX region mapped, result copied)", seconds, count, "-", True)
        for how, reduce in (
            ("numpy pairwise uint16 sums", numpy_reduce),
            ("libvips shrink (new_from_memory, result copied back)", vips_reduce),
        ):
            seconds, theirs = _timed(reduce, repeat)
            add(stage, how, seconds, count, _same_arrays(ours, theirs), False)

    # Cutting and encoding the region's tiles.
    boxes = _boxes(REGION)
    count = len(corners) * sum(w * h for _, _, w, h in boxes)
    stage = "cut + JPEG Q75 tiles"

    def views(regions: list[np.ndarray] = regions_) -> list[np.ndarray]:
        return [r[y : y + h, x : x + w] for r in regions for x, y, w, h in boxes]

    jpeg = TileOptions(quality=QUALITY)
    seconds, ours = _timed(lambda: [encode_tile(v, jpeg) for v in views()], repeat)
    add(stage, "imagecodecs (libjpeg-turbo) on RGBX views", seconds, count, "-", True)

    def pil_views() -> list[bytes]:
        return [_pil_jpeg(pillow_image(v)) for v in views(rgb_regions)]

    def pil_crops() -> list[bytes]:
        return [_pil_jpeg(i.crop((x, y, x + w, y + h))) for i in images for x, y, w, h in boxes]

    def simplejpeg_tiles() -> list[bytes]:
        return [
            simplejpeg.encode_jpeg(v, QUALITY, "RGB", "420", fastdct=False)
            for v in views(rgb_regions)
        ]

    def vips_tiles() -> list[bytes]:
        return [
            _JFIF.join(_split(v.crop(x, y, w, h).jpegsave_buffer(Q=QUALITY, keep="none")))
            for v in vimages
            for x, y, w, h in boxes
        ]

    for how, encode in (
        ("Pillow save, RGB rows unpacked from the region (before)", pil_views),
        ("Pillow fromarray + crop + save (earlier)", pil_crops),
        ("simplejpeg on views, accurate DCT asked (fast DCT given)", simplejpeg_tiles),
        ("libvips crop + jpegsave_buffer (+ Pillow's JFIF segment)", vips_tiles),
    ):
        seconds, theirs = _timed(encode, repeat)
        add(stage, how, seconds, count, theirs == ours, False)

    stage = "cut + WebP Q75 tiles"
    webp = TileOptions(format="webp", quality=QUALITY)
    seconds, ours = _timed(lambda: [encode_tile(v, webp) for v in views()], repeat)
    add(stage, "Pillow save (method 2), RGBX views mapped", seconds, count, "-", True)

    def vips_webp() -> list[bytes]:
        return [
            v.crop(x, y, w, h).webpsave_buffer(Q=QUALITY, effort=2, keep="none")
            for v in vimages
            for x, y, w, h in boxes
        ]

    seconds, theirs = _timed(vips_webp, repeat)
    add(stage, "libvips crop + webpsave_buffer (effort 2)", seconds, count, theirs == ours, False)

    # Blank-glass test of every tile (tissue regions: almost every answer is "no").
    stage = "blank-tile test"
    seconds, ours = _timed(lambda: [uniform_colour(v) for v in views()], repeat)
    add(stage, "numpy: sampled pixels, then 32-bit pixels compared", seconds, count, "-", True)

    def pil_blank() -> list[bytes | None]:
        return [_pil_uniform(i.crop((x, y, x + w, y + h))) for i in images for x, y, w, h in boxes]

    def vips_blank() -> list[bool]:
        return [
            crop.max() == crop.min()
            for v in vimages
            for crop in (v.crop(x, y, w, h) for x, y, w, h in boxes)
        ]

    seconds, theirs = _timed(pil_blank, repeat)
    add(stage, "Pillow crop + getpixel/tobytes (before)", seconds, count, theirs == ours, False)
    seconds, _ = _timed(vips_blank, repeat)
    add(stage, "libvips crop + min/max", seconds, count, "-", False)

    used = {row["stage"]: row for row in rows if row["used"]}
    for row in rows:
        row["speed_vs_used"] = used[row["stage"]]["ms"] / row["ms"] if row["ms"] else None
    slide.close()
    pyramid.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("slide", nargs="?", type=Path, help="slide (default: synthetic)")
    parser.add_argument("--regions", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3, help="best of N per stage")
    parser.add_argument("--json", type=Path, default=slides.BENCH_DIR / "tiling_stages.json")
    args = parser.parse_args()
    spec = SyntheticSlideSpec()
    path, slide = slides.prepare(args.slide, spec.width, spec.height, spec)
    rows = measure(path, args.regions, args.repeat)
    print_table(f"Pyramid stages, per {REGION}x{REGION} tissue region: {path.name}", COLUMNS, rows)
    write_json(args.json, {"benchmark": "tiling_stages", "slide": slide, "stages": rows})


if __name__ == "__main__":
    main()
