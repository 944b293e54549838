"""``kedrec eval``: score predictors on task sets (``run``), grids of them (``grid``), the GNN
baseline on a whole build (``baseline``).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from kedrec.console import console
from kedrec.errors import ConfigError
from kedrec.provenance import run_metadata
from kedrec.settings import LiteratureSource, get_settings
from tasks.cli import default_sets_dir

eval_app = typer.Typer(no_args_is_help=True)


@eval_app.command("baseline")
def baseline(
    sets_dir: Annotated[Path | None, typer.Option("--sets", help="Folder of a build.")] = None,
    model: Annotated[
        str | None,
        typer.Option(help="KGE model for the baseline (default: the sampler's embeddings)."),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of independent baseline embeddings.")
    ] = None,
) -> None:
    """The GNN baseline (higher link-prediction score wins) on val, test and benchmark.

    By default it scores with the embeddings that chose the hard negatives, which is
    adversarial by construction (c_irr comes from that model's own top-K). ``--model`` or
    ``--seed`` trains independent embeddings with the same held-out pairs instead.
    """
    from eval.gnn_baseline import evaluate_gnn
    from kge.pipeline import KGEConfig, TrainedEmbeddings, embeddings_dir, train_embeddings
    from tasks.build import HELD_OUT_FILE, read_pairs, split_files
    from tasks.task_sets import read_task_sets

    folder = sets_dir or default_sets_dir()
    manifest = json.loads((folder / "manifest.json").read_text())
    inputs = [Path(p) for p in manifest["inputs"]]
    config = KGEConfig.model_validate(manifest["kge"])
    if model is None and seed is None:
        embeddings = TrainedEmbeddings.load(
            embeddings_dir(inputs, read_pairs(folder / HELD_OUT_FILE), config)
        )
    else:
        update = {"model": model or config.model, "seed": config.seed if seed is None else seed}
        config = config.model_copy(update=update)
        embeddings = train_embeddings(inputs, read_pairs(folder / HELD_OUT_FILE), config)
    sampler_version = manifest["embeddings_version"]
    kind = "sampler's embeddings" if embeddings.version == sampler_version else "independent"
    table = Table(title=f"GNN baseline ({embeddings.version}, {kind})")
    for column in ("split", "sets", "accuracy", "macro F1", "abstained"):
        table.add_column(column, justify="right" if column != "split" else "left")
    results = {}
    for path in split_files(folder):
        split = path.stem
        scores = evaluate_gnn(embeddings, read_task_sets(path))
        results[split] = scores
        table.add_row(
            split,
            str(scores.n),
            f"{scores.accuracy:.3f}",
            f"{scores.macro_f1:.3f}",
            str(scores.abstained),
        )
    console.print(table)
    record = {"embeddings_version": embeddings.version, "embeddings": kind, **run_metadata()}
    record["scores"] = {split: asdict(scores) for split, scores in results.items()}
    (folder / f"gnn_baseline_{embeddings.version}.json").write_text(
        json.dumps(record, indent=2) + "\n"
    )


def _source(value: str) -> LiteratureSource:
    from eval.run import SOURCES

    if value not in SOURCES:
        raise ConfigError(f"--source must be one of {', '.join(SOURCES)}, not {value!r}")
    return value


BUILD_HELP = (
    "The task sets' build folder (the gnn predictor's embeddings); default the sets file's "
    "folder when it holds a build's manifest.json, else the settings' sets folder."
)


ChoiceOnlyOption = Annotated[
    bool,
    typer.Option(
        "--choice-only",
        help="Model predictors (in-process: local:…, student:…) stop after the choice, which "
        "is scored before anything else and so is the full answer's: selection metrics on "
        "many sets in a fraction of the time; rationale, citation and ROUGE metrics stay empty.",
    ),
]


SampleOption = Annotated[
    int | None,
    typer.Option(
        help="Score a seeded random subset of N sets (after --limit; kept in file order): "
        "an unbiased estimate on a benchmark too big to run whole. Recorded in the summary.",
        min=1,
    ),
]
SampleSeedOption = Annotated[int, typer.Option(help="Seed of --sample.")]


def _print_summary(summary: dict[str, Any], out: Path) -> None:
    table = Table(
        title=f"{summary['config']['predictor']} on {summary['n_sets']} sets "
        f"(source {summary['config']['source']})"
    )
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("95% CI", justify="right")
    for name, entry in summary["metrics"].items():
        value, (low, high) = entry["value"], entry["ci95"]
        table.add_row(
            name,
            "—" if value is None else f"{value:.3f}",
            "—" if low is None or high is None else f"[{low:.3f}, {high:.3f}]",
        )
    console.print(table)
    rate = summary["throughput"]["sets_per_second"]
    console.print(f"throughput: {rate if rate is not None else '—'} sets/s; results in {out}")


@eval_app.command("run")
def run(
    predictor: Annotated[
        str,
        typer.Option(
            help="student:DIR, base:MODEL, teacher:MODEL, agent:MODEL, gnn[:sampler], "
            "literature or random[:SEED]."
        ),
    ],
    sets: Annotated[Path, typer.Option(help="Task sets (JSONL), e.g. the build's test.jsonl.")],
    source: Annotated[
        str, typer.Option(help="Literature in the evidence: none, ct, pmc or both.")
    ] = "both",
    out: Annotated[Path | None, typer.Option(help="Output folder.")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N sets.")] = None,
    reference: Annotated[
        Path | None,
        typer.Option(help="Teacher trajectories (JSONL) whose rationales ROUGE compares with."),
    ] = None,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples.", min=1)] = 1000,
    build: Annotated[Path | None, typer.Option(help=BUILD_HELP)] = None,
    choice_only: ChoiceOnlyOption = False,
    sample: SampleOption = None,
    sample_seed: SampleSeedOption = 0,
) -> None:
    """Score one predictor on task sets: per-set predictions (JSONL) and a summary (JSON)."""
    from eval.grid import slug
    from eval.run import EvalConfig, run_eval

    config = EvalConfig(
        predictor=predictor,
        sets=str(sets),
        source=_source(source),
        limit=limit,
        bootstrap_resamples=resamples,
        reference=str(reference) if reference else None,
        choice_only=choice_only,
        sample=sample,
        sample_seed=sample_seed,
    )
    target = out or get_settings().cache_dir / "eval" / slug(sets.stem) / slug(predictor) / source
    _print_summary(run_eval(config, target, build_dir=build), target)


@eval_app.command("grid")
def grid(
    predictor: Annotated[
        list[str], typer.Option(help="A predictor (repeat): see `kedrec eval run --help`.")
    ],
    sets: Annotated[
        list[str],
        typer.Option(help="A benchmark: NAME=FILE or FILE (named by its stem); repeat."),
    ],
    source: Annotated[
        list[str] | None, typer.Option(help="Sources (repeat; default none, ct, pmc, both).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Grid folder (report.md, plots).")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N sets of each file.")] = None,
    reference: Annotated[
        Path | None,
        typer.Option(help="Teacher trajectories for ROUGE (default: the grid's teacher:)."),
    ] = None,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples.", min=1)] = 1000,
    build: Annotated[Path | None, typer.Option(help=BUILD_HELP)] = None,
    choice_only: ChoiceOnlyOption = False,
    sample: SampleOption = None,
    sample_seed: SampleSeedOption = 0,
) -> None:
    """Predictors × sources × benchmarks: the paper's Tables 1–2 as Markdown and PNG plots."""
    from eval.grid import GridConfig, run_grid
    from eval.report import write_report
    from eval.run import SOURCES

    benchmarks = {}
    for item in sets:
        name, _, file = item.partition("=") if "=" in item else (Path(item).stem, "", item)
        benchmarks[name] = file
    config = GridConfig(
        predictors=predictor,
        benchmarks=benchmarks,
        sources=[_source(s) for s in (source or SOURCES)],
        limit=limit,
        reference=str(reference) if reference else None,
        bootstrap_resamples=resamples,
        choice_only=choice_only,
        sample=sample,
        sample_seed=sample_seed,
    )
    folder = out or get_settings().cache_dir / "eval" / "grid"
    result = run_grid(config, folder, build_dir=build, progress=console.print)
    paths = write_report(result, folder)
    console.print(paths[0].read_text(), markup=False)
    console.print(f"report: {', '.join(str(p) for p in paths)}")
