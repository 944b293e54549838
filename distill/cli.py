"""``kedrec distill train``: a LoRA student from teacher trajectories.

The command calls :func:`distill.train.train_student`, the function a notebook would; every
option's help is the :class:`~distill.config.StudentConfig` field's, and the defaults of
``--base``, ``--max-length`` and ``--rationale-weight`` read ``KEDREC_DISTILL_*``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from distill.config import StudentConfig, config_help
from kedrec.console import console
from kedrec.settings import cli_default, get_settings

distill_app = typer.Typer(no_args_is_help=True)


@distill_app.callback()
def distill_callback() -> None:
    """Distil the teacher's trajectories into a LoRA student."""


_HELP = config_help()


def _help(name: str) -> str:
    return _HELP[name]


@distill_app.command("train")
def train_command(
    trajectories: Annotated[
        list[Path],
        typer.Option(
            "--trajectories",
            help="Trajectory file (JSONL of `kedrec teacher collect`); repeat for several.",
        ),
    ],
    *,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Student folder (adapter/, student.json, README.md, checkpoints/, merged/); "
            "default <students_dir>/<first trajectory file's name>.",
        ),
    ] = None,
    base: Annotated[
        str,
        typer.Option(
            "--base",
            help="Base model: local:smollm2 or local:<HF LLaMA-family folder>.",
            **cli_default("distill", "base_model"),
        ),
    ],
    sets: Annotated[
        Path | None,
        typer.Option(
            "--sets",
            help="The task-set build the trajectories come from (its test and benchmark "
            "diseases are refused in training data); default the settings' sets folder.",
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the last checkpoint in --out.")
    ] = False,
    keep_cleaned: Annotated[
        bool, typer.Option("--keep-cleaned", help=_help("keep_cleaned"))
    ] = False,
    merge: Annotated[bool, typer.Option("--merge", help=_help("merge"))] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Only build the examples and print the data report."),
    ] = False,
    max_length: Annotated[
        int,
        typer.Option(
            "--max-length", help=_help("max_length"), **cli_default("distill", "max_length")
        ),
    ],
    rationale_weight: Annotated[
        float,
        typer.Option(
            "--rationale-weight",
            help=_help("rationale_weight"),
            **cli_default("distill", "rationale_weight"),
        ),
    ],
    embedding_weight: Annotated[
        float | None, typer.Option("--embedding-weight", help=_help("embedding_weight"))
    ] = None,
    epochs: Annotated[float | None, typer.Option(help=_help("epochs"))] = None,
    max_steps: Annotated[int | None, typer.Option(help=_help("max_steps"))] = None,
    learning_rate: Annotated[
        float | None, typer.Option("--lr", help=_help("learning_rate"))
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help=_help("batch_size"))] = None,
    grad_accum: Annotated[int | None, typer.Option(help=_help("grad_accum"))] = None,
    lora_r: Annotated[int | None, typer.Option(help=_help("lora_r"))] = None,
    lora_alpha: Annotated[int | None, typer.Option(help=_help("lora_alpha"))] = None,
    lora_dropout: Annotated[float | None, typer.Option(help=_help("lora_dropout"))] = None,
    seed: Annotated[int | None, typer.Option(help=_help("seed"))] = None,
    threads: Annotated[int | None, typer.Option(help=_help("threads"))] = None,
    eval_steps: Annotated[int | None, typer.Option(help=_help("eval_steps"))] = None,
    save_steps: Annotated[int | None, typer.Option(help=_help("save_steps"))] = None,
    patience: Annotated[
        int | None, typer.Option("--patience", help=_help("early_stopping_patience"))
    ] = None,
    eval_max_examples: Annotated[int | None, typer.Option(help=_help("eval_max_examples"))] = None,
    precision: Annotated[str | None, typer.Option(help=_help("precision"))] = None,
    gradient_checkpointing: Annotated[
        bool | None,
        typer.Option(
            "--gradient-checkpointing/--no-gradient-checkpointing",
            help=_help("gradient_checkpointing"),
        ),
    ] = None,
) -> None:
    """Train a LoRA student on teacher trajectories (resumable with --resume)."""
    from distill.train import train_student

    overrides: dict[str, Any] = {
        "embedding_weight": embedding_weight,
        "epochs": epochs,
        "max_steps": max_steps,
        "learning_rate": learning_rate,
        "batch_size": batch_size,
        "grad_accum": grad_accum,
        "lora_r": lora_r,
        "lora_alpha": lora_alpha,
        "lora_dropout": lora_dropout,
        "seed": seed,
        "threads": threads,
        "eval_steps": eval_steps,
        "save_steps": save_steps,
        "early_stopping_patience": patience,
        "eval_max_examples": eval_max_examples,
        "precision": precision,
        "gradient_checkpointing": gradient_checkpointing,
    }
    config = StudentConfig(
        base_model=base,
        max_length=max_length,
        rationale_weight=rationale_weight,
        keep_cleaned=keep_cleaned,
        merge=merge,
        **{k: v for k, v in overrides.items() if v is not None},
    )
    folder = out or get_settings().students_dir / trajectories[0].stem
    result = train_student(
        trajectories,
        folder,
        config,
        sets_dir=sets,
        resume=resume,
        dry_run=dry_run,
        printer=lambda line: console.print(line, soft_wrap=True, markup=False),
    )
    console.print(result.report.table())
    print(json.dumps({"out": str(folder), "data": result.report.as_dict(), **result.metrics}))
