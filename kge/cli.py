"""``kedrec embed``: train knowledge-graph embeddings without held-out pairs, inspect them.

Example::

    kedrec embed train --model complex --dim 128 --epochs 50 --hold-out-file test_pairs.tsv
    kedrec embed show ~/.cache/kedrec/embeddings/complex-<hash>

torch is imported only when a command runs, so ``kedrec --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from kedrec.console import console
from kedrec.errors import ConfigError
from kedrec.settings import cli_default

embed_app = typer.Typer(no_args_is_help=True)

FilesArg = Annotated[
    list[Path] | None,
    typer.Argument(help="DRKG triple files (default: every *.tsv of <data_dir>/kg_slice)."),
]


def _config(**fields: Any) -> Any:
    """Build a KGEConfig, turning validation errors into one line naming the option."""
    from pydantic import ValidationError

    from kge.config import KGEConfig

    try:
        return KGEConfig(**fields)
    except ValidationError as error:
        problems = "; ".join(
            f"--{'-'.join(str(p) for p in e['loc']).replace('_', '-')}: {e['msg']}"
            for e in error.errors()
        )
        raise ConfigError(f"invalid embedding options: {problems}") from error


@embed_app.command("train")
def train(
    files: FilesArg = None,
    *,
    model: Annotated[
        str,
        typer.Option(help="complex, distmult, rotate or transe.", **cli_default("kge", "model")),
    ],
    dim: Annotated[
        int,
        typer.Option(
            help="Embedding size (complex/rotate: per part).", **cli_default("kge", "dim")
        ),
    ],
    epochs: Annotated[
        int, typer.Option(help="Maximum epochs (early stopping).", **cli_default("kge", "epochs"))
    ],
    hold_out_file: Annotated[
        Path | None,
        typer.Option(help="TSV of drug<TAB>disease pairs whose edges training must not see."),
    ] = None,
    seed: Annotated[
        int, typer.Option(help="Seed of split, weights and sampling.", **cli_default("kge", "seed"))
    ],
    out: Annotated[
        Path | None,
        typer.Option(help="Parent of the version directories (default <cache_dir>/embeddings)."),
    ] = None,
    lr: Annotated[float, typer.Option(help="Learning rate.", **cli_default("kge", "lr"))],
    batch_size: Annotated[
        int, typer.Option(help="Positive triples per step.", **cli_default("kge", "batch_size"))
    ],
    patience: Annotated[
        int,
        typer.Option(help="Evaluations without better val MRR.", **cli_default("kge", "patience")),
    ],
    val_fraction: Annotated[
        float,
        typer.Option(help="Share of triples for validation.", **cli_default("kge", "val_fraction")),
    ],
    val_max: Annotated[
        int,
        typer.Option(help="Validation triples ranked per epoch.", **cli_default("kge", "val_max")),
    ],
    optimizer: Annotated[
        str, typer.Option(help="adam or sparse_adam.", **cli_default("kge", "optimizer"))
    ],
    threads: Annotated[
        int, typer.Option(help="torch threads.", **cli_default("kge", "num_threads"))
    ],
) -> None:
    """Train embeddings (resumes a crashed run; a finished version is only loaded)."""
    from graph_store.load_plan import resolve_inputs
    from kedrec.settings import get_settings
    from kge.embeddings import is_finished
    from kge.pipeline import embeddings_dir, read_pair_file, train_embeddings

    config = _config(
        model=model,
        dim=dim,
        epochs=epochs,
        seed=seed,
        lr=lr,
        batch_size=batch_size,
        patience=patience,
        val_fraction=val_fraction,
        val_max=val_max,
        optimizer=optimizer,
        num_threads=threads,
    )
    paths = resolve_inputs(files or [], get_settings().kg_slice_dir)
    held_out = read_pair_file(hold_out_file) if hold_out_file else None
    directory = embeddings_dir(paths, held_out, config, root=out)
    if is_finished(directory):
        console.print(f"already trained: {directory}")
    else:
        console.print(f"training {config.model} on {len(paths)} file(s) into {directory}")
    embeddings = train_embeddings(paths, held_out, config, root=out, show_progress=True)
    _print_summary(embeddings.meta)
    typer.echo(str(embeddings.directory))


@embed_app.command("show")
def show(
    directory: Annotated[Path, typer.Argument(help="A version directory.")],
) -> None:
    """Print what a trained version holds: config, data, held-out counts and metrics."""
    from kge.embeddings import TrainedEmbeddings

    embeddings = TrainedEmbeddings.load(directory)
    _print_summary(embeddings.meta)


def _fmt(value: Any, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _print_summary(meta: dict[str, Any]) -> None:
    """One table: version, data, leakage control, metrics, timing."""
    metrics, training, graph = meta["metrics"], meta["training"], meta["graph"]
    best, untrained = metrics.get("best") or {}, metrics.get("untrained") or {}
    held = meta["held_out"]
    table = Table(title=f"embeddings {meta['version']}", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    rows = [
        ("model", f"{meta['model']} dim {meta['dim']} {meta['model_params']}"),
        (
            "graph",
            f"{graph['entities']:,} entities, {graph['relations']} relations, "
            f"{graph['train_triples']:,} train / {graph['val_triples']:,} val triples",
        ),
        (
            "held out",
            f"{held['pairs']:,} pairs: {held['dropped_triples']:,} triples dropped "
            f"({held['pairs_without_edges']:,} pairs had no edge)",
        ),
        (
            "epochs",
            f"{training['epochs_run']} run, best {metrics['best_epoch']}"
            + (" (early stop)" if training["stopped_early"] else ""),
        ),
        (
            f"val MRR ({meta['validation']['candidates']}, filtered)",
            f"{_fmt(best.get('mrr'))} (untrained {_fmt(untrained.get('mrr'))}; "
            f"raw {_fmt(best.get('mrr_raw'))})",
        ),
        ("val Hits@10", _fmt(best.get("hits_at_10"), 3)),
        ("time per epoch", f"{_fmt(training['seconds_per_epoch'], 2)} s train"),
    ]
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)
