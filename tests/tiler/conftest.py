"""Slide fixtures: the real slide folder and synthetic slides built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.synthetic_slide import SyntheticSlideSpec, build_slide

REPO = Path(__file__).resolve().parents[2]
#: Real slides live beside the repository (CI clones the repo next to shared/).
SHARED_SLIDES = REPO.parent / "shared" / "slides"


@pytest.fixture(scope="session")
def shared_slides() -> Path:
    assert SHARED_SLIDES.is_dir(), f"the real test slides are missing: {SHARED_SLIDES}"
    return SHARED_SLIDES


@pytest.fixture(scope="session")
def synthetic_slides(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Slides the real folder lacks: several regions and stages, odd sizes rounded down
    at each level as scanners do, no mpp, and a deflate slide whose pixels only OpenSlide
    decodes (its 4x level has an exact downsample, its 16x level 16.05 does not)."""
    folder = tmp_path_factory.mktemp("synthetic")
    specs = {
        # Aperio-like: classic TIFF, levels at 1x, 4x and 16x.
        "odd-jpeg": SyntheticSlideSpec(
            width=5001, height=4003, seed=3, levels=(1, 4, 16), bigtiff=False
        ),
        # A BigTIFF halving down to one tile, as libvips and several scanners write.
        "two-step": SyntheticSlideSpec(width=3001, height=2203, seed=4),
        # A single level.
        "no-mpp": SyntheticSlideSpec(
            width=1500, height=900, mpp=None, objective_power=None, levels=(1,)
        ),
        "deflate": SyntheticSlideSpec(
            width=4100, height=2300, compression="deflate", seed=5, levels=(1, 4, 16)
        ),
    }
    return {name: build_slide(folder / f"{name}.svs", spec) for name, spec in specs.items()}


@pytest.fixture(scope="session")
def layout_slides(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small slides written byte by byte (tests/tiler/slide_files.py): Aperio-like with
    tables, RGB photometric, associated images and shared blank tiles (classic and
    BigTIFF), missing tiles, generic TIFF with a page that is not a level, and DICOM
    with JPEG frames in every offset-table and organisation variant (one folder each:
    OpenSlide reads a DICOM file's whole folder)."""
    from tests.tiler import slide_files as make

    folder = tmp_path_factory.mktemp("layout")
    return {
        "aperio-rgb": make.aperio_slide(folder / "aperio-rgb.svs"),
        "aperio-ycbcr-big": make.aperio_slide(
            folder / "aperio-ycbcr-big.svs", bigtiff=True, rgb=False, seed=4
        ),
        "aperio-missing": make.aperio_slide(folder / "aperio-missing.svs", missing=(3, 20)),
        "aperio-jp2k": make.aperio_slide(folder / "aperio-jp2k.svs", jp2k=True, levels=2),
        "aperio-exif": make.aperio_slide(folder / "aperio-exif.svs", exif="valid"),
        "aperio-broken-exif": make.aperio_slide(folder / "aperio-broken-exif.svs", exif="broken"),
        "generic": make.generic_slide(folder / "generic.tiff"),
        "generic-big": make.generic_slide(folder / "generic-big.tiff", bigtiff=True),
        "dicom-jpeg": make.dicom_slide(folder / "dicom-jpeg" / "s.dcm"),
        "dicom-basic": make.dicom_slide(folder / "dicom-basic" / "s.dcm", offsets="basic"),
        "dicom-extended-split": make.dicom_slide(
            folder / "dicom-extended-split" / "s.dcm", offsets="extended", split=True
        ),
        "dicom-sparse": make.dicom_slide(
            folder / "dicom-sparse" / "s.dcm", sparse=True, offsets="basic", split=True
        ),
    }
