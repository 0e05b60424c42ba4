"""Which reader opens a file: a short priority list, as large_image does with its sources.

OpenSlide first: it reads every scanner format, and reads a plain tiled TIFF as
`generic-tiff` with the engine's fast paths. libvips next, for what OpenSlide does
not recognise at all (plain pictures, stripped TIFF, OME-TIFF): a file OpenSlide
recognises but finds damaged is not handed on, its reason stands.
"""

from __future__ import annotations

import os

from tiler.errors import UnsupportedFormatError
from tiler.openslide_reader import OpenSlideSlide
from tiler.slide import Slide


def open_slide(path: str | os.PathLike[str]) -> Slide:
    """Open `path` with the first reader that accepts it, or raise a typed SlideError."""
    try:
        return OpenSlideSlide(path)
    except UnsupportedFormatError as refused:
        from tiler.vips_reader import VipsSlide  # only files OpenSlide refuses need libvips

        try:
            return VipsSlide(path)
        except UnsupportedFormatError:
            raise refused from None


def write_tiled_copy(path: str | os.PathLike[str], dest: str | os.PathLike[str]) -> bool:
    """For a file only libvips reads (a plain picture, often one strip: any window of it
    decodes all of it), write once the tiled pyramidal TIFF a hub stores and serves
    instead, and return True; False for a slide that is served as it is."""
    from pathlib import Path

    from tiler.vips_reader import VipsSlide

    with open_slide(path) as slide:
        if not isinstance(slide, VipsSlide):
            return False
        slide.write_tiled_pyramid(Path(dest))
    return True
