"""Parsing the model's final answer into :class:`~agent.records.FinalAnswer`, with repairs.

Models, small ones especially, wrap JSON in prose or code fences, use single quotes or trailing
commas, answer with a drug's name instead of its ID, or give confidence as a percentage. These
are repaired here; what cannot be repaired raises :class:`AnswerFormatError` with a message the
graph sends back to the model when it asks again.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from agent.records import INSUFFICIENT, DomainAnswer, FinalAnswer
from kedrec.errors import KedrecError
from llm.json_scan import find_json_object
from tasks.task_sets import NamedEntity

logger = logging.getLogger(__name__)


class AnswerFormatError(KedrecError):
    """The model's final answer is not a usable FinalAnswer (the message says why)."""


def extract_json(text: str) -> dict[str, Any]:
    """Find the answer object in model output (bare, fenced, or inside prose).

    Single quotes, ``True``/``None`` and trailing commas are repaired
    (:func:`llm.json_scan.find_json_object`); of several objects, the first with a
    ``"choice"`` key is taken, else the first.

    Raises:
        AnswerFormatError: When no JSON object can be read.
    """
    found = find_json_object(text, prefer=_has_choice)
    if found is None:
        raise AnswerFormatError("no JSON object found in the reply")
    return found


def _has_choice(value: dict[str, Any]) -> bool:
    return any(str(key).strip().lower() == "choice" for key in value)


def coerce_choice(choice: Any, candidates: Sequence[NamedEntity]) -> str:
    """Map a choice given as ID, local ID, name, letter or index to the candidate's ID.

    Raises:
        AnswerFormatError: When the choice names no candidate.
    """
    text = str(choice).strip().strip("\"'.")
    folded = text.casefold()
    if folded in (INSUFFICIENT, "insufficient", "none", "unknown"):
        return INSUFFICIENT
    if not candidates:
        return text
    for entity in candidates:
        local = entity.id.split("::", 1)[-1]
        if folded in (entity.id.casefold(), local.casefold(), entity.name.casefold()):
            return entity.id
    letters = {chr(ord("a") + i): e.id for i, e in enumerate(candidates)}
    if folded in letters:
        return letters[folded]
    mentioned = [e.id for e in candidates if e.id.casefold() in folded]
    mentioned = mentioned or [e.id for e in candidates if e.name.casefold() in folded]
    if len(mentioned) == 1:
        return mentioned[0]
    options = ", ".join(f"{e.id} ({e.name})" for e in candidates)
    raise AnswerFormatError(
        f"choice {text!r} is not a candidate: use one of {options} or {INSUFFICIENT!r}"
    )


def coerce_confidence(value: Any) -> float:
    """Read confidence as a 0–1 float ("80%", 80 and "0.8" all give 0.8).

    Raises:
        AnswerFormatError: When it is not a number in 0–1 (or 0–100 %).
    """
    text = str(value).strip()
    percent = text.endswith("%")
    try:
        number = float(text.rstrip("%").strip())
    except ValueError as error:
        raise AnswerFormatError(f"confidence {value!r} is not a number from 0 to 1") from error
    if percent or 1.0 < number <= 100.0:
        number /= 100.0
    if not 0.0 <= number <= 1.0:
        raise AnswerFormatError(f"confidence {value!r} is not a number from 0 to 1")
    return number


def coerce_answers(value: Any) -> list[DomainAnswer]:
    """Read domain answers given as ``{id: answer}`` or ``[{question_id|id, answer}]``."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [DomainAnswer(question_id=str(k), answer=_text(v)) for k, v in value.items()]
    if isinstance(value, list):
        answers = []
        for item in value:
            if isinstance(item, dict):
                qid = item.get("question_id") or item.get("id") or item.get("question") or "?"
                answers.append(DomainAnswer(question_id=str(qid), answer=_text(item.get("answer"))))
        return answers
    raise AnswerFormatError('"answers" must be an object {question_id: answer}')


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def coerce_citations(value: Any) -> list[str]:
    """Read citations given as a list or as one comma/semicolon-separated string."""
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in re.split(r"[,;\n]", value) if part.strip()]
    if isinstance(value, list):
        return [str(item).strip() for item in value if str(item).strip()]
    raise AnswerFormatError('"citations" must be a list of IDs')


def parse_final_answer(text: str, candidates: Sequence[NamedEntity] = ()) -> FinalAnswer:
    """Parse and repair a final answer; the choice is always a candidate ID or INSUFFICIENT.

    Args:
        text: The model's reply.
        candidates: The task's candidates (empty for an open conversation).

    Returns:
        The validated answer.

    Raises:
        AnswerFormatError: With a one-line reason the model can act on.
    """
    data = extract_json(text)
    lowered = {str(k).strip().lower(): v for k, v in data.items()}
    if "choice" not in lowered:
        raise AnswerFormatError('the JSON object has no "choice"')
    if "confidence" not in lowered:
        raise AnswerFormatError('the JSON object has no "confidence" (a number from 0 to 1)')
    rationale = lowered.get("rationale") or lowered.get("explanation")
    if not isinstance(rationale, str) or not rationale.strip():
        raise AnswerFormatError('"rationale" must be a non-empty string')
    try:
        return FinalAnswer(
            choice=coerce_choice(lowered["choice"], candidates),
            confidence=coerce_confidence(lowered["confidence"]),
            answers=coerce_answers(lowered.get("answers")),
            rationale=rationale.strip(),
            citations=coerce_citations(lowered.get("citations")),
        )
    except ValidationError as error:
        raise AnswerFormatError(str(error).splitlines()[0]) from error
