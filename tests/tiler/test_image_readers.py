"""Pictures read through libvips (`tiler.vips_reader`) behind the `Slide` interface:
every synthetic picture and the real files OpenSlide refuses, their metadata and
orientation, hardened refusals, and the tiled pyramid a hub stores instead."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from tests.tiler.image_files import PICTURES
from tiler import BrokenSlideError, UnsupportedFormatError, open_slide
from tiler.pyramid import build_pyramid
from tiler.registry import write_tiled_copy
from tiler.vips_reader import VipsSlide

#: Real files OpenSlide refuses that libvips reads: (vendor, width, height).
REAL = {
    "ome-tiff/4D-series.ome.tiff": ("ome-tiff", 439, 167),
    "plain-tiff/grey10kx5k.tif": ("image-tiff", 10000, 5000),
}


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.mark.parametrize("name", sorted(PICTURES))
def test_picture_metadata_and_orientation(pictures: dict[str, Path], name: str) -> None:
    spec = PICTURES[name]
    with open_slide(pictures[name]) as slide:
        info = slide.info
        assert isinstance(slide, VipsSlide)
        assert (info.vendor, info.width, info.height) == (spec.vendor, spec.width, spec.height)
        assert [(lv.width, lv.height, lv.downsample) for lv in info.levels] == [
            (spec.width, spec.height, 1.0)
        ]
        if spec.mpp is None:  # uncalibrated unless the file says so
            assert info.mpp_x is None and info.mpp_y is None
        else:
            assert info.mpp_x == pytest.approx(spec.mpp, rel=1e-5)
            assert info.mpp_y == pytest.approx(spec.mpp, rel=1e-5)
        assert info.objective_power is None and info.associated == []
        x, y = spec.mark
        mark = slide.read_rgb((x - 3, y - 3), 0, (6, 6)).reshape(-1, 3).mean(axis=0)
        if name == "camera16":  # grey: the mark is a grey level, R = G = B
            assert mark[0] == mark[1] == mark[2]
        else:
            assert mark[0] > 200 and mark[1] < 60, mark  # red where orientation puts it
        # Outside the picture is transparent, as OpenSlide answers: background colour.
        corner = slide.read_rgb((spec.width - 2, spec.height - 2), 0, (4, 4))
        assert (corner[2:, :] == 255).all() and (corner[:, 2:] == 255).all()


def test_transparency_is_kept_as_alpha(pictures: dict[str, Path]) -> None:
    with open_slide(pictures["alpha"]) as slide:
        rgba = np.asarray(slide.read_region((190, 140), 0, (20, 20)))
    assert rgba.shape == (20, 20, 4)
    assert (rgba[:10, :10, 3] == 255).all() and (rgba[10:, 10:, 3] == 0).all()


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_files_openslide_refuses(shared_slides: Path, name: str) -> None:
    vendor, width, height = REAL[name]
    with open_slide(shared_slides / name) as slide:
        info = slide.info
        assert (info.vendor, info.width, info.height) == (vendor, width, height)
        assert info.mpp_x is None  # neither file states a calibration
        size = (min(width, 1000), min(height, 1000))
        pixels = slide.read_rgb((0, 0), 0, size).astype(np.float64)
        assert pixels.shape == (size[1], size[0], 3)
        # Against an independent reader: the first plane, grey, scaled to 8 bits.
        expected = tifffile.imread(shared_slides / name, key=0)[: size[1], : size[0]]
        assert (pixels[..., 0] == pixels[..., 2]).all()
        if expected.dtype == np.uint8:
            assert (pixels[..., 0] == expected).all()
        else:
            assert np.corrcoef(pixels[..., 0].ravel(), expected.ravel())[0, 1] > 0.999


def test_hostile_pictures_are_refused_with_a_reason(tmp_path: Path) -> None:
    truncated = tmp_path / "cut.jpg"
    whole = (Path(__file__).parent / "image_files.py").read_bytes()  # not an image at all
    (tmp_path / "text.png").write_bytes(whole)
    with pytest.raises(UnsupportedFormatError) as raised:
        open_slide(tmp_path / "text.png")
    assert "text.png" in raised.value.reason
    # A JPEG cut mid-stream: libvips with fail_on="error" refuses it when pixels are read.
    import pyvips

    pyvips.Image.black(800, 600, bands=3).jpegsave(str(truncated))
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(BrokenSlideError) as broken, open_slide(truncated) as slide:
        slide.read_rgb((0, 0), 0, (800, 600))
    assert "cut.jpg" in broken.value.reason and "\n" not in broken.value.reason


def test_header_dimensions_beyond_the_limit_are_refused_before_decoding(tmp_path: Path) -> None:
    # A PNG header claiming 2,000,000 x 2,000,000 pixels over a few bytes of data.
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 2_000_000, 2_000_000, 8, 2, 0, 0, 0)
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")
    (tmp_path / "bomb.png").write_bytes(bomb)
    with pytest.raises((BrokenSlideError, UnsupportedFormatError)) as raised:
        open_slide(tmp_path / "bomb.png")
    assert "bomb.png" in raised.value.reason


@pytest.mark.parametrize("name", ["phone", "large-strip", "camera16", "ome", "alpha"])
def test_tiled_copy_is_a_pyramid_openslide_reads(
    pictures: dict[str, Path], tmp_path: Path, name: str
) -> None:
    spec = PICTURES[name]
    dest = tmp_path / "copy.tiff"
    assert write_tiled_copy(pictures[name], dest)
    with tifffile.TiffFile(dest) as tif:  # tiled at every level: no window decodes it all
        assert all(page.is_tiled for page in tif.pages)
        assert len(tif.pages) > 1
    with open_slide(dest) as copy, open_slide(pictures[name]) as original:
        info = copy.info
        assert info.vendor == "generic-tiff"  # OpenSlide reads it, with the fast paths
        assert (info.width, info.height) == (spec.width, spec.height)
        assert info.levels[1].downsample == 2.0
        if spec.mpp is None:
            assert info.mpp_x is None
        else:
            assert info.mpp_x == pytest.approx(spec.mpp, rel=1e-4)
        size = (min(spec.width, 512), min(spec.height, 512))
        expected = original.read_rgb((0, 0), 0, size)
        assert _psnr(copy.read_rgb((0, 0), 0, size), expected) > 35


def test_a_slide_is_not_copied(shared_slides: Path, tmp_path: Path) -> None:
    assert not write_tiled_copy(shared_slides / "generic-tiff/boxes.tiff", tmp_path / "x.tiff")
    assert not (tmp_path / "x.tiff").exists()


def test_pyramid_of_a_picture(pictures: dict[str, Path], tmp_path: Path) -> None:
    """`slidebridge tile` on a picture: the builder reads it through the same interface."""
    result = build_pyramid(pictures["phone"], tmp_path, processes=1)
    assert result.path.read_text().count('Width="480"') == 1
    assert (tmp_path / "phone_files" / "0" / "0_0.jpeg").is_file()
