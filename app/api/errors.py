"""The one place that maps every SlideBridgeError to an HTTP status.

Routes raise typed errors; they never build error responses themselves. The
mapping walks the class hierarchy, so a new subclass inherits its parent's code.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from annotations.errors import InvalidAnnotationError
from app.core.errors import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    PayloadTooLargeError,
    PermissionDeniedError,
    UnprocessableError,
)
from app.services.uploads.protocol import (
    ChecksumMismatchError,
    OffsetMismatchError,
    TusContentTypeError,
    TusError,
    TusVersionError,
    UploadGoneError,
    UploadLockedError,
    UploadTooLargeError,
)
from tiler.errors import (
    BrokenSlideError,
    NotFoundError,
    SlideBridgeError,
    SlideError,
    SlideTooLargeError,
    UnsupportedFormatError,
)

STATUS_BY_ERROR: dict[type[SlideBridgeError], int] = {
    AuthenticationError: 401,
    PermissionDeniedError: 403,
    NotFoundError: 404,
    ConflictError: 409,
    InvalidRequestError: 400,
    PayloadTooLargeError: 413,
    UnprocessableError: 422,
    InvalidAnnotationError: 422,
    UnsupportedFormatError: 422,
    BrokenSlideError: 422,
    SlideTooLargeError: 422,
    SlideError: 422,
    # tus 1.0 names its own codes, 460 among them (checksum extension).
    TusError: 400,
    TusVersionError: 412,
    TusContentTypeError: 415,
    OffsetMismatchError: 409,
    UploadLockedError: 423,
    UploadGoneError: 410,
    ChecksumMismatchError: 460,
    UploadTooLargeError: 413,
    SlideBridgeError: 400,
}


def status_for(error: SlideBridgeError) -> int:
    for cls in type(error).__mro__:
        status = STATUS_BY_ERROR.get(cls)
        if status is not None:
            return status
    return 400


async def _handle(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, SlideBridgeError)
    status = status_for(error)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"detail": error.reason}, status_code=status, headers=headers)


def install_error_handler(app: FastAPI) -> None:
    app.add_exception_handler(SlideBridgeError, _handle)
