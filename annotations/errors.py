"""The one error of the annotations package: input that is not a usable annotation."""

from __future__ import annotations

from tiler import SlideBridgeError
from tiler.reasons import N_


class InvalidAnnotationError(SlideBridgeError):
    """A feature that cannot be stored; `reason` says why, `index` which feature of a batch."""

    def __init__(self, reason: str, *, index: int | None = None) -> None:
        super().__init__(
            reason if index is None else N_("feature {index}: {reason}", index=index, reason=reason)
        )
        self.index = index
