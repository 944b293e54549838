"""``kedrec data fetch …``: download public datasets into the cache (see kedrec_cli.main)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

data_app = typer.Typer(no_args_is_help=True)
fetch_app = typer.Typer(no_args_is_help=True)
data_app.add_typer(fetch_app, name="fetch", help="Download a dataset (resumable, verified).")


@fetch_app.command("drkg")
def fetch_drkg_command(
    url: Annotated[
        str | None,
        typer.Option("--url", help="Archive URL; default settings.drkg_url (KEDREC_DRKG_URL)."),
    ] = None,
    dest: Annotated[
        Path | None,
        typer.Option("--dest", help="Target folder; default <cache_dir>/drkg."),
    ] = None,
    sha256: Annotated[
        str | None, typer.Option("--sha256", help="Expected sha256 of drkg.tar.gz.")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Download and extract again even if verified.")
    ] = False,
    keep_archive: Annotated[
        bool,
        typer.Option("--keep-archive/--delete-archive", help="Keep drkg.tar.gz after extracting."),
    ] = True,
) -> None:
    """Download the full DRKG (≈200 MB), extract it safely and print the drkg.tsv path."""
    from graph_store.drkg_fetch import fetch_drkg
    from kedrec.console import console

    result = fetch_drkg(dest, url, sha256=sha256, force=force, keep_archive=keep_archive)
    state = "already present" if result.skipped else "fetched"
    archive = result.manifest.get("archive", {})
    console.print(
        f"DRKG {state}: {result.manifest.get('triples', '?')} triples, "
        f"archive sha256 {archive.get('sha256', '?')}; manifest {result.manifest_path}"
    )
    typer.echo(str(result.drkg_tsv))
