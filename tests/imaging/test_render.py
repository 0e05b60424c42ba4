"""Rendering in bounded memory: chunks give the pixels of one resize of the whole region,
reads come from the right level, and libvips turns and converts as IIIF says."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from app.core.errors import PayloadTooLargeError
from app.services.imaging import vips
from app.services.imaging.render import plan, render_pixels
from tests.conftest import BOXES_TIFF, SMALL_SVS
from tiler import Slide, open_slide


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255**2 / mse) if mse else float("inf")


@pytest.mark.parametrize(
    ("box", "size"),
    [
        ((101, 57, 1900, 1300), (613, 419)),  # reduced by a fraction
        ((0, 0, 2220, 2967), (300, 401)),  # the whole slide, to its edges
        ((1500, 2500, 720, 467), (720, 467)),  # at full resolution, to the slide's corner
        ((333, 444, 50, 40), (311, 250)),  # upscaled
        ((10, 20, 400, 100), (100, 100)),  # distorted (w,h)
        ((0, 0, 2220, 2967), (37, 49)),  # 60x on a one-level slide: block means first
        ((7, 3, 2213, 1000), (150, 13)),  # blocks of 7 x 38, the last ones partial
    ],
)
def test_chunks_give_the_pixels_of_one_resize(
    box: tuple[int, int, int, int], size: tuple[int, int]
) -> None:
    with open_slide(SMALL_SVS) as slide:
        source = plan(slide, box, size, 10**9)
        whole = render_pixels(slide, source, size, chunk_pixels=10**9)
        chunked = render_pixels(slide, source, size, chunk_pixels=64 * 64)
    assert whole.shape == chunked.shape == (size[1], size[0], 3)
    diff = np.abs(whole.astype(np.int16) - chunked)
    # Identical but for a rare last-bit rounding of the filter's fixed-point weights.
    assert diff.max() <= 1 and np.mean(diff > 0) < 1e-3


def test_pixels_are_where_the_region_says() -> None:
    """Against an independent reference: a 4x4 box mean of the region read whole."""
    with open_slide(SMALL_SVS) as slide:
        box, size = (400, 800, 1200, 1000), (300, 250)
        rendered = render_pixels(slide, plan(slide, box, size, 10**9), size, chunk_pixels=256 * 256)
        region = slide.read_rgb((400, 800), 0, (1200, 1000)).astype(np.float64)
        shifted = slide.read_rgb((404, 800), 0, (1200, 1000)).astype(np.float64)
    mean = region.reshape(250, 4, 300, 4, 3).mean(axis=(1, 3))
    off_by_one = shifted.reshape(250, 4, 300, 4, 3).mean(axis=(1, 3))
    assert psnr(rendered, mean) > 30
    assert psnr(rendered, mean) > psnr(rendered, off_by_one) + 3


def test_reads_the_level_closest_above_the_output_scale() -> None:
    with open_slide(BOXES_TIFF) as slide:  # levels 1x, 2x, 4.016x, 8.086x
        full = (0, 0, 300, 250)
        assert plan(slide, full, (300, 250), 10**6).level == 0
        assert plan(slide, full, (150, 125), 10**6).level == 1
        assert plan(slide, full, (100, 83), 10**6).level == 1
        assert plan(slide, full, (75, 62), 10**6).level == 2
        assert plan(slide, full, (10, 8), 10**6).level == 3
        small = plan(slide, full, (75, 62), 10**6)
        assert small.pixels == 75 * 62
        with pytest.raises(PayloadTooLargeError, match="decoded pixels"):
            plan(slide, full, (300, 250), 300 * 250 - 1)


def test_vips_turns_clockwise_mirrors_and_converts() -> None:
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)

    def png(**kwargs: object) -> np.ndarray:
        options = {"mirror": False, "rotation": 0, "quality": "default", "fmt": "png"} | kwargs
        data = vips.encode(pixels, **options)  # type: ignore[arg-type]
        return np.asarray(Image.open(io.BytesIO(data)))

    assert np.array_equal(png(), pixels)
    assert np.array_equal(png(rotation=90), np.rot90(pixels, k=-1))
    assert np.array_equal(png(rotation=180), np.rot90(pixels, k=2))
    assert np.array_equal(png(rotation=270), np.rot90(pixels, k=1))
    assert np.array_equal(png(mirror=True), pixels[:, ::-1])
    assert np.array_equal(png(mirror=True, rotation=90), np.rot90(pixels[:, ::-1], k=-1))
    gray = png(quality="gray").astype(np.float64)
    # Luminance in linear light, encoded back to sRGB.
    c = pixels / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    y = linear @ np.array([0.2126, 0.7152, 0.0722])
    luma = 255 * np.where(y <= 0.0031308, 12.92 * y, 1.055 * y ** (1 / 2.4) - 0.055)
    assert gray.ndim == 2 and np.abs(gray - luma).max() <= 2
    bitonal = png(quality="bitonal")  # a 1-bit PNG
    assert bitonal.dtype == bool
    assert np.array_equal(bitonal, gray >= vips.BITONAL_THRESHOLD)


class ReadSizes(Slide):
    """A real slide that remembers how many pixels each read decoded."""

    def __init__(self, slide: Slide) -> None:
        self.slide = slide
        self.reads: list[int] = []

    @property
    def info(self):  # type: ignore[no-untyped-def]
        return self.slide.info

    def read_region(self, l0_location, level, size):  # type: ignore[no-untyped-def]
        self.reads.append(size[0] * size[1])
        return self.slide.read_region(l0_location, level, size)

    def associated_image(self, name):  # type: ignore[no-untyped-def]
        return self.slide.associated_image(name)


@pytest.mark.parametrize(
    ("box", "size"),
    [
        ((0, 0, 2220, 2967), (1110, 1483)),  # 2x
        ((0, 0, 2220, 2967), (20, 27)),  # 110x on a one-level slide
        ((0, 0, 2220, 2967), (2, 3)),  # 1000x: blocks larger than a read
    ],
)
def test_reads_are_bounded_whatever_the_region(
    box: tuple[int, int, int, int], size: tuple[int, int]
) -> None:
    budget = 300 * 300
    with open_slide(SMALL_SVS) as opened:
        slide = ReadSizes(opened)
        source = plan(slide, box, size, 10**9)
        chunked = render_pixels(slide, source, size, chunk_pixels=budget)
        whole = render_pixels(opened, source, size, chunk_pixels=10**9)
        region = opened.read_rgb((0, 0), 0, (2220, 2967))
    assert max(slide.reads) <= budget
    # Every level pixel read about once (margins re-read a little), not once per tile.
    assert sum(slide.reads) < 1.3 * 2220 * 2967
    assert np.abs(whole.astype(np.int16) - chunked).max() <= 1
    # And the picture is the region's: close to a plain mean over the same cells.
    ys = np.linspace(0, 2967, size[1] + 1).astype(int)
    xs = np.linspace(0, 2220, size[0] + 1).astype(int)
    cells = np.array(
        [[region[ys[j] : ys[j + 1], xs[i] : xs[i + 1]].mean(axis=(0, 1)) for i in range(size[0])]
         for j in range(size[1])]
    )  # fmt: skip
    assert psnr(whole, cells) > 25
