"""``kedrec teacher collect``, ``kedrec recommend`` and ``kedrec chat``.

Each command calls the public function a notebook would (:func:`agent.collect.collect`,
:func:`agent.run.run_teacher`, :func:`agent.chat.chat_session`); heavy imports stay inside them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, get_args

import typer

from kedrec.console import console
from kedrec.errors import ConfigError
from kedrec.settings import LiteratureSource, TeacherMode

teacher_app = typer.Typer(no_args_is_help=True)

ModelOption = Annotated[
    str | None,
    typer.Option(
        help="'local:smollm2', 'local:/path/to/hf-model', 'openai:<model>' or 'student:DIR' "
        "(a distilled student: plan mode; in chat, /recommend turns only)."
    ),
]
ModeOption = Annotated[
    str | None,
    typer.Option(
        "--mode",
        help="plan: one instruction over the fixed evidence bundle (default); agent: the "
        "ReAct tool loop.",
    ),
]
SourceOption = Annotated[
    str | None, typer.Option(help="Literature the tools may search: ct, pmc, both or none.")
]


def _context(model: str | None, literature_source: str | None = None, **extra: Any) -> Any:
    """An AgentContext with CLI overrides (the rest from KEDREC_AGENT_* or defaults)."""
    from agent.context import AgentContext

    overrides: dict[str, Any] = {k: v for k, v in extra.items() if v is not None}
    if model:
        overrides["model"] = model
    if extra.get("mode") is not None and extra["mode"] not in get_args(TeacherMode):
        raise ConfigError("--mode must be plan or agent")
    if literature_source:
        if literature_source not in get_args(LiteratureSource):
            raise ConfigError("--literature-source must be ct, pmc, both or none")
        overrides["literature_source"] = literature_source
    return AgentContext(**overrides)


@teacher_app.command("collect")
def collect_command(
    sets: Annotated[Path, typer.Option("--sets", help="Task sets (JSONL) to answer.")],
    out: Annotated[Path, typer.Option("--out", help="Trajectory file (JSONL); resumed.")],
    limit: Annotated[int | None, typer.Option(help="Only the first N sets.")] = None,
    concurrency: Annotated[
        int,
        typer.Option(
            help="Sets run at once (for API teachers; 429 / 5xx are retried with backoff, "
            "KEDREC_AGENT_API_MAX_RETRIES); one writer appends the records."
        ),
    ] = 1,
    model: ModelOption = None,
    literature_source: SourceOption = None,
    mode: ModeOption = None,
    rationalize: Annotated[
        bool | None,
        typer.Option(
            "--rationalize/--no-rationalize",
            help="Tell the teacher the relevant drug and record its rationale (gold-label "
            "rationales; never counted as teacher accuracy).",
        ),
    ] = None,
    evidence: Annotated[
        bool, typer.Option(help="Build and store each set's evidence bundle.")
    ] = True,
    choice_only: Annotated[
        bool | None,
        typer.Option(
            "--choice-only/--whole-answers",
            help="Stop after the choice (in-process models): with --rationalize, each record is "
            "the set's evidence bundle and label, the data of the student's selection-only "
            "examples, at the cost of the graph queries alone.",
        ),
    ] = None,
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed",
            help="On resume, run again the sets whose last record failed (the new record is "
            "appended; the failed one stays in the file as history, the last one counts).",
        ),
    ] = False,
) -> None:
    """Run the teacher on task sets and append one trajectory per set (resumable)."""
    from agent.collect import collect

    report = collect(
        sets,
        out,
        context=_context(
            model, literature_source, mode=mode, rationalize=rationalize, choice_only=choice_only
        ),
        limit=limit,
        concurrency=concurrency,
        with_evidence=evidence,
        retry_failed=retry_failed,
    )
    print_collect_report(report, out)


def print_collect_report(report: Any, out: Path) -> None:
    """Print a collection's outcome: repairs, failures, counts, the summary table, JSON."""
    from agent.collect import summary_table

    if report.repaired_bytes:
        console.print(
            f"[yellow]repaired:[/yellow] cut a partial last line ({report.repaired_bytes} "
            f"bytes) left by an interrupted run from {out}"
        )
    for set_id, reason in report.failures[:10]:
        console.print(f"  [red]failed[/red] {set_id}: {reason}", soft_wrap=True)
    retried = f", {report.retried} of them retried" if report.retried else ""
    console.print(
        f"{report.total} sets: {report.already_done} already done, {report.attempted} run"
        f"{retried} ({report.ok} ok, {report.failed} failed, {report.correct} correct) in "
        f"{report.seconds:.1f}s -> {out}"
    )
    console.print(summary_table(report.summary))
    print(json.dumps(report.as_dict()))


# -- recommend --------------------------------------------------------------------------------


def print_run(task_set: Any, run: Any) -> None:
    """Show a teacher run: choice, confidence, domain answers, rationale, citations."""
    from rich.markup import escape
    from rich.panel import Panel
    from rich.table import Table

    names = {c.id: c.name for c in task_set.candidates}
    if run.status != "ok" or run.answer is None:
        console.print(f"[red]no answer[/red]: {escape(run.failure_reason or 'unknown reason')}")
        return
    answer = run.answer
    chosen = names.get(run.choice_id or "", answer.choice)
    console.print(
        Panel(
            f"[bold]{escape(chosen)}[/bold] ({run.choice_id or '—'}) for "
            f"[bold]{escape(task_set.disease.name)}[/bold]\nconfidence {answer.confidence:.2f}",
            title="recommendation",
        )
    )
    if answer.answers:
        table = Table(title="domain questions", show_lines=True)
        table.add_column("question")
        table.add_column("answer")
        for item in answer.answers:
            table.add_row(escape(item.question_id), escape(item.answer))
        console.print(table)
    console.print(Panel(escape(answer.rationale), title="rationale"))
    verified = run.citation_check.verified
    console.print(
        "[green]verified citations[/green]: " + (escape(", ".join(verified)) or "none"),
        soft_wrap=True,
    )
    if run.citation_check.removed:
        console.print(
            "[yellow]removed (not returned by any tool)[/yellow]: "
            + escape(", ".join(run.citation_check.removed)),
            soft_wrap=True,
        )
    console.print(
        f"[dim]{run.steps} steps, {len(run.tool_calls)} tool calls, "
        f"{run.wall_seconds:.1f}s (model {run.model_seconds:.1f}s, tools "
        f"{run.tool_seconds:.1f}s)[/dim]"
    )


def recommend_command(
    disease: Annotated[str, typer.Option(help="Disease name, synonym or DRKG ID.")],
    candidates: Annotated[
        tuple[str, str], typer.Option(help='Two drugs (names or IDs): --candidates "A" "B".')
    ],
    model: ModelOption = None,
    literature_source: SourceOption = None,
    mode: ModeOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Also print the run as JSON.")] = False,
) -> None:
    """Ask the teacher which of two drugs fits a disease, with rationale and citations."""
    from agent.defaults import close_default_tools, default_graph_tools
    from agent.run import resolve_task, run_set
    from agent.trajectory import build_record, record_line

    context = _context(model, literature_source, mode=mode)
    try:
        graph_tools = default_graph_tools()
        task_set = resolve_task(graph_tools, disease, list(candidates))
        console.print(
            f"{task_set.disease.name} ({task_set.disease.id}): "
            + " vs ".join(f"{c.name} ({c.id})" for c in task_set.candidates)
        )
        with console.status(f"teacher thinking with {context.model}…"):
            run = run_set(task_set, context=context, graph_tools=graph_tools)
    finally:
        close_default_tools()
    print_run(task_set, run)
    if as_json:
        record = build_record(task_set, run, context=context, label_known=False)
        print(record_line(record).decode().rstrip("\n"))


def chat_command(
    thread: Annotated[
        str | None, typer.Option(help="Thread ID to continue (default: a new thread).")
    ] = None,
    model: ModelOption = None,
    literature_source: SourceOption = None,
) -> None:
    """Chat with the agent over the graph and literature tools (threads are saved)."""
    from agent.chat import chat_session

    chat_session(_context(model, literature_source), thread_id=thread)
