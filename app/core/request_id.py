"""The id of the request being served, for log lines and audit rows alike.

Set by the request-id middleware (`app.api.request_id`) for the whole of a request,
worker threads included (anyio copies the context into them), so an audit row and
the log lines of the request that made it carry the same id. Outside a request
(the command line, background loops) there is none.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

#: What an id from a proxy may look like: a UUID, nginx's `$request_id` (32 hex), or
#: any other short token; anything else is replaced by our own.
_VALID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

_current: ContextVar[str | None] = ContextVar("slidebridge_request_id", default=None)


def current() -> str | None:
    return _current.get()


def acceptable(value: str | None) -> bool:
    return value is not None and _VALID.fullmatch(value) is not None


def new() -> str:
    return uuid.uuid4().hex


def set_current(value: str | None) -> object:
    """Make `value` the current id; answers a token for `reset`."""
    return _current.set(value)


def reset(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]
