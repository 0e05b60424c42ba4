"""The service's own errors, below every feature. Their HTTP codes: `app.api.errors`."""

from __future__ import annotations

from tiler.errors import SlideBridgeError


class AuthenticationError(SlideBridgeError):
    """No valid credentials (missing, wrong, expired or revoked)."""


class PermissionDeniedError(SlideBridgeError):
    """The user sees the object but lacks this particular right (e.g. label images)."""


class InvalidRequestError(SlideBridgeError):
    """A request the protocol calls bad (400): IIIF syntax, an empty region, a size above
    the region without `^` or above the advertised limits, an unsupported rotation."""


class PayloadTooLargeError(SlideBridgeError):
    """An upload, quota or rendered image beyond the configured limits."""


class RetryLaterError(SlideBridgeError):
    """Refused for now; `retry_after` (whole seconds) becomes the `Retry-After` header."""

    def __init__(self, reason: str, *, retry_after: int) -> None:
        super().__init__(reason)
        self.retry_after = max(1, retry_after)


class BusyError(RetryLaterError):
    """Too much of one kind of expensive work at once (renders); retry in a moment."""

    def __init__(self, reason: str, *, retry_after: int = 5) -> None:
        super().__init__(reason, retry_after=retry_after)


class ConflictError(SlideBridgeError):
    """The request collides with existing state (a duplicate site code or user name)."""


class UnprocessableError(SlideBridgeError):
    """Input that parsed but cannot be used (unknown site, a form without a file)."""


class UnsupportedMediaTypeError(SlideBridgeError):
    """A file of a kind the request does not take (an attachment that is neither a
    picture the hub's image libraries read nor a PDF; a HEIC photograph they cannot
    decode)."""


class CrossSiteRequestError(SlideBridgeError):
    """A cookie request that changes state without a same-origin Origin (or Sec-Fetch-Site)."""


class TooManyRequestsError(RetryLaterError):
    """Refused for now: too many failed sign-ins, password checks or open streams.

    `scope` names what is refused (a throttled key, "busy"), so a flood's refusals are
    audited as one burst."""

    def __init__(self, reason: str, *, retry_after: int, scope: str | None = None) -> None:
        super().__init__(reason, retry_after=retry_after)
        self.scope = scope
