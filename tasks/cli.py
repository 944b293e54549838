"""``kedrec sets``: build, import and check drug-selection task sets.

The GNN baseline (``kedrec sets baseline``) is in :mod:`eval.cli`. Option defaults come from
:class:`kedrec.settings.TasksSettings` and :class:`~kedrec.settings.KGESettings`
(``KEDREC_TASKS_*``, ``KEDREC_KGE_*``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from kedrec.console import console
from kedrec.errors import LeakageError
from kedrec.settings import cli_default, get_settings

if TYPE_CHECKING:
    from tasks.benchmark_import import ImportReport
    from tasks.task_sets import TaskSet

sets_app = typer.Typer(no_args_is_help=True)


def default_sets_dir() -> Path:
    """Where `kedrec sets` writes and reads: KEDREC_TASKS_SETS_DIR or <cache_dir>/task_sets."""
    return get_settings().task_sets_dir


def _entities(files: list[Path]) -> set[str]:
    from graph_store.load_plan import build_plan

    return set(build_plan(files).entities)


def _inputs(files: list[Path] | None) -> list[Path]:
    from graph_store.load_plan import resolve_inputs

    return resolve_inputs(files or [], get_settings().kg_slice_dir)


def _pharmacotherapydb_sets(files: list[Path], seed: int) -> tuple[list[TaskSet], ImportReport]:
    from graph_store.names import load_name_index
    from tasks.benchmark_import import (
        EntityMapper,
        import_benchmark_tsv,
        pharmacotherapydb_rows,
        write_benchmark_tsv,
    )

    settings = get_settings()
    indications = settings.data_dir / "benchmarks" / "pharmacotherapydb" / "indications.tsv"
    tsv = settings.task_sets_dir / "pharmacotherapydb.tsv"
    write_benchmark_tsv(pharmacotherapydb_rows(indications), tsv)
    mapper = EntityMapper(_entities(files), load_name_index(settings.names_dir))
    return import_benchmark_tsv(tsv, mapper, seed=seed, default_source="pharmacotherapydb")


@sets_app.command("build")
def build(
    files: Annotated[list[Path] | None, typer.Argument(help="DRKG triple files.")] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder.")] = None,
    *,
    seed: Annotated[
        int,
        typer.Option(
            help="Seed of the split, sampling and embeddings.", **cli_default("tasks", "seed")
        ),
    ],
    top_k: Annotated[
        int, typer.Option(help="K: GNN-ranked drugs in C_d.", **cli_default("tasks", "top_k"))
    ],
    sets_per_disease: Annotated[
        int,
        typer.Option(
            help="Sets per val/test disease.",
            min=1,
            **cli_default("tasks", "sets_per_disease"),
        ),
    ],
    train_sets_per_disease: Annotated[
        int,
        typer.Option(
            help="Sets per train disease (train split only; val/test use --sets-per-disease).",
            min=1,
            **cli_default("tasks", "train_sets_per_disease"),
        ),
    ],
    val_fraction: Annotated[
        float,
        typer.Option(help="Share of diseases in val.", **cli_default("tasks", "val_fraction")),
    ],
    test_fraction: Annotated[
        float,
        typer.Option(help="Share of diseases in test.", **cli_default("tasks", "test_fraction")),
    ],
    model: Annotated[
        str,
        typer.Option(
            help="KGE model: complex, distmult, rotate, transe.", **cli_default("kge", "model")
        ),
    ],
    epochs: Annotated[
        int, typer.Option(help="Maximum KGE epochs.", **cli_default("kge", "epochs"))
    ],
    dim: Annotated[int, typer.Option(help="KGE dimension.", **cli_default("kge", "dim"))],
    benchmark: Annotated[
        bool,
        typer.Option(help="Also build PharmacotherapyDB sets; reserve their diseases."),
    ] = True,
) -> None:
    """Build train / val / test task sets (and the PharmacotherapyDB benchmark)."""
    from graph_store.names import load_name_index
    from kge.pipeline import KGEConfig
    from tasks.build import build_task_sets
    from tasks.sampling import SamplingConfig

    settings = get_settings()
    inputs = _inputs(files)
    benchmark_sets: list[TaskSet] = []
    if benchmark:
        benchmark_sets, report = _pharmacotherapydb_sets(inputs, seed)
        console.print(
            f"PharmacotherapyDB: {json.dumps(report.as_dict()['refused'])} refused, "
            f"{report.imported:,} of {report.rows:,} triples map to the graph"
        )
    result = build_task_sets(
        inputs,
        load_name_index(settings.names_dir),
        out or default_sets_dir(),
        sampling=SamplingConfig(
            seed=seed,
            top_k=top_k,
            sets_per_disease=sets_per_disease,
            train_sets_per_disease=train_sets_per_disease,
            min_relevance=settings.tasks.min_relevance,
            val_fraction=val_fraction,
            test_fraction=test_fraction,
        ),
        kge_config=KGEConfig(
            **{
                **settings.kge.model_dump(),
                "model": model,
                "epochs": epochs,
                "dim": dim,
                "seed": seed,
            }
        ),
        benchmark_sets=benchmark_sets,
        show_progress=True,
    )
    table = Table(title=f"task sets in {result.out_dir}")
    table.add_column("split")
    table.add_column("diseases", justify="right")
    table.add_column("sets", justify="right")
    for split, count in result.counts.items():
        table.add_row(split, str(result.manifest["diseases_by_split"].get(split, "")), str(count))
    console.print(table)
    sampled = result.manifest["report"]
    console.print(
        f"skipped: {sampled['skipped'] or 'nothing'}; "
        f"sets reusing a c_rel with a less similar c_irr: {sampled['repeated_c_rel'] or 'none'}; "
        f"diseases short of sets: {sampled['short'] or 'none'}; "
        f"embeddings {result.manifest['embeddings_version']}"
    )


@sets_app.command("import")
def import_sets(
    file: Annotated[Path, typer.Argument(help="Benchmark TSV (see tasks/benchmark_import.py).")],
    out: Annotated[Path | None, typer.Option(help="Output JSONL.")] = None,
    files: Annotated[list[Path] | None, typer.Option("--graph", help="Triple files.")] = None,
    *,
    seed: Annotated[
        int, typer.Option(help="Seed of the candidate order.", **cli_default("tasks", "seed"))
    ],
) -> None:
    """Turn an external benchmark TSV into task sets (split 'benchmark')."""
    from graph_store.names import load_name_index
    from tasks.benchmark_import import EntityMapper, import_benchmark_tsv
    from tasks.task_sets import write_task_sets

    settings = get_settings()
    mapper = EntityMapper(_entities(_inputs(files)), load_name_index(settings.names_dir))
    sets, report = import_benchmark_tsv(file, mapper, seed=seed)
    target = out or default_sets_dir() / f"{file.stem}.jsonl"
    write_task_sets(sets, target)
    console.print(json.dumps(report.as_dict(), indent=2))
    console.print(f"[green]{report.imported:,}[/green] of {report.rows:,} rows -> {target}")


@sets_app.command("pharmacotherapydb")
def pharmacotherapydb(
    out: Annotated[Path, typer.Option(help="Where to write the benchmark TSV.")] = Path(
        "pharmacotherapydb.tsv"
    ),
) -> None:
    """Write PharmacotherapyDB's (disease, DM drug, NOT drug) triples as a benchmark TSV."""
    from tasks.benchmark_import import pharmacotherapydb_rows, write_benchmark_tsv

    indications = get_settings().data_dir / "benchmarks" / "pharmacotherapydb" / "indications.tsv"
    count = write_benchmark_tsv(pharmacotherapydb_rows(indications), out)
    console.print(f"{count:,} triples -> {out}")


@sets_app.command("check-leakage")
def check_leakage(
    sets_dir: Annotated[Path | None, typer.Option("--sets", help="Folder of a build.")] = None,
    limit: Annotated[int, typer.Option(help="Check at most this many sets per split.")] = 0,
) -> None:
    """Prove no val/test/benchmark label leaks through any graph tool or the embeddings."""
    from graph_store.connection import open_driver
    from graph_store.names import load_name_index
    from graph_store.tools import GraphTools
    from tasks.build import HELD_OUT_FILE, read_pairs
    from tasks.disease_groups import DiseaseGroups
    from tasks.leakage import LeakageReport, check_embeddings, check_tools
    from tasks.relevance import CompoundDiseaseEdges
    from tasks.task_sets import read_task_sets

    settings = get_settings()
    folder = sets_dir or default_sets_dir()
    manifest = json.loads((folder / "manifest.json").read_text())
    evaluated = []
    for split in ("val", "test", "benchmark"):
        path = folder / f"{split}.jsonl"
        if path.exists():
            sets = list(read_task_sets(path))
            evaluated.extend(sets[:limit] if limit else sets)
    report = LeakageReport()
    edges = CompoundDiseaseEdges.from_files([Path(p) for p in manifest["inputs"]])
    check_embeddings(read_pairs(folder / HELD_OUT_FILE), edges, evaluated, report)
    names = load_name_index(settings.names_dir)
    groups = DiseaseGroups(set(edges.by_disease) | {s.disease.id for s in evaluated}, names)
    driver = open_driver(settings.neo4j)
    try:
        check_tools(GraphTools.from_settings(driver, settings.neo4j), evaluated, report, groups)
    finally:
        driver.close()
    console.print(json.dumps(report.as_dict(), indent=2))
    if not report.clean:
        raise LeakageError(
            f"leakage: {len(report.findings)} tool finding(s), "
            f"{len(report.embedding_pairs_missing)} pair(s) not held out of the embeddings"
        )
    console.print(
        f"[green]no leakage[/green]: {report.sets:,} sets, {report.pairs:,} hidden pairs, "
        f"{sum(report.tool_calls.values()):,} tool calls"
    )
