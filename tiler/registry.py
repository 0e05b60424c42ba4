"""Which reader opens a file: a short priority list, as large_image does with its sources.

OpenSlide 4 reads every vendor format we accept, so it is the only reader today;
a future reader (e.g. a format OpenSlide lacks) is added here with its priority.
"""

from __future__ import annotations

import os

from tiler.openslide_reader import OpenSlideSlide
from tiler.slide import Slide


def open_slide(path: str | os.PathLike[str]) -> Slide:
    """Open `path` with the first reader that accepts it, or raise a typed SlideError."""
    return OpenSlideSlide(path)
