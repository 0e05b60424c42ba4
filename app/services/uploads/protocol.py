"""The tus 1.0 wire format: constants, header parsing, and its errors (HTTP codes: app.api.errors).

Only what the server needs: Upload-Length, Upload-Offset, Upload-Metadata and
Upload-Checksum parsing, each strict (a malformed header is a 400 that changes
nothing), and the headers every answer carries.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.core.i18n import N_
from tiler import SlideBridgeError

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,creation-with-upload,expiration,checksum,termination"
CHECKSUM_ALGORITHMS: dict[str, Callable[[], Any]] = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
}
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
#: Response headers a browser on another origin must be allowed to read.
EXPOSED_HEADERS = (
    "Upload-Offset, Upload-Length, Upload-Metadata, Upload-Expires, Location, "
    "Tus-Resumable, Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm, Slide-Id"
)
ALLOWED_HEADERS = (
    "Authorization, Content-Type, Upload-Offset, Upload-Length, Upload-Metadata, "
    "Upload-Checksum, Upload-Defer-Length, Upload-Concat, Tus-Resumable, X-HTTP-Method-Override, "
    "X-Requested-With"
)
ALLOWED_METHODS = "POST, HEAD, PATCH, DELETE, OPTIONS, GET"
#: Metadata is a few short fields; anything larger is not from a tus client of ours.
MAX_METADATA_BYTES = 4096
_DIGITS = re.compile(r"\d{1,19}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class TusError(SlideBridgeError):
    """A protocol-level refusal (a malformed tus header)."""


class TusVersionError(TusError):
    """The client speaks another tus version."""


class TusContentTypeError(TusError):
    """A PATCH body that is not application/offset+octet-stream."""


class OffsetMismatchError(TusError):
    """Upload-Offset differs from the bytes the hub holds: nothing is written."""


class UploadLockedError(TusError):
    """Another request is writing this upload (or the server has not yet seen it drop)."""


class UploadGoneError(TusError):
    """The upload expired, was refused, or was terminated."""


class ChecksumMismatchError(TusError):
    """The request's body does not match its Upload-Checksum: nothing is appended."""


@dataclass(frozen=True)
class Checksum:
    algorithm: str
    digest: bytes

    def new_hasher(self) -> Any:
        return CHECKSUM_ALGORITHMS[self.algorithm]()


def check_version(value: str | None) -> None:
    if value != TUS_VERSION:
        raise TusVersionError(N_("Tus-Resumable must be {version}", version=TUS_VERSION))


def parse_count(value: str | None, name: str) -> int:
    """A non-negative integer header (Upload-Length, Upload-Offset)."""
    if value is None or not _DIGITS.fullmatch(value.strip()):
        raise TusError(N_("{name} must be a non-negative integer", name=name))
    return int(value.strip())


def parse_metadata(value: str | None) -> dict[str, str]:
    """`key base64,key base64`; values must decode to UTF-8 text (they are display text)."""
    if not value:
        return {}
    if len(value) > MAX_METADATA_BYTES:
        raise TusError(N_("Upload-Metadata is too long"))
    result: dict[str, str] = {}
    for pair in value.split(","):
        key, _, encoded = pair.strip().partition(" ")
        if not key or key in result:
            raise TusError(N_("Upload-Metadata: empty or repeated key"))
        try:
            result[key] = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as error:
            raise TusError(
                N_("Upload-Metadata: {key} is not base64 UTF-8", key=repr(key[:32]))
            ) from error
    return result


def encode_metadata(values: dict[str, str]) -> str:
    return ",".join(
        f"{key} {base64.b64encode(value.encode()).decode('ascii')}" for key, value in values.items()
    )


def parse_checksum(value: str | None) -> Checksum | None:
    if value is None:
        return None
    algorithm, _, encoded = value.strip().partition(" ")
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise TusError(
            N_("Upload-Checksum: unsupported algorithm {algorithm}", algorithm=repr(algorithm[:16]))
        )
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error as error:
        raise TusError(N_("Upload-Checksum: the digest is not base64")) from error
    if len(digest) != CHECKSUM_ALGORITHMS[algorithm]().digest_size:
        raise TusError(N_("Upload-Checksum: wrong digest length"))
    return Checksum(algorithm, digest)


def parse_sha256(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().lower()
    if not _SHA256.fullmatch(value):
        raise TusError(N_("metadata sha256 must be 64 hexadecimal digits"))
    return value


class UploadTooLargeError(TusError):
    """More bytes than the declared Upload-Length."""


def require_body_type(content_type: str | None) -> None:
    if (content_type or "").split(";")[0].strip().lower() != OFFSET_CONTENT_TYPE:
        raise TusContentTypeError(
            N_("Content-Type must be {content_type}", content_type=OFFSET_CONTENT_TYPE)
        )
