"""``kedrec distill predict``: the student over many task sets, one record per set (resumable).

The collector of the teacher (:func:`agent.collect.collect`) with the student as the runner:
the same evidence bundle per set (masked with its hidden pairs, stored in the record), one
plan-mode answer, the same citation checks, the same kill-safe JSONL and summary. Records are
:class:`~agent.trajectory.TrajectoryRecord` lines whose ``model`` is ``student:<folder>``.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Any, cast, get_args

import typer

from kedrec.console import console
from kedrec.errors import ConfigError
from kedrec.settings import LiteratureSource


def trained_versions(info: dict[str, Any]) -> dict[str, set[str]]:
    """The prompt and bundle versions a student was trained on, from its ``student.json``.

    Reads the trainer's layout (``prompt.prompt_version``, ``records.bundle_versions``) and
    the flat one (``prompt_version``, ``bundle_version``); a version not recorded is left out.
    """
    prompt = info.get("prompt")
    prompt = prompt if isinstance(prompt, dict) else {}
    records = info.get("records")
    records = records if isinstance(records, dict) else {}
    found = {
        "prompt_version": {info.get("prompt_version"), prompt.get("prompt_version")},
        "bundle_version": {info.get("bundle_version"), *(records.get("bundle_versions") or {})},
    }
    return {key: {str(v) for v in values if v} for key, values in found.items() if values - {None}}


def version_warnings(student_dir: Path) -> list[str]:
    """Where the student was trained on another prompt or evidence bundle than runs now.

    Args:
        student_dir: The student folder (its ``student.json`` is read and checked).

    Returns:
        One line per mismatch (prompt version, bundle version); empty when they match or
        were not recorded.

    Raises:
        StudentModelError: The folder is malformed (``llm.student.read_student_info``).
    """
    from agent.prompts import PROMPT_VERSION
    from evidence.bundle import bundle_version
    from evidence.limits import default_limits
    from llm.student import read_student_info

    trained = trained_versions(read_student_info(student_dir))
    current = {"prompt_version": PROMPT_VERSION, "bundle_version": bundle_version(default_limits())}
    return [
        f"{student_dir} was trained on {key} {', '.join(sorted(trained[key]))}, this checkout "
        f"uses {now}: it reads another prompt than it learned (train again, or check out its "
        "version)"
        for key, now in current.items()
        if trained.get(key) and now not in trained[key]
    ]


def predict_command(
    model: Annotated[
        str, typer.Option("--model", help="The student: student:DIR (`kedrec distill train`).")
    ],
    sets: Annotated[Path, typer.Option("--sets", help="Task sets (JSONL) to answer.")],
    out: Annotated[Path, typer.Option("--out", help="Prediction file (JSONL); resumed.")],
    limit: Annotated[int | None, typer.Option(help="Only the first N sets.")] = None,
    literature_source: Annotated[
        str | None,
        typer.Option(help="Literature in the evidence bundle: ct, pmc, both or none."),
    ] = None,
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed",
            help="On resume, run again the sets whose last record failed (the last one counts).",
        ),
    ] = False,
) -> None:
    """Answer task sets with the student (plan mode) and append one record per set."""
    from agent.cli import print_collect_report
    from agent.collect import collect
    from agent.context import AgentContext
    from distill.student import run_student, student_context, student_dir_of

    student_dir = student_dir_of(model)
    if literature_source is not None and literature_source not in get_args(LiteratureSource):
        raise ConfigError("--literature-source must be ct, pmc, both or none")
    for warning in version_warnings(student_dir):  # also checks the folder (one-line errors)
        console.print(f"[yellow]warning:[/yellow] {warning}", soft_wrap=True)
    context = student_context(student_dir, AgentContext())
    if literature_source is not None:  # set after construction: a flag beats KEDREC_AGENT_*
        context.literature_source = cast(LiteratureSource, literature_source)
    report = collect(
        sets,
        out,
        context=context,
        limit=limit,
        run=functools.partial(run_student, student_dir=student_dir),
        retry_failed=retry_failed,
    )
    print_collect_report(report, out)
