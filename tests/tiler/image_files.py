"""Synthetic pictures of the kinds sites without a scanner send, where the shared folder
has no real file: a phone photograph turned by its EXIF orientation, a large one-strip
JPEG, PNG with transparency, WebP, a 12-bit camera capture calibrated by its TIFF
resolution, an OME-TIFF calibrated by PhysicalSizeX/Y. Each has a red mark in the
top-left corner of its stored pixels, so a test can see where orientation put it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyvips

from tests.tiler.slide_files import tissue


@dataclass(frozen=True)
class Picture:
    """What the engine must report for a picture file."""

    file: str
    vendor: str
    width: int  # as displayed (after orientation)
    height: int
    mpp: float | None
    mark: tuple[int, int]  # where the red mark lands, as displayed (x, y of its centre)


PICTURES = {
    "phone": Picture("phone.jpg", "image-jpeg", 480, 640, None, (470, 10)),
    "large-strip": Picture("large-strip.jpg", "image-jpeg", 6000, 4000, None, (10, 10)),
    "alpha": Picture("alpha.png", "image-png", 300, 200, None, (10, 10)),
    "webp": Picture("photo.webp", "image-webp", 500, 300, None, (10, 10)),
    "camera16": Picture("camera16.tif", "image-tiff", 700, 500, 0.345, (10, 10)),
    "ome": Picture("calibrated.ome.tif", "ome-tiff", 600, 400, 0.25, (10, 10)),
}

_OME = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06">'
    '<Image ID="Image:0"><Pixels DimensionOrder="XYZCT" ID="Pixels:0" SizeC="3" SizeT="1" '
    'SizeX="{w}" SizeY="{h}" SizeZ="1" Type="uint8" PhysicalSizeX="250" '
    'PhysicalSizeXUnit="nm" PhysicalSizeY="0.25"><Channel ID="Channel:0:0" '
    'SamplesPerPixel="3"/></Pixels></Image></OME>'
)


def _marked(width: int, height: int, seed: int) -> np.ndarray:
    pixels = tissue(width, height, seed)
    pixels[:20, :20] = (230, 20, 20)
    return pixels


def _image(pixels: np.ndarray) -> pyvips.Image:
    return pyvips.Image.new_from_array(np.ascontiguousarray(pixels), interpretation="srgb")


def write_pictures(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / spec.file for name, spec in PICTURES.items()}
    # Stored 640x480 landscape; orientation 6 says "turn 90° clockwise to display".
    phone = _image(_marked(640, 480, 11)).copy()
    phone.set_type(pyvips.GValue.gint_type, "orientation", 6)
    phone.jpegsave(str(paths["phone"]), Q=90)
    # A JPEG is one entropy-coded stream: any window decodes everything before it.
    big = np.tile(_marked(600, 400, 12), (10, 10, 1))
    _image(big).jpegsave(str(paths["large-strip"]), Q=85, restart_interval=0)
    rgba = np.dstack([_marked(300, 200, 13), np.full((200, 300), 255, np.uint8)])
    rgba[150:, 200:, 3] = 0  # a transparent corner
    pyvips.Image.new_from_array(rgba, interpretation="srgb").pngsave(str(paths["alpha"]))
    _image(_marked(500, 300, 14)).webpsave(str(paths["webp"]), Q=90)
    # 12 bits of grey in 16, stripped, resolution in centimetres: 0.345 µm per pixel.
    grey = _marked(700, 500, 15).mean(axis=2).astype(np.uint16) * 16
    camera = pyvips.Image.new_from_array(grey).cast("ushort").copy(interpretation="grey16")
    camera = camera.copy(xres=1000 / 0.345, yres=1000 / 0.345)
    camera.tiffsave(str(paths["camera16"]), tile=False, resunit="cm", compression="deflate")
    ome = _image(_marked(600, 400, 16)).copy()
    ome.set_type(pyvips.GValue.gstr_type, "image-description", _OME.format(w=600, h=400))
    ome.tiffsave(str(paths["ome"]), tile=False, compression="lzw")
    return paths
