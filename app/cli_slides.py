"""`slidebridge info` and `slidebridge tile`: the slide engine on the command line."""

from __future__ import annotations

import typer


def register(cli: typer.Typer) -> None:
    """Attach the slide commands to the root command."""
