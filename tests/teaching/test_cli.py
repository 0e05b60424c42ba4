"""`slidebridge user add NAME --role trainee`: no site; a site is refused."""

from __future__ import annotations

from sqlmodel import select

from app.core.config import Settings
from app.core.db import Database
from app.models.accounts import Role, User
from tests.test_cli import run


def test_trainee_is_added_without_a_site(settings: Settings) -> None:
    made = run(
        settings,
        "user",
        "add",
        "county1",
        "--role",
        "trainee",
        "--password-stdin",
        stdin="a long password\n",
    )
    assert made.exit_code == 0, made.stderr
    assert "user county1 (trainee) added" in made.stdout
    assert run(settings, "site", "add", "NORTH", "--name", "North").exit_code == 0
    refused = run(
        settings,
        "user",
        "add",
        "county2",
        "--role",
        "trainee",
        "--site",
        "NORTH",
        "--password-stdin",
        stdin="a long password\n",
    )
    assert refused.exit_code != 0
    with Database.from_settings(settings).read() as session:
        user = session.exec(select(User).where(User.username == "county1")).one()
    assert user.role == Role.trainee and user.site_id is None
