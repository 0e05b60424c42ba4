"""`slidebridge serve|worker|site|user|slide`: running the service and the first steps of setup.

Bad input exits with status 2 and one line on stderr, as the other commands do.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from app import crud
from app.core.config import Settings
from app.core.db import Database
from app.models import Role, SiteCreate, UserCreate
from tiler import SlideBridgeError

site_cli = typer.Typer(no_args_is_help=True, help="Sites (hospitals sending slides).")
user_cli = typer.Typer(no_args_is_help=True, help="User accounts.")
slide_cli = typer.Typer(no_args_is_help=True, help="Slides.")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {' '.join(message.split())}", err=True)
    return typer.Exit(2)


def _validation_message(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    return f"{where}: {first['msg']}" if where else str(first["msg"])


@contextmanager
def _bad_input_exits() -> Iterator[None]:
    try:
        yield
    except ValidationError as error:
        raise _fail(_validation_message(error)) from None
    except SlideBridgeError as error:
        raise _fail(error.reason) from None
    except (OSError, ValueError) as error:
        raise _fail(str(error)) from None


def _settings() -> Settings:
    with _bad_input_exits():
        return Settings()


def _database(settings: Settings) -> Database:
    db = Database.from_settings(settings)
    db.migrate()
    return db


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
) -> None:
    """Run the web service (and, without Redis, the pyramid workers) on the embedded default."""
    import uvicorn

    from app.main import create_app

    settings = _settings()
    _database(settings).dispose()
    shown = "localhost" if host in {"127.0.0.1", "0.0.0.0", "::"} else host  # noqa: S104
    typer.echo(f"SlideBridge: sign in at http://{shown}:{port}/login")
    typer.echo(f"  data: {settings.data_dir.resolve()}  database: {_redacted(settings)}")
    typer.echo("  first admin: slidebridge user add admin --role admin --password-stdin")
    if settings.redis_url:
        typer.echo("  jobs go to Redis: start `slidebridge worker` processes to run them")
    app = create_app(settings, run_workers=True, migrate=False)
    uvicorn.run(app, host=host, port=port, proxy_headers=True, log_level="info")


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
    settings = _settings()
    db = _database(settings)
    with _bad_input_exits(), db.write() as session:
        site = crud.create_site(session, SiteCreate(code=code, name=name))
    typer.echo(f"site {site.code} added ({site.id})")


def _read_password() -> str:
    line = sys.stdin.readline()
    return line[:-1] if line.endswith("\n") else line


@user_cli.command("add")
def user_add(
    username: Annotated[str, typer.Argument()],
    role: Annotated[str, typer.Option(help="admin, pathologist, surgeon or technician.")],
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
        raise _fail("give the password on standard input with --password-stdin")
    if role not in Role.__members__:
        raise _fail(f"unknown role {role!r}: {', '.join(Role.__members__)}")
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
            user = crud.create_user(session, data)
    typer.echo(f"user {user.username} ({user.role}) added")


@slide_cli.command("add")
def slide_add(
    path: Annotated[Path, typer.Argument(help="A slide file.")],
    site: Annotated[str, typer.Option(help="Site code the slide belongs to.")],
    urgent: Annotated[bool, typer.Option(help="Intraoperative: build its pyramid first.")] = False,
) -> None:
    """Register a slide file as `POST /api/slides` does (the file is copied into the store)."""
    from app.core import audit
    from app.services import slides as slide_service
    from app.services.staging import stage_local_file
    from workers.dispatch import dispatcher_for

    settings = _settings()
    db = _database(settings)
    actor = audit.Actor(None, "cli", "local")
    with _bad_input_exits():
        if not path.is_file():
            raise _fail(f"not a file: {path}")
        with db.read() as session:
            site_row = crud.site_by_code(session, site)
        staged = stage_local_file(path, settings.staging_dir, settings.max_upload_bytes)
        result = slide_service.register(db, settings, staged, site_row, urgent=urgent)
    slide_service.record_registration(db, actor, result, site_row.id, staged.display_name)
    if result.job_id is not None:
        dispatcher_for(settings).notify(result.job_id, result.priority)
    state = "registered" if result.created else "already registered"
    slide = result.slide
    typer.echo(f"slide {slide.id} {state} ({slide.vendor}, {slide.width}x{slide.height})")


def register(cli: typer.Typer) -> None:
    """Attach the service commands to the root command."""
    commands: list[tuple[str, Callable[..., Any]]] = [("serve", serve), ("worker", worker)]
    for name, command in commands:
        cli.command(name)(command)
    cli.add_typer(site_cli, name="site")
    cli.add_typer(user_cli, name="user")
    cli.add_typer(slide_cli, name="slide")
