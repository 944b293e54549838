"""Server-side structured output: the answer as JSON that must match a schema.

OpenAI and OpenAI-compatible servers (vLLM, llama.cpp server, SGLang) can constrain decoding to
a JSON schema sent as ``response_format: {"type": "json_schema", "json_schema": {"name",
"strict": true, "schema"}}``. :func:`choice_schema` builds the schema of a teacher answer
(the choice is an enum of the two candidate names, so it cannot name a third drug) and
:func:`structured_answer` asks for it through ``ChatOpenAI.with_structured_output(...,
method="json_schema", strict=True, include_raw=True)``.

When the server refuses ``response_format`` (HTTP 400/422 naming ``response_format`` or
``json_schema``), or the model is not an OpenAI-compatible client at all,
:class:`~kedrec.errors.StructuredOutputUnsupported` is raised so the caller falls back to its
own parser and repair loop; when the server accepts the schema but the reply does not match
it (a server that ignores ``response_format``, a refusal), :class:`StructuredOutputInvalid`
(a subclass) carries the raw text for that repair loop.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage

from kedrec.errors import StructuredOutputUnsupported

__all__ = [
    "INSUFFICIENT_EVIDENCE",
    "SCHEMA_NAME",
    "StructuredOutputInvalid",
    "StructuredOutputUnsupported",
    "choice_schema",
    "schema_errors",
    "structured_answer",
]

INSUFFICIENT_EVIDENCE = "insufficient evidence"
"""The choice that abstains; always the last value of the ``choice`` enum."""

SCHEMA_NAME = "kedrec_choice"
"""``json_schema.name`` in the request (OpenAI allows ``[a-zA-Z0-9_-]{1,64}``)."""

REJECTION_STATUSES = (400, 422)
REJECTION_WORDS = ("response_format", "json_schema", "json schema", "structured output")
"""A 400/422 whose message names one of these means the server refused the schema."""


class StructuredOutputInvalid(StructuredOutputUnsupported):
    """The server took the schema but its reply is not JSON matching it."""

    def __init__(self, message: str, text: str = "", usage: dict[str, int] | None = None):
        """Keep the raw reply (for a repair turn) and its token usage."""
        super().__init__(message)
        self.text = text
        self.usage = usage or {}


MAX_CITATIONS = 8
"""``maxItems`` of the citation list: a grammar-constrained small model otherwise repeats an
item until the token limit (seen with llama.cpp's server and SmolLM2)."""


def choice_schema(candidate_names: Sequence[str], question_ids: Sequence[str]) -> dict[str, Any]:
    """The JSON schema of a teacher answer, valid for OpenAI strict mode.

    Strict mode needs every object to list all its properties as required and to set
    ``additionalProperties: false``; both hold at every level here.

    Args:
        candidate_names: The drugs to choose from, in order (at least one, no duplicates).
        question_ids: One string answer per id under ``answers`` (order kept, no duplicates).

    Returns:
        A JSON schema with a ``title`` (the schema name) and ``description``; the properties
        are ``choice`` (enum: the names, then ``"insufficient evidence"``), ``confidence``
        (number in [0, 1]), ``answers``, ``rationale`` and ``citations`` (strings).

    Raises:
        ValueError: No candidates, an empty or duplicate name or id, or a candidate named
            ``"insufficient evidence"``.
    """
    names = _distinct(candidate_names, "candidate name")
    if not names:
        raise ValueError("choice_schema needs at least one candidate name")
    if any(name.strip().lower() == INSUFFICIENT_EVIDENCE for name in names):
        raise ValueError(f"a candidate may not be named {INSUFFICIENT_EVIDENCE!r}")
    ids = _distinct(question_ids, "question id")
    answers = {
        "type": "object",
        "description": "One short answer per question id.",
        "properties": {qid: {"type": "string"} for qid in ids},
        "required": ids,
        "additionalProperties": False,
    }
    return {
        "title": SCHEMA_NAME,
        "description": "The chosen drug, with answers, rationale and cited evidence IDs.",
        "type": "object",
        "properties": {
            "choice": {
                "type": "string",
                "enum": [*names, INSUFFICIENT_EVIDENCE],
                "description": "The candidate that treats the disease, exactly as written, "
                f"or {INSUFFICIENT_EVIDENCE!r}.",
            },
            "confidence": {
                "type": "number",
                "minimum": 0,
                "maximum": 1,
                "description": "Probability that the choice is right, from 0 to 1.",
            },
            "answers": answers,
            "rationale": {"type": "string", "description": "Why, from the evidence."},
            "citations": {
                "type": "array",
                "items": {"type": "string"},
                "maxItems": MAX_CITATIONS,
                "description": "IDs of the evidence used (edge IDs, PMIDs).",
            },
        },
        "required": ["choice", "confidence", "answers", "rationale", "citations"],
        "additionalProperties": False,
    }


def structured_answer(
    model: BaseChatModel, messages: LanguageModelInput, schema: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, int]]:
    """Ask an OpenAI-compatible model for JSON matching ``schema`` (strict json_schema mode).

    Args:
        model: A ``ChatOpenAI`` (from ``load_chat_model`` with ``openai:<model>``).
        messages: The prompt.
        schema: A JSON schema with a ``title``, e.g. from :func:`choice_schema`.

    Returns:
        ``(parsed, usage)``: the answer, checked against ``schema`` (:func:`schema_errors`),
        and ``input_tokens``/``output_tokens``/``total_tokens`` from the raw message (empty
        when the server sent no usage).

    Raises:
        StructuredOutputUnsupported: ``model`` is not an OpenAI-compatible client, or the
            server answered 400/422 about ``response_format``/``json_schema``.
        StructuredOutputInvalid: The reply is not JSON matching ``schema``.
    """
    if not _is_openai_client(model):
        raise StructuredOutputUnsupported(
            f"{type(model).__name__} has no server-side structured output (only openai:<model> "
            "has): parse the JSON from the text instead"
        )
    import openai

    runnable = model.with_structured_output(
        schema, method="json_schema", strict=True, include_raw=True
    )
    try:
        result = runnable.invoke(messages)
    except openai.LengthFinishReasonError as e:  # the reply hit max_tokens inside the JSON
        completion = e.completion
        usage = {}
        if completion.usage is not None:
            usage = {
                "input_tokens": completion.usage.prompt_tokens,
                "output_tokens": completion.usage.completion_tokens,
                "total_tokens": completion.usage.total_tokens,
            }
        text = completion.choices[0].message.content or "" if completion.choices else ""
        raise StructuredOutputInvalid(
            "the structured reply was cut at the token limit: raise max_tokens, or answer "
            "in the text layout",
            text,
            usage,
        ) from e
    except openai.APIStatusError as e:
        if _is_schema_rejection(e):
            raise StructuredOutputUnsupported(
                f"the server refused response_format json_schema (HTTP {e.status_code}: "
                f"{_one_line(e.message)}): parse the JSON from the text instead"
            ) from e
        raise
    if not isinstance(result, dict):  # include_raw=True returns {"raw", "parsed", ...}
        raise StructuredOutputInvalid(f"unexpected structured result {type(result).__name__}")
    raw = result.get("raw")
    text = raw.text if isinstance(raw, AIMessage) else ""
    usage = _usage(raw)
    if result.get("parsing_error") is not None or not isinstance(result.get("parsed"), dict):
        error = result.get("parsing_error")
        detail = _one_line(str(error)) if error is not None else "no JSON object"
        raise StructuredOutputInvalid(
            f"the structured reply could not be parsed ({detail})", text, usage
        )
    parsed: dict[str, Any] = result["parsed"]
    problems = schema_errors(parsed, schema)
    if problems:
        raise StructuredOutputInvalid(
            f"the structured reply does not match the schema: {'; '.join(problems[:5])}",
            text,
            usage,
        )
    return parsed, usage


def schema_errors(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Check ``value`` against the JSON-schema subset strict mode uses.

    Covers ``type`` (object, array, string, number, integer, boolean, null), ``enum``,
    ``properties``/``required``/``additionalProperties: false``, ``items``, ``minimum`` and
    ``maximum``: enough to catch a server that accepted ``response_format`` but did not
    enforce it.

    Args:
        value: Parsed JSON.
        schema: The schema (or a sub-schema).
        path: Where ``value`` sits, for the messages.

    Returns:
        One message per problem ("$.choice: 'X' is not one of [...]"); empty when valid.
    """
    problems: list[str] = []
    expected = schema.get("type")
    if expected is not None and not _has_type(value, expected):
        return [f"{path}: expected {expected}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        missing = [key for key in schema.get("required", []) if key not in value]
        problems += [f"{path}: missing {key!r}" for key in missing]
        if schema.get("additionalProperties") is False:
            problems += [f"{path}: unexpected {key!r}" for key in value if key not in properties]
        for key, sub in properties.items():
            if key in value:
                problems += schema_errors(value[key], sub, f"{path}.{key}")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            problems += schema_errors(item, schema["items"], f"{path}[{index}]")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(f"{path}: {value} is below {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(f"{path}: {value} is above {schema['maximum']}")
    return problems


def _has_type(value: Any, expected: str | list[str]) -> bool:
    if isinstance(expected, list):
        return any(_has_type(value, one) for one in expected)
    if expected == "object":
        return isinstance(value, dict)
    if expected == "array":
        return isinstance(value, list)
    if expected == "string":
        return isinstance(value, str)
    if expected == "boolean":
        return isinstance(value, bool)
    if expected == "null":
        return value is None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if expected == "integer":
        return float(value).is_integer()
    return expected == "number" and math.isfinite(value)


def _is_openai_client(model: object) -> bool:
    try:
        from langchain_openai.chat_models.base import BaseChatOpenAI
    except ImportError:  # the agent extra is not installed: no model supports it
        return False
    return isinstance(model, BaseChatOpenAI)


def _is_schema_rejection(error: Any) -> bool:
    if getattr(error, "status_code", None) not in REJECTION_STATUSES:
        return False
    body = getattr(error, "body", None)
    text = f"{getattr(error, 'message', '')} {body if body is not None else ''}"
    return any(word in text.lower() for word in REJECTION_WORDS)


def _usage(raw: Any) -> dict[str, int]:
    metadata = getattr(raw, "usage_metadata", None)
    if not metadata:
        return {}
    return {
        key: int(metadata.get(key, 0)) for key in ("input_tokens", "output_tokens", "total_tokens")
    }


def _distinct(values: Sequence[str], what: str) -> list[str]:
    seen: list[str] = []
    for value in values:
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"empty {what} in {list(values)!r}")
        if value in seen:
            raise ValueError(f"duplicate {what} {value!r}")
        seen.append(value)
    return seen


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]
