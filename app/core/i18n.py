"""The users' languages: gettext catalogs read with Babel, one per language, shared by
the server's own sentences and the pages (served as JSON by `app.api.routes.i18n`).

English is the source language: a msgid is the English sentence, with named
placeholders (`"Signed by {name} at {time}"`), so a missing translation falls back to
English, never to a key. `Message` and `N_` live with the slide engine's errors
(`tiler.reasons`), so the engine's reasons are marked and said again here too.
`app/locale/<lang>/LC_MESSAGES/messages.po` is the catalog
(read as text: no compiled `.mo` to keep in step); `make messages` extracts every
msgid again (`babel.cfg`) and updates it. Languages are BCP 47 tags (`zh-Hans`) in the
API, the browser and the database; gettext spells the folder `zh_Hans`.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from babel.messages.catalog import Catalog

# Re-exported: the service marks its sentences with the same `N_`.
from tiler.reasons import N_ as N_
from tiler.reasons import Message as Message
from tiler.reasons import fill as _fill

LOCALE_DIR = Path(__file__).resolve().parents[1] / "locale"
SOURCE_LANGUAGE = "en"
#: Tag -> the language's name in itself (what the header's control shows).
LANGUAGES: dict[str, str] = {"en": "English", "zh-Hans": "简体中文"}
#: A catalog entry: one text, or the plural forms of a text (`ngettext`).
Entry = str | list[str]


def catalog_path(language: str) -> Path:
    return LOCALE_DIR / language.replace("-", "_") / "LC_MESSAGES" / "messages.po"


def read_catalog(language: str) -> Catalog:
    # Babel is imported when a catalog is read, not by `N_`'s users (the CLI starts fast).
    from babel.messages.pofile import read_po

    with catalog_path(language).open("rb") as file:
        return read_po(file, locale=language.replace("-", "_"))


@cache
def messages(language: str) -> dict[str, Entry]:
    """msgid -> translation, for the entries that have one (fuzzy ones excluded: a
    guess of `msgmerge` is not a translation). English: empty (the msgids are English)."""
    if language not in LANGUAGES or language == SOURCE_LANGUAGE:
        return {}
    table: dict[str, Entry] = {}
    for entry in read_catalog(language):
        if not entry.id or entry.fuzzy:
            continue
        if isinstance(entry.id, tuple):
            forms = [str(form) for form in entry.string or ()]
            if forms and all(forms):
                table[str(entry.id[0])] = forms
        elif entry.string:
            table[str(entry.id)] = str(entry.string)
    return table


def gettext(language: str, msgid: str, /, **params: object) -> str:
    entry = messages(language).get(msgid, msgid)
    return _fill(entry if isinstance(entry, str) else entry[0], params)


def translate(text: str, language: str) -> str:
    """`text` in `language`: a `Message` by its msgid (a parameter that is a `Message`
    too, such as a route's name in a refusal, translated with it), a plain sentence if
    the catalog has it word for word, anything else (a reason built without `N_`)
    unchanged. A plain parameter is data: never looked up."""
    if isinstance(text, Message):
        params = {
            name: translate(value, language) if isinstance(value, Message) else value
            for name, value in text.params.items()
        }
        return gettext(language, text.msgid, **params)
    entry = messages(language).get(text)
    return entry if isinstance(entry, str) else text


def supported(tag: str | None) -> str | None:
    """The language of ours a BCP 47 tag asks for: any Chinese is `zh-Hans` (the only
    Chinese catalog; Traditional readers read it more easily than English), `en-GB` is `en`."""
    if not tag:
        return None
    primary = tag.strip().split("-")[0].split("_")[0].lower()
    if primary == "zh":
        return "zh-Hans"
    if primary == "en":
        return "en"
    return None


def negotiate(accept_language: str | None) -> str:
    """The best of our languages for an `Accept-Language` header (RFC 9110 q-values)."""
    wanted: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")):
        tag, _, rest = part.strip().partition(";")
        quality = 1.0
        match = re.search(r"q=([^;\s]*)", rest)
        if match:
            try:
                quality = float(match[1])
            except ValueError:
                continue
        language = supported(tag)
        if language and quality > 0:
            wanted.append((-quality, index, language))
    return min(wanted)[2] if wanted else SOURCE_LANGUAGE
