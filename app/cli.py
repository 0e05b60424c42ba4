"""The `slidebridge` command: one Typer app, each group of commands in its own module."""

from __future__ import annotations

import typer

from app import cli_service, cli_slides, cli_upload

cli = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="SlideBridge: whole-slide telepathology.",
)
cli_slides.register(cli)
cli_service.register(cli)
cli_upload.register(cli)


def main() -> None:
    cli()
