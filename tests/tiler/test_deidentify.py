"""De-identified copies: every format we rewrite, read back with OpenSlide and searched
byte by byte for every identifier the original holds; the formats we cannot rewrite
are refused and leave no file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openslide
import pytest

from tests.tiler import slide_files as make
from tiler.deidentify import DeidentifyRefusedError, aperio_description, deidentify
from tiler.errors import SlideError
from tiler.tiff_directories import TiffDirectories
from tiler.tiff_slide import tiff_structure

REAL_REWRITABLE = [
    "aperio/CMU-1-Small-Region.svs",
    "aperio/small.svs",
    "generic-tiff/boxes.tiff",
    "generic-tiff/test_orient1.tif",
    "generic-tiff/small_la.tiff",
]
LAYOUT_REWRITABLE = [
    "aperio-rgb", "aperio-ycbcr-big", "aperio-missing", "aperio-jp2k", "aperio-exif", "generic",
    "generic-big",
]  # fmt: skip
REAL_REFUSED = [
    "dicom/highdicom-sm_image/sm_image.dcm",
    "ome-tiff/4D-series.ome.tiff",
    "plain-tiff/grey10kx5k.tif",
    "zeiss-czi/RGB-multichannel.czi",
    "broken/broken.svs",
    "broken/zero_gi.tif",
    "broken/unopenable.tiff",
]

#: Planted into the synthetic "tagged" slides: each must be gone from the copy.
PLANTED = {
    "patient": "DOE^JANE MRN 8675309",
    "barcode": "BC-2024-000417",
    "serial": "SCANNER-SN-77123",
    "date": "2024:03:02 14:05:00",
    "file": "frozen-section-DOE-JANE.svs",
}
#: TIFF tags that may identify a patient, a scanner or a time.
_TEXT_TAGS = {269: "file", 271: "serial", 272: "serial", 305: "serial", 306: "date", 315: "patient"}
_TEXT_TAGS |= {316: "serial", 285: "barcode", 700: "patient"}
#: Aperio description keys that identify (their values are searched in the copy).
_APERIO_IDENTIFYING = ("Filename", "Date", "Time", "User", "ScanScope ID", "ImageID", "Barcode")


def _tagged_generic(path: Path) -> Path:
    """A generic tiled TIFF with every identifying text tag set, an XMP packet, and a
    label page (full resolution, no reduced-resolution flag: not a level) in strips."""
    pixels = make.tissue(300, 200, 9)
    level0 = make.level_page(pixels, 64, rgb=False, description=PLANTED["barcode"])
    for tag, key in _TEXT_TAGS.items():
        level0.tags[tag] = (2 if tag != 700 else 7, PLANTED[key] if tag != 700 else
                            f"<x:xmpmeta>{PLANTED['patient']}</x:xmpmeta>".encode())  # fmt: skip
    reduced = make.level_page(make.halve(pixels), 64, rgb=False, description=None)
    reduced.tags[254] = (4, 1)
    reduced.tags[306] = (2, PLANTED["date"])
    label = make.strip_page(_label_pixels(), None, jpeg=False)
    label.tags[270] = (2, f"label {PLANTED['patient']}")
    return make.write_tiff(path, [level0, reduced, label])


def _tagged_aperio(path: Path) -> Path:
    """An Aperio slide whose description holds every identifying key, and a label."""
    pixels = make.tissue(400, 300, 11)
    description = (
        f"Aperio Image Library v12.0.15 \r\n400x300 [0,0 400x300] (64x64) JPEG/RGB Q=80"
        f"|AppMag = 40|MPP = 0.2500|ScanScope ID = {PLANTED['serial']}"
        f"|Filename = {PLANTED['file']}|Date = 03/02/24|Time = 14:05:00"
        f"|User = {PLANTED['patient']}|Barcode = {PLANTED['barcode']}|Unknown Key = 12"
    )
    level0 = make.level_page(pixels, 64, rgb=True, description=description)
    level0.tags[306] = (2, PLANTED["date"])
    thumbnail = make.strip_page(make.halve(make.halve(pixels)), None, jpeg=True)
    label = make.strip_page(_label_pixels(), 1, jpeg=False)
    label.tags[270] = (2, f"Aperio Image Library\r\nlabel {PLANTED['barcode']}")
    macro = make.strip_page(make.tissue(300, 100, 12), 9, jpeg=True)
    macro.tags[270] = (2, f"Aperio Image Library\r\nmacro {PLANTED['serial']}")
    return make.write_tiff(path, [level0, thumbnail, label, macro])


def _label_pixels() -> np.ndarray:
    """Noise no tile shares, so finding its bytes in a copy means the label survived."""
    return np.random.default_rng(99).integers(0, 255, (48, 160, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def tagged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tagged")
    return {
        "tagged-generic": _tagged_generic(folder / "tagged-generic.tiff"),
        "tagged-aperio": _tagged_aperio(folder / "tagged-aperio.svs"),
    }


def identifiers(path: Path) -> set[bytes]:
    """Byte strings of `path` that identify: the identifying properties' values, the
    file's name, every text of an identifying TIFF tag, and the bytes of every
    associated image (label, macro, thumbnail)."""
    found: set[bytes] = {path.stem.encode()}
    properties = openslide.OpenSlide(str(path)).properties
    for key in _APERIO_IDENTIFYING:
        value = properties.get(f"aperio.{key}")
        if value:
            found.add(value.encode())
    data = path.read_bytes()
    tiff = TiffDirectories(lambda at, n: data[at : at + n], len(data))
    for directory in tiff.directories:
        for tag in _TEXT_TAGS:
            raw = tiff.blob(directory, tag)
            if raw and raw.strip(b"\0"):
                found.add(raw.strip(b"\0"))
    for image in tiff_structure(tiff).associated:
        for start, length in image.extents:
            found.add(data[start : start + min(length, 4096)])
    found |= {text.encode() for text in PLANTED.values() if text.encode() in data}
    return {value for value in found if len(value) >= 4}


def check_copy(original: Path, copy: Path) -> None:
    """The test's own verdict, independent of the product's check."""
    survivors = [value[:40] for value in identifiers(original) if value in copy.read_bytes()]
    assert not survivors, f"identifiers survived in the copy: {survivors}"
    before, after = openslide.OpenSlide(str(original)), openslide.OpenSlide(str(copy))
    assert not after.associated_images, "label, macro or thumbnail survived"
    assert after.level_dimensions == before.level_dimensions
    assert after.properties.get("openslide.mpp-x") == before.properties.get("openslide.mpp-x")
    assert after.properties.get("openslide.objective-power") == before.properties.get(
        "openslide.objective-power"
    )
    for key, value in after.properties.items():
        assert not any(text in value for text in PLANTED.values()), key
    for level in range(before.level_count):
        size = before.level_dimensions[level]
        assert np.array_equal(
            np.asarray(before.read_region((0, 0), level, size)),
            np.asarray(after.read_region((0, 0), level, size)),
        ), f"level {level} pixels changed"


@pytest.mark.parametrize("name", REAL_REWRITABLE)
def test_real_files(name: str, shared_slides: Path, tmp_path: Path) -> None:
    source = shared_slides / name
    copy = tmp_path / "copy.tiff"
    result = deidentify(source, copy)
    check_copy(source, copy)
    assert result.levels == openslide.OpenSlide(str(source)).level_count


@pytest.mark.parametrize("name", LAYOUT_REWRITABLE)
def test_synthetic_files(name: str, layout_slides: dict[str, Path], tmp_path: Path) -> None:
    copy = tmp_path / "copy.tiff"
    deidentify(layout_slides[name], copy)
    check_copy(layout_slides[name], copy)


@pytest.mark.parametrize("name", ["tagged-generic", "tagged-aperio"])
def test_planted_identifiers_are_gone(name: str, tagged: dict[str, Path], tmp_path: Path) -> None:
    source = tagged[name]
    # The check can fail: the original holds every planted identifier and a label.
    assert {text.encode() for text in PLANTED.values()} <= identifiers(source)
    with pytest.raises(AssertionError, match="survived"):
        check_copy(source, source)
    copy = tmp_path / "copy.tiff"
    result = deidentify(source, copy)
    check_copy(source, copy)
    if name == "tagged-aperio":
        assert set(result.dropped_images) == {"thumbnail", "label", "macro"}


def test_aperio_description_keeps_numbers_only() -> None:
    text = "Aperio X\r\n1x1|AppMag = 20|MPP = 0.5|Filename = A|MPP2 = 1|AppMag = 20 DOE"
    assert (
        aperio_description(text) == "Aperio Image Library, de-identified copy|AppMag = 20|MPP = 0.5"
    )


@pytest.mark.parametrize("name", REAL_REFUSED)
def test_refused_leave_no_file(name: str, shared_slides: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.tiff"
    with pytest.raises(SlideError) as raised:
        deidentify(shared_slides / name, copy)
    assert raised.value.reason
    assert not copy.exists()


def test_dicom_refused_with_reason(layout_slides: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(DeidentifyRefusedError, match="Aperio SVS and generic tiled TIFF"):
        deidentify(layout_slides["dicom-jpeg"], tmp_path / "copy.tiff")
