"""A hub as it is deployed: Debian's nginx (deploy/nginx/slidebridge.conf) in front of two
`slidebridge serve` processes on one PostgreSQL database, Redis (or none: PostgreSQL
LISTEN/NOTIFY carries the events) and one data directory."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from app.core.db import Database
from benchmarks.nginx_proxy import NGINX, Nginx
from tests.conftest import PASSWORD, POSTGRES_URL
from tests.hub_process import HubProcess

REDIS_URL = "redis://127.0.0.1:6379/0"
#: A bound for a web process to come up on a machine shared with other test runs.
START_SECONDS = 300.0
#: Which web process answered: a test knows which one to kill.
UPSTREAM_HEADER = "    add_header X-Upstream $upstream_addr always;\n"


@dataclass
class Cluster:
    web: tuple[HubProcess, HubProcess]
    nginx: Nginx
    db: Database

    def client(self, headers: dict[str, str] | None = None) -> httpx.Client:
        """A client of the hub through nginx (the test's certificate is self-signed)."""
        return httpx.Client(base_url=self.nginx.base, verify=False, timeout=120, headers=headers)

    def token(self, username: str = "tech") -> str:
        with self.client() as client:
            answer = client.post(
                "/api/auth/token", data={"username": username, "password": PASSWORD}
            )
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["access_token"]
        return token

    def process_on(self, port: int) -> HubProcess:
        return next(hub for hub in self.web if hub.port == port)

    def holding(self, path: Path) -> HubProcess | None:
        """The web process that has `path` open (an upload's part file mid-PATCH)."""
        for hub in self.web:
            if hub.process is None or hub.process.poll() is not None:
                continue
            try:
                if any(Path(f.path) == path for f in psutil.Process(hub.process.pid).open_files()):
                    return hub
            except psutil.NoSuchProcess:
                continue
        return None


def start_cluster(root: Path, *, redis: bool) -> Iterator[Cluster]:
    if not NGINX.exists():
        pytest.fail("Debian's nginx is missing: `make test` installs it (apt-get install nginx)")
    schema = f"sc_{uuid.uuid4().hex[:12]}"
    admin = Database(POSTGRES_URL)
    with admin.engine.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    data = root / "data"  # one data directory: the shared filesystem of a real deployment
    web = (HubProcess(data), HubProcess(data))
    channel = f"test_{schema}"
    for hub in web:
        hub.env.update({
            "SLIDEBRIDGE_DATABASE_URL": url,
            "SLIDEBRIDGE_EVENTS_CHANNEL": channel,
            "SLIDEBRIDGE_QUEUE_NAME": channel,
            "SLIDEBRIDGE_STREAMS_PER_USER": "1000",
            "SLIDEBRIDGE_TOKEN_MINUTES": "60",
            "SLIDEBRIDGE_PUBLIC_ORIGINS": "[]",
        })  # fmt: skip
        if redis:
            hub.env["SLIDEBRIDGE_REDIS_URL"] = REDIS_URL
        else:
            hub.env.pop("SLIDEBRIDGE_REDIS_URL", None)
    first = web[0]
    first.run("site", "add", "NORTH", "--name", "North")
    first.run("user", "add", "tech", "--role", "technician", "--site", "NORTH",
              "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    first.run("user", "add", "path", "--role", "pathologist", "--covers", "NORTH",
              "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    for hub in web:
        hub.start(START_SECONDS)
    nginx = Nginx(root / "nginx", [web[0].port, web[1].port], UPSTREAM_HEADER)
    nginx.start()
    db = Database(f"postgresql+psycopg://{url.removeprefix('postgresql://')}")
    try:
        yield Cluster(web, nginx, db)
    finally:
        nginx.stop()
        for hub in web:
            if hub.process is not None and hub.process.poll() is None:
                hub.kill()
        db.dispose()
        with admin.engine.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()
        shutil.rmtree(data, ignore_errors=True)
