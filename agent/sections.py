"""The answer layout a small model can hold: one labelled line per field, choice first.

``Choice:`` then one line per domain question (``Mechanism:``, ``Clinical:`` …), then
``Rationale:`` and ``Citations:``. The plan-mode teacher writes it (or its structured JSON is
rendered into it), and the student is trained to write it. :func:`parse_sections` never
fails on the layout: a missing field is empty, text before the first label is ignored, a
field may span several lines until the next label. Only the choice can make an answer
unusable, and it is matched against the candidates' names and IDs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from agent.answer import coerce_choice
from agent.prompts import DOMAIN_QUESTIONS, QUESTION_IDS
from agent.records import DomainAnswer, FinalAnswer
from tasks.task_sets import NamedEntity

CHOICE_LABEL = "Choice"
RATIONALE_LABEL = "Rationale"
CITATIONS_LABEL = "Citations"

QUESTION_LABELS: dict[str, str] = {q.id: q.id.capitalize() for q in DOMAIN_QUESTIONS}
"""The label of each domain question's line (``mechanism`` → ``Mechanism``)."""

LABELS: tuple[str, ...] = (
    CHOICE_LABEL,
    *QUESTION_LABELS.values(),
    RATIONALE_LABEL,
    CITATIONS_LABEL,
)
"""Every field, in answer order."""

_LABEL_LINE = re.compile(
    r"^[ \t*#>-]*(" + "|".join(re.escape(label) for label in LABELS) + r")[ \t*]*:[ \t]*",
    re.IGNORECASE | re.MULTILINE,
)
_CITATION_SPLIT = re.compile(r"[,;\n]+")


def layout() -> str:
    """The layout as shown in the instruction: one ``Label: <what>`` line per field."""
    lines = [f"{CHOICE_LABEL}: <the exact name of one candidate>"]
    lines += [f"{QUESTION_LABELS[qid]}: <one or two sentences>" for qid in QUESTION_IDS]
    lines.append(f"{RATIONALE_LABEL}: <why the chosen drug fits, citing IDs from the evidence>")
    lines.append(f"{CITATIONS_LABEL}: <IDs from the evidence, separated by commas>")
    return "\n".join(lines)


def split_fields(text: str) -> dict[str, str]:
    """The text of each labelled field (lower-case label → stripped text); first one wins."""
    fields: dict[str, str] = {}
    matches = list(_LABEL_LINE.finditer(text))
    ends = [m.start() for m in matches[1:]] + [len(text)] * bool(matches)
    for match, end in zip(matches, ends, strict=True):
        label = match.group(1).lower()
        fields.setdefault(label, " ".join(text[match.end() : end].split()))
    return fields


def parse_sections(
    text: str, candidates: Sequence[NamedEntity], *, choice: str | None = None
) -> FinalAnswer:
    """Read an answer in the layout; ``choice`` (an ID) overrides the ``Choice:`` line.

    Raises:
        AnswerFormatError: No choice given and the ``Choice:`` line names no candidate.
    """
    fields = split_fields(text)
    chosen = choice if choice is not None else coerce_choice(fields.get("choice", ""), candidates)
    citations = [c.strip() for c in _CITATION_SPLIT.split(fields.get("citations", "")) if c.strip()]
    return FinalAnswer(
        choice=chosen,
        confidence=0.5,
        answers=[
            DomainAnswer(question_id=qid, answer=fields.get(QUESTION_LABELS[qid].lower(), ""))
            for qid in QUESTION_IDS
        ],
        rationale=fields.get("rationale", ""),
        citations=citations,
    )


def render_sections(answer: FinalAnswer, candidates: Sequence[NamedEntity]) -> str:
    """Write an answer in the layout (the student's training target), choice by name."""
    names = {c.id: c.name for c in candidates}
    by_question = {a.question_id: a.answer for a in answer.answers}
    lines = [f"{CHOICE_LABEL}: {names.get(answer.choice, answer.choice)}"]
    lines += [f"{QUESTION_LABELS[qid]}: {by_question.get(qid, '')}" for qid in QUESTION_IDS]
    lines.append(f"{RATIONALE_LABEL}: {answer.rationale}")
    lines.append(f"{CITATIONS_LABEL}: {', '.join(answer.citations)}")
    return "\n".join(" ".join(line.split()) for line in lines)
