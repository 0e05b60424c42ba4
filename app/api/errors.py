"""The one place that maps every SlideBridgeError to an HTTP status.

Routes raise typed errors; they never build error responses themselves. The
mapping walks the class hierarchy, so a new subclass inherits its parent's code.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from sqlalchemy.exc import DataError

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
    UnsupportedMediaTypeError,
)
from app.core.i18n import N_, SOURCE_LANGUAGE, gettext, translate
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
    UnsupportedMediaTypeError: 415,
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


#: What a request-validation error means, by its pydantic type, said in the reader's
#: language with the rule's numbers (`ctx`). English keeps pydantic's own words.
_VALIDATION = {
    "missing": N_("Field required"),
    "string_too_short": N_("Should have at least {min_length} characters"),
    "string_too_long": N_("Should have at most {max_length} characters"),
    "string_pattern_mismatch": N_("Not in the expected form"),
    "enum": N_("Should be one of {expected}"),
    "literal_error": N_("Should be one of {expected}"),
    "date_parsing": N_("Should be a date, year first: 1968-03-02"),
    "date_from_datetime_parsing": N_("Should be a date, year first: 1968-03-02"),
    "uuid_parsing": N_("Should be an id"),
    "int_parsing": N_("Should be a whole number"),
    "greater_than_equal": N_("Should be at least {ge}"),
    "less_than_equal": N_("Should be at most {le}"),
}


def _validation_message(error: dict[str, Any], language: str) -> str:
    known = _VALIDATION.get(str(error.get("type")))
    if language == SOURCE_LANGUAGE or known is None:
        return str(error.get("msg", ""))
    context = {name: str(value) for name, value in (error.get("ctx") or {}).items()}
    return gettext(language, known.msgid, **context)


#: Longest `input` or `ctx` (as JSON) a validation error repeats; longer ones are left out,
#: so a 20 MB body refused for one bad field is not sent back (or logged) whole.
ECHO_CHARS = 200
MESSAGE_CHARS = 300


def _short(value: Any) -> Any | None:
    try:
        encoded = jsonable_encoder(value)
        text = json.dumps(encoded)
    except (TypeError, ValueError):
        return None
    return encoded if len(text) <= ECHO_CHARS else None


def validation_errors(
    errors: Sequence[Any], language: str = SOURCE_LANGUAGE
) -> list[dict[str, Any]]:
    """FastAPI's list of `{loc, msg, type}` (the documented `ValidationError`), `msg` in
    the reader's language, with the refused `input` and its `ctx` only when short."""
    result: list[dict[str, Any]] = []
    for error in errors:
        item: dict[str, Any] = {
            "loc": [part if isinstance(part, int) else str(part)[:64] for part in error["loc"]],
            "msg": _validation_message(error, language)[:MESSAGE_CHARS],
            "type": str(error["type"]),
        }
        for key in ("input", "ctx"):
            if key in error and (short := _short(error[key])) is not None:
                item[key] = short
        result.append(item)
    return result


async def _handle_validation(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    errors = validation_errors(error.errors(), request_language(request))
    return JSONResponse({"detail": errors}, status_code=422)


async def _handle_data_error(request: Request, error: Exception) -> Response:
    """A value the database cannot store (PostgreSQL refuses a NUL character in text,
    which SQLite takes): the request's fault, and its transaction kept nothing."""
    return error_response(
        request, UnprocessableError(N_("a value holds characters that cannot be stored"))
    )


def install_error_handler(app: FastAPI) -> None:
    app.add_exception_handler(SlideBridgeError, _handle)
    app.add_exception_handler(DataError, _handle_data_error)
    app.add_exception_handler(RequestValidationError, _handle_validation)


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
