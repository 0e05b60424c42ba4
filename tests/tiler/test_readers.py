"""Every file in the shared slide folder: readable slides give their metadata, the rest
a typed error with a one-line reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tiler import (
    BrokenSlideError,
    NotFoundError,
    SlideError,
    UnsupportedFormatError,
    open_slide,
)

# path: (vendor, width, height, level count, mpp_x, objective power, associated).
# The generic TIFFs carry screen resolutions (72 dpi = 352.8 µm/pixel), not a calibration.
READABLE = {
    "aperio/CMU-1-Small-Region.svs": (
        "aperio",
        2220,
        2967,
        1,
        0.499,
        20.0,
        ["label", "macro", "thumbnail"],
    ),
    "aperio/small.svs": ("aperio", 16, 16, 1, 0.499, 20.0, ["thumbnail"]),
    "dicom/highdicom-sm_image/sm_image.dcm": ("dicom", 50, 50, 1, 0.499, None, []),
    "generic-tiff/boxes.tiff": ("generic-tiff", 300, 250, 4, None, None, []),
    "generic-tiff/test_orient1.tif": ("generic-tiff", 120, 180, 3, None, None, []),
    "generic-tiff/small_la.tiff": ("generic-tiff", 2, 1, 1, None, None, []),
    # OpenSlide refuses these; libvips reads them (tests/tiler/test_image_readers.py).
    "ome-tiff/4D-series.ome.tiff": ("ome-tiff", 439, 167, 1, None, None, []),
    "plain-tiff/grey10kx5k.tif": ("image-tiff", 10000, 5000, 1, None, None, []),
}

UNREADABLE = {
    "zeiss-czi/RGB-multichannel.czi": BrokenSlideError,
    "broken/unopenable.tiff": BrokenSlideError,
    "broken/broken.svs": UnsupportedFormatError,
    "broken/zero_gi.tif": BrokenSlideError,  # a TIFF libvips recognises, with no strips
    "broken/dicom-highdicom-jpegls/sm_image_jpegls.dcm": BrokenSlideError,
}


def test_table_covers_every_file(shared_slides: Path) -> None:
    on_disk = {
        str(p.relative_to(shared_slides))
        for p in shared_slides.rglob("*")
        if p.is_file() and p.suffix != ".md"
    }
    assert on_disk == set(READABLE) | set(UNREADABLE)


@pytest.mark.parametrize("name", sorted(READABLE))
def test_readable_slide_metadata(shared_slides: Path, name: str) -> None:
    vendor, width, height, levels, mpp, power, associated = READABLE[name]
    with open_slide(shared_slides / name) as slide:
        info = slide.info
        assert (info.vendor, info.width, info.height) == (vendor, width, height)
        assert len(info.levels) == levels
        assert (info.levels[0].width, info.levels[0].height, info.levels[0].downsample) == (
            width,
            height,
            1.0,
        )
        if mpp is None:
            assert info.mpp_x is None and info.mpp_y is None
            if "openslide.mpp-x" in info.properties:  # a screen resolution, kept as a property
                assert float(info.properties["openslide.mpp-x"]) > 50
        else:
            assert info.mpp_x == pytest.approx(mpp, rel=1e-3)
            assert info.mpp_y == pytest.approx(mpp, rel=1e-3)
        assert info.objective_power == power
        assert info.associated == associated
        for name_ in associated:
            image = slide.associated_image(name_)
            assert image.mode == "RGB" and image.width > 0
        region = slide.read_rgb((0, 0), len(info.levels) - 1, (info.levels[-1].width, 1))
        assert region.shape == (1, info.levels[-1].width, 3) and region.dtype == np.uint8


@pytest.mark.parametrize("name", sorted(UNREADABLE))
def test_unreadable_file_gives_typed_error(shared_slides: Path, name: str) -> None:
    with pytest.raises(UNREADABLE[name]) as raised:
        open_slide(shared_slides / name)
    reason = raised.value.reason
    assert "\n" not in reason and Path(name).name in reason
    assert str(shared_slides) not in reason  # no server paths in messages


def test_missing_file_and_unknown_associated(shared_slides: Path, tmp_path: Path) -> None:
    with pytest.raises(SlideError):
        open_slide(tmp_path / "absent.svs")
    with open_slide(shared_slides / "aperio/small.svs") as slide:
        with pytest.raises(NotFoundError):
            slide.associated_image("label")
        with pytest.raises(NotFoundError):
            slide.read_region((0, 0), 5, (1, 1))


def test_synthetic_slide_without_mpp(synthetic_slides: dict[str, Path]) -> None:
    with open_slide(synthetic_slides["no-mpp"]) as slide:
        assert slide.info.mpp_x is None and slide.info.objective_power is None
        assert slide.info.vendor == "aperio"
