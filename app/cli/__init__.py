"""The `slidebridge` command: one Typer app, each group of commands in its own module.

The command modules import the service, the engine or the agent inside each
command, not at the top: `slidebridge --help` (and a scanner PC's `upload`) must
not pay for loading FastAPI, SQLAlchemy, OpenSlide and libvips.
"""

from __future__ import annotations

import typer

from app.cli import agent, engine, operations, service

cli = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="SlideBridge: whole-slide telepathology.",
)
for module in (engine, service, operations, agent):
    module.register(cli)


def main() -> None:
    cli()
