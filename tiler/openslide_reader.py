"""The only module that calls OpenSlide: every vendor format behind the `Slide` interface.

OpenSlide errors are sticky (after one, every later call on the handle fails),
so the first error marks the slide `broken` and caches drop it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

import openslide
from PIL import Image

from tiler import hardening
from tiler.errors import (
    BrokenSlideError,
    NotFoundError,
    SlideError,
    SlideTooLargeError,
    UnsupportedFormatError,
    one_line,
    read_failure,
)
from tiler.reasons import N_
from tiler.slide import Level, Slide, SlideInfo, background_of, composite_on


def _float_property(properties: Mapping[str, str], key: str) -> float | None:
    try:
        value = float(properties[key])
    except (KeyError, ValueError):
        return None
    return value if math.isfinite(value) and value > 0 else None


#: Microscope scans have pixels of 0.1-10 µm; a value beyond this comes from a TIFF's
#: default screen resolution (72 dpi is 352.8 µm/pixel), not from a calibration.
MAX_PLAUSIBLE_MPP = 50.0


def _calibration(properties: Mapping[str, str], key: str) -> float | None:
    """The slide's µm per pixel, or None where it is absent or not a real calibration:
    a viewer must say "unknown" rather than show a scale bar in wrong units."""
    mpp = _float_property(properties, key)
    return mpp if mpp is not None and mpp <= MAX_PLAUSIBLE_MPP else None


class OpenSlideSlide(Slide):
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.broken = False
        if not self.path.is_file():
            raise SlideError(
                N_("not a readable file: {name}", name=self.path.name), path=str(self.path)
            )
        vendor = openslide.OpenSlide.detect_format(self.path)
        if vendor is None:
            raise UnsupportedFormatError(
                N_("{name}: not a whole-slide image format we can read", name=self.path.name),
                path=str(path),
            )
        try:
            self._osr = openslide.OpenSlide(self.path)
        except openslide.OpenSlideUnsupportedFormatError as error:
            raise UnsupportedFormatError(
                N_("{name}: unsupported {vendor} file", name=self.path.name, vendor=vendor),
                path=str(path),
            ) from error
        except (openslide.OpenSlideError, OSError, ValueError) as error:
            raise BrokenSlideError(
                f"{self.path.name}: cannot open {vendor} slide: {one_line(error, self.path)}",
                path=str(path),
            ) from error
        self._info = self._read_info(vendor)

    def _read_info(self, vendor: str) -> SlideInfo:
        osr = self._osr
        props = dict(osr.properties)
        width, height = osr.dimensions
        hardening.check_dimensions(self.path.name, width, height, str(self.path))
        levels = [
            Level(w, h, float(d))
            for (w, h), d in zip(osr.level_dimensions, osr.level_downsamples, strict=True)
        ]
        return SlideInfo(
            vendor=vendor,
            width=width,
            height=height,
            levels=levels,
            mpp_x=_calibration(props, openslide.PROPERTY_NAME_MPP_X),
            mpp_y=_calibration(props, openslide.PROPERTY_NAME_MPP_Y),
            objective_power=_float_property(props, openslide.PROPERTY_NAME_OBJECTIVE_POWER),
            associated=sorted(osr.associated_images.keys()),
            properties=props,
        )

    @property
    def info(self) -> SlideInfo:
        return self._info

    @property
    def background_rgb(self) -> tuple[int, int, int]:
        return background_of(self._info.properties)

    def read_region(
        self, l0_location: tuple[int, int], level: int, size: tuple[int, int]
    ) -> Image.Image:
        if not 0 <= level < len(self._info.levels):
            raise NotFoundError(f"no level {level}")
        try:
            return self._osr.read_region(l0_location, level, size)
        except openslide.OpenSlideError as error:
            self.broken = True
            raise read_failure(self.path, "read pixels", error) from error

    def associated_image(self, name: str) -> Image.Image:
        if name not in self._info.associated:
            raise NotFoundError(f"no associated image {name!r}")
        props = self._info.properties
        width = _float_property(props, f"openslide.associated.{name}.width") or 0
        height = _float_property(props, f"openslide.associated.{name}.height") or 0
        if width * height > hardening.MAX_DECODE_PIXELS:
            raise SlideTooLargeError(
                N_(
                    "{file}: the {image} image is {width}x{height}",
                    file=self.path.name,
                    image=name,
                    width=f"{width:.0f}",
                    height=f"{height:.0f}",
                )
            )
        try:
            rgba = self._osr.associated_images[name]
        except openslide.OpenSlideError as error:
            self.broken = True
            raise BrokenSlideError(
                f"{self.path.name}: cannot read {name}: {one_line(error, self.path)}"
            ) from error
        import numpy as np

        return Image.fromarray(composite_on(np.asarray(rgba.convert("RGBA")), self.background_rgb))

    def close(self) -> None:
        self._osr.close()
