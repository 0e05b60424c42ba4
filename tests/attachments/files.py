"""Attachment files made in the tests: a phone photograph with GPS tags and a quarter
turn, a decompression-bomb PNG, PDFs with and without JavaScript."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

#: Bytes that appear only in the photograph's EXIF: none may be found anywhere after upload.
GPS_MARK = b"GPSMARKERDATUM"
CAMERA_MARK = b"MarkerCam-SB"


def photo_with_gps(width: int = 64, height: int = 32) -> bytes:
    """A JPEG as a phone writes it held sideways: stored landscape, left half red and
    right half blue, EXIF orientation 6 (turn a quarter clockwise to show), a camera
    make and GPS coordinates."""
    image = Image.new("RGB", (width, height), (255, 0, 0))
    image.paste((0, 0, 255), (width // 2, 0, width, height))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the top of the scene is at the right
    exif[0x010F] = CAMERA_MARK.decode()  # Make
    exif.get_ifd(0x8825).update(
        {1: "N", 2: (55.0, 45.0, 12.34), 3: "E", 4: (37.0, 37.0, 1.0), 18: GPS_MARK.decode()}
    )
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95, exif=exif.tobytes())
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(width: int = 30_000, height: int = 30_000) -> bytes:
    """A valid 1-bit PNG of 900 megapixels in about 100 kB: zeros compress ~1000:1."""
    row = bytes(1 + (width + 7) // 8)  # filter byte, then the packed pixels
    deflate = zlib.compressobj(9)
    idat = b"".join(deflate.compress(row) for _ in range(height)) + deflate.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat)
        + _chunk(b"IEND", b"")
    )  # fmt: skip


def pdf(javascript: bool = False) -> bytes:
    """A one-page PDF; with `javascript`, an /OpenAction that runs a script (its /JS name
    hidden with a #xx escape, as malicious files do)."""
    action = b" /OpenAction 4 0 R" if javascript else b""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R" + action + b" >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
        b"<< /S /JavaScript /J#53 (app.alert('attachment ran'); this.submitForm('x')) >>",
    ]
    if not javascript:
        objects.pop()
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)
