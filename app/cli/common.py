"""What every command shares: the one way bad input ends a command."""

from __future__ import annotations

from typing import NoReturn

import typer


def fail(message: str) -> NoReturn:
    """One line on stderr, status 2: never a traceback for bad input."""
    typer.echo(f"slidebridge: error: {' '.join(message.split())}", err=True)
    raise typer.Exit(2)
