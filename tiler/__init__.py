"""The slide engine: read whole-slide images and build or serve Deep Zoom pyramids.

Importing the package costs nothing beyond its errors: `tiler.SlideBridgeError`
(the product's root error) is used by code that must not load OpenSlide, libvips
or Pillow (the web service's startup, the scanner-side agent, `slidebridge
--help`). The readers load on first use of `open_slide` or the slide types, and
every module that touches untrusted pixels imports `tiler.hardening` itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tiler.errors import (
    BrokenSlideError,
    NotFoundError,
    SlideBridgeError,
    SlideError,
    SlideTooLargeError,
    UnsupportedFormatError,
)

if TYPE_CHECKING:
    from tiler.registry import open_slide
    from tiler.slide import Level, Slide, SlideInfo

_LAZY = {
    "open_slide": "tiler.registry",
    "Level": "tiler.slide",
    "Slide": "tiler.slide",
    "SlideInfo": "tiler.slide",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tiler' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "BrokenSlideError",
    "Level",
    "NotFoundError",
    "Slide",
    "SlideBridgeError",
    "SlideError",
    "SlideInfo",
    "SlideTooLargeError",
    "UnsupportedFormatError",
    "open_slide",
]
