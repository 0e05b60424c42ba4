"""A de-identified copy of a slide as a new slide of no site (`tiler.deidentify`).

The copy is written to staging, checked (the engine reads it back with OpenSlide),
stored at its content address and recorded as an ordinary slide row with a pyramid
job; its name is the item's title, never the original file's name. Nothing is
recorded when any step fails, and a refused format is a 422 with the reason.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from app.core.config import Settings
from app.core.errors import ConflictError
from app.core.i18n import N_
from app.core.storage import content_path, file_sha256, slide_file
from app.models.cases import Case
from app.models.slides import SlideRecord, SlideStatus
from app.services.slides import describe, probe
from app.services.staging import StagedFile, move_into_place, safe_suffix, staging_path
from tiler.deidentify import DeidentifyRefusedError, deidentify, refusal


@dataclass(frozen=True)
class Copy:
    source: SlideRecord
    slide: SlideRecord


def check_rewritable(slide: SlideRecord) -> None:
    """Refuse (422, with the reason) a slide we cannot copy, before any work is done."""
    if slide.status == SlideStatus.arriving:
        raise ConflictError(N_("the slide is still arriving: add it once all its bytes are in"))
    if slide.status == SlideStatus.failed:
        raise DeidentifyRefusedError(N_("the slide failed to open: {error}", error=slide.error))
    reason = refusal(slide.vendor)
    if reason is not None:
        raise DeidentifyRefusedError(reason)


def make_copy(settings: Settings, source: SlideRecord, name: str) -> SlideRecord:
    """Write, check and store the copy; answers its (unsaved) slide row."""
    check_rewritable(source)
    suffix = safe_suffix(source.storage_path)
    target = staging_path(settings.staging_dir, f"copy{suffix}")
    deidentify(slide_file(settings, source.storage_path), target)
    try:
        sha256 = file_sha256(target)
        info = probe(target)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    staged = StagedFile(target, sha256, target.stat().st_size, name)
    relative = content_path(sha256, suffix)
    move_into_place(staged, settings.data_dir / relative)
    copy = SlideRecord(
        id=uuid.uuid4(),
        site_id=None,
        name=name,
        sha256=sha256,
        storage_path=relative.as_posix(),
        size_bytes=staged.size,
        vendor="",
        width=0,
        height=0,
    )
    describe(copy, info)
    return copy


_REMOVED = "[removed]"


def scrub(text: str | None, case: Case | None) -> str | None:
    """The diagnosis text without the patient's name, its parts, record number or birth
    date (a report may address the surgeon with them); None stays None."""
    if text is None or case is None:
        return text
    words = [case.patient_name, case.patient_mrn]
    words += [part for part in re.split(r"[\s,^]+", case.patient_name) if len(part) >= 3]
    if case.patient_dob is not None:
        words.append(case.patient_dob.isoformat())
    for word in sorted(set(words), key=len, reverse=True):
        text = re.sub(re.escape(word), _REMOVED, text, flags=re.IGNORECASE)
    return text
