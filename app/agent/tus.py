"""Sending files to a hub with tuspy: retry with backoff, resume across runs.

Used by `slidebridge upload` and `slidebridge watch`. The resume key is the
file's SHA-256 plus the server (tuspy's default fingerprint, an MD5 of the first
64 KiB and the size, would take two scans with the same header for one file).
The SHA-256 also goes to the server as metadata, which checks the whole file.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urljoin

import requests
from tusclient.client import TusClient
from tusclient.exceptions import TusCommunicationError, TusUploadFailed
from tusclient.fingerprint.interface import Fingerprint
from tusclient.request import TusRequest
from tusclient.storage.filestorage import FileStorage
from tusclient.uploader.uploader import Uploader

from app.agent.hub import (
    FINAL_STATUSES,
    TIMEOUT,
    UploadRefusedError,
    backoff_seconds,
    file_sha256,
    hub_headers,
    named,
    reason_of,
)

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Sent:
    path: Path
    slide_id: str
    upload_url: str


class _TimedRequest(TusRequest):
    """tuspy's PATCH, with a timeout and the file closed afterwards."""

    def perform(self) -> None:
        try:
            chunk = self.file.read(self._content_length)
            self.add_checksum(chunk)
            response = requests.patch(
                self._url, data=chunk, headers=self._request_headers,
                verify=self.verify_tls_cert, cert=self.client_cert, timeout=TIMEOUT,
            )  # fmt: skip
            self.status_code = response.status_code
            self.response_content = response.content
            self.response_headers = {k.lower(): v for k, v in response.headers.items()}
        except requests.RequestException as error:
            raise TusUploadFailed(error) from error
        finally:
            self.file.close()


class _TimedUploader(Uploader):
    """tuspy's uploader with timeouts on every request; retries are `Sender`'s job."""

    def _do_request(self) -> None:
        request = _TimedRequest(self)
        self.request = request  # type: ignore[assignment]  # tuspy declares it None
        request.perform()
        status = int(request.status_code or 0)
        if not 200 <= status < 300:
            raise TusUploadFailed("", status, request.response_content)

    def _header(self, method: str, url: str, headers: dict[str, str], name: str) -> str:
        """One request with a timeout; the answer's header `name`, or TusCommunicationError."""
        try:
            response = requests.request(
                method, url, headers=headers, verify=self.verify_tls_cert,
                cert=self.client_cert, timeout=TIMEOUT,
            )  # fmt: skip
        except requests.RequestException as error:
            raise TusCommunicationError(error) from error
        value = response.headers.get(name)
        if value is None:
            raise TusCommunicationError(
                f"{method} answered {response.status_code} without {name}",
                response.status_code,
                response.content,
            )
        return value

    def get_offset(self) -> int:
        return int(self._header("HEAD", str(self.url), self.get_headers(), "upload-offset"))

    def create_url(self) -> str:
        assert self.client is not None
        endpoint = self.client.url
        headers = self.get_url_creation_headers()
        return urljoin(endpoint, self._header("POST", endpoint, headers, "location"))


class _KnownFingerprint(Fingerprint):
    def __init__(self, key: str) -> None:
        self.key = key

    def get_fingerprint(self, fs: IO[Any]) -> str:
        return self.key


def _status(error: Exception) -> int | None:
    status = getattr(error, "status_code", None)
    return status if isinstance(status, int) else None


def _reason(error: Exception) -> str:
    body = getattr(error, "response_content", None)
    return reason_of(body if isinstance(body, bytes) else None, str(error) or type(error).__name__)


class Sender:
    """One hub, one token, one resume store; `send()` a file until it is a slide."""

    def __init__(
        self,
        server: str,
        token: str,
        state_dir: Path,
        *,
        chunk_size: int = 8 * 1024 * 1024,
        max_wait: float = 60.0,
        give_up_after: float = 24 * 3600.0,
        checksum: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.server = server.rstrip("/")
        self.endpoint = f"{self.server}/api/uploads/"
        self.headers = hub_headers(token)
        state_dir.mkdir(parents=True, exist_ok=True)
        self.storage = FileStorage(str(state_dir / "tus-urls.json"))  # type: ignore[no-untyped-call]
        self.chunk_size = chunk_size
        self.max_wait = max_wait
        self.give_up_after = give_up_after
        self.sleep = sleep
        #: Per-request checksums: a cut request is then discarded whole (so keep chunks
        #: small); without them the hub keeps what arrived before a cut.
        self.checksum = checksum
        self.body_bytes = 0  # request body bytes put on the wire, resent ones included

    def _backoff(self, attempt: int) -> None:
        self.sleep(backoff_seconds(attempt, self.max_wait))

    def send(
        self,
        path: Path,
        *,
        site: str | None = None,
        case: str | None = None,
        progress: Progress | None = None,
        set_part: bool = False,
    ) -> Sent:
        """The file as a slide (its id in `Sent`), or with `set_part` as one file of a
        slide of several files, held by the hub until the set's manifest names it."""
        sha256 = file_sha256(path)
        key = f"{self.endpoint} {sha256}"
        metadata = {"filename": path.name, "sha256": sha256}
        if set_part:
            key += " set_part"
            metadata["purpose"] = "set_part"
        if site:
            metadata["site"] = site
        if case:
            metadata["case"] = case
        uploader = self._uploader(path, key, metadata)
        size = path.stat().st_size
        started = time.monotonic()
        attempt = 0
        while True:
            try:
                if uploader.url is None:
                    uploader.set_url(uploader.create_url())
                    uploader.offset = 0
                if uploader.offset >= size:
                    break
                before = uploader.offset
                self.body_bytes += uploader.get_request_length()
                uploader.upload_chunk()
                if progress is not None:
                    progress(uploader.offset, size)
                attempt = 0 if uploader.offset > before else attempt
            except (TusCommunicationError, TusUploadFailed, requests.RequestException) as error:
                status = _status(error)
                if status in FINAL_STATUSES:
                    self.storage.remove_item(key)
                    raise UploadRefusedError(named(path, _reason(error))) from error
                if time.monotonic() - started > self.give_up_after:
                    raise
                self._backoff(attempt)
                attempt += 1
                self._refresh_offset(uploader)
        return self._finish(uploader, key, path, set_part)

    def _uploader(self, path: Path, key: str, metadata: dict[str, str]) -> Any:
        client = TusClient(self.endpoint, headers=dict(self.headers))

        def make() -> _TimedUploader:
            return _TimedUploader(
                file_path=str(path), client=client, chunk_size=self.chunk_size,
                metadata=metadata, store_url=True, url_storage=self.storage,
                fingerprinter=_KnownFingerprint(key), upload_checksum=self.checksum,
            )  # fmt: skip

        started = time.monotonic()
        attempt = 0
        while True:
            try:
                return make()  # resumes a stored upload, asking the hub for its offset
            except TusCommunicationError as error:
                if _status(error) in FINAL_STATUSES:
                    self.storage.remove_item(key)  # expired or refused: start a new one
                    continue
                # The hub is unreachable right now: keep the URL, resume once it answers.
                if time.monotonic() - started > self.give_up_after:
                    raise
                self._backoff(attempt)
                attempt += 1

    def _refresh_offset(self, uploader: Any) -> None:
        if uploader.url is None:
            return
        try:
            offset = uploader.get_offset()
        except (TusCommunicationError, requests.RequestException) as error:
            if _status(error) in FINAL_STATUSES:
                uploader.url = None  # the upload is gone: start a new one
            return
        uploader.offset = offset

    def _finish(self, uploader: Any, key: str, path: Path, set_part: bool) -> Sent:
        """Ask the hub what the upload became (the final answer may have been cut off)."""
        body: dict[str, Any] = {}
        for attempt in range(40):
            try:
                response = requests.get(uploader.url, headers=self.headers, timeout=600)
            except requests.RequestException:
                self._backoff(attempt)
                continue
            body = response.json() if response.ok else {"detail": response.text}
            if response.ok and body.get("status") == "receiving":
                # All bytes are in and the hub is still verifying them; a HEAD also
                # completes an upload whose completion a server restart cut off.
                self._refresh_offset(uploader)
                self._backoff(min(attempt, 3))
                continue
            break
        self.storage.remove_item(key)
        if body.get("status") != "completed" or not (set_part or body.get("slide_id")):
            reason = body.get("error") or body.get("detail") or body.get("status")
            raise UploadRefusedError(named(path, str(reason)))
        return Sent(path, str(body.get("slide_id") or ""), str(uploader.url))
