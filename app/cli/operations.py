"""`slidebridge check|backup|restore`: running a hub in a hospital.

`check` prints one line per finding and exits 1 when anything is wrong (warnings do
not count), so it can gate a deployment script or a monitoring probe.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.cli.common import byte_progress, fail
from app.cli.service import _settings

if TYPE_CHECKING:
    from rich.progress import TaskID

    from app.core.config import Settings
    from app.core.probes import Finding
    from app.services.backup import Summary


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
    shared = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if shared:  # every web process writes its metrics there
        found.append(probes.writable(Path(shared), "metrics directory"))
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


class _Bar:
    """`Progress` (app.services.backup) drawn as a byte bar on stderr."""

    def __init__(self) -> None:
        self.bar = byte_progress(stderr=True)
        self.task: TaskID | None = None

    def begin(self, description: str, total: int) -> None:
        if not total:
            return  # nothing to copy: no bar
        self.bar.start()
        self.task = self.bar.add_task(description, total=total)

    def advance(self, done: int) -> None:
        if self.task is not None:
            self.bar.advance(self.task, done)

    def end(self) -> None:
        if self.task is not None:
            self.bar.stop()


def _size(count: int) -> str:
    return f"{count / 1024**2:,.1f} MiB".replace(",", " ")


def _report(verb: str, summary: Summary) -> None:
    files = summary.files
    typer.echo(
        f"{verb}: database ({summary.database}, {_size(summary.database_bytes)}, schema "
        f"{summary.revision}); {files.copied} files copied ({_size(files.copied_bytes)}), "
        f"{files.unchanged} unchanged ({_size(files.unchanged_bytes)}), every copy checked "
        "against its SHA-256"
    )


Quiet = Annotated[bool, typer.Option("--quiet", help="No progress bar.")]
Verify = Annotated[
    bool,
    typer.Option(
        "--verify", help="Also re-read files already copied and check their SHA-256 (slow)."
    ),
]


def backup(
    dest: Annotated[Path, typer.Argument(help="Backup directory (empty, or a previous backup).")],
    verify: Verify = False,
    quiet: Quiet = False,
) -> None:
    """Back up the database and the slide store into DEST; again into the same DEST copies
    only what changed. Safe while the hub runs."""
    from app.services.backup import BackupError, back_up

    settings = _settings()
    try:
        summary = back_up(settings, dest, None if quiet else _Bar(), verify=verify)
    except (BackupError, OSError) as error:
        fail(getattr(error, "reason", None) or str(error))
    _report(f"backup in {dest}", summary)
    if summary.files.damaged:
        for relative in summary.files.damaged:
            typer.echo(f"DAMAGED {relative}: its bytes no longer match its SHA-256", err=True)
        raise typer.Exit(1)


def restore(
    source: Annotated[Path, typer.Argument(help="A directory made by `slidebridge backup`.")],
    replace: Annotated[
        bool, typer.Option("--replace", help="Overwrite a database that holds tables.")
    ] = False,
    verify: Verify = False,
    quiet: Quiet = False,
) -> None:
    """Restore a backup into the configured database and data directory (stop the hub
    first). Every file is checked against its SHA-256 before the database is touched."""
    from app.services.backup import BackupError
    from app.services.backup import restore as run_restore

    settings = _settings()
    try:
        summary = run_restore(
            settings, source, None if quiet else _Bar(), replace=replace, verify=verify
        )
    except (BackupError, OSError) as error:
        fail(getattr(error, "reason", None) or str(error))
    _report(f"restored from {source}", summary)


def register(cli: typer.Typer) -> None:
    """Attach the operations commands to the root command."""
    commands: list[tuple[str, Callable[..., Any]]] = [
        ("check", check), ("backup", backup), ("restore", restore),
    ]  # fmt: skip
    for name, command in commands:
        cli.command(name)(command)
