"""The one place that maps every SlideBridgeError to an HTTP status.

Routes raise typed errors; they never build error responses themselves. The
mapping walks the class hierarchy, so a new subclass inherits its parent's code.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute

from annotations.errors import InvalidAnnotationError
from app.api.language import request_language
from app.core.errors import (
    AuthenticationError,
    BusyError,
    ConflictError,
    CrossSiteRequestError,
    InvalidRequestError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RetryLaterError,
    TooManyRequestsError,
    UnprocessableError,
)
from app.core.i18n import translate
from app.services.transfers.protocol import TransferGoneError
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
    NotArrivedError,
    NotFoundError,
    RangeOutsideFileError,
    RangeOverlapError,
    SlideBridgeError,
    SlideError,
    SlideTooLargeError,
    UnsupportedFormatError,
)

STATUS_BY_ERROR: dict[type[SlideBridgeError], int] = {
    AuthenticationError: 401,
    PermissionDeniedError: 403,
    CrossSiteRequestError: 403,
    TooManyRequestsError: 429,
    NotFoundError: 404,
    ConflictError: 409,
    InvalidRequestError: 400,
    PayloadTooLargeError: 413,
    UnprocessableError: 422,
    BusyError: 503,
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
    # Progressive transfers.
    RangeOverlapError: 409,
    RangeOutsideFileError: 416,
    TransferGoneError: 410,
    NotArrivedError: 409,
    SlideBridgeError: 400,
}


def status_for(error: SlideBridgeError) -> int:
    for cls in type(error).__mro__:
        status = STATUS_BY_ERROR.get(cls)
        if status is not None:
            return status
    return 400


def error_response(request: Request, error: SlideBridgeError) -> Response:
    status = status_for(error)
    if request.method == "HEAD":
        response: Response = Response(status_code=status)
    else:
        # Said in the reader's language (a reason marked with `N_`, or one the catalog
        # has word for word); a script reads the status, never the sentence.
        detail = translate(error.reason, request_language(request))
        response = JSONResponse({"detail": detail}, status_code=status)
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    if isinstance(error, RetryLaterError):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


async def _handle(request: Request, error: Exception) -> Response:
    assert isinstance(error, SlideBridgeError)
    return error_response(request, error)


def install_error_handler(app: FastAPI) -> None:
    app.add_exception_handler(SlideBridgeError, _handle)


class BodyRoute(APIRoute):
    """A route whose request bodies are large: a refusal closes the connection.

    The refused body was not read. Without `Connection: close` the server would read
    and discard the rest to keep the connection, and the client would go on sending a
    body nobody uses (over a slow link, minutes of it)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def refusing_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except SlideBridgeError as error:
                response = error_response(request, error)
                if request.method in {"PATCH", "POST", "PUT"}:
                    response.headers["Connection"] = "close"
            return self.finish(request, response)

        return refusing_handler

    def finish(self, request: Request, response: Response) -> Response:
        """Headers every answer of the route carries (errors included)."""
        return response
