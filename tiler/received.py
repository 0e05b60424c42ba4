"""The byte intervals of one file received so far, for a slide arriving range by range.

Kept as merged, sorted, disjoint intervals (neighbours join), so lookups are a bisect
and the stored form stays short however many ranges arrived. A range wholly inside
received bytes is a resend (an acknowledgement was lost): `add` recognises it and
changes nothing; the caller compares its checksum with the stored bytes. A range that
is partly new and partly received is refused: the sender's plan and ours disagree.
Thread-safe: the receiver adds while tile requests read.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable

import numpy as np

from tiler.errors import RangeOutsideFileError, RangeOverlapError
from tiler.reasons import N_

#: Intervals a stored list may hold; a slide's layout has at most a few million ranges.
MAX_INTERVALS = 1 << 23


class ReceivedRanges:
    def __init__(self, size: int) -> None:
        if size < 0:
            raise ValueError("negative file size")
        self.size = size
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._received = 0
        self._lock = threading.Lock()
        self._arrays: tuple[np.ndarray, np.ndarray] | None = None

    # -- changes -------------------------------------------------------------------

    def add(self, start: int, end: int) -> bool:
        """Record [start, end) as received: True if new, False for a resend of bytes
        already received. Raises `RangeOutsideFileError` or `RangeOverlapError`."""
        if not 0 <= start < end <= self.size:
            raise RangeOutsideFileError(
                N_(
                    "bytes {start}-{end} are not a range inside the file's {size} bytes",
                    start=start,
                    end=end,
                    size=self.size,
                ),
                start=start,
                end=end,
            )
        with self._lock:
            i = bisect.bisect_right(self._starts, start) - 1
            if i >= 0 and self._ends[i] >= end:
                return False
            touches_left = i >= 0 and self._ends[i] > start
            j = i + 1
            touches_right = j < len(self._starts) and self._starts[j] < end
            if touches_left or touches_right:
                raise RangeOverlapError(
                    N_("bytes {start}-{end} overlap bytes already received", start=start, end=end),
                    start=start,
                    end=end,
                )
            self._received += end - start
            self._arrays = None
            join_left = i >= 0 and self._ends[i] == start
            join_right = j < len(self._starts) and self._starts[j] == end
            if join_left and join_right:
                self._ends[i] = self._ends[j]
                del self._starts[j], self._ends[j]
            elif join_left:
                self._ends[i] = end
            elif join_right:
                self._starts[j] = start
            else:
                self._starts.insert(j, start)
                self._ends.insert(j, end)
            return True

    # -- questions -----------------------------------------------------------------

    def covers(self, start: int, end: int) -> bool:
        """Whether every byte of [start, end) has arrived (an empty range has)."""
        if end <= start:
            return True
        with self._lock:
            i = bisect.bisect_right(self._starts, start) - 1
            return i >= 0 and self._ends[i] >= end

    def covers_many(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """`covers` for many ranges at once (a level's tiles), as a boolean array."""
        with self._lock:
            if self._arrays is None:
                self._arrays = (
                    np.asarray(self._starts, dtype=np.int64),
                    np.asarray(self._ends, dtype=np.int64),
                )
            have_starts, have_ends = self._arrays
        index = np.searchsorted(have_starts, starts, side="right") - 1
        inside = index >= 0
        covered = np.zeros(len(starts), dtype=bool)
        covered[inside] = have_ends[index[inside]] >= ends[inside]
        result: np.ndarray = covered | (ends <= starts)
        return result

    def missing(self, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
        """The gaps of [start, end) not yet received, in order."""
        end = self.size if end is None else end
        gaps = []
        position = start
        with self._lock:
            i = max(0, bisect.bisect_right(self._starts, start) - 1)
            while position < end and i < len(self._starts):
                s, e = self._starts[i], self._ends[i]
                if s >= end:
                    break
                if s > position:
                    gaps.append((position, s))
                position = max(position, e)
                i += 1
        if position < end:
            gaps.append((position, end))
        return gaps

    @property
    def received_bytes(self) -> int:
        return self._received

    @property
    def complete(self) -> bool:
        return self._received == self.size

    # -- storage ---------------------------------------------------------------------

    def to_pairs(self) -> list[list[int]]:
        """The merged intervals as [[start, end], ...], for a JSON column."""
        with self._lock:
            return [[s, e] for s, e in zip(self._starts, self._ends, strict=True)]

    @classmethod
    def from_pairs(cls, size: int, pairs: Iterable[Iterable[int]]) -> ReceivedRanges:
        """Rebuild from `to_pairs` output; malformed or overlapping pairs are refused."""
        received = cls(size)
        for count, pair in enumerate(pairs):
            if count >= MAX_INTERVALS:
                raise RangeOutsideFileError("too many stored intervals", start=0, end=size)
            values = list(pair)
            if len(values) != 2 or not all(isinstance(v, int) for v in values):
                raise RangeOutsideFileError(f"malformed stored interval {values!r}", start=0, end=0)
            received.add(values[0], values[1])
        return received
