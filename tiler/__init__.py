"""The slide engine: read whole-slide images and build or serve Deep Zoom pyramids."""

from tiler import hardening as _hardening  # noqa: F401 - applies the untrusted-input settings
from tiler.errors import (
    BrokenSlideError,
    NotFoundError,
    SlideBridgeError,
    SlideError,
    SlideTooLargeError,
    UnsupportedFormatError,
)
from tiler.registry import open_slide
from tiler.slide import Level, Slide, SlideInfo

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
