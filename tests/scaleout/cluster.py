"""A hub as it is deployed: Debian's nginx (deploy/nginx/slidebridge.conf) in front of two
`slidebridge serve` processes on one PostgreSQL database, Redis (or none: PostgreSQL
LISTEN/NOTIFY carries the events) and one data directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from app.core.db import Database
from tests.conftest import PASSWORD, POSTGRES_URL, REPO
from tests.hub_process import HubProcess, _free_port

NGINX = Path("/usr/sbin/nginx")
REDIS_URL = "redis://127.0.0.1:6379/0"
CONFIG = REPO / "deploy" / "nginx" / "slidebridge.conf"
#: A bound for a web process to come up on a machine shared with other test runs.
START_SECONDS = 120.0
UPSTREAM_HEADER = "    add_header X-Upstream $upstream_addr always;\n"


def render_site(config: str, upstreams: tuple[int, int], https: int, http: int, certs: Path) -> str:
    """The deployed site file with this run's ports and paths, and one header more: which
    web process answered (`X-Upstream`), so a test knows which one to kill."""
    replacements = {
        "127.0.0.1:8001": f"127.0.0.1:{upstreams[0]}",
        "127.0.0.1:8002": f"127.0.0.1:{upstreams[1]}",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https} ssl http2;",
        "listen 80;": f"listen 127.0.0.1:{http};",
        "/etc/ssl/slidebridge/": f"{certs}/",
        "/opt/slidebridge/": f"{REPO}/",
        "    server_tokens off;\n": "    server_tokens off;\n" + UPSTREAM_HEADER,
    }
    for old, new in replacements.items():
        assert old in config, old
        config = config.replace(old, new)
    return "\n".join(line for line in config.splitlines() if "listen [::]" not in line)


class Nginx:
    def __init__(self, root: Path, upstreams: tuple[int, int]) -> None:
        self.root = root
        self.https_port, self.http_port = _free_port(), _free_port()
        self.base = f"https://127.0.0.1:{self.https_port}"
        certs = root / "certs"
        certs.mkdir(parents=True)
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=hub.example.org", "-keyout", str(certs / "privkey.pem"),
             "-out", str(certs / "fullchain.pem")],
            check=True, capture_output=True,
        )  # fmt: skip
        site = render_site(CONFIG.read_text(), upstreams, self.https_port, self.http_port, certs)
        (root / "slidebridge.conf").write_text(site)
        temp = " ".join(
            f"{kind}_temp_path {root / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        user = "user root;\n" if os.geteuid() == 0 else ""
        (root / "nginx.conf").write_text(
            f"{user}daemon off;\npid {root / 'nginx.pid'};\nerror_log {root / 'error.log'} warn;\n"
            "worker_processes 1;\nevents { worker_connections 4096; }\n"
            f"http {{\n include /etc/nginx/mime.types;\n access_log off;\n {temp}\n"
            f" include {root / 'slidebridge.conf'};\n}}\n"
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [str(NGINX), "-p", str(self.root), "-c", str(self.root / "nginx.conf")]
        subprocess.run([*command, "-t"], check=True, capture_output=True)
        self.process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.base}/healthz", verify=False, timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("nginx did not come up: " + (self.root / "error.log").read_text())

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@dataclass
class Cluster:
    web: tuple[HubProcess, HubProcess]
    nginx: Nginx
    db: Database

    def client(self, headers: dict[str, str] | None = None) -> httpx.Client:
        """A client of the hub through nginx (the test's certificate is self-signed)."""
        return httpx.Client(base_url=self.nginx.base, verify=False, timeout=30, headers=headers)

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
    nginx = Nginx(root / "nginx", (web[0].port, web[1].port))
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
