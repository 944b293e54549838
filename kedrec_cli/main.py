"""The ``kedrec`` command line: one sub-command group per area, each calling public functions."""

from __future__ import annotations

import typer

from agent.cli import chat_command, recommend_command, teacher_app
from distill.cli import distill_app
from distill.predict_cli import predict_command
from eval.cli import baseline, eval_app
from graph_store.cli import graph_app
from graph_store.fetch_cli import data_app
from graph_store.server_cli import neo4j_app
from kedrec_cli.demo_cli import demo_command
from kge.cli import embed_app
from literature.cli import lit_app
from tasks.cli import sets_app

app = typer.Typer(
    help="KEDRec: explainable drug recommendation over DRKG, literature and LLMs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(neo4j_app, name="neo4j", help="Start, stop and inspect the local Neo4j server.")
app.add_typer(data_app, name="data", help="Download public datasets (the full DRKG).")
app.add_typer(graph_app, name="graph", help="Load DRKG into Neo4j, show stats, query tools.")
app.add_typer(lit_app, name="lit", help="Ingest, index and search the literature corpus.")
app.add_typer(embed_app, name="embed", help="Train and inspect knowledge-graph embeddings.")
app.add_typer(teacher_app, name="teacher", help="Run the teacher over task sets (trajectories).")
app.command("recommend", help="Choose between two drugs for a disease, with a cited rationale.")(
    recommend_command
)
app.command("chat", help="Multi-turn chat with the graph and literature tools.")(chat_command)
app.command("demo", help="The whole loop on the embedded default, resumable (README's first).")(
    demo_command
)
sets_app.command("baseline", help="The GNN baseline on val, test and benchmark sets.")(baseline)
app.add_typer(sets_app, name="sets", help="Build, import and check leakage-free task sets.")
distill_app.command("predict", help="Answer task sets with a student (resumable JSONL).")(
    predict_command
)
app.add_typer(distill_app, name="distill", help="Train a LoRA student and predict with it.")
app.add_typer(eval_app, name="eval", help="Score predictors on task sets: baselines, metrics.")


def main() -> None:
    """Run the CLI, turning project errors into one red line and exit code 1."""
    from rich.markup import escape

    from kedrec.console import console
    from kedrec.errors import KedrecError
    from kedrec.provenance import git_commit

    git_commit()  # read now: what this process records is the checkout it started from
    try:
        app()
    except KedrecError as error:
        console.print(f"[red]error:[/red] {escape(str(error))}", soft_wrap=True, highlight=False)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
