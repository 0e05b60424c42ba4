"""The service's own errors, and the one place that maps every SlideBridgeError to HTTP.

Routes raise typed errors; they never build error responses themselves. The
mapping walks the class hierarchy, so a new subclass inherits its parent's code.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from annotations.errors import InvalidAnnotationError
from tiler import (
    BrokenSlideError,
    NotFoundError,
    SlideBridgeError,
    SlideError,
    SlideTooLargeError,
    UnsupportedFormatError,
)


class AuthenticationError(SlideBridgeError):
    """No valid credentials (missing, wrong, expired or revoked)."""


class PermissionDeniedError(SlideBridgeError):
    """The user sees the object but lacks this particular right (e.g. label images)."""


class InvalidRequestError(SlideBridgeError):
    """A well-formed request asking for something impossible (IIIF region outside the image)."""


class PayloadTooLargeError(SlideBridgeError):
    """An upload, quota or rendered image beyond the configured limits."""


class ConflictError(SlideBridgeError):
    """The request collides with existing state (a duplicate site code or user name)."""


class UnprocessableError(SlideBridgeError):
    """Input that parsed but cannot be used (unknown site, a form without a file)."""


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
