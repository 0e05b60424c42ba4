"""Every string a person reads has a Chinese translation.

The msgids are extracted the way `make messages` does (`app.core.extract`, babel.cfg):
the pages' static HTML and `t()`/`tn()`/`tNodes()` calls under static/ (a new page is
covered without configuration), and the server's `N_()` sentences. A msgid without a
Chinese msgstr fails the test, listed with the file and line it comes from.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message

from app.core.extract import KEYWORDS, ROOT, extract_all
from app.core.i18n import LANGUAGES, SOURCE_LANGUAGE, messages, read_catalog

PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _key(message: Message) -> str:
    return str(message.id[0] if isinstance(message.id, tuple) else message.id)


def _translated(message: Message | None) -> bool:
    if message is None or message.fuzzy:
        return False
    forms = message.string if isinstance(message.string, tuple) else (message.string,)
    return bool(forms) and all(forms)


def _where(message: Message) -> str:
    return ", ".join(f"{file}:{line}" for file, line in message.locations[:3])


def test_every_string_of_the_pages_and_the_server_has_a_translation() -> None:
    extracted: Catalog = extract_all()
    assert len(extracted) > 300  # the extractor found the pages (not an empty walk)
    for language in LANGUAGES:
        if language == SOURCE_LANGUAGE:
            continue
        catalog = read_catalog(language)
        missing = [
            f"  {_where(message)}\n    msgid {_key(message)!r}"
            for message in extracted
            if message.id and not _translated(catalog.get(message.id))
        ]
        if missing:
            pytest.fail(
                f"{len(missing)} strings have no {language} translation. Run `make messages`, "
                f"then give each a msgstr in app/locale/{language.replace('-', '_')}/"
                "LC_MESSAGES/messages.po:\n" + "\n".join(missing),
                pytrace=False,
            )


def test_translations_fill_only_the_placeholders_the_code_gives() -> None:
    """A `{name}` the code does not pass would show as "{name}" on the page; one the code
    passes but the translation drops loses data (a patient's name), unless the msgid's
    TRANSLATORS comment offers another placeholder for it (a month's number for its name)."""
    extracted = {message.id: message for message in extract_all() if message.id}
    problems = []
    for language in LANGUAGES:
        if language == SOURCE_LANGUAGE:
            continue
        for entry in read_catalog(language):
            source = extracted.get(entry.id)
            if not entry.id or source is None or not _translated(entry):
                continue
            ids = entry.id if isinstance(entry.id, tuple) else (entry.id,)
            given = {name for text in ids for name in PLACEHOLDER.findall(text)}
            offered = set(PLACEHOLDER.findall(" ".join(source.auto_comments)))
            forms = entry.string if isinstance(entry.string, tuple) else (entry.string,)
            for form in forms:
                used = set(PLACEHOLDER.findall(form))
                if used - given - offered:
                    problems.append(f"{_key(entry)!r}: {form!r} uses {used - given - offered}")
                if not source.auto_comments and given - used:
                    problems.append(f"{_key(entry)!r}: {form!r} drops {given - used}")
    assert not problems, "\n".join(problems)


def test_the_catalog_the_pages_get_has_the_translations() -> None:
    table = messages("zh-Hans")
    assert table["malignant"] == "恶性"
    assert table["{count} point"] == ["{count} 个点"]  # plural forms as a list
    assert messages("en") == {}  # the msgids are English


def test_make_messages_extracts_with_the_same_keywords() -> None:
    """The Makefile's `pybabel extract` and the tests use one list of keywords."""
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nmessages:", 1)[1].split("\n\n", 1)[0]
    given = dict(re.findall(r"-k (\w+)(?::(\S+))?", recipe))
    assert set(given) == set(KEYWORDS)
    assert given["tn"] == "1,2"


def test_the_html_extractor_takes_what_the_shell_translates(tmp_path: Path) -> None:
    from app.core.extract import extract_html

    page = tmp_path / "page.html"
    page.write_text(
        "<html><head><title>A  page\n title</title><script>ignored()</script></head><body>"
        '<p>Hello <strong>there</strong>.</p><input placeholder="Type here" value="x">'
        '<span translate="no">NORTH <b>data</b></span><p>12 · 3</p>'
        '<img alt="A picture"><p title="Tip" aria-label="Label"></p></body></html>'
    )
    with page.open("rb") as file:
        found = [message for _, _, message, _ in extract_html(file, {}, (), {})]
    assert found == ["A page title", "Hello", "there", "Type here", "A picture", "Tip", "Label"]


def test_babel_sees_every_call_of_the_pages() -> None:
    """Babel's JavaScript extractor skips a call inside `${...}` or inside another t()'s
    arguments: every literal t/tn/tNodes call in static/ must reach the catalog."""
    extracted = {_key(message) for message in extract_all() if message.id}
    unseen = []
    for path in sorted((ROOT / "static").rglob("*.js")):
        if "node_modules" in path.parts:
            continue
        text = path.read_text()
        for match in re.finditer(r'(?<![\w.])(?:t|tn|tNodes)\(\s*"((?:[^"\\]|\\.)*)"', text):
            line = text.count("\n", 0, match.start()) + 1
            if match[1] not in extracted and not text[: match.start()].rstrip().endswith("//"):
                unseen.append(f"  {path.relative_to(ROOT)}:{line}: {match[1]!r}")
    if unseen:
        pytest.fail(
            "Babel cannot extract these calls (inside `${...}` or inside another t() call's "
            "arguments): compute each into a variable first.\n" + "\n".join(unseen),
            pytrace=False,
        )
