"""One root error for the product, and the slide engine's typed failures.

Each carries a one-line `reason` meant for a person (CLI stderr, API 422 body,
a failed job's message). The service maps these classes to HTTP codes in one
place, never by matching strings.
"""

from __future__ import annotations


class SlideBridgeError(Exception):
    """Root of every error SlideBridge raises on purpose."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SlideError(SlideBridgeError):
    """A file could not be used as a slide."""

    def __init__(self, reason: str, *, path: str | None = None) -> None:
        super().__init__(reason)
        self.path = path


class UnsupportedFormatError(SlideError):
    """No reader recognises the file (not a whole-slide image we can read)."""


class BrokenSlideError(SlideError):
    """A reader recognised the file but it is damaged or uses an unsupported variant."""


class SlideTooLargeError(SlideError):
    """The header claims dimensions beyond what we agree to decode."""


class NotFoundError(SlideBridgeError):
    """A requested tile, level or associated image does not exist."""
