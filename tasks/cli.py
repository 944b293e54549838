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
    from tasks.benchmark_import import EntityMapper, ImportReport
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


def _pharmacotherapydb_sets(mapper: EntityMapper, seed: int) -> tuple[list[TaskSet], ImportReport]:
    from tasks.benchmark_import import (
        import_benchmark_tsv,
        pharmacotherapydb_rows,
        write_benchmark_tsv,
    )

    settings = get_settings()
    indications = settings.data_dir / "benchmarks" / "pharmacotherapydb" / "indications.tsv"
    tsv = settings.task_sets_dir / "pharmacotherapydb.tsv"
    write_benchmark_tsv(pharmacotherapydb_rows(indications), tsv)
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
    benchmark_file: Annotated[
        list[Path] | None,
        typer.Option(
            help="Benchmark TSV (tasks/benchmark_import.py's format, e.g. `kedrec sets mimic`) "
            "to reserve like PharmacotherapyDB, written as benchmark-<source>.jsonl; repeatable."
        ),
    ] = None,
) -> None:
    """Build train / val / test task sets (and the PharmacotherapyDB benchmark)."""
    from graph_store.names import load_name_index
    from kge.pipeline import KGEConfig
    from tasks.benchmark_import import EntityMapper
    from tasks.build import BenchmarkFile, build_task_sets, load_benchmark_file
    from tasks.sampling import SamplingConfig

    settings = get_settings()
    inputs = _inputs(files)
    names = load_name_index(settings.names_dir)
    benchmark_sets: list[TaskSet] = []
    benchmark_files: list[BenchmarkFile] = []
    if benchmark or benchmark_file:
        mapper = EntityMapper(_entities(inputs), names)
        if benchmark:
            benchmark_sets, report = _pharmacotherapydb_sets(mapper, seed)
            console.print(
                f"PharmacotherapyDB: {json.dumps(report.as_dict()['refused'])} refused, "
                f"{report.imported:,} of {report.rows:,} triples map to the graph"
            )
        for path in benchmark_file or []:
            loaded = load_benchmark_file(path, mapper, seed=seed)
            benchmark_files.append(loaded)
            console.print(
                f"{path}: {json.dumps(loaded.report.as_dict()['refused'])} refused, "
                f"{loaded.report.imported:,} of {loaded.report.rows:,} rows map to the graph "
                f"(sets by source: {json.dumps(loaded.sources())})"
            )
    result = build_task_sets(
        inputs,
        names,
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
        benchmark_files=benchmark_files,
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


@sets_app.command("mimic")
def mimic(
    mimic_dir: Annotated[
        Path,
        typer.Option(
            help="MIMIC-III v1.4 folder: PRESCRIPTIONS.csv, DIAGNOSES_ICD.csv (.csv.gz too), "
            "optionally D_ICD_DIAGNOSES.csv.",
        ),
    ],
    out: Annotated[
        Path, typer.Option(help="Benchmark TSV to write (its report: FILE.report.json beside it).")
    ] = Path("mimic-iii.tsv"),
    min_admissions: Annotated[
        int,
        typer.Option(help="Admissions a (diagnosis, drug) pair needs to be a positive.", min=1),
    ] = 2,
    files: Annotated[list[Path] | None, typer.Option("--graph", help="Triple files.")] = None,
    embeddings_dir: Annotated[
        Path | None,
        typer.Option(
            "--embeddings",
            help="Trained embeddings folder that ranks C_d and picks negatives (default: the "
            "graph's, with the KEDREC_KGE_* settings; trained if not cached).",
        ),
    ] = None,
    *,
    top_k: Annotated[
        int, typer.Option(help="K: GNN-ranked drugs in C_d.", **cli_default("tasks", "top_k"))
    ],
) -> None:
    """Turn MIMIC-III diagnoses and prescriptions into a benchmark TSV (source mimic-iii)."""
    from graph_store.drkg_format import fingerprint
    from graph_store.names import load_name_index
    from kedrec.provenance import run_metadata
    from kge.pipeline import KGEConfig, TrainedEmbeddings, train_embeddings
    from tasks.benchmark_import import EntityMapper
    from tasks.mimic import report_path, write_mimic_benchmark
    from tasks.relevance import CompoundDiseaseEdges
    from tasks.sampling import SamplingConfig, TaskSampler

    settings = get_settings()
    inputs = _inputs(files)
    names = load_name_index(settings.names_dir)
    mapper = EntityMapper(_entities(inputs), names)
    embeddings = (
        TrainedEmbeddings.load(embeddings_dir)
        if embeddings_dir
        else train_embeddings(inputs, None, KGEConfig(**settings.kge.model_dump()))
    )
    sampler = TaskSampler(
        CompoundDiseaseEdges.from_files(inputs),
        embeddings,
        names,
        SamplingConfig(top_k=top_k),
        mapper.groups,
    )
    report = write_mimic_benchmark(
        mimic_dir,
        out,
        mapper,
        sampler,
        settings.names_dir / "doid_xrefs.tsv",
        min_admissions=min_admissions,
        metadata={
            **run_metadata(),
            "graph": [str(path) for path in inputs],
            "graph_fingerprint": fingerprint(inputs),
            "embeddings_version": embeddings.version,
            "top_k": top_k,
        },
    )
    for table in (report.diagnoses, report.prescriptions):
        console.print(f"dropped: {json.dumps(dict(table.dropped.most_common()))}")
    console.print(f"pairs: {json.dumps(dict(report.pairs))}")
    console.print(
        f"[green]{report.rows:,}[/green] sets over {report.diseases:,} diseases -> {out} "
        f"(report {report_path(out)})"
    )


@sets_app.command("check-leakage")
def check_leakage(
    sets_dir: Annotated[Path | None, typer.Option("--sets", help="Folder of a build.")] = None,
    limit: Annotated[int, typer.Option(help="Check at most this many sets per split.")] = 0,
) -> None:
    """Prove no val/test/benchmark label leaks through any graph tool or the embeddings."""
    from graph_store.connection import open_driver
    from graph_store.names import load_name_index
    from graph_store.tools import GraphTools
    from tasks.build import HELD_OUT_FILE, read_pairs, split_files
    from tasks.disease_groups import DiseaseGroups
    from tasks.leakage import LeakageReport, check_embeddings, check_tools
    from tasks.relevance import CompoundDiseaseEdges
    from tasks.task_sets import read_task_sets

    settings = get_settings()
    folder = sets_dir or default_sets_dir()
    manifest = json.loads((folder / "manifest.json").read_text())
    evaluated = []
    for path in split_files(folder):
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
