"""The `slidebridge` service commands against a real database (one run as a real process)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import Result
from sqlmodel import select
from typer.testing import CliRunner

from app.cli import cli
from app.core.config import Settings
from app.core.db import Database
from app.core.security import verify_password
from app.models.accounts import User
from app.models.slides import SlideRecord
from tests.conftest import SLIDEBRIDGE, SLIDES, SMALL_SVS
from tests.workers.helpers import child_env


def run(settings: Settings, *args: str, stdin: str = "") -> Result:
    """In-process (a child process per call would cost a second each), same env as a shell."""
    return CliRunner().invoke(cli, list(args), input=stdin, env=child_env(settings))


def test_the_command_runs_as_a_program(settings: Settings) -> None:
    done = subprocess.run(
        [*SLIDEBRIDGE, "site", "add", "NORTH", "--name", "North"],
        env=child_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("site NORTH added")


def test_setup_commands(settings: Settings) -> None:
    assert run(settings, "site", "add", "NORTH", "--name", "North Hospital").exit_code == 0
    made = run(
        settings, "user", "add", "tech", "--role", "technician", "--site", "NORTH",
        "--password-stdin", stdin="a long password\n",
    )  # fmt: skip
    assert made.exit_code == 0, made.stderr
    made = run(
        settings, "user", "add", "doc", "--role", "pathologist", "--covers", "NORTH",
        "--password-stdin", stdin="another long password\n",
    )  # fmt: skip
    assert made.exit_code == 0, made.stderr
    added = run(settings, "slide", "add", str(SMALL_SVS), "--site", "NORTH")
    assert added.exit_code == 0, added.stderr
    assert "registered (aperio, 2220x2967)" in added.stdout
    again = run(settings, "slide", "add", str(SMALL_SVS), "--site", "NORTH")
    assert "already registered" in again.stdout
    db = Database.from_settings(settings)
    with db.read() as session:
        tech = session.exec(select(User).where(User.username == "tech")).one()
        assert verify_password("a long password", tech.password_hash)
        assert tech.password_hash.startswith("$argon2id$")
        [slide] = session.exec(select(SlideRecord)).all()
        assert slide.status == "queued" and slide.name == SMALL_SVS.name
    db.dispose()


@pytest.mark.parametrize(
    "args",
    [
        ("user", "add", "x", "--role", "surgeon", "--password-stdin"),  # no site
        ("user", "add", "x", "--role", "wizard", "--password-stdin"),
        ("user", "add", "x", "--role", "admin"),  # password not from stdin
        ("user", "add", "x", "--role", "technician", "--site", "NOPE", "--password-stdin"),
        ("site", "add", "bad code!", "--name", "x"),
        ("slide", "add", "/nonexistent.svs", "--site", "NORTH"),
        ("slide", "add", str(SLIDES / "broken" / "broken.svs"), "--site", "NORTH"),
        ("slide", "add", str(SMALL_SVS), "--site", "NOPE"),
    ],
)
def test_bad_input_exits_2_with_one_line(settings: Settings, args: tuple[str, ...]) -> None:
    run(settings, "site", "add", "NORTH", "--name", "North")
    result = run(settings, *args, stdin="a long password\n")
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not list(Path(settings.data_dir / "slides").rglob("*.svs"))


def test_slide_add_a_folder_of_one_slides_files(settings: Settings, dicom_series: Path) -> None:
    run(settings, "site", "add", "NORTH", "--name", "North")
    added = run(settings, "slide", "add", str(dicom_series), "--site", "NORTH")
    assert added.exit_code == 0, added.stderr
    assert "registered (dicom, 1024x768)" in added.stdout
    again = run(settings, "slide", "add", str(dicom_series), "--site", "NORTH")
    assert "already registered" in again.stdout
    (dicom_series / "IM0002.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\0" * 64)
    broken = run(settings, "slide", "add", str(dicom_series), "--site", "NORTH")
    assert broken.exit_code == 2 and "IM0002.dcm" in broken.stderr, broken.stderr
    info = subprocess.run(
        [*SLIDEBRIDGE, "info", str(dicom_series.parent / "series"), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert info.returncode == 2 and "IM0002.dcm" in info.stderr
    db = Database.from_settings(settings)
    with db.read() as session:
        [slide] = session.exec(select(SlideRecord)).all()
        assert slide.name == "series" and len(slide.levels) == 3
    db.dispose()
    stored = list(Path(settings.data_dir / "slides").rglob("*.dcm"))
    assert len(stored) == 4 and not list(Path(settings.data_dir / "staging").rglob("*"))
