"""`slidebridge backup` and `restore` as programs: a round trip loses nothing.

A hub with sites, users, a slide and its pyramid, a frozen-section case, a slide
still arriving (a sparse part file) and a half-done tus upload is backed up and
restored into an empty database and data directory: every row of every table and
every stored file come back identical. On SQLite, and on PostgreSQL in two
databases made for the test (never the shared `test` database).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select
from sqlmodel import SQLModel

from app.core.config import Settings
from app.core.db import Database
from app.main import create_app
from app.models.accounts import Role, Site, TokenKind, UserCreate
from app.services import accounts
from app.services.backup.store import PARTS
from tests.cases.conftest import REQUEST
from tests.conftest import BOXES_TIFF, POSTGRES_URL, SECRET, SLIDEBRIDGE, SMALL_SVS
from tests.uploads import tus
from tests.workers.helpers import child_env
from workers.embedded import EmbeddedWorkers


@dataclass
class Pair:
    source: Settings
    target: Settings


def _settings(data_dir: Path, url: str | None = None) -> Settings:
    return Settings(environment="test", secret_key=SECRET, data_dir=data_dir, database_url=url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pair]:
    if request.param == "sqlite":
        yield Pair(_settings(tmp_path / "source"), _settings(tmp_path / "target"))
        return
    names = [f"ops_backup_{uuid.uuid4().hex[:12]}_{side}" for side in ("source", "target")]
    admin = create_engine(
        Settings(database_url=POSTGRES_URL).sqlalchemy_url, isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        for name in names:
            connection.exec_driver_sql(f"CREATE DATABASE {name}")
    base = POSTGRES_URL.rsplit("/", 1)[0]
    try:
        yield Pair(
            _settings(tmp_path / "source", f"{base}/{names[0]}"),
            _settings(tmp_path / "target", f"{base}/{names[1]}"),
        )
    finally:
        with admin.connect() as connection:
            for name in names:
                connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def _digest(body: bytes) -> str:
    return f"sha-256=:{base64.b64encode(hashlib.sha256(body).digest()).decode()}:"


def populate(settings: Settings) -> None:
    """A hub with one of everything a backup must keep."""
    app = create_app(settings)
    with TestClient(app, base_url="https://testserver") as client:
        db: Database = app.state.db
        with db.write() as session:
            session.add(Site(code="NORTH", name="North Hospital"))
            session.flush()
            tech = accounts.create_user(
                session,
                UserCreate(username="tech", role=Role.technician, site="NORTH", password="x" * 12),
                password_hash="argon2-not-needed-here",
            )
            token, _ = accounts.issue_token(
                session, tech, TokenKind.bearer, timedelta(minutes=30),
                settings.secret_key,
            )  # fmt: skip
        auth = {"Authorization": f"Bearer {token}"}
        added = client.post(
            "/api/slides", headers=auth, files={"file": (SMALL_SVS.name, SMALL_SVS.read_bytes())}
        )
        assert added.status_code == 201, added.text
        assert EmbeddedWorkers(db, settings, count=1).run_once("test")  # its pyramid
        case = client.post("/api/cases", json=REQUEST, headers=auth)
        assert case.status_code == 201, case.text
        # A slide still arriving: one range in the middle of a sparse part file.
        # (The stored slide's bytes plus a few past its last directory: another file.)
        data = SMALL_SVS.read_bytes() + uuid.uuid4().bytes
        declared = client.post(
            "/api/transfers",
            headers=auth,
            json={"filename": SMALL_SVS.name, "size": len(data),
                  "sha256": hashlib.sha256(data).hexdigest()},
        )  # fmt: skip
        assert declared.status_code == 201, declared.text
        body = data[len(data) // 2 : len(data) // 2 + 65536]
        sent = client.put(
            f"/api/transfers/{declared.json()['id']}/ranges/{len(data) // 2}",
            content=body,
            headers={**auth, "Content-Digest": _digest(body)},
        )
        assert sent.status_code == 201, sent.text
        # A tus upload half done.
        boxes = BOXES_TIFF.read_bytes()
        created = client.post(
            "/api/uploads/",
            headers={**tus.TUS, **auth, "Upload-Length": str(len(boxes)),
                     "Upload-Metadata": tus.metadata(filename="boxes.tiff")},
        )  # fmt: skip
        assert created.status_code == 201, created.text
        patched = client.patch(
            created.headers["location"],
            headers={**tus.TUS, **tus.BODY, **auth, "Upload-Offset": "0"},
            content=boxes[: len(boxes) // 2],
        )
        assert patched.status_code == 204, patched.text


def snapshot(settings: Settings) -> tuple[dict[str, list[Any]], dict[str, str]]:
    """Every row of every table, and every stored file's hash."""
    db = Database.from_settings(settings)
    rows: dict[str, list[Any]] = {}
    with db.engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            found = [tuple(row) for row in connection.execute(select(table))]
            rows[table.name] = sorted(found, key=repr)  # JSON columns have no SQL order
    db.dispose()
    files = {}
    for part in PARTS:
        for path in sorted((settings.data_dir / part).rglob("*")):
            if path.is_file():
                key = path.relative_to(settings.data_dir).as_posix()
                files[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return rows, files


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SLIDEBRIDGE, *args], env=child_env(settings), capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


def test_a_round_trip_loses_nothing(pair: Pair, tmp_path: Path) -> None:
    populate(pair.source)
    before = snapshot(pair.source)
    rows, files = before
    assert rows["slide"] and rows["pathology_case"] and rows["audit_event"] and rows["upload"]
    assert {key.split("/")[0] for key in files} == set(PARTS)
    part = next((pair.source.data_dir / "transfers").iterdir())
    assert part.stat().st_blocks * 512 < part.stat().st_size  # sparse: the test means it

    dest = tmp_path / "backup"
    done = cli(pair.source, "backup", str(dest), "--quiet")
    assert done.returncode == 0, done.stderr
    assert "4 files copied" in done.stdout and "0 unchanged" in done.stdout

    done = cli(pair.target, "restore", str(dest), "--quiet")
    assert done.returncode == 0, done.stderr
    assert snapshot(pair.target) == before
    restored = pair.target.data_dir / "transfers" / part.name
    assert restored.stat().st_blocks * 512 < restored.stat().st_size  # still sparse

    # Restoring again over the restored hub needs --replace, and then changes nothing.
    again = cli(pair.target, "restore", str(dest), "--quiet")
    assert again.returncode == 2 and "give --replace" in again.stderr
    again = cli(pair.target, "restore", str(dest), "--quiet", "--replace")
    assert again.returncode == 0, again.stderr
    assert snapshot(pair.target) == before
    checked = subprocess.run(
        [*SLIDEBRIDGE, "check"], env=child_env(pair.target), capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout


def _flip(path: Path, at: int = 1000) -> None:
    with open(path, "r+b") as handle:
        handle.seek(at)
        byte = handle.read(1)
        handle.seek(at)
        handle.write(bytes([byte[0] ^ 0xFF]))


def test_incremental_and_damage(tmp_path: Path) -> None:
    source, target = _settings(tmp_path / "source"), _settings(tmp_path / "target")
    populate(source)
    dest = tmp_path / "backup"
    assert cli(source, "backup", str(dest), "--quiet").returncode == 0
    # Again: the slide and the pyramid are not copied again; the part files are.
    second = cli(source, "backup", str(dest), "--quiet")
    assert second.returncode == 0, second.stderr
    assert "2 files copied" in second.stdout and "2 unchanged" in second.stdout

    # A slide whose bytes changed on the hub's disk is reported, the good copy kept.
    [slide] = (source.data_dir / "slides").rglob("*.svs")
    _flip(slide)
    damaged = cli(source, "backup", str(dest), "--quiet", "--verify")
    assert damaged.returncode == 1
    assert f"DAMAGED {slide.relative_to(source.data_dir).as_posix()}" in damaged.stderr
    kept = dest / "store" / slide.relative_to(source.data_dir)
    assert hashlib.sha256(kept.read_bytes()).hexdigest() == slide.name[:64]
    manifest = json.loads((dest / "manifest.json").read_text())
    assert slide.relative_to(source.data_dir).as_posix() in manifest["files"]

    # A damaged backup stops the restore before the database is touched.
    _flip(kept)
    refused = cli(target, "restore", str(dest), "--quiet")
    assert refused.returncode == 2 and "is damaged" in refused.stderr
    assert not (target.data_dir / "slidebridge.db").exists()


def test_a_manifest_cannot_write_outside_the_data_directory(tmp_path: Path) -> None:
    source, target = _settings(tmp_path / "source"), _settings(tmp_path / "target")
    populate(source)
    dest = tmp_path / "backup"
    assert cli(source, "backup", str(dest), "--quiet").returncode == 0
    manifest = json.loads((dest / "manifest.json").read_text())
    entry = next(iter(manifest["files"].values()))
    manifest["files"] = {"slides/../../escaped": entry}
    (dest / "manifest.json").write_text(json.dumps(manifest))
    refused = cli(target, "restore", str(dest), "--quiet")
    assert refused.returncode == 2 and "not a stored file's path" in refused.stderr
    assert not (tmp_path / "escaped").exists()
    assert not os.path.exists(target.data_dir / "slidebridge.db")
