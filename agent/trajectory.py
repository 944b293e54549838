"""Trajectory records: everything one teacher run did for one task set, as one JSON line.

A record is a :class:`~agent.records.TeacherRun` plus what makes it reproducible and usable
for distillation: the set and its hidden pairs, the model, prompt and context, the graph
version (the loaded files' fingerprint), the literature index version (its table name), the
evidence bundle the student will read, and ``run_metadata()``. Serialisation scrubs secret
values from the environment as a safety net: API keys must never reach a training file.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import Any

from pydantic import BaseModel, Field

from agent.context import AgentContext
from agent.records import CitationCheck, TeacherRun, TokenUsage
from evidence.bundle import EvidenceBundle
from tasks.task_sets import NamedEntity, TaskSet

RECORD_VERSION = 1

SECRET_ENV_NAMES = ("OPENAI_API_KEY", "NCBI_API_KEY", "ANTHROPIC_API_KEY", "NEO4J_PASSWORD")
"""Always scrubbed, plus any variable whose name looks secret (see :func:`secret_values`)."""

_SECRET_NAME = re.compile(r"(API_KEY|_TOKEN|_SECRET|PASSWORD|ACCESS_KEY)$", re.IGNORECASE)
_KEY_PATTERNS = (
    re.compile(r"sk-[A-Za-z0-9_\-]{20,}"),
    re.compile(r"\b(?:ghp|gho|hf)_[A-Za-z0-9]{20,}\b"),
)
"""Well-known key shapes (OpenAI, GitHub, Hugging Face), redacted even if not in the env."""

REDACTED = "[REDACTED]"
MIN_SECRET_CHARS = 6
"""Shorter values are not scrubbed: replacing "1" or "true" everywhere would wreck records."""


class TrajectoryRecord(TeacherRun):
    """One JSONL line of a collection: the run plus set, versions, evidence and provenance."""

    record_version: int = RECORD_VERSION
    set_id: str
    split: str
    disease: NamedEntity
    candidates: list[NamedEntity]
    label: int
    label_known: bool = Field(True, description="False for ad-hoc sets (label 0 is a filler).")
    correct: bool | None = Field(
        None,
        description="choice_id is the labelled candidate; None when the label is unknown, the "
        "run failed or abstained, or the teacher was told the label (rationalized).",
    )
    task_set: dict[str, Any]
    hidden_pairs: list[tuple[str, str]]
    model: str
    prompt_version: str
    context: dict[str, Any]
    graph_version: dict[str, Any] | None = None
    literature_index: dict[str, Any] | None = None
    evidence: EvidenceBundle | None = None
    evidence_text: str | None = None
    evidence_error: str | None = None
    bundle_citation_check: CitationCheck | None = Field(
        None,
        description="The answer's citations held to the rendered bundle (what a student "
        "trained on this record sees); citation_check holds them to the run's tool calls.",
    )
    cost_usd: float | None = Field(
        None,
        description="What the run's tokens cost at the context's price_input_per_mtok / "
        "price_output_per_mtok (USD); None when a price is unknown (0).",
    )
    started_at: str | None = None
    finished_at: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


def token_cost(
    tokens: TokenUsage, price_input_per_mtok: float, price_output_per_mtok: float
) -> float | None:
    """USD for ``tokens`` at per-million-token prices; None when either price is unknown (0)."""
    if price_input_per_mtok <= 0 or price_output_per_mtok <= 0:
        return None
    cost = tokens.input_tokens * price_input_per_mtok + tokens.output_tokens * price_output_per_mtok
    return round(cost / 1_000_000, 8)


def graph_version(driver: Any, database: str) -> dict[str, Any] | None:
    """The loaded graph's identity (fingerprint, files, counts, loader) from its meta node."""
    from graph_store.graph_meta import read_graph_meta

    meta = read_graph_meta(driver, database)
    if meta is None:
        return None
    keep = ("fingerprint", "files", "triples", "entities", "loader", "loaded_at")
    return {key: meta.get(key) for key in keep}


def literature_version(settings: Any = None) -> dict[str, Any]:
    """The literature index's identity: its table name (a hash of model and chunking)."""
    from literature.index import LiteratureIndex

    index = LiteratureIndex.from_settings(settings)
    return {"table": index.name, "index_dir": str(index.index_dir), "identity": index.identity}


def build_record(
    task_set: TaskSet,
    run: TeacherRun,
    *,
    context: AgentContext,
    evidence: EvidenceBundle | None = None,
    evidence_text: str | None = None,
    evidence_error: str | None = None,
    graph: dict[str, Any] | None = None,
    literature: dict[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    started_at: str | None = None,
    finished_at: str | None = None,
    label_known: bool = True,
) -> TrajectoryRecord:
    """Combine a run with its set and versions into one record (both citation checks)."""
    bundle_check = None
    if evidence is not None and run.answer is not None:
        from agent.citations import check_answer
        from evidence.bundle import bundle_evidence

        _, bundle_check = check_answer(run.answer, bundle_evidence(evidence))
    scored = label_known and run.status == "ok" and not run.rationalized and not run.abstained
    correct = run.choice_id == task_set.answer.id if scored else None
    return TrajectoryRecord(
        **run.model_dump(),
        set_id=task_set.set_id,
        split=task_set.split,
        disease=task_set.disease,
        candidates=task_set.candidates,
        label=task_set.label,
        label_known=label_known,
        correct=correct,
        task_set=task_set.model_dump(mode="json"),
        hidden_pairs=task_set.hidden_pairs,
        model=context.model,
        prompt_version=context.prompt_version,
        context=asdict(context),
        graph_version=graph,
        literature_index=literature,
        evidence=evidence,
        evidence_text=evidence_text,
        evidence_error=evidence_error,
        bundle_citation_check=bundle_check,
        cost_usd=token_cost(
            run.tokens, context.price_input_per_mtok, context.price_output_per_mtok
        ),
        started_at=started_at,
        finished_at=finished_at,
        metadata=dict(metadata or {}),
    )


def failed_run(reason: str, **timings: float) -> TeacherRun:
    """A run that raised instead of returning: recorded, never fatal to a collection."""
    return TeacherRun(status="failed", failure_reason=reason, **timings)


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of secret-looking environment variables, longest first."""
    env = os.environ if environ is None else environ
    values = {
        value
        for name, value in env.items()
        if (name in SECRET_ENV_NAMES or _SECRET_NAME.search(name))
        and len(value.strip()) >= MIN_SECRET_CHARS
    }
    return sorted(values, key=len, reverse=True)


def scrub(text: str, secrets: Iterable[str] | None = None) -> str:
    """Replace secret values (raw and JSON-escaped) and well-known key shapes in ``text``."""
    for value in secret_values() if secrets is None else secrets:
        for form in {value, json.dumps(value)[1:-1]}:
            text = text.replace(form, REDACTED)
    for pattern in _KEY_PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


def record_line(record: BaseModel, secrets: Iterable[str] | None = None) -> bytes:
    """Serialise a record as one scrubbed JSON line (UTF-8, newline-terminated)."""
    line = scrub(record.model_dump_json(), secrets)
    if "\n" in line:  # model_dump_json escapes newlines; a raw one would split the record
        raise ValueError("a serialised record contains a raw newline")
    return (line + "\n").encode("utf-8")
