"""A reason for a person that can be said again in another language.

The engine explains its refusals in English (`UnsupportedFormatError("{name}: not a
whole-slide image format we can read")`); the service answers in the reader's
language. A `Message` is that English sentence, a plain `str`, which also keeps its
msgid and values, so the service's catalog (`app.core.i18n`, which knows the
languages) can say it again. Nothing here knows a language: the engine stays free of
the service, and `make messages` extracts the `N_` sentences of both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping


class Message(str):
    """A sentence for a person, in English, that keeps its msgid and parameters, so it
    can be said again in the reader's language once that is known (an error's reason
    is raised deep in a service, and translated where the answer is made)."""

    msgid: str
    params: Mapping[str, object]

    def __new__(cls, msgid: str, params: Mapping[str, object]) -> Message:
        text = super().__new__(cls, fill(msgid, params))
        text.msgid = msgid
        text.params = dict(params)
        return text

    def __reduce__(self) -> tuple[type[Message], tuple[str, Mapping[str, object]]]:
        # An error crossing a process boundary (a worker's job) keeps its msgid.
        return (Message, (self.msgid, self.params))


def N_(msgid: str, /, **params: object) -> Message:
    """Mark `msgid` for translation (`make messages` extracts it) and fill its
    `{placeholders}` now in English; `app.core.i18n.translate` says it in another
    language later."""
    return Message(msgid, params)


def fill(text: str, params: Mapping[str, object]) -> str:
    # Only `{name}` is replaced: a catalog's text is never a format string that could
    # reach an attribute of a parameter (`{x.__class__}`), and data stays data.
    return re.sub(r"\{(\w+)\}", lambda m: str(params.get(m[1], m[0])), text)


def replaced(text: str, old: str, new: str) -> str:
    """`text` with `old` replaced by `new`, in a `Message`'s values (its msgid is ours,
    never data), so a reason that names a file by another name stays translatable."""
    if not isinstance(text, Message):
        return text.replace(old, new)
    params = {
        name: replaced(value, old, new) if isinstance(value, str) else value
        for name, value in text.params.items()
    }
    return Message(text.msgid, params)
