"""CLI commands for this area (see kedrec.cli)."""

from __future__ import annotations

import typer

lit_app = typer.Typer(no_args_is_help=True)
