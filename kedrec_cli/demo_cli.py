"""``kedrec demo``: flags for :class:`kedrec_cli.demo.DemoConfig`, then the loop."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kedrec.console import console
from kedrec.settings import get_settings


def demo_command(
    train_sets: Annotated[
        int, typer.Option(help="Train sets the teacher answers, one per disease (0: all).", min=0)
    ] = 8,
    val_sets: Annotated[
        int, typer.Option(help="Val sets the teacher answers: the student's validation.", min=0)
    ] = 4,
    selection_sets: Annotated[
        int,
        typer.Option(
            help="Further train sets whose bundle and label alone become selection-only "
            "examples (no model call; costs training time only).",
            min=0,
        ),
    ] = 0,
    test_sets: Annotated[
        int, typer.Option(help="Test sets of the grid, one per disease (0: all).", min=0)
    ] = 6,
    source: Annotated[
        list[str] | None,
        typer.Option(help="Literature sources of the grid (repeat; default none and both)."),
    ] = None,
    model: Annotated[
        str, typer.Option(help="Teacher: local:smollm2, local:<HF folder> or openai:<model>.")
    ] = "local:smollm2",
    base: Annotated[
        str, typer.Option(help="Student base: local:smollm2 or local:<HF LLaMA folder>.")
    ] = "local:smollm2",
    epochs: Annotated[float, typer.Option(help="Student training epochs.", min=0.01)] = 1.0,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples.", min=1)] = 1000,
    max_tokens: Annotated[
        int, typer.Option(help="Tokens per answer of teacher, base and student.", min=16)
    ] = 192,
    out: Annotated[
        Path | None, typer.Option(help="Demo folder (default <cache_dir>/demo); resumed.")
    ] = None,
) -> None:
    """The whole loop on the embedded default: graph, sets, literature, teacher, student, grid."""
    from kedrec_cli.demo import Demo, DemoConfig

    settings = get_settings()
    config = DemoConfig(
        train_sets=train_sets,
        val_sets=val_sets,
        selection_sets=selection_sets,
        test_sets=test_sets,
        sources=source or ["none", "both"],
        model=model,
        base=base,
        epochs=epochs,
        resamples=resamples,
        max_tokens=max_tokens,
    )
    demo = Demo(config, out or settings.cache_dir / "demo", settings)
    report = demo.run()
    console.print(
        f"[green]demo done[/green] in {demo.state['last_run_seconds']:.0f} s this run; "
        f"report {report}; steps {demo.state['done']}"
    )
