"""`slidebridge serve|worker|site|user|slide|db`: running the service and setting it up.

Bad input exits with status 2 and one line on stderr, as the other commands do.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.cli.common import fail
from tiler.errors import SlideBridgeError

if TYPE_CHECKING:
    from pydantic import ValidationError

    from app.core.config import Settings
    from app.core.db import Database

site_cli = typer.Typer(no_args_is_help=True, help="Sites (hospitals sending slides).")
user_cli = typer.Typer(no_args_is_help=True, help="User accounts.")
group_cli = typer.Typer(no_args_is_help=True, help="Groups of pathologists (second opinions).")
slide_cli = typer.Typer(no_args_is_help=True, help="Slides.")
db_cli = typer.Typer(no_args_is_help=True, help="The database schema.")
ROLES = ("admin", "pathologist", "surgeon", "technician", "trainee")


def _validation_message(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    return f"{where}: {first['msg']}" if where else str(first["msg"])


@contextmanager
def _bad_input_exits() -> Iterator[None]:
    from pydantic import ValidationError

    try:
        yield
    except ValidationError as error:
        fail(_validation_message(error))
    except SlideBridgeError as error:
        fail(error.reason)
    except (OSError, ValueError) as error:
        fail(str(error))


def _settings() -> Settings:
    from app.core.config import Settings

    with _bad_input_exits():
        return Settings()


def _database(settings: Settings) -> Database:
    from app.core.db import Database

    db = Database.from_settings(settings)
    db.migrate()
    return db


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
) -> None:
    """Run the web service (and, without Redis, the pyramid workers) on the embedded default."""
    import logging.config

    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from app.core.logs import uvicorn_config
    from app.main import create_app

    settings = _settings()
    log_config = uvicorn_config(settings.log_format)
    if log_config is not None:  # before create_app logs anything
        logging.config.dictConfig(log_config)
    _database(settings).dispose()
    app = create_app(settings, run_workers=True, migrate=False)
    shown = "localhost" if host in {"127.0.0.1", "0.0.0.0", "::"} else host  # noqa: S104
    base = f"http://{shown}:{port}"
    setup_token = app.state.first_run.open_link()
    if setup_token is not None:
        typer.secho("SlideBridge: a new hub. Open this link once to create the first site and "
                    "admin:", bold=True)  # fmt: skip
        typer.secho(f"  {base}/setup?token={setup_token}", fg="green", bold=True)
    else:
        typer.echo(f"SlideBridge: sign in at {base}/login")
    typer.echo(f"  data: {settings.data_dir.resolve()}  database: {_redacted(settings)}")
    if settings.redis_url:
        typer.echo("  jobs go to Redis: start `slidebridge worker` processes to run them")
    # X-Forwarded-* are applied inside the app (create_app), after the request id has
    # judged the peer that connected: uvicorn's own proxy headers stay off.
    uvicorn.run(
        app, host=host, port=port, proxy_headers=False, log_level="info",
        log_config=log_config or LOGGING_CONFIG,
    )  # fmt: skip


def _redacted(settings: Settings) -> str:
    url = settings.sqlalchemy_url
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rsplit('@', 1)[-1]}" if "@" in rest else url


def worker(
    burst: Annotated[bool, typer.Option(help="Stop when no job is left.")] = False,
) -> None:
    """Run pyramid jobs: from Redis (RQ) if SLIDEBRIDGE_REDIS_URL is set, else from the database."""
    settings = _settings()
    if settings.redis_url:
        from workers.rq_queue import run_worker

        run_worker(settings, burst=burst)
        return
    from workers.embedded import EmbeddedWorkers
    from workers.jobs import worker_name

    db = _database(settings)
    pool = EmbeddedWorkers(db, settings, count=1)
    owner = worker_name("worker")
    typer.echo("worker: taking pyramid jobs from the database (Ctrl-C stops)")
    try:
        while True:
            if not pool.run_once(owner):
                if burst:
                    return
                pool.idle_wait()
    except KeyboardInterrupt:
        return
    finally:
        db.dispose()


@site_cli.command("add")
def site_add(
    code: Annotated[str, typer.Argument(help="Short code, e.g. NORTH.")],
    name: Annotated[str, typer.Option(help="Display name.")],
) -> None:
    """Add a site."""
    from app.models.accounts import SiteCreate
    from app.services import accounts

    settings = _settings()
    db = _database(settings)
    with _bad_input_exits(), db.write() as session:
        site = accounts.create_site(session, SiteCreate(code=code, name=name))
    typer.echo(f"site {site.code} added ({site.id})")


def _read_password() -> str:
    line = sys.stdin.readline()
    return line[:-1] if line.endswith("\n") else line


@user_cli.command("add")
def user_add(
    username: Annotated[str, typer.Argument()],
    role: Annotated[str, typer.Option(help="admin, pathologist, surgeon, technician or trainee.")],
    site: Annotated[str | None, typer.Option(help="Site code (surgeons, technicians).")] = None,
    covers: Annotated[
        str | None, typer.Option(help="Comma-separated site codes a pathologist covers.")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Add a user; the password is read from stdin so it never shows in `ps` or shell history."""
    if not password_stdin:
        fail("give the password on standard input with --password-stdin")
    if role not in ROLES:
        fail(f"unknown role {role!r}: {', '.join(ROLES)}")
    from app.models.accounts import Role, UserCreate
    from app.services import accounts

    password = _read_password()
    settings = _settings()
    db = _database(settings)
    with _bad_input_exits():
        data = UserCreate(
            username=username,
            role=Role(role),
            password=password,
            site=site,
            covers=[code.strip() for code in (covers or "").split(",") if code.strip()],
        )
        with db.write() as session:
            user = accounts.create_user(session, data)
    typer.echo(f"user {user.username} ({user.role}) added")


def _set_active(username: str, active: bool) -> None:
    from app.core import audit
    from app.models.audit import Outcome
    from app.services import accounts

    settings = _settings()
    db = _database(settings)
    with _bad_input_exits(), db.write() as session:
        user = accounts.set_active(session, username, active)
    action = "user.enable" if active else "user.disable"
    actor = audit.Actor(None, "cli", "local")
    audit.record(db, actor, action, Outcome.success, object_type="user", object_id=user.id)
    state = "enabled" if active else "disabled: every session and token revoked"
    typer.echo(f"user {user.username} {state}")


@group_cli.command("set")
def group_set(
    name: Annotated[str, typer.Argument(help="e.g. breast")],
    members: Annotated[str, typer.Option(help="Comma-separated pathologists' user names.")],
) -> None:
    """Create a group of pathologists a second opinion can be asked of, or replace its members."""
    from app.services.cases.opinions import set_group

    settings = _settings()
    db = _database(settings)
    usernames = [username.strip() for username in members.split(",") if username.strip()]
    with _bad_input_exits(), db.write() as session:
        set_group(session, name, usernames)
    typer.echo(f"group {name}: {', '.join(usernames) or 'no members'}")


@user_cli.command("disable")
def user_disable(username: Annotated[str, typer.Argument()]) -> None:
    """Disable a user: sign-ins refused, sessions and tokens revoked, open streams end."""
    _set_active(username, False)


@user_cli.command("enable")
def user_enable(username: Annotated[str, typer.Argument()]) -> None:
    """Let a disabled user sign in again."""
    _set_active(username, True)


@slide_cli.command("add")
def slide_add(
    path: Annotated[
        Path,
        typer.Argument(help="A slide file, or a folder holding one slide's files (MIRAX, DICOM)."),
    ],
    site: Annotated[str, typer.Option(help="Site code the slide belongs to.")],
    urgent: Annotated[bool, typer.Option(help="Intraoperative: build its pyramid first.")] = False,
) -> None:
    """Register a slide as `POST /api/slides` (a file) or `POST /api/slides/sets` (a folder
    of one slide's files) does; the files are copied into the store."""
    from app.core import audit
    from app.services import accounts
    from app.services import slides as slide_service
    from app.services.slide_sets import stage_local_folder
    from app.services.staging import stage_local_file
    from workers.dispatch import dispatcher_for

    settings = _settings()
    db = _database(settings)
    actor = audit.Actor(None, "cli", "local")
    with _bad_input_exits():
        if not path.is_file() and not path.is_dir():
            fail(f"not a file or folder: {path}")
        with db.read() as session:
            site_row = accounts.site_by_code(session, site)
        stage = stage_local_folder if path.is_dir() else stage_local_file
        staged = stage(path, settings.staging_dir, settings.max_upload_bytes)
        result = slide_service.register(db, settings, staged, site_row, urgent=urgent)
    slide_service.record_registration(db, actor, result, site_row.id, staged.display_name)
    if result.job_id is not None:
        dispatcher_for(settings).notify(result.job_id, result.priority)
    state = "registered" if result.created else "already registered"
    slide = result.slide
    typer.echo(f"slide {slide.id} {state} ({slide.vendor}, {slide.width}x{slide.height})")


@db_cli.command("check")
def db_check(
    postgres: Annotated[
        str | None,
        typer.Option(
            help="A PostgreSQL URL to check in a scratch schema (default: the configured "
            "database, when it is PostgreSQL)."
        ),
    ] = None,
) -> None:
    """Do the migrations build exactly the models' schema? On SQLite and on PostgreSQL.

    Exit 0 when they agree, 1 with one line per difference otherwise. Scratch databases
    only: nothing is written to the service's own."""
    from app.core import schema_check

    settings = _settings()
    url = postgres or settings.database_url
    if url is not None:
        url = settings.model_copy(update={"database_url": url}).sqlalchemy_url
    found: list[str] = []
    with schema_check.scratch_sqlite() as db:
        found += [f"sqlite: {line}" for line in schema_check.check(db)]
    if url is not None and url.startswith("postgresql"):
        with _bad_input_exits(), schema_check.scratch_postgres_schema(url) as db:
            found += [f"postgresql: {line}" for line in schema_check.check(db)]
    else:
        typer.echo("postgresql: not checked (give --postgres URL)", err=True)
    for line in found:
        typer.echo(line)
    if found:
        raise typer.Exit(1)
    typer.echo("the migrations build the models' schema")


def register(cli: typer.Typer) -> None:
    """Attach the service commands to the root command."""
    commands: list[tuple[str, Callable[..., Any]]] = [("serve", serve), ("worker", worker)]
    for name, command in commands:
        cli.command(name)(command)
    cli.add_typer(site_cli, name="site")
    cli.add_typer(user_cli, name="user")
    cli.add_typer(group_cli, name="group")
    cli.add_typer(slide_cli, name="slide")
    cli.add_typer(db_cli, name="db")
