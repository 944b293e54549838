"""``kedrec eval``: score predictors on task sets (today: the GNN baseline)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from kedrec.console import console
from kedrec.provenance import run_metadata
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
    from tasks.build import HELD_OUT_FILE, read_pairs
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
    for split in ("val", "test", "benchmark"):
        path = folder / f"{split}.jsonl"
        if not path.exists():
            continue
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
