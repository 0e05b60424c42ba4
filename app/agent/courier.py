"""One file to the hub by the best way it can travel: progressively where the hub can
serve it while it arrives (JPEG-tiled TIFF pyramids, DICOM WSI), else with tus."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.agent.send import NotProgressiveError, ProgressiveSender, progressive_plan
from app.agent.tus import Sender

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Delivered:
    path: Path
    slide_id: str
    #: Why the file went in byte order (tus); None when it went progressively.
    byte_order_reason: str | None = None


class Courier:
    def __init__(self, progressive: ProgressiveSender, tus: Sender) -> None:
        self.progressive = progressive
        self.tus = tus

    def deliver(
        self,
        path: Path,
        *,
        site: str | None = None,
        case: str | None = None,
        progress: Progress | None = None,
    ) -> Delivered:
        """Raises `UploadRefusedError` when the hub refuses the file for good."""
        try:
            plan = progressive_plan(path)
        except NotProgressiveError as error:
            log.info("%s goes in byte order: %s", path.name, error.reason)
            sent = self.tus.send(path, site=site, case=case, progress=progress)
            return Delivered(path, sent.slide_id, error.reason)
        done = self.progressive.send(path, site=site, case=case, progress=progress, plan=plan)
        return Delivered(path, done.slide_id)
