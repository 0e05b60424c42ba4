"""The progressive-transfer wire format: what a range request must carry, and its refusals.

A range is `PUT /api/transfers/{id}/ranges/{start}` with the bytes as the body,
`Content-Length`, and `Content-Digest: sha-256=:<base64>:` (RFC 9530) over the body.
"""

from __future__ import annotations

import base64
import binascii
import re

from app.core.errors import PayloadTooLargeError, UnprocessableError
from app.core.i18n import N_
from tiler.errors import SlideBridgeError

#: The longest range one request may carry: read into memory before it is written.
MAX_RANGE_BYTES = 8 * 1024 * 1024
_DIGITS = re.compile(r"\d{1,19}")
_SHA256_MEMBER = re.compile(r"(?:^|,)\s*sha-256\s*=\s*:([A-Za-z0-9+/=]+):\s*(?:,|$)")


class DigestMismatchError(UnprocessableError):
    """The body does not match its Content-Digest (nothing written)."""


class TransferGoneError(SlideBridgeError):
    """The transfer is finished or failed; a new one must be created to send again."""


def parse_start(text: str) -> int:
    if not _DIGITS.fullmatch(text):
        raise UnprocessableError(N_("the range's start must be a byte offset"))
    return int(text)


def parse_length(value: str | None) -> int:
    if value is None or not _DIGITS.fullmatch(value.strip()):
        raise UnprocessableError(N_("send the range with a Content-Length"))
    length = int(value)
    if length == 0:
        raise UnprocessableError(N_("an empty range"))
    if length > MAX_RANGE_BYTES:
        raise PayloadTooLargeError(
            N_("a range carries at most {max_bytes} bytes", max_bytes=MAX_RANGE_BYTES)
        )
    return length


def parse_digest(value: str | None) -> str:
    """The sha-256 member of a Content-Digest header, as lower-case hex."""
    found = _SHA256_MEMBER.search(value or "")
    if found is None:
        raise UnprocessableError(
            N_("send Content-Digest: sha-256=:<base64 of the body's SHA-256>:")
        )
    try:
        raw = base64.b64decode(found.group(1), validate=True)
    except (binascii.Error, ValueError):
        raise UnprocessableError(N_("Content-Digest is not base64")) from None
    if len(raw) != 32:
        raise UnprocessableError(N_("Content-Digest sha-256 must be 32 bytes"))
    return raw.hex()
