"""Synthetic slide files written byte by byte, for what no real test file shows: several
JPEG levels with Aperio's tables and RGB photometric, associated images in strips,
blank tiles stored once, tiles with no bytes, BigTIFF, and DICOM WSI with JPEG
frames (basic/extended offset tables, fragments, TILED_SPARSE). Every file here is
one OpenSlide 4 opens; the tests compare against it.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

# -- pixels --------------------------------------------------------------------------


def tissue(width: int, height: int, seed: int) -> np.ndarray:
    """Smooth coloured blobs on white glass, with fine texture (JPEG must work for it)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.full((height, width, 3), 255.0, np.float32)
    for _ in range(6):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        r = rng.uniform(0.1, 0.3) * min(width, height)
        inside = (x - cx) ** 2 + (y - cy) ** 2 < r**2
        colour = rng.uniform(60, 220, 3)
        image[inside] = colour
    image += rng.normal(0, 12, image.shape) * (image < 250)
    return np.clip(image, 0, 255).astype(np.uint8)


def halve(pixels: np.ndarray) -> np.ndarray:
    height, width = pixels.shape[0] // 2, pixels.shape[1] // 2
    return np.asarray(Image.fromarray(pixels).resize((width, height), Image.Resampling.BOX))


# -- JPEG pieces -----------------------------------------------------------------------


def _segments(data: bytes) -> tuple[list[bytes], bytes]:
    pos, segments = 2, []
    while data[pos + 1] != 0xDA:
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        segments.append(data[pos : pos + 2 + length])
        pos += 2 + length
    return segments, data[pos:]


def _renumber_frame(segment: bytes) -> bytes:
    out = bytearray(segment)
    for i in range(out[9]):
        out[10 + 3 * i] = i + 1
    return bytes(out)


def _renumber_scan(scan: bytes) -> bytes:
    out = bytearray(scan)
    for i in range(out[4]):
        out[5 + 2 * i] = i + 1
    return bytes(out)


def jpeg_tile(pixels: np.ndarray, rgb: bool, quality: int = 80) -> tuple[bytes, bytes]:
    """(tables, abbreviated tile) as Aperio stores them: quantisation and Huffman tables
    in JPEGTables, each tile without them and without JFIF/Adobe markers. `rgb` codes the
    components as RGB with component ids 1, 2, 3, so only the TIFF photometric tag says
    it is not YCbCr (libjpeg alone would guess YCbCr)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=quality, keep_rgb=rgb)
    segments, scan = _segments(buffer.getvalue())
    tables = [s for s in segments if s[1] in (0xDB, 0xC4)]
    own = [s for s in segments if s[1] not in (0xDB, 0xC4, 0xE0, 0xEE)]
    if rgb:  # component ids 'R','G','B' -> 1,2,3 in the frame and scan headers
        own = [_renumber_frame(s) if 0xC0 <= s[1] <= 0xC2 else s for s in own]
        scan = _renumber_scan(scan)
    table_stream = b"\xff\xd8" + b"".join(tables) + b"\xff\xd9"
    return table_stream, b"\xff\xd8" + b"".join(own) + scan


# -- TIFF writer -----------------------------------------------------------------------

ASCII, SHORT, LONG, RATIONAL, UNDEFINED, LONG8 = 2, 3, 4, 5, 7, 16


@dataclass
class Page:
    """One directory: its tags (tag -> (type, values)) and its strips or tiles."""

    tags: dict[int, tuple[int, object]]
    pieces: list[bytes]
    tiled: bool
    #: Indexes of pieces stored with no bytes (count 0, offset 0).
    empty: set[int] = field(default_factory=set)


def write_tiff(path: Path, pages: list[Page], *, bigtiff: bool = False) -> Path:
    """Image data first (identical pieces stored once), then the directories and values."""
    out = bytearray(b"II" + (struct.pack("<HHHQ", 43, 8, 0, 0) if bigtiff else b"*\0\0\0\0\0"))
    stored: dict[bytes, int] = {}
    placed: list[list[tuple[int, int]]] = []
    for page in pages:
        spots = []
        for i, piece in enumerate(page.pieces):
            if i in page.empty:
                spots.append((0, 0))
                continue
            if piece not in stored:
                stored[piece] = len(out)
                out += piece
            spots.append((stored[piece], len(piece)))
        placed.append(spots)
    if len(out) % 2:
        out += b"\0"
    word, fmt = (8, "<Q") if bigtiff else (4, "<I")
    first_ifd_at = len(out)
    for index, (page, spots) in enumerate(zip(pages, placed, strict=True)):
        tags = dict(page.tags)
        offset_tag, count_tag = (324, 325) if page.tiled else (273, 279)
        long_type = LONG8 if bigtiff else LONG
        tags[offset_tag] = (long_type, [o for o, _ in spots])
        tags[count_tag] = (long_type, [n for _, n in spots])
        entries = sorted(tags.items())
        ifd_at = len(out)
        table_len = (8 if bigtiff else 2) + len(entries) * (20 if bigtiff else 12) + word
        values_at = ifd_at + table_len
        table = bytearray(struct.pack("<Q" if bigtiff else "<H", len(entries)))
        values = bytearray()
        for tag, (type_, value) in entries:
            raw, count = _pack(type_, value)
            table += struct.pack("<HHQ" if bigtiff else "<HHI", tag, type_, count)
            if len(raw) <= word:
                table += raw.ljust(word, b"\0")
            else:
                table += struct.pack(fmt, values_at + len(values))
                values += raw + b"\0" * (len(raw) % 2)
        last = index == len(pages) - 1
        next_at = 0 if last else values_at + len(values)
        table += struct.pack(fmt, next_at)
        out += table + values
    if bigtiff:
        out[8:16] = struct.pack("<Q", first_ifd_at)
    else:
        out[4:8] = struct.pack("<I", first_ifd_at)
    path.write_bytes(bytes(out))
    return path


def _pack(type_: int, value: object) -> tuple[bytes, int]:
    if type_ == ASCII:
        raw = str(value).encode() + b"\0"
        return raw, len(raw)
    if type_ == UNDEFINED:
        assert isinstance(value, bytes)
        return value, len(value)
    values = list(value) if isinstance(value, list | tuple) else [value]
    if type_ == RATIONAL:
        return b"".join(struct.pack("<II", n, d) for n, d in values), len(values)
    code = {SHORT: "H", LONG: "I", LONG8: "Q"}[type_]
    return struct.pack("<" + code * len(values), *values), len(values)


def _tiles(pixels: np.ndarray, tile: int) -> list[np.ndarray]:
    height, width = pixels.shape[:2]
    rows, cols = -(-height // tile), -(-width // tile)
    padded = np.full((rows * tile, cols * tile, 3), 255, np.uint8)
    padded[:height, :width] = pixels
    return [
        padded[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile]
        for r in range(rows)
        for c in range(cols)
    ]


def jpeg2000_tile(pixels: np.ndarray) -> tuple[bytes, bytes]:
    """A JPEG 2000 codestream, as Aperio's compression 33005 stores its tiles."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG2000", no_jp2=True, irreversible=True)
    return b"", buffer.getvalue()


def level_page(
    pixels: np.ndarray, tile: int, *, rgb: bool, description: str | None, jp2k: bool = False
) -> Page:
    height, width = pixels.shape[:2]
    encode = jpeg2000_tile if jp2k else lambda t: jpeg_tile(t, rgb)
    encoded = [encode(t) for t in _tiles(pixels, tile)]
    tags: dict[int, tuple[int, object]] = {
        256: (LONG, width),
        257: (LONG, height),
        258: (SHORT, [8, 8, 8]),
        259: (SHORT, 33005 if jp2k else 7),
        262: (SHORT, 2 if rgb else 6),
        277: (SHORT, 3),
        284: (SHORT, 1),
        322: (SHORT, tile),
        323: (SHORT, tile),
    }
    if not jp2k:
        tags[347] = (UNDEFINED, encoded[0][0])
    if description is not None:
        tags[270] = (ASCII, description)
    return Page(tags, [piece for _, piece in encoded], tiled=True)


def strip_page(pixels: np.ndarray, subfile: int | None, *, jpeg: bool, rows: int = 16) -> Page:
    """An associated image in strips: JPEG (YCbCr) or uncompressed RGB."""
    height, width = pixels.shape[:2]
    tags: dict[int, tuple[int, object]] = {
        256: (LONG, width),
        257: (LONG, height),
        258: (SHORT, [8, 8, 8]),
        259: (SHORT, 7 if jpeg else 1),
        262: (SHORT, 6 if jpeg else 2),
        277: (SHORT, 3),
        278: (LONG, rows),
        284: (SHORT, 1),
    }
    if subfile is not None:
        tags[254] = (LONG, subfile)
    pieces = []
    for top in range(0, height, rows):
        strip = pixels[top : top + rows]
        if jpeg:
            buffer = io.BytesIO()
            Image.fromarray(strip).save(buffer, "JPEG", quality=90)
            pieces.append(buffer.getvalue())
        else:
            pieces.append(strip.tobytes())
    if jpeg:
        tags[530] = (SHORT, [2, 2])
    return Page(tags, pieces, tiled=False)


def aperio_slide(
    path: Path,
    *,
    width: int = 1100,
    height: int = 700,
    tile: int = 64,
    levels: int = 3,
    bigtiff: bool = False,
    rgb: bool = True,
    missing: tuple[int, ...] = (),
    jp2k: bool = False,
    exif: str | None = None,
    seed: int = 1,
) -> Path:
    """Aperio-like: tiled JPEG levels (with tables), thumbnail (dir 1), label and macro;
    white tiles are stored once (shared bytes, across levels too)."""
    pixels = tissue(width, height, seed)
    description = (
        f"Aperio Image Library v12.0.15 \r\n{width}x{height} [0,0 {width}x{height}] "
        f"({tile}x{tile}) JPEG/RGB Q=80|AppMag = 20|MPP = 0.4990"
    )
    pages = [level_page(pixels, tile, rgb=rgb, description=description, jp2k=jp2k)]
    pages[0].empty = set(missing)
    if exif is not None:
        pages[0].tags[34665] = (LONG, _EXIF_MARK)
    pages.append(strip_page(halve(halve(halve(pixels))), None, jpeg=True))
    level = pixels
    for _ in range(levels - 1):
        level = halve(level)
        pages.append(level_page(level, tile, rgb=rgb, description="Aperio level", jp2k=jp2k))
    pages.append(strip_page(tissue(120, 100, seed + 1), 1, jpeg=False))
    pages.append(strip_page(tissue(300, 100, seed + 2), 9, jpeg=True))
    write_tiff(path, pages, bigtiff=bigtiff)
    if exif is not None:
        _exif_directory(path, valid=exif == "valid")
    return path


_EXIF_MARK = 0x7EADBEEF


def _exif_directory(path: Path, *, valid: bool) -> None:
    """Point the EXIF tag at a one-entry directory appended to the file (or, not
    `valid`, leave it pointing far beyond the end)."""
    data = bytearray(path.read_bytes())
    mark = struct.pack("<HHII", 34665, LONG, 1, _EXIF_MARK)
    at = data.index(mark)
    if valid:
        offset = len(data) + len(data) % 2
        data += b"\0" * (len(data) % 2)
        data += struct.pack("<HHHI4sI", 1, 0x9000, UNDEFINED, 4, b"0230", 0)
        data[at + 8 : at + 12] = struct.pack("<I", offset)
    path.write_bytes(bytes(data))


def generic_slide(path: Path, *, bigtiff: bool = False, seed: int = 2) -> Path:
    """Generic tiled TIFF: YCbCr JPEG levels marked reduced-resolution, out of order, and a
    full-resolution page without the flag (not a level: its bytes are unused)."""
    pixels = tissue(700, 500, seed)
    half = halve(pixels)
    pages = [
        level_page(pixels, 128, rgb=False, description=None),
        level_page(halve(half), 128, rgb=False, description=None),
        level_page(half, 128, rgb=False, description=None),
        level_page(tissue(300, 200, seed + 1), 128, rgb=False, description=None),
    ]
    pages[1].tags[254] = (LONG, 1)
    pages[2].tags[254] = (LONG, 1)
    pages[0].tags[282] = (RATIONAL, [(40000, 1)])
    pages[0].tags[283] = (RATIONAL, [(40000, 1)])
    pages[0].tags[296] = (SHORT, 3)
    return write_tiff(path, pages, bigtiff=bigtiff)


# -- DICOM writer ------------------------------------------------------------------------

_LONG_VRS = {"OB", "OW", "SQ", "UN", "UT", "UC", "UR", "OV", "OD", "OF", "OL", "SV", "UV"}


def _element(group: int, element: int, vr: str, value: bytes) -> bytes:
    if len(value) % 2:
        value += b"\0" if vr in ("UI", "OB") else b" "
    head = struct.pack("<HH", group, element) + vr.encode()
    if vr in _LONG_VRS:
        return head + b"\0\0" + struct.pack("<I", len(value)) + value
    return head + struct.pack("<H", len(value)) + value


def _sequence(group: int, element: int, items: list[bytes]) -> bytes:
    body = b"".join(struct.pack("<HHI", 0xFFFE, 0xE000, len(i)) + i for i in items)
    return _element(group, element, "SQ", body)


def _text(group: int, element: int, vr: str, text: str) -> bytes:
    return _element(group, element, vr, text.encode())


def _us(group: int, element: int, value: int) -> bytes:
    return _element(group, element, "US", struct.pack("<H", value))


def _ul(group: int, element: int, value: int) -> bytes:
    return _element(group, element, "UL", struct.pack("<I", value))


def dicom_slide(
    path: Path,
    *,
    width: int = 300,
    height: int = 200,
    tile: int = 64,
    offsets: str = "none",
    sparse: bool = False,
    split: bool = False,
    seed: int = 3,
    pixels: np.ndarray | None = None,
    instance: str = "1.2.3.4.5.6.7",
    image_type: str = "DERIVED\\PRIMARY\\VOLUME\\NONE",
    spacing_mm: float = 0.00025,
    series: str = "1.2.3.4.5.6.8",
) -> Path:
    """A one-level VL WSI with JPEG baseline frames (YBR_FULL_422). `offsets`: "none",
    "basic" or "extended" table; `sparse`: TILED_SPARSE with per-frame positions, frames
    in reverse order and one tile without a frame; `split`: each frame in two fragments
    (needs an offset table). One file of a series: `pixels`, `instance` (SOP Instance
    UID), `image_type` (VOLUME, LABEL, OVERVIEW) and `spacing_mm` per file."""
    if pixels is None:
        pixels = tissue(width, height, seed)
    height, width = pixels.shape[:2]
    cols, _rows = -(-width // tile), -(-height // tile)
    tiles = _tiles(pixels, tile)
    order = list(range(len(tiles)))
    if sparse:
        order = order[::-1][1:]  # reverse order, last tile (first in file order) absent
    frames = []
    for index in order:
        buffer = io.BytesIO()
        Image.fromarray(tiles[index]).save(buffer, "JPEG", quality=85)
        frames.append(buffer.getvalue())
    syntax = "1.2.840.10008.1.2.4.50"
    meta_body = (
        _element(0x0002, 0x0001, "OB", b"\0\1")
        + _text(0x0002, 0x0002, "UI", "1.2.840.10008.5.1.4.1.1.77.1.6")
        + _text(0x0002, 0x0003, "UI", instance)
        + _text(0x0002, 0x0010, "UI", syntax)
    )
    meta = _ul(0x0002, 0x0000, len(meta_body)) + meta_body
    spacing = f"{spacing_mm:g}\\{spacing_mm:g}"
    pixel_measures = _sequence(0x0028, 0x9110, [_text(0x0028, 0x0030, "DS", spacing)])
    data = (
        _text(0x0008, 0x0008, "CS", image_type)
        + _text(0x0008, 0x0016, "UI", "1.2.840.10008.5.1.4.1.1.77.1.6")
        + _text(0x0008, 0x0018, "UI", instance)
        + _text(0x0020, 0x000E, "UI", series)
        + _text(0x0020, 0x9311, "CS", "TILED_SPARSE" if sparse else "TILED_FULL")
        + _us(0x0028, 0x0002, 3)
        + _text(0x0028, 0x0004, "CS", "YBR_FULL_422")
        + _us(0x0028, 0x0006, 0)
        + _text(0x0028, 0x0008, "IS", str(len(frames)))
        + _us(0x0028, 0x0010, tile)
        + _us(0x0028, 0x0011, tile)
        + _us(0x0028, 0x0100, 8)
        + _us(0x0028, 0x0101, 8)
        + _us(0x0028, 0x0102, 7)
        + _us(0x0028, 0x0103, 0)
        + _ul(0x0048, 0x0006, width)
        + _ul(0x0048, 0x0007, height)
        + _sequence(
            0x0048, 0x0105, [_text(0x0048, 0x0112, "DS", "20") + _text(0x0048, 0x0106, "SH", "1")]
        )
        + _sequence(0x5200, 0x9229, [pixel_measures])
    )
    if sparse:
        items = []
        for index in order:
            position = _element(
                0x0048, 0x021E, "SL", struct.pack("<i", index % cols * tile + 1)
            ) + _element(0x0048, 0x021F, "SL", struct.pack("<i", index // cols * tile + 1))
            items.append(_sequence(0x0048, 0x021A, [position]))
        data += _sequence(0x5200, 0x9230, items)
    fragments: list[list[bytes]] = []
    for frame in frames:
        if split:
            cut = len(frame) // 2 & ~1
            fragments.append([frame[:cut], frame[cut:] + b"\0" * (len(frame[cut:]) % 2)])
        else:
            fragments.append([frame + b"\0" * (len(frame) % 2)])
    starts, position = [], 0
    for pieces in fragments:
        starts.append(position)
        position += sum(8 + len(p) for p in pieces)
    table = b""
    if offsets == "basic":
        table = struct.pack(f"<{len(starts)}I", *starts)
    elif offsets == "extended":
        data += _element(0x7FE0, 0x0001, "OV", struct.pack(f"<{len(starts)}Q", *starts))
        lengths = [sum(8 + len(p) for p in pieces) for pieces in fragments]
        data += _element(0x7FE0, 0x0002, "OV", struct.pack(f"<{len(lengths)}Q", *lengths))
    pixel = struct.pack("<HH", 0x7FE0, 0x0010) + b"OB\0\0" + struct.pack("<I", 0xFFFFFFFF)
    pixel += struct.pack("<HHI", 0xFFFE, 0xE000, len(table)) + table
    for pieces in fragments:
        for piece in pieces:
            pixel += struct.pack("<HHI", 0xFFFE, 0xE000, len(piece)) + piece
    pixel += struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * 128 + b"DICM" + meta + data + pixel)
    return path


def dicom_series(folder: Path, *, seed: int = 21, series: str = "1.2.3.4.5.6.8") -> Path:
    """A DICOM WSI series as modern scanners write it: one file per level (1x, 2x, 4x of
    1024x768, tiles of 128) and a label, every file of one series; names as a PACS
    export gives them (not in level order)."""
    pixels = tissue(1024, 768, seed)
    levels = [pixels, halve(pixels), halve(halve(pixels))]
    names = ["IM0003.dcm", "IM0001.dcm", "IM0002.dcm"]
    for index, (name, level) in enumerate(zip(names, levels, strict=True)):
        dicom_slide(
            folder / name,
            pixels=level,
            tile=128,
            instance=f"{series}.{index + 10}",
            spacing_mm=0.00025 * 2**index,
            series=series,
        )
    dicom_slide(
        folder / "IM0004.dcm",
        pixels=tissue(128, 128, seed + 1),  # one frame: the label is square
        tile=128,
        instance=f"{series}.20",
        image_type="ORIGINAL\\PRIMARY\\LABEL\\NONE",
        spacing_mm=0.01,
        series=series,
    )
    return folder
