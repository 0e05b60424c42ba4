"""A short schemathesis run against a real uvicorn server, as a pathologist and as an
admin: no answer is a 5xx and every documented answer matches the OpenAPI schema.

The run knows one real slide and one real case (its `slide_id` and `case_id`), so the
operations on them reach the service's logic instead of stopping at a 404."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.browser import serve_asgi
from tests.cases.conftest import REQUEST
from tests.conftest import World, upload

ST = Path(sys.executable).parent / "st"
#: Few examples per operation, one fixed seed: the same short run every time.
EXAMPLES = 5
SEED = 11
#: Operations that would end the run's own credential, or never end (event streams).
EXCLUDED = r"^/api/auth/(revoke|token)$|/events$"
#: Far beyond a run's minute on an idle machine: only a hung server takes this long.
DEADLOCK_S = 900


def _config(path: Path, slide_id: str, case_id: str) -> Path:
    path.write_text(f'[parameters]\n"path.slide_id" = "{slide_id}"\n"path.case_id" = "{case_id}"\n')
    return path


@pytest.mark.parametrize("username", ["path_north", "admin"])
def test_no_server_error_and_no_schema_violation(
    app: FastAPI, client: TestClient, world: World, tmp_path: Path, username: str
) -> None:
    slide = upload(client, world, "tech_north")
    assert slide.status_code == 201, slide.text
    case = client.post("/api/cases", json=REQUEST, headers=world.auth("tech_north"))
    assert case.status_code == 201, case.text
    slide_id, case_id = slide.json()["id"], case.json()["id"]
    schema = tmp_path / "openapi.json"
    schema.write_text(json.dumps(app.openapi()))
    config = _config(tmp_path / "schemathesis.toml", slide_id, case_id)
    with serve_asgi(app) as base:
        run = subprocess.Popen(
            [
                str(ST), "--config-file", str(config), "run", str(schema), "--url", base,
                "--header", f"Authorization: Bearer {world.tokens[username]}",
                "--checks", "not_a_server_error,response_schema_conformance",
                "--max-examples", str(EXAMPLES), "--seed", str(SEED),
                "--exclude-path-regex", EXCLUDED,
                "--request-timeout", "30", "--workers", "1", "--no-shrink",
            ],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
        )  # fmt: skip
        try:
            output, _ = run.communicate(timeout=DEADLOCK_S)
        except subprocess.TimeoutExpired:
            run.kill()  # a hung server: say how far the run got
            output = f"schemathesis did not finish:\n{run.communicate()[0]}"
    assert run.returncode == 0, output[-20000:]
