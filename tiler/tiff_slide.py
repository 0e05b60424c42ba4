"""Which TIFF directory is which OpenSlide level or associated image, read as OpenSlide 4
reads it (openslide-vendor-aperio.c, -generic-tiff.c, openslide.c), with its metadata.

Mapped: Aperio SVS (JPEG and JPEG 2000 tiles) and generic tiled TIFF, classic and
BigTIFF. The other TIFF-based vendors are recognised the way OpenSlide detects them,
in its order, and refused with the reason (`UnsupportedFormatError`): their levels
come from XML, overlap, or are not TIFF tiles, and no test file exists to check a
mapping against.
"""

from __future__ import annotations

import numpy as np

from tiler.errors import BrokenSlideError, UnsupportedFormatError
from tiler.slide_structure import (
    MAX_TILES,
    AssociatedStructure,
    Deferred,
    Extent,
    LevelStructure,
    SlideStructure,
    TilePositions,
    check_level_size,
    downsamples,
    format_double,
    level_properties,
    parse_double,
)
from tiler.tiff_directories import (
    BITS_PER_SAMPLE,
    COMPRESSION,
    IMAGE_DEPTH,
    IMAGE_DESCRIPTION,
    IMAGE_LENGTH,
    IMAGE_WIDTH,
    JPEG_TABLES,
    MAKE,
    NEW_SUBFILE_TYPE,
    PHOTOMETRIC,
    PLANAR_CONFIG,
    RESOLUTION_UNIT,
    SAMPLES_PER_PIXEL,
    SOFTWARE,
    STRIP_BYTE_COUNTS,
    STRIP_OFFSETS,
    TILE_BYTE_COUNTS,
    TILE_LENGTH,
    TILE_OFFSETS,
    TILE_WIDTH,
    X_RESOLUTION,
    XML_PACKET,
    Y_RESOLUTION,
    Directory,
    Entry,
    TiffDirectories,
)

_OLD_SUBFILE_TYPE = 255
_ICC_PROFILE = 34675
_ARGOS_METADATA = 65000
_APERIO_JP2K = {33003: "ycbcr", 33005: "rgb"}
#: Codecs the libtiff inside openslide-bin decodes (zlib, zstd, libjpeg; no WebP,
#: LZMA, LERC or JPEG 2000): OpenSlide refuses a level or image in any other.
_CODECS = {
    1: "none",
    2: "ccitt-rle",
    3: "ccitt-g3",
    4: "ccitt-g4",
    5: "lzw",
    6: "old-jpeg",
    7: "jpeg",
    8: "deflate",
    32766: "next",
    32771: "ccitt-rlew",
    32773: "packbits",
    32809: "thunderscan",
    32908: "pixar-film",
    32909: "pixar-log",
    32946: "deflate",
    34676: "sgilog",
    34677: "sgilog24",
    50000: "zstd",
}
_PHOTOMETRIC_RGB = 2
_PHOTOMETRIC_YCBCR = 6
_TIFF_STRINGS = {
    "tiff.ImageDescription": IMAGE_DESCRIPTION,
    "tiff.Make": MAKE,
    "tiff.Model": 272,
    "tiff.Software": SOFTWARE,
    "tiff.DateTime": 306,
    "tiff.Artist": 315,
    "tiff.HostComputer": 316,
    "tiff.Copyright": 33432,
    "tiff.DocumentName": 269,
}
_TIFF_FLOATS = {
    "tiff.XResolution": X_RESOLUTION,
    "tiff.YResolution": Y_RESOLUTION,
    "tiff.XPosition": 286,
    "tiff.YPosition": 287,
}


def tiff_structure(tiff: TiffDirectories) -> SlideStructure:
    """The slide OpenSlide will open from this TIFF, or a typed error saying why not."""
    vendor = _detect_vendor(tiff)
    if vendor == "aperio":
        levels, associated, properties = _aperio(tiff)
    else:
        levels, associated, properties = _generic(tiff)
    properties |= level_properties(tuple(levels))
    properties["openslide.vendor"] = vendor
    for image in associated:
        properties[f"openslide.associated.{image.name}.width"] = str(image.width)
        properties[f"openslide.associated.{image.name}.height"] = str(image.height)
    level_dirs = level_directories(tiff, vendor)
    icc = level_dirs[0].entries.get(_ICC_PROFILE)
    if icc is not None and icc.count:
        properties["openslide.icc-size"] = str(icc.count)
    used = {image.directory for image in associated} | {d.index for d in level_dirs}
    unused = []
    for directory in tiff.directories + tiff.sub_directories:
        if directory.index not in used:
            unused += _unused_extents(tiff, directory, TILE_OFFSETS, TILE_BYTE_COUNTS)
        if directory.index not in used or _is_tiled(directory):
            # A level's strips, if it also has some, are not what OpenSlide reads.
            unused += _unused_extents(tiff, directory, STRIP_OFFSETS, STRIP_BYTE_COUNTS)
    tables = {(d.offset, tag) for d in level_dirs for tag in (TILE_OFFSETS, TILE_BYTE_COUNTS)}
    return SlideStructure(
        container="bigtiff" if tiff.bigtiff else "tiff",
        vendor=vendor,
        levels=tuple(levels),
        associated=tuple(sorted(associated, key=lambda a: a.name)),
        properties=properties,
        structure=tiff.structure + tiff.value_extents(skip=tables),
        unused=unused,
        tiff=tiff,
    )


# -- vendor detection, in OpenSlide's order ------------------------------------------


def _is_tiled(directory: Directory) -> bool:
    return directory.has(TILE_WIDTH) and directory.has(TILE_LENGTH)


def _detect_vendor(tiff: TiffDirectories) -> str:
    first = tiff.directories[0]
    software = tiff.text(first, SOFTWARE) or ""
    description = tiff.text(first, IMAGE_DESCRIPTION)
    tiled = _is_tiled(first)
    if (
        software.startswith("MedScan")
        and description is not None
        and all(_is_tiled(d) for d in tiff.directories)
    ):
        raise UnsupportedFormatError(
            "Trestle TIFF is not mapped: its tiles overlap (OverlapsXY) and OpenSlide "
            "composites them"
        )
    if tiled and description is not None and description.startswith("Aperio"):
        return "aperio"
    if tiled and (tiff.text(first, MAKE) or "").startswith("Huron"):
        raise UnsupportedFormatError("Huron TIFF is not mapped (no test file to check it on)")
    if tiled and "Argos.Scan.Metadata" in (tiff.text(first, _ARGOS_METADATA) or ""):
        raise UnsupportedFormatError("Argos TIFF is not mapped: its levels come from XML")
    if tiled and description is not None and "leica-microsystems.com/scn/2010" in description:
        raise UnsupportedFormatError(
            "Leica SCN is not mapped: its levels and images come from an XML collection"
        )
    if software.startswith("Philips") and description is not None and "DataObject" in description:
        raise UnsupportedFormatError(
            "Philips TIFF is not mapped: its level geometry and label/macro images come "
            "from the XML description"
        )
    if "iScan" in (tiff.text(first, XML_PACKET) or ""):
        raise UnsupportedFormatError(
            "Ventana BIF is not mapped: its tiles overlap and are placed from XML"
        )
    if tiled:
        return "generic-tiff"
    raise UnsupportedFormatError("not a whole-slide TIFF (its first image is not tiled)")


# -- Aperio --------------------------------------------------------------------------


def _aperio(
    tiff: TiffDirectories,
) -> tuple[list[LevelStructure], list[AssociatedStructure], dict[str, str]]:
    properties = _aperio_properties(tiff)
    level_dirs: list[Directory] = []
    associated = []
    for directory in tiff.directories:
        depth = tiff.uint(directory, IMAGE_DEPTH, 1)
        if depth != 1:
            raise BrokenSlideError(f"cannot handle ImageDepth={depth}")
        compression = _compression(tiff, directory, aperio=True)
        if _is_tiled(directory):
            level_dirs.append(directory)
            continue
        if directory.index == 1:
            name: str | None = "thumbnail"
        else:
            subfile = tiff.uint(directory, NEW_SUBFILE_TYPE)
            name = {1: "label", 9: "macro"}.get(subfile or -1)
        if name is not None:
            if compression not in _CODECS:  # OpenSlide refuses an image libtiff cannot read
                raise BrokenSlideError(f"unsupported TIFF compression: {compression}")
            associated.append(_associated(tiff, directory, name))
    if not level_dirs:
        raise BrokenSlideError("the Aperio slide has no tiled level")
    levels = _levels(tiff, level_dirs, aperio=True)
    properties |= _tiff_properties(tiff, tiff.directories[0])
    return levels, associated, properties


def _aperio_properties(tiff: TiffDirectories) -> dict[str, str]:
    """aperio.* from the first ImageDescription ("Aperio ...|key = value|..."), and the
    objective power and mpp OpenSlide derives from them."""
    description = tiff.text(tiff.directories[0], IMAGE_DESCRIPTION) or ""
    properties: dict[str, str] = {}
    for field in description.split("|")[1:]:
        key, sep, value = field.partition("=")
        if sep:
            properties[f"aperio.{key.strip(_SPACE)}"] = value.strip(_SPACE)
    for source, target in (
        ("aperio.AppMag", "openslide.objective-power"),
        ("aperio.MPP", "openslide.mpp-x"),
        ("aperio.MPP", "openslide.mpp-y"),
    ):
        number = parse_double(properties[source]) if source in properties else None
        if number is not None:
            properties[target] = format_double(number)
    return properties


_SPACE = " \t\n\v\f\r"


def _missing(
    counts: Deferred[np.ndarray], finer: LevelStructure | None, cols: int, rows: int
) -> frozenset[int]:
    """The tiles OpenSlide draws from elsewhere: those with no bytes and, in an Aperio
    slide (`finer` given), the tiles covering one missing in the finer level (drawn from
    it: "sometimes corrupt", says OpenSlide), level by level."""
    missing = {int(t) for t in np.flatnonzero(counts.get() == 0)}
    above = finer.missing.get() if finer is not None else frozenset()
    if finer is not None and above:
        concat_x = round(finer.cols / cols)
        concat_y = round(finer.rows / rows)
        if concat_x == 0 or concat_y == 0:
            raise BrokenSlideError("an Aperio level has more tiles than the level above")
        for tile in above:
            col = (tile % finer.cols) // concat_x
            row = (tile // finer.cols) // concat_y
            if col < cols and row < rows:
                missing.add(row * cols + col)
    return frozenset(missing)


# -- generic tiled TIFF --------------------------------------------------------------


def _generic_level_dirs(tiff: TiffDirectories) -> list[Directory]:
    """Tiled directories that are the first image or marked reduced-resolution."""
    chosen = []
    for directory in tiff.directories:
        if not _is_tiled(directory):
            continue
        if directory.index != 0:
            subfile = tiff.uint(directory, NEW_SUBFILE_TYPE)
            if subfile is None:
                old = tiff.uint(directory, _OLD_SUBFILE_TYPE)
                subfile = {2: 1, 3: 2}.get(old or -1)  # libtiff maps the old tag
            if subfile is None or not subfile & 1:
                continue
        _compression(tiff, directory, aperio=False)
        chosen.append(directory)
    # Widest first; a stable sort, as GLib's g_ptr_array_sort is.
    return sorted(chosen, key=lambda d: -_required(tiff, d, IMAGE_WIDTH))


def _generic(
    tiff: TiffDirectories,
) -> tuple[list[LevelStructure], list[AssociatedStructure], dict[str, str]]:
    levels = _levels(tiff, _generic_level_dirs(tiff), aperio=False)
    first = tiff.directories[0]
    properties = _tiff_properties(tiff, first) | _resolution_properties(tiff, first)
    return levels, [], properties


def level_directories(tiff: TiffDirectories, vendor: str) -> list[Directory]:
    if vendor == "aperio":
        return [d for d in tiff.directories if _is_tiled(d)]
    return _generic_level_dirs(tiff)


# -- shared --------------------------------------------------------------------------


def _required(tiff: TiffDirectories, directory: Directory, tag: int) -> int:
    value = tiff.uint(directory, tag)
    if value is None:
        raise BrokenSlideError(f"TIFF directory {directory.index} lacks required tag {tag}")
    return value


def _compression(tiff: TiffDirectories, directory: Directory, *, aperio: bool) -> int:
    compression = tiff.uint(directory, COMPRESSION, 1) or 1
    if compression not in _CODECS and not (aperio and compression in _APERIO_JP2K):
        raise BrokenSlideError(f"unsupported TIFF compression: {compression}")
    return compression


def _codec(compression: int) -> str:
    if compression in _APERIO_JP2K:
        return "jpeg2000"
    if compression not in _CODECS:
        raise BrokenSlideError(f"unsupported TIFF compression: {compression}")
    return _CODECS[compression]


def _levels(
    tiff: TiffDirectories, directories: list[Directory], *, aperio: bool
) -> list[LevelStructure]:
    sizes = []
    for directory in directories:
        width = _required(tiff, directory, IMAGE_WIDTH)
        height = _required(tiff, directory, IMAGE_LENGTH)
        sizes.append((width, height))
    levels: list[LevelStructure] = []
    #: Where the byte counts of the finer levels lie (an Aperio level's table needs them).
    finer_counts: tuple[Extent, ...] = ()
    for directory, downsample in zip(directories, downsamples(sizes), strict=True):
        finer = levels[-1] if aperio and levels else None
        level, counts = _level(tiff, directory, downsample, finer, finer_counts)
        levels.append(level)
        if aperio and counts is not None:
            finer_counts += (counts,)
    return levels


def _level(
    tiff: TiffDirectories,
    directory: Directory,
    downsample: float,
    finer: LevelStructure | None,
    finer_counts: tuple[Extent, ...],
) -> tuple[LevelStructure, Extent | None]:
    """The level (its tile table read on first use) and where its byte counts lie."""
    width = _required(tiff, directory, IMAGE_WIDTH)
    height = _required(tiff, directory, IMAGE_LENGTH)
    tile_width = _required(tiff, directory, TILE_WIDTH)
    tile_height = _required(tiff, directory, TILE_LENGTH)
    check_level_size(width, height, tile_width, tile_height)
    compression = tiff.uint(directory, COMPRESSION, 1) or 1
    codec = _codec(compression)
    planar = tiff.uint(directory, PLANAR_CONFIG, 1)
    if planar != 1:
        raise UnsupportedFormatError("TIFF levels with separate colour planes are not mapped")
    cols, rows = -(-width // tile_width), -(-height // tile_height)
    offsets_entry, counts_entry = _table_entries(tiff, directory, cols * rows)
    counts_at = tiff.table_extent(counts_entry)
    own = tuple(e for e in (tiff.table_extent(offsets_entry), counts_at) if e is not None)
    counts = Deferred(lambda: tiff.uints(counts_entry)[: cols * rows])

    def positions() -> TilePositions:
        offsets = tiff.uints(offsets_entry)[: cols * rows]
        _check_extents(tiff, directory, offsets, counts.get())
        return TilePositions(offsets, counts.get())

    photometric = tiff.uint(directory, PHOTOMETRIC)
    reason = _decode_reason(tiff, directory, codec, photometric)
    colorspace = "ycbcr"
    if compression in _APERIO_JP2K:
        colorspace = _APERIO_JP2K[compression]
    elif photometric == _PHOTOMETRIC_RGB:
        colorspace = "rgb"
    tables = tiff.blob(directory, JPEG_TABLES) if reason is None else None
    level = LevelStructure(
        width=width,
        height=height,
        tile_width=tile_width,
        tile_height=tile_height,
        downsample=downsample,
        codec=codec,
        positions=Deferred(positions),
        missing=Deferred(lambda: _missing(counts, finer, cols, rows)),
        table=own + finer_counts,
        decode_reason=reason,
        jpeg_colorspace="rgb" if colorspace == "rgb" else "ycbcr",
        jpeg_tables=tables,
    )
    return level, counts_at


def _table_entries(tiff: TiffDirectories, directory: Directory, tiles: int) -> tuple[Entry, Entry]:
    """A level's TileOffsets and TileByteCounts entries, checked against what the
    directory declares before their values are read (they may arrive later)."""
    offsets = directory.entries.get(TILE_OFFSETS)
    counts = directory.entries.get(TILE_BYTE_COUNTS)
    if offsets is None or counts is None:
        raise BrokenSlideError(f"TIFF directory {directory.index} has 0 tiles, needs {tiles}")
    if offsets.count > MAX_TILES or counts.count > MAX_TILES:
        raise BrokenSlideError(f"TIFF directory {directory.index} claims absurd tile counts")
    if offsets.count != counts.count:
        raise BrokenSlideError(
            f"TIFF directory {directory.index} has {offsets.count} offsets, {counts.count} counts"
        )
    if offsets.count < tiles:
        raise BrokenSlideError(
            f"TIFF directory {directory.index} has {offsets.count} tiles, needs {tiles}"
        )
    return offsets, counts


def _decode_reason(
    tiff: TiffDirectories, directory: Directory, codec: str, photometric: int | None
) -> str | None:
    """None when the tiles are what OpenSlide decodes straight with libjpeg (8-bit 3-sample
    RGB/YCbCr JPEG), which the hub does too; else why only OpenSlide decodes them."""
    if codec == "jpeg2000":
        return "JPEG 2000 tiles need OpenSlide"
    if codec != "jpeg":
        return f"{codec} tiles need OpenSlide (the hub decodes JPEG tiles only)"
    samples = tiff.uint(directory, SAMPLES_PER_PIXEL, 1)
    bits = tiff.uint(directory, BITS_PER_SAMPLE, 1)
    if samples != 3 or bits != 8:
        return f"JPEG tiles with {samples} samples of {bits} bits need OpenSlide"
    if photometric not in (_PHOTOMETRIC_RGB, _PHOTOMETRIC_YCBCR):
        return f"JPEG tiles with photometric {photometric} need OpenSlide"
    return None


def _offsets_counts(
    tiff: TiffDirectories, directory: Directory, offsets_tag: int, counts_tag: int
) -> tuple[np.ndarray, np.ndarray]:
    offsets_entry = directory.entries.get(offsets_tag)
    counts_entry = directory.entries.get(counts_tag)
    if offsets_entry is None or counts_entry is None:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if offsets_entry.count > MAX_TILES or counts_entry.count > MAX_TILES:
        raise BrokenSlideError(f"TIFF directory {directory.index} claims absurd tile counts")
    offsets = tiff.uints(offsets_entry)
    counts = tiff.uints(counts_entry)
    if len(offsets) != len(counts):
        raise BrokenSlideError(
            f"TIFF directory {directory.index} has {len(offsets)} offsets, {len(counts)} counts"
        )
    return offsets, counts


def _check_extents(
    tiff: TiffDirectories, directory: Directory, offsets: np.ndarray, counts: np.ndarray
) -> None:
    stored = counts > 0
    if stored.any() and int((offsets + counts)[stored].max()) > tiff.size:
        raise BrokenSlideError(
            f"TIFF directory {directory.index} points at image data beyond the file's end"
        )


def _extents(
    tiff: TiffDirectories, directory: Directory, offsets_tag: int, counts_tag: int
) -> list[tuple[int, int]]:
    offsets, counts = _offsets_counts(tiff, directory, offsets_tag, counts_tag)
    _check_extents(tiff, directory, offsets, counts)
    return [(int(o), int(o + c)) for o, c in zip(offsets, counts, strict=True) if c > 0]


def _unused_extents(
    tiff: TiffDirectories, directory: Directory, offsets_tag: int, counts_tag: int
) -> list[tuple[int, int]]:
    """Image data OpenSlide never reads: whatever of it is sound and inside the file (a
    broken unused page does not stop OpenSlide, so it does not stop the layout)."""
    try:
        offsets, counts = _offsets_counts(tiff, directory, offsets_tag, counts_tag)
    except BrokenSlideError:
        return []
    return [
        (int(o), int(o + c))
        for o, c in zip(offsets, counts, strict=True)
        if c > 0 and o + c <= tiff.size
    ]


def _associated(tiff: TiffDirectories, directory: Directory, name: str) -> AssociatedStructure:
    width = _required(tiff, directory, IMAGE_WIDTH)
    height = _required(tiff, directory, IMAGE_LENGTH)
    if width <= 0 or height <= 0:
        raise BrokenSlideError(f"empty {name} image ({width}x{height})")
    if _is_tiled(directory):
        extents = _extents(tiff, directory, TILE_OFFSETS, TILE_BYTE_COUNTS)
    else:
        extents = _extents(tiff, directory, STRIP_OFFSETS, STRIP_BYTE_COUNTS)
    return AssociatedStructure(
        name=name,
        width=width,
        height=height,
        extents=tuple((start, end - start) for start, end in extents),
        directory=directory.index,
    )


def _tiff_properties(tiff: TiffDirectories, directory: Directory) -> dict[str, str]:
    """tiff.* and openslide.comment as _openslide_tifflike_init_properties_and_hash sets
    them (the quickhash itself, which reads the smallest level's tiles, is left out)."""
    properties = {}
    for name, tag in _TIFF_STRINGS.items():
        text = tiff.text(directory, tag)
        if text is not None:
            properties[name] = text
    if "tiff.ImageDescription" in properties:
        properties["openslide.comment"] = properties["tiff.ImageDescription"]
    for name, tag in _TIFF_FLOATS.items():
        value = tiff.float_value(directory, tag)
        if value is not None:
            properties[name] = format_double(value)
    unit = _resolution_unit(tiff, directory)
    properties["tiff.ResolutionUnit"] = {1: "none", 2: "inch", 3: "centimeter"}.get(
        unit if unit is not None else 2, "unknown"
    )
    return properties


def _resolution_unit(tiff: TiffDirectories, directory: Directory) -> int | None:
    try:
        return tiff.uint(directory, RESOLUTION_UNIT, 2)
    except BrokenSlideError:
        return None  # a unit of another type: OpenSlide sets no mpp


def _resolution_properties(tiff: TiffDirectories, directory: Directory) -> dict[str, str]:
    """openslide.mpp-x/y from X/YResolution (_openslide_tifflike_set_resolution_props)."""
    unit = _resolution_unit(tiff, directory)
    dividend = {2: 25400.0, 3: 10000.0}.get(unit if unit is not None else -1)
    if dividend is None:
        return {}
    x = tiff.float_value(directory, X_RESOLUTION)
    y = tiff.float_value(directory, Y_RESOLUTION)
    if not x or not y:
        return {}
    return {
        "openslide.mpp-x": format_double(dividend / x),
        "openslide.mpp-y": format_double(dividend / y),
    }
