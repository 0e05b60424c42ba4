"""`slidebridge upload` and `slidebridge watch`: sending slides to a hub over a poor link.

The token comes from SLIDEBRIDGE_TOKEN, or a sign-in prompt. Interrupted runs
resume where the hub's acknowledged offset stands (the tus URLs are kept in
the state directory), so running the same command again sends no byte twice.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli.common import byte_progress, fail, say
from app.core.i18n import N_

if TYPE_CHECKING:
    from rich.progress import Progress

    from app.agent.courier import Courier
    from app.agent.sets import SetSender

DEFAULT_STATE = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state"))
Server = Annotated[str, typer.Option(help="The hub, e.g. https://hub.example.org")]
#: What a refused file is called before the hub's reason.
REFUSED = N_("refused")
StateDir = Annotated[
    Path, typer.Option(help="Where resumable upload URLs (and the watch log) are kept.")
]


def _token(server: str) -> str:
    from app.agent.hub import UploadRefusedError, login

    token = os.environ.get("SLIDEBRIDGE_TOKEN")
    if token:
        return token
    username = typer.prompt("User name")
    password = typer.prompt("Password", hide_input=True)
    try:
        return login(server, username, password)
    except UploadRefusedError as error:
        fail(error.reason)


def _send_set(sets: SetSender, path: Path, site: str | None, bar: Progress) -> bool:
    """A folder of one slide's files (a DICOM series, a MIRAX slide's parent) as one
    slide; False when the hub refused it (the reason printed)."""
    from app.agent.hub import UploadRefusedError

    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    task = bar.add_task(path.name[:40], total=sum(p.stat().st_size for p in files))
    try:
        slide_id = sets.send(
            path, files, site=site, progress=lambda done, _t: bar.update(task, completed=done)
        )
    except UploadRefusedError as error:
        bar.console.print(f"[red]{say(REFUSED)}[/red] {error.reason}")
        return False
    said = say(N_("slide {slide} (one slide of several files)", slide=slide_id))
    bar.console.print(f"{path.name}: {said}")
    return True


def _send_all(
    paths: list[Path],
    sets: SetSender,
    site: str | None,
    send_file: Callable[[Path, Callable[[int, int], None]], str],
) -> None:
    """Each path with a progress bar: a folder as one slide of several files, a file by
    `send_file` (which says what it became); a refusal is printed and the rest go on;
    exit 1 when any was refused."""
    from rich.progress import TaskID

    from app.agent.hub import UploadRefusedError

    failed = 0
    with byte_progress() as bar:
        for path in paths:
            if path.is_dir():
                failed += not _send_set(sets, path, site, bar)
                continue
            task = bar.add_task(path.name[:40], total=path.stat().st_size)

            def advance(done: int, _total: int, task: TaskID = task) -> None:
                bar.update(task, completed=done)

            try:
                said = send_file(path, advance)
            except UploadRefusedError as error:
                bar.console.print(f"[red]{say(REFUSED)}[/red] {error.reason}")
                failed += 1
                continue
            bar.update(task, completed=path.stat().st_size)
            bar.console.print(f"{path.name}: {said}")
    if failed:
        raise typer.Exit(1)


def upload(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Slide files, or folders of one slide's files.", exists=True),
    ],
    server: Server,
    site: Annotated[str | None, typer.Option(help="Site code (default: your own).")] = None,
    case: Annotated[str | None, typer.Option(help="Case id (frozen section).")] = None,
    state_dir: StateDir = DEFAULT_STATE / "slidebridge",
    chunk_mb: Annotated[int, typer.Option(help="MiB per request.", min=1, max=1024)] = 8,
    checksum: Annotated[
        bool,
        typer.Option(
            help="SHA-1 per request: a cut request is then discarded whole (up to one "
            "chunk resent per cut). Off, the hub keeps what arrived before a cut; the "
            "whole file's SHA-256 is checked at the end either way."
        ),
    ] = False,
) -> None:
    """Upload slide files, resuming after cuts and across runs; prints each slide id. A
    folder is one slide of several files (sent whole again after a cut)."""
    from app.agent.sets import SetSender
    from app.agent.tus import Sender

    token = _token(server)
    sender = Sender(server, token, state_dir, chunk_size=chunk_mb * 1024 * 1024, checksum=checksum)

    def one(path: Path, progress: Callable[[int, int], None]) -> str:
        sent = sender.send(path, site=site, case=case, progress=progress)
        return say(N_("slide {slide}", slide=sent.slide_id))

    _send_all(paths, SetSender(server, token, parts=sender), site, one)


def send(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Slide files, or folders of one slide's files.", exists=True),
    ],
    server: Server,
    site: Annotated[str | None, typer.Option(help="Site code (default: your own).")] = None,
    case: Annotated[str | None, typer.Option(help="Case id (frozen section).")] = None,
    state_dir: StateDir = DEFAULT_STATE / "slidebridge",
    piece_kb: Annotated[int, typer.Option(help="KiB per range request.", min=16)] = 256,
    connections: Annotated[int, typer.Option(help="Ranges in flight at once.", min=1)] = 2,
) -> None:
    """Send slides in the order the pathologist needs them: the hub shows each slide from
    its first bytes, and what a viewer looks at comes first. Resumes after cuts and
    restarts; exits 0 when the hub has verified every file. Formats the hub cannot show
    while they arrive go in byte order (tus); a folder is one slide of several files."""
    from app.agent.sets import SetSender

    token = _token(server)
    courier = _courier(server, state_dir, piece_kb, connections, token=token)

    def one(path: Path, progress: Callable[[int, int], None]) -> str:
        done = courier.deliver(path, site=site, case=case, progress=progress)
        if done.byte_order_reason is None:
            return say(N_("slide {slide} (sent progressively)", slide=done.slide_id))
        return say(
            N_(
                "slide {slide} (sent in byte order: {reason})",
                slide=done.slide_id,
                reason=say(done.byte_order_reason),
            )
        )

    _send_all(paths, SetSender(server, token, parts=courier.tus), site, one)


def _courier(
    server: str,
    state_dir: Path,
    piece_kb: int = 256,
    connections: int = 2,
    token: str | None = None,
) -> Courier:
    from app.agent.courier import Courier
    from app.agent.send import ProgressiveSender
    from app.agent.tus import Sender

    token = token or _token(server)
    progressive = ProgressiveSender(
        server, token, piece_bytes=piece_kb * 1024, connections=connections
    )
    return Courier(progressive, Sender(server, token, state_dir, checksum=False))


def watch(
    directory: Annotated[Path, typer.Argument(help="Scanner output folder.", file_okay=False)],
    server: Server,
    site: Annotated[str, typer.Option(help="Site code the slides belong to.")],
    state_dir: StateDir = DEFAULT_STATE / "slidebridge",
    settle: Annotated[float, typer.Option(help="Seconds a file must not change.")] = 30.0,
    interval: Annotated[float, typer.Option(help="Seconds between scans.")] = 5.0,
    once: Annotated[bool, typer.Option(help="Stop when nothing is left to send.")] = False,
) -> None:
    """Send new slides from a scanner's folder once they stop growing, in order of arrival;
    a DICOM series folder or a MIRAX slide goes as one slide of several files."""
    from app.agent.hub import UploadRefusedError
    from app.agent.sets import SetSender
    from app.agent.watch import WatchState, scan

    token = _token(server)
    courier = _courier(server, state_dir, token=token)
    sets = SetSender(server, token, parts=courier.tus)
    state = WatchState.load(state_dir / f"watch-{site}.json")
    typer.echo(
        say(N_("watching {folder} for site {site} (Ctrl-C stops)", folder=directory, site=site))
    )
    while True:
        units = scan(directory)
        for unit in state.ready(units, settle):
            try:
                if unit.multi_file:
                    slide_id = sets.send(unit.base(directory), list(unit.files), site=site)
                else:
                    slide_id = courier.deliver(unit.files[0], site=site).slide_id
            except UploadRefusedError as error:
                typer.echo(f"{say(REFUSED)}: {error.reason}", err=True)
                state.record(unit, refused=error.reason)
                continue
            state.record(unit, slide_id=slide_id)
            said = say(N_("slide {slide}", slide=slide_id))
            typer.echo(f"{unit.name}: {said}")
        pending = [u for u in units if not state.is_sent(u)]
        if once and not pending:
            return
        time.sleep(min(interval, settle) if once else interval)


def register(cli: typer.Typer) -> None:
    cli.command("upload")(upload)
    cli.command("send")(send)
    cli.command("watch")(watch)
