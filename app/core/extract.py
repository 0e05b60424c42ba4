"""What `make messages` and the translation tests extract: every msgid of the server
and the pages, through Babel with the mapping in `babel.cfg`.

Python and JavaScript use Babel's own extractors (`N_(...)` and `t(...)` calls);
the pages' static HTML uses `extract_html` below, which takes exactly what the pages'
shell translates on load (`static/shell/i18n.js`: `translatePage`): each text node
and the `placeholder`, `title`, `aria-label` and `alt` attributes, whitespace folded,
outside `<script>`/`<style>` and outside any element marked `translate="no"` (data,
brand names, the keyboard's keys). A new page is covered without configuration.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from html.parser import HTMLParser
from pathlib import Path
from typing import IO, Any

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg

ROOT = Path(__file__).resolve().parents[2]
MAPPING = ROOT / "babel.cfg"
#: The call names that mark a msgid (the Makefile's `messages` target passes the same):
#: `N_` in Python (`app.core.i18n`), `t`/`tNodes` and the plural `tn` in the pages.
KEYWORDS: dict[str, Any] = {"N_": None, "t": None, "tNodes": None, "tn": (1, 2)}
#: Attributes a person reads (`static/shell/i18n.js` translates the same).
ATTRIBUTES = ("placeholder", "title", "aria-label", "alt")
_SKIPPED = {"script", "style", "template"}
_VOID = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
    "track", "wbr",
}  # fmt: skip
#: Folders under the mapped ones that hold no page of ours.
_IGNORED_DIRS = {"node_modules", "__pycache__"}


def fold(text: str) -> str:
    """The msgid of a text node: whitespace runs as one space, trimmed."""
    return " ".join(text.split())


def translatable(text: str) -> bool:
    return any(character.isalpha() for character in text)


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        # One entry per open element: whether its content is left as it is.
        self.stack: list[tuple[str, bool]] = []
        self.found: list[tuple[int, str]] = []

    def _kept(self) -> bool:
        return bool(self.stack) and self.stack[-1][1]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        kept = self._kept() or tag in _SKIPPED or values.get("translate") == "no"
        if not kept:
            for name in ATTRIBUTES:
                self._add(values.get(name) or "")
        if tag not in _VOID:
            self.stack.append((tag, kept))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        # Close up to the matching element (HTML lets `<p>`, `<li>`... end unclosed).
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                del self.stack[index:]
                return

    def handle_data(self, data: str) -> None:
        if not self._kept():
            self._add(data)

    def _add(self, text: str) -> None:
        msgid = fold(text)
        if translatable(msgid):
            self.found.append((self.getpos()[0], msgid))


def extract_html(
    fileobj: IO[bytes],
    keywords: Mapping[str, Any],
    comment_tags: Collection[str],
    options: Mapping[str, Any],
) -> Iterator[tuple[int, str | None, str, list[str]]]:
    """A Babel extraction method (`babel.cfg`: `[extractors] html = ...`)."""
    collector = _Collector()
    collector.feed(fileobj.read().decode(options.get("encoding", "utf-8")))
    collector.close()
    for line, msgid in collector.found:
        yield line, None, msgid, []


def _directory_filter(path: str) -> bool:
    name = Path(path).name
    return name not in _IGNORED_DIRS and not name.startswith((".", "_"))


def extract_all(root: Path = ROOT) -> Catalog:
    """Every msgid under `root` with the places it comes from (`pybabel extract`'s result)."""
    with MAPPING.open() as file:
        method_map, options_map = parse_mapping_cfg(file)  # type: ignore[no-untyped-call]
    catalog = Catalog()
    for filename, line, message, comments, context in extract_from_dir(
        str(root),
        method_map,
        options_map,
        keywords=KEYWORDS,
        comment_tags=("TRANSLATORS:",),
        directory_filter=_directory_filter,
    ):
        catalog.add(message, None, [(filename, line)], auto_comments=comments, context=context)
    return catalog
