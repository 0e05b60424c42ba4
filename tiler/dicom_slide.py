"""A single-file DICOM VL Whole Slide Microscopy image, read by hand the way OpenSlide 4
(openslide-vendor-dicom.c over libdicom) reads it: one file is one pyramid level.

Parsed by hand rather than with pydicom: we need the file offset of every element,
fragment and item header (the byte layout is made of them), only a dozen elements
matter, and every length is checked against its container before anything is read,
so a lying length costs an error, not an allocation. The data set is explicit VR
little endian: every transfer syntax OpenSlide accepts for WSI is.

Frames map to tiles as libdicom maps them: TILED_FULL in row-major order; TILED_SPARSE
(or any per-frame PlanePositionSlideSequence) by each frame's position, with tiles
no frame covers left empty, as OpenSlide does.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from tiler.errors import BrokenSlideError, NotArrivedError, UnsupportedFormatError
from tiler.slide_structure import (
    Deferred,
    LevelStructure,
    SlideStructure,
    TilePositions,
    check_level_size,
    format_double,
    level_properties,
    parse_double,
)
from tiler.tiff_directories import ReadAt

_WSI_CLASS = "1.2.840.10008.5.1.4.1.1.77.1.6"
#: Transfer syntax -> codec; the ones OpenSlide decodes (no JPEG lossless, JPEG-LS, ...).
_SYNTAXES = {
    "1.2.840.10008.1.2.1": "raw-rgb",
    "1.2.840.10008.1.2.4.50": "jpeg",
    "1.2.840.10008.1.2.4.90": "jpeg2000",
    "1.2.840.10008.1.2.4.91": "jpeg2000",
}
_PHOTOMETRICS = {
    "jpeg": {"YBR_FULL_422", "RGB"},
    "jpeg2000": {"YBR_ICT", "YBR_RCT", "RGB"},
    "raw-rgb": {"RGB"},
}
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT"}
_LONG_VRS |= {b"UV"}
_UNDEFINED = 0xFFFFFFFF
_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQUENCE_END = 0xFFFEE0DD

# Elements (group << 16 | element).
TRANSFER_SYNTAX = 0x00020010
MEDIA_SOP_CLASS = 0x00020002
IMAGE_TYPE = 0x00080008
SOP_INSTANCE = 0x00080018
SERIES_INSTANCE = 0x0020000E
DIMENSION_ORGANIZATION_TYPE = 0x00209311
CONCATENATION_UID = 0x00209161
SAMPLES_PER_PIXEL = 0x00280002
PHOTOMETRIC = 0x00280004
PLANAR_CONFIGURATION = 0x00280006
NUMBER_OF_FRAMES = 0x00280008
ROWS = 0x00280010
COLUMNS = 0x00280011
PIXEL_SPACING = 0x00280030
BITS_ALLOCATED = 0x00280100
BITS_STORED = 0x00280101
HIGH_BIT = 0x00280102
PIXEL_REPRESENTATION = 0x00280103
ICC_PROFILE = 0x00282000
PIXEL_MEASURES_SEQUENCE = 0x00289110
TOTAL_COLUMNS = 0x00480006
TOTAL_ROWS = 0x00480007
OPTICAL_PATH_SEQUENCE = 0x00480105
OBJECTIVE_LENS_POWER = 0x00480112
PLANE_POSITION_SLIDE_SEQUENCE = 0x0048021A
COLUMN_POSITION = 0x0048021E
ROW_POSITION = 0x0048021F
FOCAL_PLANES = 0x00480303
SHARED_GROUPS = 0x52009229
PER_FRAME_GROUPS = 0x52009230
EXTENDED_OFFSET_TABLE = 0x7FE00001
PIXEL_DATA = 0x7FE00010
_OTHER_PIXEL_DATA = {0x7FE00008, 0x7FE00009}

#: Elements we keep the value of, at the top level of the data set.
_TOP_VALUES = {
    IMAGE_TYPE,
    SOP_INSTANCE,
    SERIES_INSTANCE,
    DIMENSION_ORGANIZATION_TYPE,
    CONCATENATION_UID,
    SAMPLES_PER_PIXEL,
    PHOTOMETRIC,
    PLANAR_CONFIGURATION,
    NUMBER_OF_FRAMES,
    ROWS,
    COLUMNS,
    BITS_ALLOCATED,
    BITS_STORED,
    HIGH_BIT,
    PIXEL_REPRESENTATION,
    TOTAL_COLUMNS,
    TOTAL_ROWS,
    FOCAL_PLANES,
    EXTENDED_OFFSET_TABLE,
}
#: Largest value we read (the extended offset table of a 4-million-frame file).
_MAX_VALUE = 32 << 20
#: Nesting deeper than this is hostile; WSI files nest about 6 deep.
_MAX_DEPTH = 16
#: Elements and items in one data set, pixel data item headers included.
_MAX_ELEMENTS = 1 << 24
_BLOCK = 1 << 16
#: Frames per tile we accept: one per optical path (OpenSlide shows the first).
_MAX_FRAMES_PER_TILE = 64


@dataclass(frozen=True, slots=True)
class _Value:
    vr: bytes
    offset: int
    length: int
    data: bytes


class _Reader:
    """Little-endian reads through `read_at`, in blocks where the bytes are there (a
    partial file raises for a block reaching into missing bytes: then exact reads)."""

    def __init__(self, read_at: ReadAt, size: int) -> None:
        self.read_at = read_at
        self.size = size
        self._block_start = 0
        self._block = b""
        self.elements = 0

    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or offset + length > self.size:
            raise BrokenSlideError(f"DICOM element at byte {offset} runs past the file's end")
        start = offset - self._block_start
        if start >= 0 and start + length <= len(self._block):
            return self._block[start : start + length]
        if length <= _BLOCK:
            try:
                self._block = self.read_at(offset, min(_BLOCK, self.size - offset))
                self._block_start = offset
                return self._block[:length]
            except NotArrivedError:
                pass
        return self.read_at(offset, length)

    def count(self) -> None:
        self.elements += 1
        if self.elements > _MAX_ELEMENTS:
            raise BrokenSlideError(f"more than {_MAX_ELEMENTS} DICOM elements")


@dataclass
class _Collected:
    """What the walk keeps: top-level values, a few nested ones, frame positions."""

    top: dict[int, _Value] = field(default_factory=dict)
    pixel_spacing: _Value | None = None
    objective_power: _Value | None = None
    icc_size: int | None = None
    #: libdicom's sparse frame index: (tile column, tile row) per positioned frame.
    positions: list[tuple[int, int]] = field(default_factory=list)
    _column: int = -1
    _row: int = -1


Path = tuple[tuple[int, int], ...]


class _Walker:
    def __init__(self, reader: _Reader) -> None:
        self.reader = reader
        self.found = _Collected()

    def header(self, pos: int) -> tuple[int, bytes, int, int]:
        """(tag, VR, value length, header length) of the explicit VR element at `pos`."""
        raw = self.reader.read(pos, 8)
        group, element = struct.unpack("<HH", raw[:4])
        tag = group << 16 | element
        if group == 0xFFFE:  # item and delimiters carry no VR
            return tag, b"", struct.unpack("<I", raw[4:8])[0], 8
        vr = raw[4:6]
        if vr in _LONG_VRS:
            return tag, vr, struct.unpack("<I", self.reader.read(pos + 8, 4))[0], 12
        if not (65 <= vr[0] <= 90 and 65 <= vr[1] <= 90):
            raise BrokenSlideError(f"DICOM element {tag:08X} has no explicit VR")
        return tag, vr, struct.unpack("<H", raw[6:8])[0], 8

    def dataset(self, pos: int, end: int | None, path: Path) -> int:
        """Walk elements from `pos` until `end`, an item delimiter, or (at the top level)
        Pixel Data; the position it stopped at."""
        while end is None or pos < end:
            self.reader.count()
            tag, vr, length, head = self.header(pos)
            if tag == _ITEM_END and path:
                return pos
            if not path and (tag == PIXEL_DATA or tag in _OTHER_PIXEL_DATA):
                return pos
            if tag >> 16 == 0xFFFE:
                raise BrokenSlideError(f"unexpected DICOM item tag at byte {pos}")
            value_pos = pos + head
            if vr == b"SQ" or (vr == b"UN" and length == _UNDEFINED):
                if vr == b"UN":
                    raise BrokenSlideError("undefined-length UN elements are not supported")
                pos = self.sequence(value_pos, length, path, tag)
            else:
                if length == _UNDEFINED:
                    raise BrokenSlideError(f"DICOM element {tag:08X} has an undefined length")
                pos = value_pos + length
                if pos > self.reader.size or (end is not None and pos > end):
                    raise BrokenSlideError(f"DICOM element {tag:08X} runs past its container")
                self.element(path, tag, vr, value_pos, length)
        if end is not None and pos != end:
            raise BrokenSlideError("a DICOM item's elements overrun its length")
        return pos

    def sequence(self, pos: int, length: int, path: Path, tag: int) -> int:
        if len(path) >= _MAX_DEPTH:
            raise BrokenSlideError("DICOM sequences nest too deep")
        end = None if length == _UNDEFINED else pos + length
        if end is not None and end > self.reader.size:
            raise BrokenSlideError(f"DICOM sequence {tag:08X} runs past the file's end")
        if tag == PLANE_POSITION_SLIDE_SEQUENCE:
            self.found._column = self.found._row = -1
        index = 0
        while end is None or pos < end:
            self.reader.count()
            item_tag, _, item_length, _ = self.header(pos)
            if item_tag == _SEQUENCE_END and end is None:
                pos += 8
                break
            if item_tag != _ITEM:
                raise BrokenSlideError(f"DICOM sequence {tag:08X} holds a non-item")
            item_end = None if item_length == _UNDEFINED else pos + 8 + item_length
            if item_end is not None and end is not None and item_end > end:
                raise BrokenSlideError(f"an item of DICOM sequence {tag:08X} overruns it")
            stop = self.dataset(pos + 8, item_end, (*path, (tag, index)))
            pos = stop + 8 if item_end is None else stop
            index += 1
        if end is not None and pos != end:
            raise BrokenSlideError(f"DICOM sequence {tag:08X} overruns its length")
        if tag == PLANE_POSITION_SLIDE_SEQUENCE:
            self._positioned()
        return pos

    def element(self, path: Path, tag: int, vr: bytes, offset: int, length: int) -> None:
        found = self.found
        keys = tuple(key for key, _ in path)
        first = all(index == 0 for _, index in path)
        wanted = (
            (not path and tag in _TOP_VALUES)
            or (keys == (SHARED_GROUPS, PIXEL_MEASURES_SEQUENCE) and tag == PIXEL_SPACING)
            or (keys == (OPTICAL_PATH_SEQUENCE,) and tag == OBJECTIVE_LENS_POWER)
            or (PER_FRAME_GROUPS in keys and tag in (COLUMN_POSITION, ROW_POSITION))
        )
        if keys == (OPTICAL_PATH_SEQUENCE,) and first and tag == ICC_PROFILE:
            found.icc_size = length
        if not wanted:
            return
        if length > _MAX_VALUE:
            raise BrokenSlideError(f"DICOM element {tag:08X} claims {length} bytes")
        value = _Value(vr, offset, length, self.reader.read(offset, length))
        if not path:
            found.top[tag] = value
        elif tag == PIXEL_SPACING and first:
            found.pixel_spacing = value
        elif tag == OBJECTIVE_LENS_POWER and first:
            found.objective_power = value
        elif vr == b"SL" and length == 4:
            position = struct.unpack("<i", value.data)[0]
            if tag == COLUMN_POSITION:
                found._column = position
            else:
                found._row = position

    def _positioned(self) -> None:
        found = self.found
        if found._column != -1 and found._row != -1:
            found.positions.append((found._column, found._row))


def _strings(value: _Value | None) -> list[str]:
    if value is None:
        return []
    text = value.data.decode("ascii", errors="replace")
    return [part.strip(" \0") for part in text.split("\\")]


def _int(value: _Value | None) -> int | None:
    """An integer element: binary (US, UL, SS, SL) or a string (IS)."""
    if value is None or value.length == 0:
        return None
    formats = {b"US": "<H", b"UL": "<I", b"SS": "<h", b"SL": "<i", b"UV": "<Q", b"SV": "<q"}
    fmt = formats.get(value.vr)
    if fmt is not None:
        if value.length < struct.calcsize(fmt):
            return None
        result: int = struct.unpack(fmt, value.data[: struct.calcsize(fmt)])[0]
        return result
    try:
        return int(_strings(value)[0])
    except ValueError:
        return None


def _dimension(top: dict[int, _Value], tag: int) -> int:
    value = _int(top.get(tag))
    if value is None:
        raise BrokenSlideError("couldn't read the DICOM level dimensions")
    return value


def _decimals(value: _Value | None) -> list[float | None]:
    result: list[float | None] = []
    for part in _strings(value):
        try:
            result.append(float(part))
        except ValueError:
            result.append(None)
    return result


def dicom_structure(read_at: ReadAt, size: int) -> SlideStructure:
    """The one-level slide OpenSlide opens from this DICOM file, or a typed error."""
    reader = _Reader(read_at, size)
    if size < 132 or reader.read(128, 4) != b"DICM":
        raise UnsupportedFormatError("not a DICOM file")
    meta, pos = _file_meta(reader)
    sop_class = _strings(meta.get(MEDIA_SOP_CLASS))
    if sop_class[:1] != [_WSI_CLASS]:
        raise UnsupportedFormatError(f"not a DICOM whole-slide image (class {sop_class[:1]})")
    syntax = (_strings(meta.get(TRANSFER_SYNTAX)) or [""])[0]
    codec = _SYNTAXES.get(syntax)
    if codec is None:
        # Checked first: the data set of another syntax may not even be explicit VR.
        raise BrokenSlideError(f"unsupported DICOM transfer syntax {syntax}")
    walker = _Walker(reader)
    pixel_pos = walker.dataset(pos, None, ())
    found = walker.found
    top = found.top
    flavor = _strings(top.get(IMAGE_TYPE))[2:3]
    if flavor != ["VOLUME"]:
        # A label/overview/thumbnail file alone has no level: OpenSlide refuses it.
        raise BrokenSlideError(f"no pyramid level in this DICOM file (image type {flavor})")
    _check_pixel_format(top, codec)
    if CONCATENATION_UID in top:
        raise UnsupportedFormatError("a DICOM concatenation (one level over several files)")
    if SOP_INSTANCE not in top or SERIES_INSTANCE not in top:
        raise BrokenSlideError("the DICOM file lacks its SOP instance or series UID")
    tile_w, tile_h = _dimension(top, COLUMNS), _dimension(top, ROWS)
    width, height = _dimension(top, TOTAL_COLUMNS), _dimension(top, TOTAL_ROWS)
    check_level_size(width, height, tile_w, tile_h)
    frames = _int(top.get(NUMBER_OF_FRAMES)) if NUMBER_OF_FRAMES in top else 1
    if frames is None or frames <= 0:
        raise BrokenSlideError("the DICOM NumberOfFrames is malformed")
    cols, rows = -(-width // tile_w), -(-height // tile_h)
    if frames > _MAX_FRAMES_PER_TILE * cols * rows:
        # Beyond a frame per tile per optical path, frames only cost memory to list.
        raise BrokenSlideError(f"{frames} DICOM frames for {cols * rows} tiles")
    organization = (_strings(top.get(DIMENSION_ORGANIZATION_TYPE)) or ["TILED_FULL"])[0]
    if organization not in ("TILED_FULL", "TILED_SPARSE", "3D"):
        raise BrokenSlideError(f"unsupported DICOM DimensionOrganizationType {organization}")

    pixels = _PixelData(reader, pixel_pos, frames, tile_w * tile_h * 3, codec, top)
    tile_frames = _tile_frames(found, organization, cols, rows, tile_w, tile_h, frames)
    level = pixels.level(width, height, tile_w, tile_h, tile_frames, _photometric(top))
    levels = (level,)
    properties = {"openslide.vendor": "dicom"} | level_properties(levels)
    properties |= _calibration_properties(found)
    if found.icc_size:
        properties["openslide.icc-size"] = str(found.icc_size)
    used = {f for f in tile_frames if f >= 0}
    unused = [extent for f, extent in pixels.frame_extents() if f not in used]
    return SlideStructure(
        container="dicom",
        vendor="dicom",
        levels=levels,
        associated=(),
        properties=properties,
        structure=pixels.structure,
        unused=unused,
    )


@dataclass(frozen=True)
class DicomIdentity:
    """Which series a DICOM file belongs to and what it holds (VOLUME, LABEL, OVERVIEW,
    THUMBNAIL): enough to tell whether files sent as one slide are one slide."""

    series: str
    flavor: str
    width: int
    height: int


def dicom_identity(read_at: ReadAt, size: int) -> DicomIdentity:
    """The series and image type of a DICOM WSI file, from its data set (no pixel read)."""
    reader = _Reader(read_at, size)
    if size < 132 or reader.read(128, 4) != b"DICM":
        raise UnsupportedFormatError("not a DICOM file")
    meta, pos = _file_meta(reader)
    if _strings(meta.get(MEDIA_SOP_CLASS))[:1] != [_WSI_CLASS]:
        raise UnsupportedFormatError("not a DICOM whole-slide image")
    syntax = (_strings(meta.get(TRANSFER_SYNTAX)) or [""])[0]
    if syntax not in _SYNTAXES:
        raise BrokenSlideError(f"unsupported DICOM transfer syntax {syntax}")
    walker = _Walker(reader)
    walker.dataset(pos, None, ())
    top = walker.found.top
    series = (_strings(top.get(SERIES_INSTANCE)) or [""])[0]
    if not series:
        raise BrokenSlideError("the DICOM file lacks its series UID")
    flavor = (_strings(top.get(IMAGE_TYPE))[2:3] or [""])[0]
    width = _int(top.get(TOTAL_COLUMNS)) or 0
    height = _int(top.get(TOTAL_ROWS)) or 0
    return DicomIdentity(series, flavor, width, height)


def _file_meta(reader: _Reader) -> tuple[dict[int, _Value], int]:
    """Group 0002 elements (always explicit VR little endian) and where the data set starts."""
    meta: dict[int, _Value] = {}
    walker = _Walker(reader)
    pos = 132
    while pos + 8 <= reader.size:
        tag, vr, length, head = walker.header(pos)
        if tag >> 16 != 0x0002:
            break
        if length == _UNDEFINED or length > _MAX_VALUE:
            raise BrokenSlideError("malformed DICOM file meta information")
        reader.count()
        meta[tag] = _Value(vr, pos + head, length, reader.read(pos + head, length))
        pos += head + length
    return meta, pos


def _check_pixel_format(top: dict[int, _Value], codec: str) -> None:
    """The checks OpenSlide's maybe_add_file makes before it accepts a file."""
    for tag, name, expected, required in (
        (PLANAR_CONFIGURATION, "PlanarConfiguration", 0, True),
        (BITS_ALLOCATED, "BitsAllocated", 8, True),
        (BITS_STORED, "BitsStored", 8, True),
        (HIGH_BIT, "HighBit", 7, True),
        (SAMPLES_PER_PIXEL, "SamplesPerPixel", 3, True),
        (PIXEL_REPRESENTATION, "PixelRepresentation", 0, True),
        (FOCAL_PLANES, "TotalPixelMatrixFocalPlanes", 1, False),
    ):
        value = _int(top.get(tag))
        if value is None and required:
            raise BrokenSlideError(f"couldn't read DICOM {name}")
        if value is not None and value != expected:
            raise BrokenSlideError(f"DICOM {name} is {value}, not {expected}")
    photometric = _photometric(top)
    if photometric not in _PHOTOMETRICS[codec]:
        raise BrokenSlideError(f"unsupported DICOM photometric interpretation {photometric}")


def _photometric(top: dict[int, _Value]) -> str:
    return (_strings(top.get(PHOTOMETRIC)) or [""])[0]


def _tile_frames(
    found: _Collected,
    organization: str,
    cols: int,
    rows: int,
    tile_w: int,
    tile_h: int,
    frames: int,
) -> list[int]:
    """Frame index (0-based) of each tile, -1 where no frame covers it (libdicom's rule:
    positions in the per-frame groups make the layout sparse, whatever the type says)."""
    tiles = cols * rows
    if organization == "TILED_FULL" and not found.positions:
        if frames < tiles:
            raise BrokenSlideError(f"{frames} DICOM frames for {tiles} TILED_FULL tiles")
        return list(range(tiles))
    index = [-1] * tiles
    for frame, (column, row) in enumerate(found.positions):
        if (column - 1) % tile_w or (row - 1) % tile_h:
            raise BrokenSlideError("a DICOM frame is not aligned on the tile grid")
        tile = (column - 1) // tile_w + (row - 1) // tile_h * cols
        if 0 <= (column - 1) // tile_w < cols and 0 <= tile < tiles:
            if frame >= frames:
                raise BrokenSlideError("more positioned DICOM frames than NumberOfFrames")
            index[tile] = frame
    return index


def _calibration_properties(found: _Collected) -> dict[str, str]:
    """mpp from the shared PixelSpacing (mm, row then column) and the objective power,
    present only when OpenSlide's property keys exist (PixelSpacing with two values)."""
    properties = {}
    spacing = _decimals(found.pixel_spacing)
    if len(spacing) == 2:
        for value, key in zip(spacing, ("openslide.mpp-y", "openslide.mpp-x"), strict=True):
            parsed = parse_double(format_double(value)) if value is not None else None
            if parsed is not None:
                properties[key] = format_double(parsed * 1000.0)
    power = _decimals(found.objective_power)
    if len(power) == 1 and power[0] is not None:
        parsed = parse_double(format_double(power[0]))
        if parsed is not None:
            properties["openslide.objective-power"] = format_double(parsed)
    return properties


class _PixelData:
    """Frames of the Pixel Data element: native (frames back to back) or encapsulated
    (an item per fragment, a frame over one or more fragments)."""

    def __init__(
        self,
        reader: _Reader,
        pos: int,
        frames: int,
        frame_size: int,
        codec: str,
        top: dict[int, _Value],
    ) -> None:
        self.codec = codec
        self.trailing: list[tuple[int, int]] = []
        walker = _Walker(reader)
        tag, _, length, head = walker.header(pos)
        if tag != PIXEL_DATA:
            raise BrokenSlideError("the DICOM file has no Pixel Data")
        data = pos + head
        self.structure: list[tuple[int, int]] = [(0, data)]
        #: Per frame, its (offset, length) pieces.
        self.frames: list[tuple[tuple[int, int], ...]] = []
        if codec == "raw-rgb":
            if length == _UNDEFINED or length < frames * frame_size:
                raise BrokenSlideError("the DICOM Pixel Data is shorter than its frames")
            if data + frames * frame_size > reader.size:
                raise BrokenSlideError("the DICOM Pixel Data runs past the file's end")
            self.frames = [((data + i * frame_size, frame_size),) for i in range(frames)]
            return
        if length != _UNDEFINED:
            raise BrokenSlideError("encapsulated DICOM Pixel Data must have undefined length")
        items = self._items(walker, data)
        if not items:
            raise BrokenSlideError("the DICOM Pixel Data has no offset table item")
        table_pos, table_length = items[0]
        fragments = items[1:]
        starts = self._frame_starts(reader, top, table_pos, table_length, frames, fragments)
        bounds = [*starts, len(fragments)]
        for i in range(frames):
            pieces = tuple((o, n) for o, n in fragments[bounds[i] : bounds[i + 1]] if n)
            self.frames.append(pieces)
        # Fragments beyond the last frame's: image data nothing reads.
        self.trailing = fragments[bounds[frames] :] if len(bounds) > frames else []

    def _items(self, walker: _Walker, pos: int) -> list[tuple[int, int]]:
        """(data offset, length) of each item up to the sequence delimiter; every item
        header is structure (the reader needs them all to find the fragments)."""
        items: list[tuple[int, int]] = []
        while True:
            walker.reader.count()
            tag, _, length, _ = walker.header(pos)
            self.structure.append((pos, pos + 8))
            if tag == _SEQUENCE_END:
                return items
            if tag != _ITEM or length == _UNDEFINED:
                raise BrokenSlideError(f"malformed DICOM Pixel Data item at byte {pos}")
            if pos + 8 + length > walker.reader.size:
                raise BrokenSlideError("a DICOM Pixel Data fragment runs past the file's end")
            items.append((pos + 8, length))
            pos += 8 + length

    def _frame_starts(
        self,
        reader: _Reader,
        top: dict[int, _Value],
        table_pos: int,
        table_length: int,
        frames: int,
        fragments: list[tuple[int, int]],
    ) -> list[int]:
        """Index of each frame's first fragment, from the extended or basic offset
        table (offsets of item headers from the first fragment's), else one each."""
        self.structure.append((table_pos, table_pos + table_length))
        eot = top.get(EXTENDED_OFFSET_TABLE)
        if eot is not None and eot.length == 8 * frames:
            offsets = np.frombuffer(eot.data, dtype="<u8").astype(np.int64)
        elif table_length:
            if table_length != 4 * frames:
                raise BrokenSlideError(
                    f"the DICOM offset table has {table_length // 4} entries for {frames} frames"
                )
            table = reader.read(table_pos, table_length)
            offsets = np.frombuffer(table, dtype="<u4").astype(np.int64)
        else:
            if len(fragments) < frames:
                raise BrokenSlideError(f"{len(fragments)} DICOM fragments for {frames} frames")
            return list(range(frames))
        first = fragments[0][0] - 8 if fragments else table_pos + table_length
        where = {offset - 8 - first: i for i, (offset, _) in enumerate(fragments)}
        starts = [where.get(int(o), -1) for o in offsets]
        if -1 in starts or starts != sorted(starts) or len(set(starts)) != len(starts):
            raise BrokenSlideError("the DICOM offset table does not point at its fragments")
        return starts

    def frame_extents(self) -> list[tuple[int, tuple[int, int]]]:
        """(frame index or -1 for trailing fragments, [start, end)) of every piece."""
        result = [
            (frame, (o, o + n)) for frame, pieces in enumerate(self.frames) for o, n in pieces
        ]
        result += [(-1, (o, o + n)) for o, n in self.trailing if n]
        return result

    def level(
        self,
        width: int,
        height: int,
        tile_w: int,
        tile_h: int,
        tile_frames: list[int],
        photometric: str,
    ) -> LevelStructure:
        count = len(tile_frames)
        offsets = np.zeros(count, np.int64)
        counts = np.zeros(count, np.int64)
        fragments: dict[int, tuple[tuple[int, int], ...]] = {}
        absent = set()
        for tile, frame in enumerate(tile_frames):
            pieces = self.frames[frame] if frame >= 0 else ()
            if not pieces:
                absent.add(tile)
                continue
            offsets[tile], counts[tile] = pieces[0]
            if len(pieces) > 1:
                fragments[tile] = pieces
        codec = self.codec
        return LevelStructure(
            width=width,
            height=height,
            tile_width=tile_w,
            tile_height=tile_h,
            downsample=1.0,
            codec=codec,
            positions=Deferred.known(TilePositions(offsets, counts, fragments)),
            missing=Deferred.known(frozenset(absent)),
            decode_reason="JPEG 2000 frames need OpenSlide" if codec == "jpeg2000" else None,
            jpeg_colorspace="ycbcr" if photometric == "YBR_FULL_422" else "rgb",
        )
