"""What every command shares: the one way bad input ends a command, the progress bar,
the language the scanner-side commands speak."""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

import typer

if TYPE_CHECKING:
    from rich.progress import Progress


def say(message: str) -> str:
    """`message` (marked with `N_`) in the person's language: the environment's
    (`SLIDEBRIDGE_LANGUAGE`, else the POSIX locale, as the hub is asked for its reasons)."""
    from app.agent.hub import locale_language
    from app.core.i18n import SOURCE_LANGUAGE, supported, translate

    language = supported(locale_language()) or SOURCE_LANGUAGE
    return message if language == SOURCE_LANGUAGE else translate(message, language)


def fail(message: str) -> NoReturn:
    """One line on stderr, status 2: never a traceback for bad input."""
    typer.echo(f"slidebridge: error: {' '.join(message.split())}", err=True)
    raise typer.Exit(2)


def byte_progress(*, stderr: bool = False) -> Progress:
    """A bar of bytes with speed and time left (drawn only on a terminal)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=stderr),
    )
