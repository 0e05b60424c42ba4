"""`slidebridge check` as a program: one line per finding, exit 1 when anything is wrong."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from app.core.config import Settings
from app.core.db import Database
from tests.conftest import SECRET, SLIDEBRIDGE
from tests.workers.helpers import child_env


def check(env: dict[str, str]) -> tuple[int, list[str]]:
    done = subprocess.run(
        [*SLIDEBRIDGE, "check"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.stderr == "", done.stderr
    return done.returncode, done.stdout.splitlines()


def test_a_sound_deployment_passes(settings: Settings) -> None:
    code, lines = check(child_env(settings))
    assert code == 0, lines
    checks = {line.split(":")[0].split(maxsplit=1)[1]: line.split()[0] for line in lines}
    assert checks == {
        "settings": "ok", "secret": "ok", "database": "ok", "migrations": "ok", "redis": "ok",
        "storage slides": "ok", "storage pyramids": "ok", "storage staging": "ok",
        "free space": "ok",
    }  # fmt: skip


def _failed(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("FAILED")]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            {"SLIDEBRIDGE_ENVIRONMENT": "production", "SLIDEBRIDGE_SECRET_KEY": ""},
            "FAILED  settings: SLIDEBRIDGE_SECRET_KEY must be set outside development",
        ),
        ({"SLIDEBRIDGE_REDIS_URL": "redis://127.0.0.1:1/0"}, "FAILED  redis: ConnectionError"),
        (
            {"SLIDEBRIDGE_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/test"},
            "FAILED  database: OperationalError",
        ),
        ({"SLIDEBRIDGE_MIN_FREE_BYTES": str(1 << 60)}, "FAILED  free space: "),
        ({"PROMETHEUS_MULTIPROC_DIR": "/proc/nowhere"}, "FAILED  metrics directory: "),
    ],
)
def test_each_problem_is_one_line(settings: Settings, extra: dict[str, str], expected: str) -> None:
    env = child_env(settings) | extra
    if not extra.get("SLIDEBRIDGE_SECRET_KEY", "x"):
        del env["SLIDEBRIDGE_SECRET_KEY"]
    code, lines = check(env)
    assert code == 1
    [failed] = _failed(lines)
    assert failed.startswith(expected), lines


def test_an_old_schema_and_unwritable_storage(tmp_path: Path) -> None:
    data = tmp_path / "old"
    data.mkdir()
    settings = Settings(environment="test", secret_key=SECRET, data_dir=data)
    db = Database(f"sqlite:///{data / 'slidebridge.db'}")
    db.migrate("0006_transfers")
    db.dispose()
    (data / "pyramids").write_bytes(b"")  # a file where a directory should be
    code, lines = check(child_env(settings))
    assert code == 1
    failed = _failed(lines)
    assert len(failed) == 2, lines
    assert failed[0].startswith("FAILED  migrations: schema at 0006_transfers, code expects")
    assert failed[1].startswith("FAILED  storage pyramids: ")
