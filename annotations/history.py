"""What a change keeps: every version of an annotation, and which one a restore brings back.

A change never overwrites: the stored row moves to version n+1 and version n stays
in the history with who made it and when. Deleting is a version too (with no
feature), so a deleted annotation can be restored like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from annotations.errors import InvalidAnnotationError
from tiler.reasons import N_


class Change(StrEnum):
    created = "created"
    updated = "updated"
    deleted = "deleted"
    restored = "restored"


@dataclass(frozen=True)
class Revision:
    """One version of an annotation: the feature as it was after `change` (None if deleted)."""

    version: int
    change: Change
    feature: dict[str, Any] | None
    author: str | None
    at: datetime


def next_version(revisions: list[Revision]) -> int:
    return max((revision.version for revision in revisions), default=0) + 1


def restore_target(revisions: list[Revision], version: int) -> dict[str, Any]:
    """The feature of `version` to bring back; a deletion or a missing version cannot be."""
    for revision in revisions:
        if revision.version == version:
            if revision.feature is None:
                raise InvalidAnnotationError(
                    N_("version {version} is a deletion: nothing to restore", version=version)
                )
            return revision.feature
    raise InvalidAnnotationError(N_("no version {version}", version=version))
