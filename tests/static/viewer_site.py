"""A running SlideBridge for the viewer tests: real app over HTTP, SQLite, users, slides."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from playwright.sync_api import BrowserContext, Page

from app.core.db import Database
from app.core.security import hash_password
from app.main import create_app
from app.models.accounts import Role, Site, TokenKind, UserCreate
from app.models.slides import SlideRecord, SlideStatus
from app.services import accounts as crud
from tests.browser import serve_asgi
from tests.conftest import BOXES_TIFF, PASSWORD, SECRET, SMALL_SVS
from workers.embedded import EmbeddedWorkers

USERS = {
    "admin": (Role.admin, None),
    "path_north": (Role.pathologist, None),
    "path_second": (Role.pathologist, None),
    "surgeon_north": (Role.surgeon, "NORTH"),
    "tech_north": (Role.technician, "NORTH"),
}


@dataclass
class ViewerSite:
    base: str
    client: TestClient
    tokens: dict[str, str] = field(default_factory=dict)
    slides: dict[str, str] = field(default_factory=dict)

    def auth(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[username]}"}

    def login(self, context: BrowserContext, username: str) -> Page:
        page = context.new_page()
        page.goto(f"{self.base}/login")
        page.fill("#username", username)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state()
        return page

    def annotations(self, slide: str) -> list[dict[str, Any]]:
        response = self.client.get(
            f"/api/slides/{self.slides[slide]}/annotations", headers=self.auth("path_north")
        )
        assert response.status_code == 200, response.text
        features: list[dict[str, Any]] = response.json()["features"]
        return features

    def add_square(self, slide_id: str, x: int, y: int, side: int, username: str) -> None:
        """A square annotation by `username` made through the API, as another user's
        browser would: it reaches the open pages through their live streams."""
        ring = [[x, y], [x + side, y], [x + side, y + side], [x, y + side], [x, y]]
        response = self.client.post(
            f"/api/slides/{slide_id}/annotations",
            json={"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                  "properties": {"objectType": "annotation"}},
            headers=self.auth(username),
        )  # fmt: skip
        assert response.status_code == 201, response.text

    def clear(self, slide: str) -> None:
        for feature in self.annotations(slide):
            self.client.delete(
                f"/api/slides/{self.slides[slide]}/annotations/{feature['id']}",
                headers=self.auth("path_north"),
            )


@contextmanager
def running_site(data_dir: Path) -> Iterator[ViewerSite]:
    from app.core.config import Settings

    data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        environment="test",
        secret_key=SECRET,
        data_dir=data_dir,
        build_processes=1,
        embedded_workers=1,
        cookie_secure=False,
    )
    app = create_app(settings)
    with TestClient(app, base_url="http://testserver") as client:
        db: Database = app.state.db
        site = ViewerSite(base="", client=client)
        with db.write() as session:
            north = Site(code="NORTH", name="North Hospital")
            session.add(north)
            session.flush()
            password_hash = hash_password(PASSWORD)
            for username, (role, site_code) in USERS.items():
                covers = ["NORTH"] if role == Role.pathologist else []
                data = UserCreate(
                    username=username, role=role, site=site_code, covers=covers, password=PASSWORD
                )
                user = crud.create_user(session, data, password_hash=password_hash)
                token, _ = crud.issue_token(
                    session, user, TokenKind.bearer, timedelta(hours=1), SECRET
                )
                site.tokens[username] = token
        # The same scan twice (one trailing byte apart: another file to the service), so
        # the 10,000-annotation test has a slide of its own.
        for key, name, data in (
            ("cmu", SMALL_SVS.name, SMALL_SVS.read_bytes()),
            ("crowded", "crowded.svs", SMALL_SVS.read_bytes() + b"\0\0"),
            ("boxes", BOXES_TIFF.name, BOXES_TIFF.read_bytes()),
        ):
            response = client.post(
                "/api/slides", headers=site.auth("tech_north"), files={"file": (name, data)}
            )
            assert response.status_code == 201, response.text
            site.slides[key] = response.json()["id"]
        workers = EmbeddedWorkers(db, settings)
        while workers.run_once("viewer-test"):
            pass
        # A slide whose processing failed, as the worker would leave it.
        response = client.post(
            "/api/slides",
            headers=site.auth("tech_north"),
            files={"file": ("again.svs", SMALL_SVS.read_bytes() + b"\0")},
        )
        site.slides["failed"] = response.json()["id"]
        with db.write() as session:
            failed = session.get(SlideRecord, uuid.UUID(site.slides["failed"]))
            assert failed is not None
            failed.status = SlideStatus.failed
            failed.error = "the scanner file ends early"
            session.add(failed)
        # boxes.tiff is uncalibrated as registered: its 72-dpi TIFF resolution is no
        # pixel size, and the slide engine reports none.
        boxes = client.get(f"/api/slides/{site.slides['boxes']}", headers=site.auth("tech_north"))
        assert boxes.json()["mpp_x"] is None
        with serve_asgi(app) as base:
            site.base = base
            yield site
