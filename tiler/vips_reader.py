"""The engine's one libvips reader: plain images behind the `Slide` interface.

What sites without a scanner send: microscope-camera captures, phone photographs,
large JPEG/PNG/TIFF/WebP/HEIF images, OME-TIFF and stripped TIFF that OpenSlide
refuses. The registry tries this reader after OpenSlide.

Loaders are named, not found by libvips' own dispatch: a file is read only by one of
`LOADERS` (untrusted loaders are blocked process-wide by `tiler.hardening`), with
`fail_on="error"`, and its header's size is checked before any pixel is decoded.
EXIF/TIFF orientation is applied, so a phone photograph stands as it was taken.

Calibration is the file's own word only: a TIFF resolution in centimetres or inches
or an OME `PhysicalSizeX/Y` in µm; JPEG/PNG/WebP densities are print settings and
are ignored (the image is uncalibrated until a user calibrates it).

Such images are often one strip (a 40000x30000 JPEG is one entropy-coded stream):
any window decodes the whole image. libvips decodes it once per open handle, but a
hub keeps them as `write_tiled_pyramid` writes them on registration: a tiled,
JPEG-compressed pyramidal TIFF that OpenSlide reads as `generic-tiff`, with every
fast path of the engine.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import numpy as np
import pyvips
from PIL import Image

from tiler import hardening
from tiler.errors import (
    NotFoundError,
    SlideError,
    SlideTooLargeError,
    UnsupportedFormatError,
    read_failure,
)
from tiler.reasons import N_
from tiler.slide import Level, Slide, SlideInfo

#: The libvips loaders a slide may be read with, and the vendor name each reports.
LOADERS = {
    "jpegload": "image-jpeg",
    "pngload": "image-png",
    "webpload": "image-webp",
    "tiffload": "image-tiff",
    "heifload": "image-heif",
}
#: Above this µm/pixel a resolution is a screen or print density, not a calibration
#: (the same bound as OpenSlide's properties get in `openslide_reader`).
MAX_PLAUSIBLE_MPP = 50.0
#: The pyramid written on registration: tiles of 256, JPEG at a quality that keeps
#: the re-encode below what the viewer's own tile encoding (quality 75) loses.
PYRAMID_TILE = 256
PYRAMID_QUALITY = 90

_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"avif"}
_OME_PIXELS = re.compile(rb"<(?:\w+:)?Pixels\b[^>]*>", re.DOTALL)
_OME_ATTR = re.compile(rb'\b(PhysicalSize[XY](?:Unit)?)="([^"]{1,32})"')
_OME_UNITS_TO_UM = {"µm": 1.0, "um": 1.0, "nm": 1e-3, "mm": 1e3, "cm": 1e4, "m": 1e6}


def loader_of(path: Path) -> str | None:
    """The allowed loader for this file's first bytes, or None (not an image we read).
    By signature, not extension or libvips' dispatch: a renamed file is read by what it is,
    and nothing outside `LOADERS` is ever tried."""
    with open(path, "rb") as handle:
        head = handle.read(16)
    if head.startswith(b"\xff\xd8\xff"):
        return "jpegload"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "pngload"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webpload"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiffload"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "heifload"
    return None


def _ome_mpp(description: str) -> tuple[float | None, float | None]:
    """µm per pixel from an OME-XML description's first `Pixels` element (µm by default)."""
    match = _OME_PIXELS.search(description.encode("utf-8", "replace")[:1_000_000])
    if match is None:
        return None, None
    attrs = {k.decode(): v.decode("utf-8", "replace") for k, v in _OME_ATTR.findall(match[0])}
    result: list[float | None] = []
    for axis in ("X", "Y"):
        try:
            value = float(attrs[f"PhysicalSize{axis}"])
        except (KeyError, ValueError):
            result.append(None)
            continue
        scale = _OME_UNITS_TO_UM.get(attrs.get(f"PhysicalSize{axis}Unit", "µm"))
        result.append(_plausible(value * scale) if scale is not None else None)
    return result[0], result[1]


def _plausible(mpp: float) -> float | None:
    return mpp if math.isfinite(mpp) and 0 < mpp <= MAX_PLAUSIBLE_MPP else None


def _field(image: pyvips.Image, name: str) -> str | None:
    if image.get_typeof(name) == 0:
        return None
    value = image.get(name)
    return value if isinstance(value, str) else str(value)


def file_mpp(image: pyvips.Image, loader: str) -> tuple[float | None, float | None]:
    """The calibration the file states, or (None, None)."""
    if loader != "tiffload":
        return None, None
    description = _field(image, "image-description") or ""
    if "<OME" in description[:4096]:
        mpp_x, mpp_y = _ome_mpp(description)
        if mpp_x is not None:
            return mpp_x, mpp_y or mpp_x
    if _field(image, "resolution-unit") not in ("cm", "in"):
        return None, None
    # libvips gives resolution in pixels per millimetre whatever the TIFF's unit.
    xres, yres = image.xres, image.yres
    if xres <= 0 or yres <= 0:
        return None, None
    mpp_x, mpp_y = _plausible(1000.0 / xres), _plausible(1000.0 / yres)
    return (mpp_x, mpp_y) if mpp_x is not None and mpp_y is not None else (None, None)


def _to_rgba(image: pyvips.Image) -> pyvips.Image:
    """8-bit sRGB with alpha, whatever the file holds (grey, 16-bit, CMYK, float)."""
    if image.format != "uchar":
        # Camera captures are often 12 bits in 16: scale by the image's own maximum,
        # or a 12-bit image would show nearly black.
        top = image.max()
        image = (image * (255.0 / top if top > 0 else 1.0)).cast("uchar")
        image = image.copy(interpretation="b-w" if image.bands < 3 else "srgb")
    if image.interpretation not in ("srgb", "b-w") or image.format != "uchar":
        image = image.colourspace("srgb")
    if image.bands in (1, 2):
        image = image.colourspace("srgb")
    if image.bands > 4:
        image = image.extract_band(0, n=4)
    if image.bands == 3:
        image = image.bandjoin_const([255])
    return image.cast("uchar")


class VipsSlide(Slide):
    """One plain image as a one-level slide (page 0 of a multi-page file). Thread-safe:
    libvips regions are made per call."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        once_through: bool = False,
        max_pixels: int = hardening.MAX_SLIDE_PIXELS,
    ) -> None:
        """`once_through`: the pixels will be read once, top to bottom (a conversion), so
        libvips may stream them instead of decoding the whole picture first. `max_pixels`:
        a tighter bound than a slide's, checked on the header (a decompression bomb)."""
        self.path = Path(path)
        self.broken = False
        if not self.path.is_file():
            raise SlideError(
                N_("not a readable file: {name}", name=self.path.name), path=str(self.path)
            )
        loader = loader_of(self.path)
        if loader is None:
            raise UnsupportedFormatError(
                N_(
                    "{name}: not a whole-slide image or picture format we can read",
                    name=self.path.name,
                ),
                path=str(self.path),
            )
        self.loader = loader
        try:
            # Header only: libvips decodes no pixel until one is asked for.
            raw = pyvips.Operation.call(loader, str(self.path), fail_on="error")
            upright = _field(raw, "orientation") in (None, "1", "2")
            if once_through and upright and raw.format == "uchar":
                # Rows come in file order and need no scaling pass (16-bit captures are
                # scaled by their maximum, read first): a stream suffices.
                raw = pyvips.Operation.call(
                    loader, str(self.path), fail_on="error", access="sequential"
                )
        except pyvips.Error as error:
            raise read_failure(self.path, "open image", error) from error
        hardening.check_dimensions(
            self.path.name, raw.width, raw.height, str(self.path), max_pixels
        )
        mpp_x, mpp_y = file_mpp(raw, loader)
        try:
            oriented = raw.autorot()
            self._rgba = _to_rgba(oriented)
        except pyvips.Error as error:
            raise read_failure(self.path, "read image", error) from error
        width, height = self._rgba.width, self._rgba.height
        if oriented.width != raw.width:  # turned a quarter: the axes swap
            mpp_x, mpp_y = mpp_y, mpp_x
        properties = {
            "slidebridge.loader": loader,
            "slidebridge.bands": str(raw.bands),
            "slidebridge.format": str(raw.format),
            "slidebridge.orientation": str(_field(raw, "orientation") or "1"),
        }
        vendor = LOADERS[loader]
        if loader == "tiffload" and "<OME" in (_field(raw, "image-description") or "")[:4096]:
            vendor = "ome-tiff"
        self._info = SlideInfo(
            vendor=vendor,
            width=width,
            height=height,
            levels=[Level(width, height, 1.0)],
            mpp_x=mpp_x,
            mpp_y=mpp_y,
            objective_power=None,
            associated=[],
            properties=properties,
        )

    @property
    def info(self) -> SlideInfo:
        return self._info

    def read_region(
        self, l0_location: tuple[int, int], level: int, size: tuple[int, int]
    ) -> Image.Image:
        if level != 0:
            raise NotFoundError(f"no level {level}")
        x, y = l0_location
        width, height = size
        if width <= 0 or height <= 0:
            raise NotFoundError(f"empty region {width}x{height}")
        if width * height > hardening.MAX_DECODE_PIXELS:
            raise SlideTooLargeError(
                N_(
                    "{name}: a {width}x{height} region is too large",
                    name=self.path.name,
                    width=width,
                    height=height,
                )
            )
        out = np.zeros((height, width, 4), np.uint8)  # transparent outside the image
        left, top = max(x, 0), max(y, 0)
        right, bottom = min(x + width, self._info.width), min(y + height, self._info.height)
        if right > left and bottom > top:
            try:
                window = self._rgba.crop(left, top, right - left, bottom - top)
                data = window.write_to_memory()
            except pyvips.Error as error:
                self.broken = True
                raise read_failure(self.path, "read pixels", error) from error
            pixels = np.frombuffer(data, np.uint8).reshape(bottom - top, right - left, 4)
            out[top - y : bottom - y, left - x : right - x] = pixels
        return Image.fromarray(out, "RGBA")

    def associated_image(self, name: str) -> Image.Image:
        raise NotFoundError(f"no associated image {name!r}")

    def write_tiled_pyramid(self, dest: Path) -> None:
        """Write the image once as a tiled pyramidal TIFF that OpenSlide reads (generic
        TIFF, JPEG tiles, the calibration as TIFF resolution in cm, orientation applied,
        transparency on white). Streams: memory stays a few tile rows, whatever the size.
        `dest` is written aside and renamed: complete or absent."""
        image = self._rgba.flatten(background=[255, 255, 255])
        mpp_x, mpp_y = self._info.mpp_x, self._info.mpp_y
        # Uncalibrated: 1 pixel per mm, which the engine reads back as no calibration.
        xres = 1000.0 / mpp_x if mpp_x else 1.0
        yres = 1000.0 / mpp_y if mpp_y else 1.0
        image = image.copy(xres=xres, yres=yres, interpretation="srgb")
        aside = dest.with_name(f".{dest.name}.writing")
        try:
            image.tiffsave(
                str(aside),
                tile=True,
                tile_width=PYRAMID_TILE,
                tile_height=PYRAMID_TILE,
                pyramid=True,
                compression="jpeg",
                Q=PYRAMID_QUALITY,
                bigtiff=image.width * image.height * 3 > 2**31,
                resunit="cm",
                strip=True,
            )
            with open(aside, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(aside, dest)
        except pyvips.Error as error:
            raise read_failure(self.path, "convert image", error) from error
        finally:
            aside.unlink(missing_ok=True)
