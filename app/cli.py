"""The `slidebridge` command: one Typer app, each group of commands in its own module."""

from __future__ import annotations

import typer

from app import cli_slides

cli = typer.Typer(no_args_is_help=True, add_completion=False, help="SlideBridge telepathology.")
cli_slides.register(cli)


def main() -> None:
    cli()
