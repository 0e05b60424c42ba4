"""The signed-out pages' one look: a white card on the header's dark blue (sign-in,
first-run setup). Plain HTML with the style inline and no script: the page's CSP
allows nothing else. Their words come from the catalog on the server (no script to
translate them), in `app.api.language.signed_out_language`; a line of links switches it."""

from __future__ import annotations

import html
from urllib.parse import urlencode

from fastapi.responses import HTMLResponse

from app.core.i18n import LANGUAGES, N_, translate

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Cache-Control": "no-store",
}
_STYLE = """body{margin:0;min-height:100vh;display:grid;place-items:center;background:#1d2430;
font:15px/1.4 system-ui,sans-serif;color:#1b1f24}
main{background:#fff;width:min(var(--card-width,22rem),92vw);padding:1.6rem 1.8rem 1.8rem;
border-radius:8px;box-shadow:0 8px 30px rgba(0,0,0,.35);margin:1.5rem 0}
h1{margin:0 0 .2rem;font-size:1.5rem}h2{margin:1.4rem 0 .1rem;font-size:1.05rem}
.sub{margin:0 0 1.2rem;color:#5b6472;font-size:.9rem}
label,input,button{display:block;width:100%;box-sizing:border-box}
label{margin:.8rem 0 .3rem;font-weight:600}.hint{margin:.25rem 0 0;color:#5b6472;font-size:.85rem}
input{padding:.55rem .6rem;font:inherit;border:1px solid #c6ccd5;border-radius:5px}
input:focus{outline:2px solid #4ea1ff;border-color:#4ea1ff}
.pair{display:grid;grid-template-columns:8rem 1fr;gap:0 .8rem}
button{margin-top:1.3rem;padding:.6rem;font:inherit;font-weight:600;color:#fff;background:#2a6fd6;
border:0;border-radius:5px;cursor:pointer}button:hover{background:#245fb8}
.error{color:#8c1d18;background:#fbd9d6;padding:.5rem .6rem;border-radius:5px}
a{color:#2a6fd6}.languages{margin:1.2rem 0 0;font-size:.85rem;color:#5b6472}"""


def card_page(
    title: str,
    body: str,
    *,
    language: str = "en",
    switch: dict[str, str] | None = None,
    status: int = 200,
    width: str = "22rem",
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """`body` is trusted HTML (escape what comes from a request with `error_line`);
    `title` a sentence of the catalog. `switch`: the query of this page, for links to
    it in each other language (None: no links)."""
    page_title = translate(N_("SlideBridge: {page}", page=translate(title, language)), language)
    page = (
        f'<!doctype html>\n<html lang="{html.escape(language)}"><head><meta charset="utf-8">'
        f"<title>{html.escape(page_title)}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{_STYLE}</style></head>\n"
        f'<body><main style="--card-width:{width}"><h1 translate="no">SlideBridge</h1>{body}'
        f"{_switch(language, switch)}</main></body></html>\n"
    )
    return HTMLResponse(page, status_code=status, headers={**HEADERS, **(headers or {})})


def _switch(language: str, query: dict[str, str] | None) -> str:
    if query is None:
        return ""
    links = [
        f'<a href="?{html.escape(urlencode({**query, "lang": tag}))}" lang="{tag}" '
        f'translate="no">{html.escape(name)}</a>'
        for tag, name in LANGUAGES.items()
        if tag != language
    ]
    return f'<p class="languages">{" · ".join(links)}</p>'


def error_line(message: str) -> str:
    return f'<p class="error" role="alert">{html.escape(message)}</p>' if message else ""
