"""Fixtures: a real database (SQLite file and PostgreSQL), the real app, users and tokens per role.

Every database test runs twice, on SQLite and on the PostgreSQL server on
127.0.0.1:5432; a missing server is a failure, not a skip. Each test starts from
empty tables: SQLite copies a migrated template file, PostgreSQL truncates the
tables of a schema private to this test process.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.core.db import Database
from app.core.security import hash_password
from app.main import create_app
from app.models.accounts import Role, Site, TokenKind, User, UserCreate
from app.services import accounts as crud

# One Chromium per test process for every browser test (two fixture copies would
# start two Playwright loops in one thread).
pytest_plugins = ["tests.browser", "tests.hub_process"]

REPO = Path(__file__).resolve().parents[1]
#: CI clones the repository next to shared/, so shared is always <repo>/../shared.
SLIDES = REPO / ".." / "shared" / "slides"
SMALL_SVS = SLIDES / "aperio" / "CMU-1-Small-Region.svs"
TINY_SVS = SLIDES / "aperio" / "small.svs"
BOXES_TIFF = SLIDES / "generic-tiff" / "boxes.tiff"
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
#: The `slidebridge` command as a program, run by this test run's Python.
SLIDEBRIDGE = [sys.executable, "-c", "from app.cli import main; main()"]
PASSWORD = "correct horse battery"
SECRET = "test-secret-key-that-is-long-enough"


@dataclass
class Backend:
    name: str
    template: Path | None = None
    url: str | None = None


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    if request.param == "sqlite":
        template = tmp_path_factory.mktemp("template") / "slidebridge.db"
        db = Database(f"sqlite:///{template}")
        db.migrate()
        db.dispose()
        yield Backend("sqlite", template=template)
        return
    schema = f"t_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    admin = Database(POSTGRES_URL)
    with admin.engine.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    db = Database(Settings(database_url=url).sqlalchemy_url)
    db.migrate()
    db.dispose()
    yield Backend("postgresql", url=url)
    with admin.engine.begin() as connection:
        connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    admin.dispose()


def _empty_postgres(url: str) -> None:
    db = Database(Settings(database_url=url).sqlalchemy_url)
    with db.engine.begin() as connection:
        # The schema's own tables (what the migrations made), not the models' list.
        tables = connection.exec_driver_sql(
            "SELECT quote_ident(tablename) FROM pg_tables "
            "WHERE schemaname = current_schema() AND tablename <> 'alembic_version'"
        ).scalars()
        # TRUNCATE fires no row triggers, so the append-only audit table empties too.
        connection.exec_driver_sql(f"TRUNCATE {', '.join(tables)} CASCADE")
    db.dispose()


def make_settings(backend: Backend, data_dir: Path, **overrides: Any) -> Settings:
    data_dir.mkdir(parents=True, exist_ok=True)
    values: dict[str, Any] = {
        "environment": "test",
        "secret_key": SECRET,
        "data_dir": data_dir,
        "build_processes": 1,
        "embedded_workers": 1,
        "job_poll_seconds": 0.2,
        # PostgreSQL notifications are database-wide: each test process its own channel.
        "events_channel": f"test_{os.getpid()}",
    }
    if backend.name == "sqlite":
        assert backend.template is not None
        db_file = data_dir / "slidebridge.db"
        if not db_file.exists():
            shutil.copy(backend.template, db_file)
    else:
        values["database_url"] = backend.url
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(backend: Backend, tmp_path: Path) -> Settings:
    if backend.name == "postgresql":
        assert backend.url is not None
        _empty_postgres(backend.url)
    return make_settings(backend, tmp_path / "data")


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    # https, so the Secure session cookie is sent back as a browser would; and the Origin
    # a browser sends from our own pages (tests of cross-site requests replace it).
    origin = {"Origin": "https://testserver"}
    with TestClient(app, base_url="https://testserver", headers=origin) as test_client:
        yield test_client


@pytest.fixture
def db(app: FastAPI) -> Database:
    database = app.state.db
    assert isinstance(database, Database)
    return database


@pytest.fixture(scope="session")
def password_hash() -> str:
    return hash_password(PASSWORD)  # once: argon2 is slow on purpose


@dataclass
class World:
    """Two sites and one user per role, each with a bearer token."""

    sites: dict[str, Site] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[username]}"}


USERS: dict[str, tuple[Role, str | None, list[str]]] = {
    "admin": (Role.admin, None, []),
    "path_north": (Role.pathologist, None, ["NORTH"]),
    "path_south": (Role.pathologist, None, ["SOUTH"]),
    "tech_north": (Role.technician, "NORTH", []),
    "surgeon_north": (Role.surgeon, "NORTH", []),
    "tech_south": (Role.technician, "SOUTH", []),
}


@pytest.fixture
def world(db: Database, settings: Settings, password_hash: str, client: TestClient) -> World:
    result = World()
    with db.write() as session:
        for code in ("NORTH", "SOUTH"):
            site = Site(code=code, name=f"{code.title()} Hospital")
            session.add(site)
            result.sites[code] = site
        session.flush()
        for username, (role, site_code, covers) in USERS.items():
            data = UserCreate(
                username=username, role=role, site=site_code, covers=covers, password=PASSWORD
            )
            user = crud.create_user(session, data, password_hash=password_hash)
            token, _ = crud.issue_token(
                session, user, TokenKind.bearer, timedelta(minutes=30), settings.secret_key
            )
            result.users[username] = user
            result.tokens[username] = token
    return result


def upload(
    client: TestClient,
    world: World,
    username: str,
    path: Path = SMALL_SVS,
    *,
    site: str | None = None,
    name: str | None = None,
    urgent: bool = False,
) -> Any:
    data = {"site": site} if site else {}
    if urgent:
        data["urgent"] = "true"
    return client.post(
        "/api/slides",
        headers=world.auth(username),
        files={"file": (name or path.name, path.read_bytes())},
        data=data,
    )


@pytest.fixture
def north_slide(client: TestClient, world: World) -> dict[str, Any]:
    response = upload(client, world, "tech_north")
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture(scope="session")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Synthetic pictures (phone photograph, camera capture, OME-TIFF, ...): see
    tests/tiler/image_files.py."""
    from tests.tiler.image_files import write_pictures

    return write_pictures(tmp_path_factory.mktemp("pictures"))


@pytest.fixture
def dicom_series(tmp_path: Path) -> Path:
    """A DICOM WSI series of three level files and a label (tests/tiler/slide_files.py)."""
    from tests.tiler.slide_files import dicom_series as write

    return write(tmp_path / "series")


@pytest.fixture
def mirax_folder(tmp_path: Path) -> Path:
    """A folder holding a synthetic MIRAX slide, `scan.mrxs` + `scan/` (three levels)."""
    from tests.tiler.mirax_files import mirax_slide

    return mirax_slide(tmp_path / "mirax")
