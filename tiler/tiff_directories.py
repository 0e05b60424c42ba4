"""TIFF and BigTIFF directories read from untrusted bytes, through a `ReadAt` callable.

Only the header, the directory tables and the tag values asked for are read, so the
same parser serves a finished file and one whose bytes are still arriving (a read of
bytes not yet received raises, and nothing is guessed from holes). Every place the
directories point at is recorded: the byte layout is built from it.

Hostile input is the rule: directory loops, offsets beyond the file, absurd counts
and unknown field types are a `BrokenSlideError` with a one-line reason; no read is
larger than the caps below, whatever a count claims.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import numpy as np

from tiler.errors import BrokenSlideError, UnsupportedFormatError

#: `read_at(offset, length)` returns exactly `length` bytes or raises a `SlideError`.
ReadAt = Callable[[int, int], bytes]

#: Directories in a file (main chain and sub-directories together); scanners write < 20.
MAX_DIRECTORIES = 4096
#: Entries in one directory; a TIFF needs ~20, the TIFF tag space has 65536.
MAX_ENTRIES = 4096
#: Largest tag value we read: offset arrays of a 4-million-tile level, a long XML.
MAX_VALUE_BYTES = 32 << 20

# Tags (TIFF 6.0 and the technical notes).
NEW_SUBFILE_TYPE = 254
IMAGE_WIDTH = 256
IMAGE_LENGTH = 257
BITS_PER_SAMPLE = 258
COMPRESSION = 259
PHOTOMETRIC = 262
IMAGE_DESCRIPTION = 270
MAKE = 271
MODEL = 272
STRIP_OFFSETS = 273
SAMPLES_PER_PIXEL = 277
ROWS_PER_STRIP = 278
STRIP_BYTE_COUNTS = 279
X_RESOLUTION = 282
Y_RESOLUTION = 283
PLANAR_CONFIG = 284
RESOLUTION_UNIT = 296
SOFTWARE = 305
TILE_WIDTH = 322
TILE_LENGTH = 323
TILE_OFFSETS = 324
TILE_BYTE_COUNTS = 325
SUB_IFDS = 330
JPEG_TABLES = 347
XML_PACKET = 700
IMAGE_DEPTH = 32997
EXIF_IFD = 34665
GPS_IFD = 34853
INTEROPERABILITY_IFD = 40965
NDPI_FORMAT_FLAG = 65420

#: Hamamatsu NDPI (OpenSlide finds tag 65420 in the first directory) is not mapped.
NDPI_REASON = (
    "Hamamatsu NDPI is not mapped: its level tiles are restart intervals inside JPEG "
    "strips, which only OpenSlide cuts and decodes"
)

#: The tags an image decoder needs (baseline, tiles, JPEG tables, YCbCr, colour map),
#: copied into a one-image TIFF; nothing else of an untrusted directory is passed on.
_IMAGE_TAGS = frozenset(
    {254, 256, 257, 258, 259, 262, 266, 273, 274, 277, 278, 279, 284, 317, 320}
    | {322, 323, 324, 325, 338, 339, 347, 529, 530, 531, 532}
)
#: Bytes of tag values a one-image TIFF may carry (a colour map is 393 KB at most).
_MAX_IMAGE_VALUES = 1 << 20

#: Tags whose values are offsets of further directories (not of image data).
_IFD_POINTER_TAGS = frozenset({SUB_IFDS, EXIF_IFD, GPS_IFD, INTEROPERABILITY_IFD})
_IFD_TYPES = frozenset({13, 18})

#: Bytes per value of each field type; a rational is two longs. Any other type is an
#: error, as in OpenSlide's own TIFF reader (it refuses the file).
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}
_TYPE_SIZES |= {13: 4, 16: 8, 17: 8, 18: 8}
_UINT_FORMATS = {1: "B", 3: "H", 4: "I", 13: "I", 16: "Q", 18: "Q"}
_SINT_FORMATS = {6: "b", 8: "h", 9: "i", 17: "q"}


@dataclass(frozen=True, slots=True)
class Entry:
    """One directory entry: its value is `inline` or lies at `offset` (then `inline` is None)."""

    tag: int
    type: int
    count: int
    inline: bytes | None
    offset: int

    @property
    def nbytes(self) -> int:
        return self.count * _TYPE_SIZES[self.type]


@dataclass(slots=True)
class Directory:
    """One IFD. `index` is its place in the main chain (as libtiff numbers directories),
    or -1 for a sub-directory (SubIFDs, EXIF), which OpenSlide never reads."""

    index: int
    offset: int
    end: int
    next_offset: int = 0
    entries: dict[int, Entry] = field(default_factory=dict)

    def has(self, tag: int) -> bool:
        entry = self.entries.get(tag)
        return entry is not None and entry.count > 0


class TiffDirectories:
    """The directories of one TIFF file and the byte extents of its structure."""

    def __init__(self, read_at: ReadAt, size: int, *, sub_directories: bool = True) -> None:
        """`sub_directories=False` skips SubIFD/EXIF trees: no slide reader needs them, and
        a file still arriving may not have them yet."""
        self._read_at = read_at
        self.size = size
        # Eight bytes first: in a classic TIFF the next ones may be image data, which a
        # file still arriving may not have yet.
        head = read_at(0, 8) if size >= 8 else b""
        if head[:2] not in (b"II", b"MM"):
            raise UnsupportedFormatError("not a TIFF file")
        self.byteorder = "<" if head[:2] == b"II" else ">"
        version = self._unpack("H", head[2:4])
        if version == 43:
            head += read_at(8, 8) if size >= 16 else b""
            if len(head) < 16 or self._unpack("H", head[4:6]) != 8 or head[6:8] != b"\0\0":
                raise BrokenSlideError("unexpected value in the BigTIFF header")
            self.bigtiff = True
            first = self._unpack("Q", head[8:16])
            header_end = 16
        elif version == 42:
            self.bigtiff = False
            first = self._unpack("I", head[4:8])
            header_end = 8
        else:
            raise UnsupportedFormatError("not a TIFF file (unknown version)")
        #: Header and directory tables, as [start, end) pairs (tag values that lie
        #: elsewhere: `value_extents`).
        self.structure: list[tuple[int, int]] = [(0, header_end)]
        self._seen: set[int] = set()
        self.directories: list[Directory] = []
        offset = first
        while offset:
            directory = self._read_directory(offset, len(self.directories))
            if not self.directories and not self.bigtiff and directory.has(NDPI_FORMAT_FLAG):
                raise UnsupportedFormatError(NDPI_REASON)
            self.directories.append(directory)
            offset = directory.next_offset
        if not self.directories:
            raise BrokenSlideError("the TIFF contains no directories")
        #: Directories hanging off SubIFDs/EXIF tags: structure, never slide levels.
        self.sub_directories: list[Directory] = []
        if sub_directories:
            pending = list(self.directories)
            while pending:
                for child in self._children(pending.pop()):
                    pending.append(child)
                    self.sub_directories.append(child)

    def value_extents(self, skip: Collection[tuple[int, int]] = ()) -> list[tuple[int, int]]:
        """Where the tag values that are not in their directory lie, but for those of
        `skip` ((directory offset, tag) pairs) and those past the file's end."""
        return [
            (entry.offset, entry.offset + entry.nbytes)
            for directory in self.directories + self.sub_directories
            for entry in directory.entries.values()
            if entry.inline is None
            and entry.offset + entry.nbytes <= self.size
            and (directory.offset, entry.tag) not in skip
        ]

    def table_extent(self, entry: Entry) -> tuple[int, int] | None:
        """Where an array of unsigned integers (tile offsets, byte counts) lies, None when
        it is in its directory; checked against what the directory declares (type, size,
        the file's end) so that an array arriving later is read only once it has."""
        if entry.type not in _UINT_FORMATS:
            raise BrokenSlideError(f"TIFF tag {entry.tag} is not an unsigned integer")
        if entry.inline is not None:
            return None
        if entry.nbytes > MAX_VALUE_BYTES:
            raise BrokenSlideError(f"TIFF tag {entry.tag} claims {entry.nbytes} bytes")
        if entry.offset + entry.nbytes > self.size:
            raise BrokenSlideError(f"TIFF tag {entry.tag} points beyond the file's end")
        return entry.offset, entry.offset + entry.nbytes

    # -- reading -----------------------------------------------------------------

    def _unpack(self, fmt: str, data: bytes) -> int:
        value: int = struct.unpack(self.byteorder + fmt, data)[0]
        return value

    def _read_directory(self, offset: int, index: int) -> Directory:
        if offset in self._seen:
            raise BrokenSlideError(f"TIFF directory loop at byte {offset}")
        if len(self._seen) >= MAX_DIRECTORIES:
            raise BrokenSlideError(f"more than {MAX_DIRECTORIES} TIFF directories")
        self._seen.add(offset)
        count_size, entry_size, next_size = (8, 20, 8) if self.bigtiff else (2, 12, 4)
        if offset + count_size > self.size:
            raise BrokenSlideError(f"TIFF directory at byte {offset} is beyond the file's end")
        count = self._unpack("Q" if self.bigtiff else "H", self._read_at(offset, count_size))
        if count > MAX_ENTRIES:
            raise BrokenSlideError(f"TIFF directory at byte {offset} claims {count} entries")
        end = offset + count_size + count * entry_size + next_size
        if end > self.size:
            raise BrokenSlideError(f"TIFF directory at byte {offset} runs past the file's end")
        table = self._read_at(offset + count_size, end - offset - count_size)
        directory = Directory(index=index, offset=offset, end=end)
        value_size = 8 if self.bigtiff else 4
        head = self.byteorder + ("HHQ" if self.bigtiff else "HHI")
        for n in range(count):
            raw = table[n * entry_size : (n + 1) * entry_size]
            tag, type_, value_count = struct.unpack(head, raw[: entry_size - value_size])
            size = _TYPE_SIZES.get(type_)
            if size is None:
                raise BrokenSlideError(f"TIFF tag {tag} has unknown field type {type_}")
            value = raw[entry_size - value_size :]
            if size * value_count <= value_size:
                directory.entries[tag] = Entry(tag, type_, value_count, value, -1)
            else:
                place = self._unpack("Q" if self.bigtiff else "I", value)
                directory.entries[tag] = Entry(tag, type_, value_count, None, place)
        directory.next_offset = self._unpack(
            "Q" if self.bigtiff else "I", table[count * entry_size :]
        )
        self.structure.append((offset, end))
        return directory

    def _children(self, directory: Directory) -> list[Directory]:
        """Directories a SubIFDs/EXIF/GPS tag points at. OpenSlide never reads them, so a
        broken one is left out (its bytes become `other`) rather than failing the file."""
        children = []
        for entry in directory.entries.values():
            if entry.tag not in _IFD_POINTER_TAGS and entry.type not in _IFD_TYPES:
                continue
            try:
                offsets = self.uints(entry)
            except BrokenSlideError:
                continue
            for offset in offsets:
                children.extend(self._sub_chain(int(offset)))
        return children

    def _sub_chain(self, offset: int) -> list[Directory]:
        chain: list[Directory] = []
        mark = len(self.structure)
        try:
            while 0 < offset < self.size and offset not in self._seen:
                child = self._read_directory(offset, -1)
                chain.append(child)
                offset = child.next_offset
        except BrokenSlideError:
            del self.structure[mark:]
            return []
        return chain

    def value_bytes(self, entry: Entry, limit: int = MAX_VALUE_BYTES) -> bytes:
        """The raw value of `entry`, in file byte order."""
        if entry.inline is not None:
            return entry.inline[: entry.nbytes]
        if entry.nbytes > limit:
            raise BrokenSlideError(f"TIFF tag {entry.tag} claims {entry.nbytes} bytes")
        if entry.offset + entry.nbytes > self.size:
            raise BrokenSlideError(f"TIFF tag {entry.tag} points beyond the file's end")
        return self._read_at(entry.offset, entry.nbytes)

    # -- typed values ------------------------------------------------------------

    def uints(self, entry: Entry) -> np.ndarray:
        """Unsigned integer values as int64 (offsets beyond 2**63 are absurd anyway)."""
        fmt = _UINT_FORMATS.get(entry.type)
        if fmt is None:
            raise BrokenSlideError(f"TIFF tag {entry.tag} is not an unsigned integer")
        values = np.frombuffer(self.value_bytes(entry), dtype=np.dtype(self.byteorder + fmt))
        if fmt == "Q" and values.size and int(values.max()) >= 1 << 62:
            raise BrokenSlideError(f"TIFF tag {entry.tag} holds an absurd value")
        return values.astype(np.int64)

    def uint(self, directory: Directory, tag: int, default: int | None = None) -> int | None:
        """The first value of an unsigned integer tag, `default` when absent."""
        entry = directory.entries.get(tag)
        if entry is None or entry.count == 0:
            return default
        return int(self.uints(entry)[0])

    def float_value(self, directory: Directory, tag: int) -> float | None:
        """The first value of a rational/float tag as libtiff-like readers give it, or
        None where absent, of another type, or with a zero denominator."""
        entry = directory.entries.get(tag)
        if entry is None or entry.count == 0:
            return None
        data = self.value_bytes(entry, 1 << 16)
        order = self.byteorder
        if entry.type in (5, 10):
            num, den = struct.unpack(order + ("II" if entry.type == 5 else "ii"), data[:8])
            return None if den == 0 else num / den
        if entry.type == 11:
            return float(struct.unpack(order + "f", data[:4])[0])
        if entry.type == 12:
            return float(struct.unpack(order + "d", data[:8])[0])
        return None

    def text(self, directory: Directory, tag: int) -> str | None:
        """An ASCII/BYTE/UNDEFINED value up to its first NUL (as C readers see it)."""
        entry = directory.entries.get(tag)
        if entry is None or entry.count == 0 or entry.type not in (1, 2, 7):
            return None
        raw = self.value_bytes(entry)
        return raw.split(b"\0", 1)[0].decode("utf-8", errors="replace")

    def blob(self, directory: Directory, tag: int) -> bytes | None:
        entry = directory.entries.get(tag)
        if entry is None or entry.count == 0:
            return None
        return self.value_bytes(entry)

    def standalone(self, directory: Directory, limit: int) -> bytes:
        """A one-image TIFF (same byte order and flavour) holding `directory` and its
        image data, for an image library to decode; at most `limit` bytes of data."""
        order, big = self.byteorder, self.bigtiff
        word, entry_size = (8, 20) if big else (4, 12)
        offset_type, offset_fmt = (16, "Q") if big else (4, "I")
        entries = [e for tag, e in sorted(directory.entries.items()) if tag in _IMAGE_TAGS]
        # The image data, read first: its new place is known only once values are laid out.
        chunks: dict[int, list[bytes]] = {}
        total = 0
        for tag, counts_tag in (
            (STRIP_OFFSETS, STRIP_BYTE_COUNTS),
            (TILE_OFFSETS, TILE_BYTE_COUNTS),
        ):
            if tag in directory.entries and counts_tag in directory.entries:
                offsets = self.uints(directory.entries[tag])
                counts = self.uints(directory.entries[counts_tag])
                if len(offsets) != len(counts):
                    raise BrokenSlideError(f"TIFF directory {directory.index} is inconsistent")
                total += int(counts.sum())
                if total > limit:
                    raise BrokenSlideError(f"an image of {total} bytes is beyond {limit}")
                chunks[tag] = [
                    self._read_at(int(o), int(c)) if c else b""
                    for o, c in zip(offsets, counts, strict=True)
                ]
        fields: list[tuple[Entry, bytes]] = []
        for e in entries:
            if e.tag in chunks:
                n = len(chunks[e.tag])
                fields.append((Entry(e.tag, offset_type, n, None, -1), bytes(n * word)))
            else:
                fields.append((e, self.value_bytes(e, _MAX_IMAGE_VALUES)))
        if sum(len(raw) for _, raw in fields) > _MAX_IMAGE_VALUES:
            raise BrokenSlideError(f"TIFF directory {directory.index} has oversized tag values")
        header = 16 if big else 8
        position = header + (8 if big else 2) + len(fields) * entry_size + word
        value_at: list[int] = []
        for _, raw in fields:
            value_at.append(position if len(raw) > word else -1)
            if len(raw) > word:
                position += len(raw) + len(raw) % 2
        data_at: dict[int, list[int]] = {}
        for tag, pieces in chunks.items():
            data_at[tag] = []
            for piece in pieces:
                data_at[tag].append(position if piece else 0)
                position += len(piece)
        fields = [
            (e, b"".join(struct.pack(order + offset_fmt, p) for p in data_at[e.tag]))
            if e.tag in data_at
            else (e, raw)
            for e, raw in fields
        ]
        out = [b"II" if order == "<" else b"MM"]
        if big:
            out.append(struct.pack(order + "HHHQ", 43, 8, 0, header))
        else:
            out.append(struct.pack(order + "HI", 42, header))
        out.append(struct.pack(order + ("Q" if big else "H"), len(fields)))
        for (e, raw), place in zip(fields, value_at, strict=True):
            value = raw if place < 0 else struct.pack(order + offset_fmt, place)
            out.append(struct.pack(order + ("HHQ" if big else "HHI"), e.tag, e.type, e.count))
            out.append(value.ljust(word, b"\0"))
        out.append(bytes(word))
        for (_, raw), place in zip(fields, value_at, strict=True):
            if place >= 0:
                out.append(raw + bytes(len(raw) % 2))
        for pieces in chunks.values():
            out += pieces
        return b"".join(out)
