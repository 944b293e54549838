"""CLI commands for this area (see kedrec_cli.main): ``kedrec lit ingest | search | stats``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

lit_app = typer.Typer(no_args_is_help=True)


def _settings(overrides: dict[str, Any]) -> Any:
    """Return the settings with literature fields overridden (``None`` values are ignored)."""
    from kedrec.settings import get_settings

    settings = get_settings()
    changes = {k: v for k, v in overrides.items() if v is not None}
    if not changes:
        return settings
    literature = settings.literature.model_copy(update=changes)
    return settings.model_copy(update={"literature": literature})


def parse_focus(value: str) -> set[str]:
    """Drug IDs from ``DB1,Compound::DB2`` or ``@file`` (one per line) as bare DrugBank IDs.

    Raises:
        LiteratureError: The file is missing or no ID is given.
    """
    from literature.errors import LiteratureError

    if value.startswith("@"):
        path = Path(value[1:])
        if not path.is_file():
            raise LiteratureError(f"--focus-drugs file {path} is missing")
        value = path.read_text(encoding="utf-8").replace("\n", ",")
    ids = {item.strip().split("::")[-1] for item in value.split(",") if item.strip()}
    if not ids:
        raise LiteratureError("--focus-drugs names no drug: give DrugBank IDs such as DB00331")
    return ids


@lit_app.command("ingest")
def ingest(
    corpus_dir: Annotated[
        Path | None, typer.Option(help="Corpus folder (default <data_dir>/literature/corpus).")
    ] = None,
    index_dir: Annotated[Path | None, typer.Option(help="LanceDB folder.")] = None,
    max_docs: Annotated[
        int | None, typer.Option(help="Add at most this many new documents.")
    ] = None,
    focus_drugs: Annotated[
        str | None,
        typer.Option(
            help="Only index documents naming one of these drugs: comma-separated DrugBank "
            "or DRKG IDs (DB00331,Compound::DB00945), or @FILE with one per line. A quick "
            "partial index; a later run without it adds the rest.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Parse, clean, chunk, embed and index the local corpus (incremental, resumable)."""
    from kedrec.console import console, progress_bar
    from literature.corpus import check_corpus_dir
    from literature.index import LiteratureIndex, ingest_corpus

    settings = _settings({"corpus_dir": corpus_dir, "index_dir": index_dir})
    lit = settings.literature
    # Fail before loading the drug names, the model or the index on a folder with nothing to read.
    check_corpus_dir(Path(lit.corpus_dir or settings.data_dir / "literature" / "corpus"))
    index = LiteratureIndex.from_settings(settings)
    console.print(f"index [bold]{index.name}[/bold] in {index.index_dir}")
    with progress_bar() as bar:
        task = bar.add_task("embedding + indexing documents", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        report = ingest_corpus(
            settings,
            progress=progress,
            max_docs=max_docs,
            index=index,
            focus=parse_focus(focus_drugs) if focus_drugs else None,
        )
    data = report.as_dict()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    from rich.table import Table

    table = Table(title="Literature ingest")
    table.add_column("folder", no_wrap=True, min_width=32)
    for column in ("seen", "kept", *report.dropped.keys()):
        table.add_column(column, justify="right")
    for folder, seen in sorted(report.seen.items()):
        table.add_row(
            folder,
            str(seen),
            str(report.kept.get(folder, 0)),
            *(str(report.dropped[rule].get(folder, 0)) for rule in report.dropped),
        )
    console.print(table)
    focus = (
        f"{report.outside_focus} outside the focus on {report.focus_drugs} drugs, "
        if report.focus_drugs
        else ""
    )
    console.print(
        f"added {report.added_docs} documents / {report.added_chunks} chunks, {focus}"
        f"{report.already_indexed} already indexed, {len(report.corrupt)} corrupt files, "
        f"{report.seconds:.1f} s (embedding {report.embed_seconds:.1f} s)"
    )
    for bad in report.corrupt[:20]:
        console.print(f"[yellow]corrupt[/yellow] {bad.path}: {bad.reason}")


@lit_app.command("search")
def search(
    query: Annotated[str, typer.Argument(help="Free text, or 'drug | disease' for a pair.")],
    source: Annotated[str, typer.Option(help="ct, pmc, both or none.")] = "both",
    top_n: Annotated[int | None, typer.Option(help="Passages to show.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Search the local index; 'drug | disease' runs the two-step pair retrieval."""
    from literature.retrieval import retrieve_pair, search_text
    from literature.tools import format_result

    if "|" in query:
        drug, _, disease = (part.strip() for part in query.partition("|"))
        result = retrieve_pair(disease, drug, source, top_n=top_n)
        what = f"{drug} / {disease}"
    else:
        result = search_text(query, source, top_n=top_n)
        what = repr(query)
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
    else:
        typer.echo(format_result(result, what))
        typer.echo(f"({result.elapsed_ms:.0f} ms; BM25 query: {result.query})")


@lit_app.command("stats")
def stats(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the index's table, documents per source and collection, chunks and size."""
    from literature.index import LiteratureIndex

    data = LiteratureIndex.from_settings().stats()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    typer.echo(f"table      {data['table']} ({data['index_dir']})")
    typer.echo(f"documents  {data['documents']}  {data['documents_by_source']}")
    typer.echo(f"chunks     {data['chunks']}")
    typer.echo(f"size       {data['size_bytes'] / 1e6:.1f} MB")
    for collection, count in sorted(data["documents_by_collection"].items()):
        typer.echo(f"  {collection:<28} {count}")
