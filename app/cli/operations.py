"""`slidebridge check|backup|restore`: running a hub in a hospital.

`check` prints one line per finding and exits 1 when anything is wrong (warnings do
not count), so it can gate a deployment script or a monitoring probe.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.cli.common import fail

if TYPE_CHECKING:
    from app.core.config import Settings
    from app.core.probes import Finding


def _load_settings() -> tuple[Settings | None, list[Finding]]:
    """The settings, and what is wrong with them. Settings refused only for the default
    secret are re-read as development ones, so the other checks still run."""
    from pydantic import ValidationError

    from app.core.config import Settings
    from app.core.probes import Finding, Level

    try:
        settings = Settings()
    except ValidationError as error:
        found = []
        for item in error.errors():
            where = ".".join(str(part) for part in item.get("loc", ()))
            message = str(item["msg"]).removeprefix("Value error, ")
            found.append(
                Finding("settings", Level.failed, f"{where}: {message}" if where else message)
            )
        try:
            return Settings(environment="development"), found
        except ValidationError:
            return None, found
    return settings, [Finding("settings", Level.ok, f"environment {settings.environment}")]


def _secret(settings: Settings) -> Finding:
    from app.core.probes import Finding, Level

    if not settings.uses_default_secret:
        return Finding("secret", Level.ok, "SLIDEBRIDGE_SECRET_KEY is set")
    # Outside development the settings were refused already (and said so).
    return Finding("secret", Level.warning, "the development key: never for patient data")


def _database(settings: Settings) -> list[Finding]:
    from app.core import probes
    from app.core.db import Database
    from app.core.probes import Finding, Level

    found: list[Finding] = []
    url = settings.sqlalchemy_url
    sqlite_file = Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None
    if sqlite_file is not None and not sqlite_file.is_file():
        # Connecting would create an empty file: a check changes nothing.
        found.append(Finding("database", Level.failed, f"no SQLite file at {sqlite_file}"))
        return found
    db = Database.from_settings(settings)
    try:
        found.append(probes.database(db))
        if not found[-1].wrong:
            found.append(probes.migrations(db))
    finally:
        db.dispose()
    return found


def findings(settings: Settings) -> list[Finding]:
    from app.core import probes
    from app.core.probes import Finding, Level

    found = _database(settings)
    if settings.redis_url:
        found.append(probes.redis(settings.redis_url))
    else:
        found.append(Finding("redis", Level.ok, "not configured: jobs run in `serve`"))
    for directory in (settings.slides_dir, settings.pyramids_dir, settings.staging_dir):
        found.append(probes.writable(directory, f"storage {directory.name}"))
    found.append(probes.free_space(settings.data_dir, settings.min_free_bytes))
    return found


def check() -> None:
    """Verify this deployment: settings, secret, database and schema, Redis, storage.

    One line per finding; exit 0 when nothing is wrong, 1 otherwise."""
    settings, found = _load_settings()
    if settings is not None:
        if not any(finding.wrong for finding in found):
            found.append(_secret(settings))  # else the refused secret is reported already
        found += findings(settings)
    for finding in found:
        typer.echo(finding.line())
    if any(finding.wrong for finding in found):
        raise typer.Exit(1)


def register(cli: typer.Typer) -> None:
    """Attach the operations commands to the root command."""
    commands: list[tuple[str, Callable[..., Any]]] = [("check", check)]
    for name, command in commands:
        cli.command(name)(command)


__all__ = ["Annotated", "Path", "fail", "register"]
