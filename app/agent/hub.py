"""What every way of sending shares: the hub's refusals, signing in, the file's SHA-256."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
from pathlib import Path

import requests

from tiler.errors import SlideBridgeError

#: Statuses after which asking again cannot help (409 and 423 can: re-read the state).
FINAL_STATUSES = frozenset({400, 401, 403, 404, 410, 412, 413, 415, 422})
#: (connect, read) seconds: a half-open link (the radio dropped, no RST ever comes)
#: would otherwise hang the agent forever.
TIMEOUT = (30.0, 300.0)


class UploadRefusedError(SlideBridgeError):
    """The hub refused the file for good (not a slide, over quota, no permission)."""


def file_sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def reason_of(body: bytes | None, fallback: str) -> str:
    """The hub's `detail`, or the start of whatever it answered."""
    if not body:
        return fallback
    try:
        detail = json.loads(body).get("detail")
        if isinstance(detail, str):
            return detail
    except (ValueError, AttributeError):
        pass
    return body.decode("utf-8", "replace")[:300]


def named(path: Path, reason: str) -> str:
    """The hub's reason, naming the file once (slide errors already name it)."""
    return reason if path.name in reason else f"{path.name}: {reason}"


def backoff_seconds(attempt: int, most: float) -> float:
    """Exponential with jitter, so agents cut off together do not come back together."""
    return float(min(most, 0.5 * 2**attempt) * (0.5 + random.random() / 2))  # noqa: S311


def locale_language() -> str | None:
    """The person's language from the environment, as a BCP 47 tag: SLIDEBRIDGE_LANGUAGE,
    else the POSIX locale in gettext's order (LANGUAGE, LC_ALL, LC_MESSAGES, LANG);
    `zh_CN.UTF-8` is `zh-CN`; the C and POSIX locales say nothing."""
    for name in ("SLIDEBRIDGE_LANGUAGE", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name, "").split(":")[0]
        tag = re.split(r"[.@]", value)[0].replace("_", "-")
        if tag and tag not in ("C", "POSIX") and re.fullmatch(r"[A-Za-z]{2,3}(-\w{1,8})*", tag):
            return tag
    return None


def hub_headers(token: str | None = None) -> dict[str, str]:
    """What every request to the hub carries: the credential, and the language the hub
    says its reasons in (it prefers the user's own setting when they have chosen one)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    language = locale_language()
    if language:
        headers["Accept-Language"] = language
    return headers


def login(server: str, username: str, password: str) -> str:
    response = requests.post(
        f"{server.rstrip('/')}/api/auth/token",
        data={"username": username, "password": password},
        headers=hub_headers(),
        timeout=60,
    )
    if response.status_code != 200:
        raise UploadRefusedError(f"sign-in refused ({response.status_code})")
    token = response.json()["access_token"]
    assert isinstance(token, str)
    return token
