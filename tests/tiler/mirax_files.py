"""A synthetic MIRAX slide (no small public one exists): `NAME.mrxs` beside a folder
`NAME/` with Slidedat.ini, Index.dat and data files, as OpenSlide's mirax reader reads
them (openslide.org/formats/mirax): a grid of JPEG images per zoom level, each level's
images packing 2x2 of the finer level's, no overlaps and no position file (OpenSlide
then places images edge to edge), images spread over two data files.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
from PIL import Image

from tests.tiler.slide_files import tissue

IMAGE = 256
SLIDE_ID = "5f0c6d0e-synthetic-mirax"
VERSION = "01.02"


def _jpeg(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _image(base: np.ndarray, x: int, y: int, concat: int) -> np.ndarray:
    """The level image at grid cell (x, y): `concat` x `concat` level-0 images reduced."""
    span = IMAGE * concat
    window = np.full((span, span, 3), 255, np.uint8)
    part = base[y * IMAGE : y * IMAGE + span, x * IMAGE : x * IMAGE + span]
    window[: part.shape[0], : part.shape[1]] = part
    if concat == 1:
        return window
    return np.asarray(Image.fromarray(window).reduce(concat))


def mirax_slide(
    folder: Path, name: str = "scan", *, across: int = 6, down: int = 4, levels: int = 3
) -> Path:
    """Writes `folder/NAME.mrxs` and `folder/NAME/`; returns `folder`."""
    data_dir = folder / name
    data_dir.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.mrxs").write_bytes(b"")  # OpenSlide reads only the folder
    base = tissue(across * IMAGE, down * IMAGE, seed=31)
    data_files = ["Data0000.dat", "Data0001.dat"]
    blobs = [bytearray(), bytearray()]
    for number, blob in enumerate(blobs):
        blob += (VERSION + SLIDE_ID + f"{number:03d}").encode() + b"\0" * 256
    records: list[list[tuple[int, int, int, int]]] = []
    for level in range(levels):
        concat = 2**level
        items = []
        for y in range(0, down, concat):
            for x in range(0, across, concat):
                fileno = (x // concat + y // concat) % 2
                data = _jpeg(_image(base, x, y, concat))
                items.append((y * across + x, len(blobs[fileno]), len(data), fileno))
                blobs[fileno] += data
        records.append(items)
    for file_name, blob in zip(data_files, blobs, strict=True):
        (data_dir / file_name).write_bytes(bytes(blob))
    (data_dir / "Index.dat").write_bytes(_index(records))
    sections = "".join(
        f"[LAYER_0_LEVEL_{level}_SECTION]\nOVERLAP_X=0\nOVERLAP_Y=0\n"
        f"MICROMETER_PER_PIXEL_X={0.25 * 2**level}\nMICROMETER_PER_PIXEL_Y={0.25 * 2**level}\n"
        f"IMAGE_FORMAT=JPEG\nIMAGE_FILL_COLOR_BGR=16777215\nDIGITIZER_WIDTH={IMAGE}\n"
        f"DIGITIZER_HEIGHT={IMAGE}\nIMAGE_CONCAT_FACTOR={0 if level == 0 else 1}\n"
        for level in range(levels)
    )
    values = "".join(
        f"HIER_0_VAL_{level}=ZoomLevel_{level}\n"
        f"HIER_0_VAL_{level}_SECTION=LAYER_0_LEVEL_{level}_SECTION\n"
        for level in range(levels)
    )
    files = "".join(f"FILE_{i}={n}\n" for i, n in enumerate(data_files))
    (data_dir / "Slidedat.ini").write_text(
        f"[GENERAL]\nSLIDE_VERSION={VERSION}\nSLIDE_ID={SLIDE_ID}\nIMAGENUMBER_X={across}\n"
        f"IMAGENUMBER_Y={down}\nOBJECTIVE_MAGNIFICATION=20\nCameraImageDivisionsPerSide=1\n"
        f"[HIERARCHICAL]\nHIER_COUNT=1\nHIER_0_NAME=Slide zoom level\nHIER_0_COUNT={levels}\n"
        f"{values}NONHIER_COUNT=0\nINDEXFILE=Index.dat\n"
        f"[DATAFILE]\nFILE_COUNT={len(data_files)}\n{files}{sections}"
    )
    return folder


def _index(records: list[list[tuple[int, int, int, int]]]) -> bytes:
    """Index.dat: version and slide id, the hierarchical and nonhierarchical roots, a
    pointer per zoom level to its record: an empty first page, then one page of items."""
    head = (VERSION + SLIDE_ID).encode()
    table = len(head) + 8  # the level pointers follow the two roots
    out = bytearray(head + struct.pack("<ii", table, table))
    pointers_at = len(out)
    out += b"\0" * 4 * len(records)
    for level, items in enumerate(records):
        record = len(out)
        page = record + 8
        out += struct.pack("<ii", 0, page)
        out += struct.pack("<ii", len(items), 0)
        for item in items:
            out += struct.pack("<iiii", *item)
        struct.pack_into("<i", out, pointers_at + 4 * level, record)
    return bytes(out)
