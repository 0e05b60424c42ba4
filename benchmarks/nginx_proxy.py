"""Debian's nginx running `deploy/nginx/slidebridge.conf` unprivileged, for the scale-out
tests and benchmark: this run's ports, certificate and checkout substituted, nothing
else changed but what a caller adds (a header naming the upstream, a static location).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx

from benchmarks.serving import free_port

REPO = Path(__file__).resolve().parents[1]
NGINX = Path("/usr/sbin/nginx")
CONFIG = REPO / "deploy" / "nginx" / "slidebridge.conf"
#: The deployed file's upstream servers, replaced by this run's.
UPSTREAM_LINES = (
    "    server 127.0.0.1:8001 max_fails=1 fail_timeout=5s;\n",
    "    server 127.0.0.1:8002 max_fails=1 fail_timeout=5s;\n",
)
READY_SECONDS = 20.0


def render_site(
    upstreams: list[int], https: int, http: int, certs: Path, server_extra: str = ""
) -> str:
    """The site file with these web processes (one or more ports) and listening ports;
    `server_extra` goes into the TLS server block (after `server_tokens off;`)."""
    config = CONFIG.read_text()
    servers = "".join(UPSTREAM_LINES[0].replace("8001", str(port)) for port in upstreams)
    replacements = {
        UPSTREAM_LINES[0] + UPSTREAM_LINES[1]: servers,
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https} ssl http2;",
        "listen 80;": f"listen 127.0.0.1:{http};",
        "/etc/ssl/slidebridge/": f"{certs}/",
        "/opt/slidebridge/": f"{REPO}/",
        "    server_tokens off;\n": "    server_tokens off;\n" + server_extra,
    }
    for old, new in replacements.items():
        if old not in config:
            raise ValueError(f"deploy/nginx/slidebridge.conf no longer has {old!r}")
        config = config.replace(old, new)
    return "\n".join(line for line in config.splitlines() if "listen [::]" not in line)


class Nginx:
    """One nginx master in `root` (its config, certificate, temp files and logs)."""

    def __init__(self, root: Path, upstreams: list[int], server_extra: str = "") -> None:
        if not NGINX.exists():
            raise FileNotFoundError("Debian's nginx is missing: `apt-get install nginx`")
        self.root = root
        self.https_port, self.http_port = free_port(), free_port()
        self.base = f"https://127.0.0.1:{self.https_port}"
        certs = root / "certs"
        certs.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=hub.example.org", "-keyout", str(certs / "privkey.pem"),
             "-out", str(certs / "fullchain.pem")],
            check=True, capture_output=True,
        )  # fmt: skip
        site = render_site(upstreams, self.https_port, self.http_port, certs, server_extra)
        (root / "slidebridge.conf").write_text(site)
        kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        temp = " ".join(f"{kind}_temp_path {root / kind};" for kind in kinds)
        # As root, nginx's workers would run as `nobody`, who cannot read a private checkout.
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
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.base}/healthz", verify=False, timeout=1)  # noqa: S501
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("nginx did not come up: " + (self.root / "error.log").read_text())

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
