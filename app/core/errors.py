"""The service's own errors, below every feature. Their HTTP codes: `app.api.errors`."""

from __future__ import annotations

from tiler.errors import SlideBridgeError


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


class CrossSiteRequestError(SlideBridgeError):
    """A cookie request that changes state without a same-origin Origin (or Sec-Fetch-Site)."""


class TooManyRequestsError(SlideBridgeError):
    """Refused for now: too many failed sign-ins, password checks or open streams.

    `retry_after` (whole seconds) becomes the answer's `Retry-After` header; `scope`
    names what is refused (a throttled key, "busy"), so a flood's refusals are audited
    as one burst."""

    def __init__(self, reason: str, *, retry_after: int, scope: str | None = None) -> None:
        super().__init__(reason)
        self.retry_after = max(1, retry_after)
        self.scope = scope
