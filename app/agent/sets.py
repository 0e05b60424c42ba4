"""A slide of several files to the hub as one (`POST /api/slides/sets`): a DICOM series
folder, or a MIRAX `.mrxs` with its folder.

Each file goes first with tus as a "set part" (resumable byte by byte, as a slide file
is; the hub verifies its SHA-256 and holds it), then the manifest (each file's relative
name, size and SHA-256) alone: the hub assembles the set from the parts it holds. Without
a tus sender, the manifest and the files go in one request, streamed from disk (memory
stays one chunk whatever the slide's size), and a cut sends the set again from its start.
The hub checks every file against the manifest and refuses an incomplete or altered set
with the reason.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import requests

from app.agent.hub import (
    FINAL_STATUSES,
    TIMEOUT,
    UploadRefusedError,
    backoff_seconds,
    file_sha256,
    hub_headers,
    reason_of,
)
from app.agent.tus import Sender

Progress = Callable[[int, int], None]
_CHUNK = 1024 * 1024


def manifest(base: Path, files: list[Path]) -> dict[str, object]:
    """Every file's name relative to `base` (what the format needs: Slidedat.ini names
    its data files), size and SHA-256."""
    return {
        "name": base.name if len(files) != 1 else files[0].name,
        "files": [
            {
                "path": path.relative_to(base).as_posix(),
                "size": path.stat().st_size,
                "sha256": file_sha256(path),
            }
            for path in files
        ],
    }


class SetSender:
    """With `parts` (a tus sender), each file goes first as a resumable upload the hub
    holds (a cut costs what was in flight, and a run started again sends no file the
    hub already has), then the manifest alone; without, everything in one request."""

    def __init__(
        self, server: str, token: str, *, attempts: int = 5, parts: Sender | None = None
    ) -> None:
        self.url = f"{server.rstrip('/')}/api/slides/sets"
        self.token = token
        self.attempts = attempts
        self.parts = parts

    def send(
        self,
        base: Path,
        files: list[Path],
        *,
        name: str | None = None,
        site: str | None = None,
        progress: Progress | None = None,
    ) -> str:
        """The slide id; `UploadRefusedError` with the hub's reason when it refuses."""
        declared = manifest(base, files)
        if name:
            declared["name"] = name
        total = sum(path.stat().st_size for path in files)
        in_body = files
        if self.parts is not None:
            self._send_parts(files, site, total, progress)
            in_body = []
        for attempt in range(self.attempts):
            boundary = uuid.uuid4().hex
            body = self._body(boundary, declared, base, in_body, site, total, progress)
            headers = {
                **hub_headers(self.token),
                "Content-Type": f"multipart/form-data; boundary={boundary}",
            }
            try:
                response = requests.post(self.url, data=body, headers=headers, timeout=TIMEOUT)
            except requests.RequestException:
                time.sleep(backoff_seconds(attempt, 60))
                continue
            if response.status_code in (200, 201):
                slide_id = response.json()["id"]
                assert isinstance(slide_id, str)
                return slide_id
            reason = reason_of(response.content, f"the hub answered {response.status_code}")
            if response.status_code in FINAL_STATUSES:
                raise UploadRefusedError(f"{declared['name']}: {reason}")
            time.sleep(backoff_seconds(attempt, 60))
        raise UploadRefusedError(f"{declared['name']}: the hub could not be reached")

    def _send_parts(
        self, files: list[Path], site: str | None, total: int, progress: Progress | None
    ) -> None:
        assert self.parts is not None
        before = 0
        for path in files:

            def advance(done: int, _size: int, before: int = before) -> None:
                if progress is not None:
                    progress(before + done, total)

            self.parts.send(path, site=site, progress=advance, set_part=True)
            before += path.stat().st_size

    @staticmethod
    def _body(
        boundary: str,
        declared: dict[str, object],
        base: Path,
        files: list[Path],
        site: str | None,
        total: int,
        progress: Progress | None,
    ) -> Iterator[bytes]:
        def field(name: str, value: str) -> bytes:
            head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            return head.encode() + value.encode("utf-8") + b"\r\n"

        yield field("manifest", json.dumps(declared))
        if site:
            yield field("site", site)
        done = 0
        for path in files:
            relative = json.dumps(path.relative_to(base).as_posix())  # quoted, escaped
            yield (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f"filename={relative}\r\nContent-Type: application/octet-stream\r\n\r\n"
            ).encode()
            with open(path, "rb") as handle:
                while chunk := handle.read(_CHUNK):
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total)
                    yield chunk
            yield b"\r\n"
        yield f"--{boundary}--\r\n".encode()
