"""A very large annotation (a 50,000-point tumour outline) does not hold back other
writers: a slide opened while it is being written opens, with its audit row, before
the annotation is stored. No timing: the write is held at the point where the old
code held SQLite's write lock (encoding the geometry) until the open has finished.
The speed of the same is `python -m benchmarks.annotation_write`."""

from __future__ import annotations

import threading
from typing import Any

import httpx
from fastapi import FastAPI
from sqlmodel import func, select

from app.core.db import Database
from app.models.annotations import Annotation
from app.models.audit import AuditEvent
from app.services import annotations as service
from benchmarks.annotation_write import outline
from tests.browser import serve_asgi
from tests.conftest import World

#: Generous: only a write that holds the lock while paused makes the open wait this long.
DEADLOCK_S = 120


def _count(db: Database, query: Any) -> int:
    with db.read() as session:
        return int(session.exec(query).one())


def test_a_slide_opens_while_a_large_annotation_is_written(
    app: FastAPI, world: World, north_slide: dict[str, Any], db: Database, monkeypatch: Any
) -> None:
    slide_id = north_slide["id"]
    encoding, opened = threading.Event(), threading.Event()
    encode = service.encode_json

    def held(value: object) -> Any:
        if not encoding.is_set():
            encoding.set()
            opened.wait(DEADLOCK_S)
        return encode(value)

    monkeypatch.setattr(service, "encode_json", held)
    feature = outline(50_000, north_slide["width"], north_slide["height"])
    opens = select(func.count()).where(
        AuditEvent.action == "slide.open", AuditEvent.object_id == slide_id
    )
    stored = select(func.count()).select_from(Annotation)
    written: list[httpx.Response] = []
    with serve_asgi(app) as base:
        writer = threading.Thread(
            target=lambda: written.append(
                httpx.post(
                    f"{base}/api/slides/{slide_id}/annotations",
                    json=feature,
                    headers=world.auth("path_north"),
                    timeout=600,
                )
            )
        )
        writer.start()
        assert encoding.wait(600), "the write never started"
        try:
            answer = httpx.get(
                f"{base}/dzi/{slide_id}.dzi", headers=world.auth("path_north"), timeout=600
            )
            assert answer.status_code == 200, answer.text
            # The open and its audit row are in; the annotation is not written yet.
            assert _count(db, opens) == 1
            assert _count(db, stored) == 0
        finally:
            opened.set()
            writer.join()
    assert written[0].status_code == 201, written[0].text
    assert _count(db, stored) == 1
