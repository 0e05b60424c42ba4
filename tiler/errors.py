"""One root error for the product, and the slide engine's typed failures.

Each carries a one-line `reason` meant for a person (CLI stderr, API 422 body,
a failed job's message). The service maps these classes to HTTP codes in one
place, never by matching strings.
"""

from __future__ import annotations

from pathlib import Path


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


class NotArrivedError(SlideBridgeError):
    """The bytes a request needs have not arrived yet (a slide still being received):
    a temporary state, not a broken file."""


class NotDecodableError(SlideError):
    """A level tile the hub cannot decode from its own bytes (JPEG 2000, a codec other
    than JPEG, a tile OpenSlide draws from another level): OpenSlide reads it once the
    whole file has arrived."""


class ByteRangeError(SlideBridgeError):
    """A received byte range that cannot be accepted."""

    def __init__(self, reason: str, *, start: int, end: int) -> None:
        super().__init__(reason)
        self.start = start
        self.end = end


class RangeOutsideFileError(ByteRangeError):
    """The range is empty or reaches outside the file's declared size."""


class RangeOverlapError(ByteRangeError):
    """The range overlaps bytes already received without being wholly inside them."""


def one_line(error: BaseException, path: Path) -> str:
    """A library's message on one line, without the server's directory layout."""
    text = " ".join(str(error).replace(str(path), path.name).split())
    return text[:500] or type(error).__name__


def read_failure(path: Path, what: str, error: BaseException) -> BrokenSlideError:
    """A reader's failure to `what` (e.g. "read pixels") in `path`, as one typed error."""
    return BrokenSlideError(f"{path.name}: cannot {what}: {one_line(error, path)}", path=str(path))
