"""``kedrec neo4j start|stop|status``: the local Neo4j server (see graph_store.launcher)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from graph_store.launcher import Neo4jLauncher, ServerStatus
from kedrec.console import console
from kedrec.settings import get_settings

neo4j_app = typer.Typer(no_args_is_help=True)

HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home",
        help="Neo4j home (conf, data, logs); default NEO4J_HOME or <cache_dir>/neo4j/home.",
        file_okay=False,
        resolve_path=True,
    ),
]


def _launcher(home: Path | None) -> Neo4jLauncher:
    return Neo4jLauncher(get_settings(), home=home)


def _print_status(status: ServerStatus) -> None:
    """Render the status as a two-column table on the shared (stderr) console."""
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    state = "[green]running[/green]" if status.running else "[yellow]not running[/yellow]"
    table.add_row("state", f"{state} ({status.mode})")
    if status.pid is not None:
        table.add_row("pid", str(status.pid))
    table.add_row("version", status.version or "unknown")
    table.add_row("bolt", status.bolt_url)
    table.add_row("http", status.http_url)
    table.add_row("browser", status.browser_url)
    if status.home is not None:
        table.add_row("home", str(status.home))
    if status.import_dir is not None:
        table.add_row("import dir", str(status.import_dir))
    if status.log_file is not None:
        table.add_row("log", str(status.log_file))
    console.print(table)
    uri = get_settings().neo4j.uri
    if status.running and not uri.rstrip("/").endswith(f":{status.bolt_url.rsplit(':', 1)[-1]}"):
        console.print(f"[yellow]note:[/yellow] NEO4J_URI={uri} does not point at this server")


@neo4j_app.command()
def start(
    home: HomeOption = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for Bolt to answer.")] = 120.0,
) -> None:
    """Start Neo4j (building it from Maven Central on first use); no-op if already running."""
    launcher = _launcher(home)
    began = time.monotonic()
    with console.status("Starting Neo4j…") as spinner:
        started = launcher.start(timeout_s=timeout, progress=spinner.update)
    status = launcher.status()
    if started:
        console.print(f"[green]Neo4j started[/green] in {time.monotonic() - began:.1f} s")
    else:
        console.print(f"Neo4j is already running (pid {status.pid}); nothing to do")
    _print_status(status)


@neo4j_app.command()
def stop(home: HomeOption = None) -> None:
    """Stop Neo4j (SIGTERM, SIGKILL after 60 s); no-op if it is not running."""
    launcher = _launcher(home)
    with console.status("Stopping Neo4j…") as spinner:
        stopped = launcher.stop(progress=spinner.update)
    if stopped:
        console.print("[green]Neo4j stopped[/green]")
    else:
        console.print("Neo4j is not running; nothing to do")


@neo4j_app.command()
def status(
    home: HomeOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """Show whether Neo4j runs, its pid, version, URLs and home (exit code 3 when stopped)."""
    result = _launcher(home).status()
    if as_json:
        typer.echo(json.dumps(asdict(result), default=str, indent=2))
    else:
        _print_status(result)
    if not result.running:
        raise typer.Exit(3)
