"""PDF attachments: is it a PDF, and does it carry scripts or automatic actions.

A scanned request form or a prior report from another hospital's system is kept
exactly as it was sent (it is a clinical record) and only ever served as a download
(`Content-Disposition: attachment`, a sandboxing CSP, `nosniff`): the hub never
renders or runs it. A PDF with `/JavaScript` or `/OpenAction` is therefore accepted,
not refused (refusing would lose the record; such names are common in what document
systems produce) and flagged, so the reader is told before opening it.

The scan follows pdfid's way (Didier Stevens): look for the names of active content
in the raw bytes, with `#xx` escapes in names undone (`/J#61vaScript` is
`/JavaScript`), and also inside compressed object streams (`/ObjStm`), where PDF 1.5
files keep their dictionaries. Inflation is bounded, so a deflate bomb costs at most
`MAX_INFLATED` bytes of work.
"""

from __future__ import annotations

import mmap
import re
import zlib
from pathlib import Path

#: Names whose presence means the document can act when opened or clicked.
ACTIVE_NAMES = frozenset(
    {
        "JavaScript",
        "JS",
        "OpenAction",
        "AA",
        "Launch",
        "EmbeddedFile",
        "EmbeddedFiles",
        "RichMedia",
        "XFA",
        "SubmitForm",
        "ImportData",
    }
)
#: Bytes of object streams inflated per document, and per stream.
MAX_INFLATED = 64 * 1024 * 1024
MAX_INFLATED_STREAM = 16 * 1024 * 1024
#: How far before `stream` its dictionary is looked for.
DICTIONARY_WINDOW = 4096

_NAME = re.compile(rb"/([^\x00\t\n\x0c\r /\[\]<>(){}%]{1,127})")
_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_STREAM = re.compile(rb"stream\r?\n")


def is_pdf(path: Path) -> bool:
    """A PDF starts with its header; anything else is not served as one."""
    with open(path, "rb") as handle:
        return handle.read(5) == b"%PDF-"


def _names(data: bytes | mmap.mmap) -> set[str]:
    found = set()
    for match in _NAME.finditer(data):
        raw = match[1]
        if b"#" in raw:
            raw = _ESCAPE.sub(lambda m: bytes([int(m[1], 16)]), raw)
        name = raw.decode("latin-1")
        if name in ACTIVE_NAMES:
            found.add(name)
    return found


def _inflate(data: mmap.mmap, start: int, limit: int) -> bytes:
    """Up to `limit` bytes of the deflate stream at `start`; what inflated before an error."""
    inflater = zlib.decompressobj()
    out = bytearray()
    position = start
    while len(out) < limit and position < len(data) and not inflater.eof:
        chunk = inflater.unconsumed_tail or data[position : position + 65536]
        if not inflater.unconsumed_tail:
            position += len(chunk)
        try:
            out += inflater.decompress(chunk, limit - len(out))
        except zlib.error:
            break
    return bytes(out)


def _is_object_stream(data: mmap.mmap, start: int) -> bool:
    head = data[max(0, start - DICTIONARY_WINDOW) : start]
    head = head[head.rfind(b"obj") + 1 :]
    head = _ESCAPE.sub(lambda m: bytes([int(m[1], 16)]), head)
    return b"/ObjStm" in head and b"/FlateDecode" in head


def active_content(path: Path) -> list[str]:
    """The names of active content the document holds, sorted; empty for a plain one."""
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        found = _names(data)
        budget = MAX_INFLATED
        for match in _STREAM.finditer(data):
            if budget <= 0:
                break
            if not _is_object_stream(data, match.start()):
                continue
            inflated = _inflate(data, match.end(), min(budget, MAX_INFLATED_STREAM))
            budget -= len(inflated)
            found |= _names(inflated)
    return sorted(found)
