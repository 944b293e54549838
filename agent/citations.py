"""The citation check applied to a teacher's answer, against a run's tools or a bundle.

The check itself is the evidence layer's (:mod:`evidence.citations`); this module applies it
to a :class:`~agent.records.FinalAnswer`: the citation list, the rationale and every domain
answer. An answer can be held to the tool calls of its own run (what the teacher saw) and to
the evidence bundle (what a student trained on it will see); collection records both.
"""

from __future__ import annotations

from collections.abc import Iterable

from agent.records import FinalAnswer, ToolCallRecord
from evidence.citations import CitationCheck, ShownEvidence, verify_citations


def run_evidence(records: Iterable[ToolCallRecord]) -> ShownEvidence:
    """What the tools of one run showed (failed calls prove nothing)."""
    return ShownEvidence.of((r.result, r.edges) for r in records if r.error is None)


def check_answer(answer: FinalAnswer, evidence: ShownEvidence) -> tuple[FinalAnswer, CitationCheck]:
    """Keep only citations the evidence shows; strip unverified IDs from the answer's texts."""
    texts = [answer.rationale, *(a.answer for a in answer.answers)]
    verified, cleaned, check = verify_citations(answer.citations, texts, evidence)
    rationale, *answers = cleaned
    return (
        answer.model_copy(
            update={
                "citations": verified,
                "rationale": rationale,
                "answers": [
                    a.model_copy(update={"answer": text})
                    for a, text in zip(answer.answers, answers, strict=True)
                ],
            }
        ),
        check,
    )


def check_citations(
    answer: FinalAnswer, records: Iterable[ToolCallRecord]
) -> tuple[FinalAnswer, CitationCheck]:
    """Check an answer against the tool calls of its run (results and edges)."""
    return check_answer(answer, run_evidence(records))
