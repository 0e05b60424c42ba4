"""Which reader opens a file: a short priority list, as large_image does with its sources.

OpenSlide first: it reads every scanner format, and reads a plain tiled TIFF as
`generic-tiff` with the engine's fast paths. libvips next, for what OpenSlide does
not recognise at all (plain pictures, stripped TIFF, OME-TIFF): a file OpenSlide
recognises but finds damaged is not handed on, its reason stands. A folder holds one
slide of several files (MIRAX, a DICOM series; `tiler.slide_folder`), read through
OpenSlide from its main file once the folder is found complete and consistent.
"""

from __future__ import annotations

import os
from pathlib import Path

from tiler.errors import UnsupportedFormatError
from tiler.openslide_reader import OpenSlideSlide
from tiler.reasons import N_
from tiler.slide import Slide


def open_slide(path: str | os.PathLike[str]) -> Slide:
    """Open `path` with the first reader that accepts it, or raise a typed SlideError."""
    if Path(path).is_dir():
        return _open_folder(Path(path))
    try:
        return OpenSlideSlide(path)
    except UnsupportedFormatError as refused:
        from tiler.vips_reader import VipsSlide  # only files OpenSlide refuses need libvips

        try:
            return VipsSlide(path)
        except UnsupportedFormatError:
            raise refused from None


def _open_folder(path: Path) -> Slide:
    from tiler.slide_folder import InconsistentSetError, scan

    folder = scan(path)
    if folder.kind == "file":
        return open_slide(folder.main)
    slide = OpenSlideSlide(folder.main)
    # A level file OpenSlide skipped (another size grid, a broken frame table) would be
    # a slide that is not what was sent.
    found = folder.level_files
    if found is not None and found != len(slide.info.levels):
        slide.close()
        raise InconsistentSetError(
            N_(
                "{name}: {found} DICOM level files, "
                "but OpenSlide reads {levels} levels of the series from them",
                name=path.name,
                found=found,
                levels=len(slide.info.levels),
            )
        )
    return slide


def write_tiled_copy(path: str | os.PathLike[str], dest: str | os.PathLike[str]) -> bool:
    """For a file only libvips reads (a plain picture, often one strip: any window of it
    decodes all of it), write once the tiled pyramidal TIFF a hub stores and serves
    instead, and return True; False for a slide that is served as it is."""
    from tiler.vips_reader import VipsSlide

    if Path(path).is_dir():
        return False
    with open_slide(path) as slide:
        if not isinstance(slide, VipsSlide):
            return False
    write_picture_copy(path, dest)
    return True


def write_picture_copy(
    path: str | os.PathLike[str], dest: str | os.PathLike[str], max_pixels: int | None = None
) -> None:
    """Rewrite a picture as that tiled pyramidal TIFF through libvips, whatever reader
    would otherwise open it: its orientation applied to the pixels and none of its
    metadata (EXIF, GPS, XMP, IPTC) kept. For a photograph attached to a case, where
    even a tiled TIFF that OpenSlide reads must not keep its tags. `max_pixels` refuses a
    larger picture from its header, before any pixel is decoded."""
    from tiler.hardening import MAX_SLIDE_PIXELS
    from tiler.vips_reader import VipsSlide

    picture = VipsSlide(path, once_through=True, max_pixels=max_pixels or MAX_SLIDE_PIXELS)
    try:
        picture.write_tiled_pyramid(Path(dest))
    finally:
        picture.close()
