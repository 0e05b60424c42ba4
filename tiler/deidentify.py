"""De-identified copies of slide files for teaching: a new file holding only the levels.

Rewritten, never patched: a new TIFF is written with the slide's level directories
alone, each carrying a whitelist of tags (what a decoder needs, the resolution, the
colour profile) and its tiles copied byte for byte. Whatever is not copied is absent
from the new file, not merely unreferenced: label, macro and thumbnail images, the old
directories, free-text tags (DateTime, Make, Model, Software, Artist, DocumentName,
HostComputer, XMP, EXIF), strips, unused bytes between images. An Aperio description
keeps its "Aperio" head (OpenSlide's detection) and only the keys that are numbers a
viewer needs (AppMag, MPP); Filename, Date, Time, User, ScanScope ID, barcodes and any
key we do not know are dropped, since a whitelist cannot miss a new identifying key.

Rewritable: OpenSlide's `aperio` and `generic-tiff` vendors (classic and BigTIFF, any
tile codec: tiles are copied, never re-encoded, so pixels are identical). Every
other format is refused with the reason (`DeidentifyRefusedError`): never copied
with its identifiers.

Pixels themselves are not looked at: a label photographed into the tissue area, or
text burnt into a level by a scanner, would survive (no scanner we map does that).
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from tiler.errors import BrokenSlideError, SlideError, UnsupportedFormatError
from tiler.reasons import N_
from tiler.registry import open_slide
from tiler.tiff_directories import (
    IMAGE_DESCRIPTION,
    TILE_BYTE_COUNTS,
    TILE_OFFSETS,
    Directory,
    ReadAt,
    TiffDirectories,
)
from tiler.tiff_slide import level_directories, tiff_structure

#: The vendors whose files are rewritten (OpenSlide's names).
REWRITABLE = frozenset({"aperio", "generic-tiff"})

#: Why each other format OpenSlide reads is refused; the fallback names the vendor.
REFUSALS: dict[str, str] = {
    "dicom": N_(
        "DICOM WSI keeps the patient module (name, ID, birth date, accession) in "
        "every file of the series; rewriting DICOM is not built"
    ),
    "hamamatsu": N_(
        "Hamamatsu NDPI/VMS keeps its macro image and scanner metadata in vendor "
        "tags and side files; rewriting them is not built"
    ),
    "mirax": N_(
        "MIRAX is a folder of files whose index holds the slide's name and barcode; "
        "rewriting it is not built"
    ),
    "philips": N_(
        "Philips TIFF keeps its label, macro and patient fields in the XML "
        "description its levels come from; rewriting it is not built"
    ),
    "leica": N_(
        "Leica SCN keeps its images and metadata in an XML collection; rewriting it is not built"
    ),
    "ventana": N_(
        "Ventana BIF places its tiles from XML that also holds the slide's label "
        "data; rewriting it is not built"
    ),
}

#: Tags copied from a level's directory: what a decoder needs (as `standalone` keeps),
#: resolution, ImageDepth and the ICC profile. Nothing else of the source passes.
_KEPT_TAGS = frozenset(
    {254, 256, 257, 258, 259, 262, 266, 274, 277, 282, 283, 284, 296, 317, 320}
    | {322, 323, 338, 339, 347, 529, 530, 531, 532, 32997, 34675}
)
#: Bytes of one copied tag value (JPEG tables: ~600 B; an ICC profile: < 4 MB).
_MAX_TAG_BYTES = 8 << 20
#: Keys of the Aperio description kept, when their value is a plain number.
_APERIO_KEYS = ("AppMag", "MPP")
_NUMBER = re.compile(r"[0-9]{1,6}(\.[0-9]{1,8})?")
_APERIO_HEAD = "Aperio Image Library, de-identified copy"
_COPY_CHUNK = 1 << 20


class DeidentifyRefusedError(SlideError):
    """The file's format cannot be rewritten without its identifiers: it is not copied."""


@dataclass(frozen=True, slots=True)
class Deidentified:
    vendor: str
    levels: int
    #: Associated images left out (label, macro, thumbnail), by OpenSlide's names.
    dropped_images: tuple[str, ...]
    size_bytes: int


def refusal(vendor: str) -> str | None:
    """Why a slide of this OpenSlide vendor cannot be de-identified, None if it can."""
    if vendor in REWRITABLE:
        return None
    if vendor in REFUSALS:
        return REFUSALS[vendor]
    if not vendor:
        return N_("this format cannot be rewritten without its identifiers")
    return N_("{vendor} format cannot be rewritten without its identifiers", vendor=vendor)


def aperio_description(original: str) -> str:
    """The scrubbed description of an Aperio level 0: the head and the numeric keys kept."""
    kept = []
    for field in original.split("|")[1:]:
        key, sep, value = field.partition("=")
        key, value = key.strip(), value.strip()
        if sep and key in _APERIO_KEYS and _NUMBER.fullmatch(value):
            kept.append(f"{key} = {value}")
    return "|".join([_APERIO_HEAD, *kept])


def deidentify(source: Path, target: Path) -> Deidentified:
    """Write a de-identified copy of `source` to `target` (created, fsynced).

    Raises `DeidentifyRefusedError` for a format we cannot rewrite, and the engine's
    `SlideError`s for a broken file; `target` is removed on any failure."""
    size = source.stat().st_size
    with open(source, "rb") as handle:
        read_at = _reader(handle, size)
        try:
            tiff = TiffDirectories(read_at, size, sub_directories=False)
            structure = tiff_structure(tiff)
        except UnsupportedFormatError as error:
            raise DeidentifyRefusedError(
                N_(
                    "only Aperio SVS and generic tiled TIFF can be de-identified: {reason}",
                    reason=error.reason,
                )
            ) from error
        if structure.vendor not in REWRITABLE:  # tiff_structure refuses the others already
            raise DeidentifyRefusedError(refusal(structure.vendor) or structure.vendor)
        directories = level_directories(tiff, structure.vendor)
        try:
            with open(target, "wb") as out:
                writer = _Writer(out, tiff.byteorder, tiff.bigtiff)
                for index, (directory, level) in enumerate(
                    zip(directories, structure.levels, strict=True)
                ):
                    positions = level.positions.get()
                    description = None
                    if structure.vendor == "aperio":
                        original = tiff.text(directory, IMAGE_DESCRIPTION) or ""
                        description = aperio_description(original if index == 0 else "")
                    writer.directory(tiff, directory, positions.offsets, positions.counts,
                                     read_at, description)  # fmt: skip
                writer.finish()
                out.flush()
                os.fsync(out.fileno())
            check_copy(target, [(level.width, level.height) for level in structure.levels])
        except BaseException:
            target.unlink(missing_ok=True)
            raise
    return Deidentified(
        vendor=structure.vendor,
        levels=len(directories),
        dropped_images=tuple(image.name for image in structure.associated),
        size_bytes=target.stat().st_size,
    )


#: OpenSlide properties a copy may carry: what OpenSlide derives from the geometry, the
#: resolution, and the scrubbed Aperio description with its numbers.
_ALLOWED_PROPERTY = re.compile(
    r"openslide\.(level\[\d+\]\.[a-z-]+|level-count|vendor|mpp-[xy]|objective-power"
    r"|bounds-[a-z]+|icc-size|quickhash-1|comment|background-color)"
    r"|tiff\.(ImageDescription|ResolutionUnit|XResolution|YResolution)"
    r"|aperio\.(AppMag|MPP)"
)
_WRITTEN_TAGS = _KEPT_TAGS | {IMAGE_DESCRIPTION, TILE_OFFSETS, TILE_BYTE_COUNTS}


def check_copy(path: Path, levels: list[tuple[int, int]]) -> None:
    """Read a copy back, with our TIFF parser and with OpenSlide: only whitelisted tags,
    no associated image, no property outside the whitelist, the source's `levels`
    (width, height). Raises `DeidentifyRefusedError` naming what is wrong."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        tiff = TiffDirectories(_reader(handle, size), size)
        for directory in tiff.directories + tiff.sub_directories:
            extra = set(directory.entries) - _WRITTEN_TAGS
            if extra:
                raise DeidentifyRefusedError(
                    N_("the copy carries TIFF tags {extra}", extra=sorted(extra))
                )
    with open_slide(path) as slide:
        info = slide.info
    if info.associated:
        raise DeidentifyRefusedError(
            N_("the copy carries images {associated}", associated=info.associated)
        )
    unexpected = sorted(key for key in info.properties if not _ALLOWED_PROPERTY.fullmatch(key))
    if unexpected:
        raise DeidentifyRefusedError(
            N_("the copy carries properties {unexpected}", unexpected=unexpected)
        )
    if [(level.width, level.height) for level in info.levels] != levels:
        raise DeidentifyRefusedError(N_("the copy's levels differ from the slide's"))


def _reader(handle: BinaryIO, size: int) -> ReadAt:
    def read_at(offset: int, length: int) -> bytes:
        if offset < 0 or length < 0 or offset + length > size:
            raise BrokenSlideError(f"a read of {length} bytes at {offset} is beyond the file's end")
        data = os.pread(handle.fileno(), length, offset)
        if len(data) != length:
            raise BrokenSlideError("the file is shorter than it was a moment ago")
        return data

    return read_at


class _Writer:
    """Writes directories one after another, each after its tiles and tag values, and
    chains them (the header's first-directory pointer, then each one's next)."""

    def __init__(self, out: BinaryIO, order: str, big: bool) -> None:
        self.out, self.order, self.big = out, order, big
        self.word = 8 if big else 4
        head = b"II" if order == "<" else b"MM"
        if big:
            head += struct.pack(order + "HHHQ", 43, 8, 0, 0)
        else:
            head += struct.pack(order + "HI", 42, 0)
        out.write(head)
        self.pos = len(head)
        #: Where the pointer to the next directory is written once that one is placed.
        self.pointer_at = len(head) - self.word

    def _write(self, data: bytes) -> None:
        self.out.write(data)
        self.pos += len(data)

    def _align(self) -> None:
        if self.pos % 2:
            self._write(b"\0")

    def _copy(self, read_at: ReadAt, offset: int, length: int) -> None:
        done = 0
        while done < length:
            piece = min(_COPY_CHUNK, length - done)
            self._write(read_at(offset + done, piece))
            done += piece

    def directory(
        self,
        tiff: TiffDirectories,
        directory: Directory,
        offsets: np.ndarray,
        counts: np.ndarray,
        read_at: ReadAt,
        description: str | None,
    ) -> None:
        # Tiles first, a tile stored once for several places (blank tiles) kept so.
        placed: dict[tuple[int, int], int] = {}
        new_offsets = []
        for offset, count in zip(offsets.tolist(), counts.tolist(), strict=True):
            if count == 0:
                new_offsets.append(0)
                continue
            if (offset, count) not in placed:
                placed[offset, count] = self.pos
                self._copy(read_at, offset, count)
            new_offsets.append(placed[offset, count])
        fields: list[tuple[int, int, int, bytes]] = [
            (tag, entry.type, entry.count, tiff.value_bytes(entry, _MAX_TAG_BYTES))
            for tag, entry in directory.entries.items()
            if tag in _KEPT_TAGS and entry.count > 0
        ]
        if description is not None:
            text = description.encode("ascii") + b"\0"
            fields.append((IMAGE_DESCRIPTION, 2, len(text), text))
        offset_type, fmt = (16, "Q") if self.big else (4, "I")
        for tag, values in ((TILE_OFFSETS, new_offsets), (TILE_BYTE_COUNTS, counts.tolist())):
            packed = struct.pack(f"{self.order}{len(values)}{fmt}", *values)
            fields.append((tag, offset_type, len(values), packed))
        fields.sort()
        self._align()
        value_at: dict[int, int] = {}
        for tag, _, _, raw in fields:
            if len(raw) > self.word:
                value_at[tag] = self.pos
                self._write(raw)
                self._align()
        where = self.pos
        self._patch(self.pointer_at, where)
        order = self.order
        table = [struct.pack(order + ("Q" if self.big else "H"), len(fields))]
        for tag, type_, count, raw in fields:
            if tag in value_at:
                value = struct.pack(order + ("Q" if self.big else "I"), value_at[tag])
            else:
                value = raw.ljust(self.word, b"\0")
            table.append(struct.pack(order + ("HHQ" if self.big else "HHI"), tag, type_, count))
            table.append(value)
        table.append(bytes(self.word))  # no next directory, until one is written
        self._write(b"".join(table))
        self.pointer_at = self.pos - self.word

    def _patch(self, at: int, value: int) -> None:
        self.out.seek(at)
        self.out.write(struct.pack(self.order + ("Q" if self.big else "I"), value))
        self.out.seek(self.pos)

    def finish(self) -> None:
        self.out.seek(self.pos)
