"""``kedrec graph``: load DRKG into Neo4j, check counts, call the read-only tools."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from kedrec.console import console, progress_bar
from kedrec.errors import GraphLoadError
from kedrec.settings import get_settings

graph_app = typer.Typer(no_args_is_help=True)

FilesArg = Annotated[
    list[Path] | None,
    typer.Argument(help="DRKG triple files (default: every *.tsv of <data_dir>/kg_slice)."),
]


def _plan_inputs(files: list[Path] | None) -> list[Path]:
    from graph_store.load_plan import resolve_inputs

    return resolve_inputs(files or [], get_settings().kg_slice_dir)


def _print_report(report: Any) -> None:
    console.print(f"parsed: {report.summary()}")
    for error in report.errors[:10]:
        console.print(
            f"  [yellow]skipped[/yellow] {error.path}:{error.line_number}: {error.reason}"
        )
    if report.malformed > 10:
        console.print(f"  … and {report.malformed - 10:,} more malformed lines")


def _print_coverage(plan: Any, names: Any) -> None:
    from graph_store.load_plan import naming_coverage

    table = Table(title="naming coverage")
    for column in ("entity type", "named", "entities", "share"):
        table.add_column(column, justify="right" if column != "entity type" else "left")
    for kind, (named, total) in naming_coverage(plan, names).items():
        table.add_row(kind, f"{named:,}", f"{total:,}", f"{named / total:.1%}")
    console.print(table)


def _target_details() -> Any:
    """DrugBank's actions and PubMed IDs for target edges, when the details file exists."""
    from graph_store.drugbank_details import DETAILS_FILE, load_target_details

    path = get_settings().kg_slice_dir / DETAILS_FILE
    if not path.is_file():
        console.print(f"[yellow]note:[/yellow] {path} not found: DrugBank edges get no PMIDs")
        return None
    return load_target_details(path)


@graph_app.command("load")
def load(
    files: FilesArg = None,
    bulk: Annotated[
        bool | None,
        typer.Option(
            "--bulk/--online",
            help="neo4j-admin import into the local server (default when it is the Maven "
            "launcher's) or batched UNWIND over Bolt into any running Neo4j.",
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Online loader: rows per transaction.")] = 20_000,
    replace: Annotated[
        bool, typer.Option(help="Online loader: delete everything in the database first.")
    ] = False,
) -> None:
    """Load DRKG triples (default: the real slice) into Neo4j with names and indexes."""
    from graph_store.launcher import Neo4jLauncher
    from graph_store.names import load_name_index

    settings = get_settings()
    inputs = _plan_inputs(files)
    names = load_name_index(settings.names_dir)
    details = _target_details()
    launcher = Neo4jLauncher(settings)
    use_bulk = bulk if bulk is not None else not launcher.use_docker
    loader = "bulk" if use_bulk else "online"
    console.print(f"loading {len(inputs)} file(s) with the {loader} loader")
    if use_bulk:
        from graph_store.bulk_import import load_bulk

        with progress_bar() as progress:
            result = load_bulk(inputs, names, launcher, progress=progress, details=details)
        plan = result.plan
        _print_report(plan.report)
        phases = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result.phases.items())
        console.print(
            f"[green]loaded[/green] {result.nodes:,} nodes, {result.relationships:,} "
            f"relationships in {result.seconds:.1f} s ({phases})"
        )
    else:
        from graph_store.connection import open_driver
        from graph_store.graph_meta import clear_graph
        from graph_store.load_plan import build_plan
        from graph_store.online_load import load_online

        plan = build_plan(inputs, also_fingerprint=[details.path] if details else [])
        _print_report(plan.report)
        if plan.report.triples == 0:
            raise GraphLoadError(f"no well-formed triples in {', '.join(map(str, inputs))}")
        driver = open_driver(settings.neo4j)
        try:
            if replace:
                clear_graph(driver, settings.neo4j.database)
            with progress_bar() as progress:
                online = load_online(
                    driver,
                    settings.neo4j.database,
                    plan,
                    names,
                    batch_size=batch_size,
                    progress=progress,
                    details=details,
                )
        finally:
            driver.close()
        console.print(
            f"[green]loaded[/green] {online.nodes:,} nodes, {online.relationships_written:,} "
            f"new relationships ({online.batches_skipped} batches already loaded) in "
            f"{online.seconds:.1f} s ({online.edges_per_second:,.0f} edges/s)"
        )
    _print_coverage(plan, names)


@graph_app.command("stats")
def stats(
    files: FilesArg = None,
    no_check: Annotated[
        bool, typer.Option("--no-check", help="Only print counts; don't re-read the inputs.")
    ] = False,
) -> None:
    """Counts per label and relationship type, checked against the input files."""
    from graph_store.connection import open_driver
    from graph_store.graph_meta import read_graph_meta
    from graph_store.load_plan import build_plan
    from graph_store.stats import check_counts, graph_counts

    settings = get_settings()
    details = None if no_check else _target_details()
    side_inputs = [details.path] if details else []
    plan = None if no_check else build_plan(_plan_inputs(files), also_fingerprint=side_inputs)
    driver = open_driver(settings.neo4j)
    try:
        labels, rel_types = graph_counts(driver, settings.neo4j.database)
        meta = read_graph_meta(driver, settings.neo4j.database)
    finally:
        driver.close()
    checks = check_counts(plan, labels, rel_types)
    table = Table(title=f"graph at {settings.neo4j.uri}")
    for column in ("kind", "name", "in Neo4j", "in input files", ""):
        table.add_column(column, justify="right" if column.startswith("in") else "left")
    for check in checks:
        expected = "" if check.expected is None else f"{check.expected:,}"
        mark = "[green]ok[/green]" if check.ok else "[red]MISMATCH[/red]"
        table.add_row(check.kind, check.name, f"{check.actual:,}", expected, mark)
    console.print(table)
    if meta:
        console.print(
            f"loaded by the {meta.get('loader')} loader at {meta.get('loaded_at')}: "
            f"{', '.join(meta.get('files', []))} (fingerprint {meta.get('fingerprint')})"
        )
    bad = [check for check in checks if not check.ok]
    if bad:
        raise GraphLoadError(
            f"{len(bad)} count(s) differ from the input files: reload with `kedrec graph load`"
        )
    if plan is not None:
        console.print(f"[green]all {len(checks)} counts match the input files[/green]")


@graph_app.command("schema")
def schema() -> None:
    """Print the DRKG relation -> Neo4j relationship type mapping."""
    from graph_store.drkg_format import parse_relation
    from graph_store.schema import relationship_type

    glossary = get_settings().drkg_dir / "relation_glossary.tsv"
    table = Table(title="DRKG relation -> Neo4j relationship type")
    table.add_column("DRKG relation")
    table.add_column("type")
    relations = [line.split("\t")[0] for line in glossary.read_text().splitlines()[1:] if line]
    for relation in relations:
        table.add_row(relation, relationship_type(parse_relation(relation)))
    console.print(table)


TOOL_NAMES = (
    "resolve_entity",
    "drug_profile",
    "disease_profile",
    "direct_edges",
    "mechanism_paths",
    "candidate_drugs",
    "similar_drugs",
)


@graph_app.command("tool")
def tool(
    name: Annotated[str, typer.Argument(help=f"One of: {', '.join(TOOL_NAMES)}.")],
    args: Annotated[list[str], typer.Argument(help="The tool's arguments (names or IDs).")],
    hide: Annotated[
        list[str] | None,
        typer.Option(help="Hidden pair 'Compound::…,Disease::…' (repeatable)."),
    ] = None,
) -> None:
    """Call one graph tool and print its JSON result."""
    from graph_store.connection import open_driver
    from graph_store.masking import HiddenPairs
    from graph_store.tools import GraphTools

    if name not in TOOL_NAMES:
        raise typer.BadParameter(f"unknown tool {name!r}; choose one of {', '.join(TOOL_NAMES)}")
    settings = get_settings()
    pairs = [tuple(pair.split(",", 1)) for pair in hide or []]
    hidden = HiddenPairs.of((drug, disease) for drug, disease in pairs)
    driver = open_driver(settings.neo4j)
    try:
        tools = GraphTools.from_settings(driver, settings.neo4j, hidden)
        result = getattr(tools, name)(*args)
    finally:
        driver.close()
    print(_to_json(result))


@graph_app.command("cypher")
def cypher(query: Annotated[str, typer.Argument(help="One read-only Cypher query.")]) -> None:
    """Run read-only Cypher through the same guard the agent uses."""
    from graph_store.connection import open_driver
    from graph_store.tools import GraphTools

    settings = get_settings()
    driver = open_driver(settings.neo4j)
    try:
        result = GraphTools.from_settings(driver, settings.neo4j).run_cypher(query)
    finally:
        driver.close()
    print(_to_json(result))
    if result.error:
        raise typer.Exit(1)


@graph_app.command("demo")
def demo(
    drug: Annotated[str, typer.Option(help="A drug name or ID.")] = "metformin",
    disease: Annotated[str, typer.Option(help="A disease name or ID.")] = (
        "type 2 diabetes mellitus"
    ),
) -> None:
    """Show what the tools answer for one drug–disease pair (the README's example)."""
    from graph_store.connection import open_driver
    from graph_store.tools import GraphTools

    settings = get_settings()
    driver = open_driver(settings.neo4j)
    try:
        tools = GraphTools.from_settings(driver, settings.neo4j)
        drug_match = tools.resolve_entity(drug, kinds=["Compound"], limit=1)
        disease_match = tools.resolve_entity(disease, kinds=["Disease"], limit=1)
        if not drug_match or not disease_match:
            raise GraphLoadError("the demo entities are not in the graph: run `kedrec graph load`")
        drug_id, disease_id = drug_match[0].id, disease_match[0].id
        console.print(
            f"[bold]{drug_match[0].name}[/bold] ({drug_id}) and "
            f"[bold]{disease_match[0].name}[/bold] ({disease_id})"
        )
        profile = tools.drug_profile(drug_id, limit=5)
        edges = tools.direct_edges(drug_id, disease_id)
        candidates = tools.candidate_drugs(disease_id, limit=5)
    finally:
        driver.close()
    genes = ", ".join(f"{g.gene} ({g.role}, {g.source})" for g in profile.genes)
    console.print(f"targets: {genes}")
    console.print("direct edges: " + ", ".join(f"{e.type} [{e.relation}]" for e in edges))
    console.print(
        "top drugs for the disease: " + ", ".join(f"{c.name} ({c.relevance:g})" for c in candidates)
    )


def _to_json(result: Any) -> str:
    if isinstance(result, list):
        return json.dumps([item.model_dump() for item in result], indent=2)
    return result.model_dump_json(indent=2)
