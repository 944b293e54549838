"""Find tool calls in free model text.

Small local models have no native tool calling: they are asked to write
``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` blocks, and often write a
```` ```json ```` fence or a bare object instead. These parsers accept all three, keep any
text they cannot parse, and never raise, so a bad turn becomes a plain text answer the
graph can repair rather than a crash. Objects are found and decoded (leniently: single
quotes, trailing commas) by :mod:`llm.json_scan`.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from llm.json_scan import find_json_object, iter_json_objects, loads_lenient

TOOL_CALL_OPEN = "<tool_call>"
TOOL_CALL_CLOSE = "</tool_call>"

_TAG_BLOCK = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.DOTALL)
_FENCE_BLOCK = re.compile(r"```[ \t]*(?:json|JSON|tool_call)?[ \t]*\n?(.*?)```", re.DOTALL)
_FENCE_MARK = re.compile(r"```[ \t]*[A-Za-z_]*[ \t]*\n?")


def new_tool_call_id() -> str:
    """Return an id in OpenAI's style, so tool messages can refer back to their call."""
    return f"call_{uuid.uuid4().hex[:24]}"


@dataclass(frozen=True)
class ParsedToolCall:
    """One tool call found in text, shaped like LangChain's ``ToolCall``."""

    name: str
    args: dict[str, Any]
    id: str = field(default_factory=new_tool_call_id)

    def as_langchain(self) -> dict[str, Any]:
        """Return the ``ToolCall`` dict ``AIMessage.tool_calls`` expects."""
        return {"name": self.name, "args": self.args, "id": self.id, "type": "tool_call"}


@dataclass(frozen=True)
class ParsedOutput:
    """Model text split into the calls it makes and the text that is left."""

    text: str
    tool_calls: list[ParsedToolCall]


def extract_json_object(text: str) -> dict[str, Any] | None:
    """Return the first JSON object in ``text``, or None.

    Prose and code fences around the object are skipped; single quotes and trailing commas
    are repaired (see :mod:`llm.json_scan`).

    Args:
        text: Model output.

    Returns:
        The first balanced ``{...}`` block that decodes to a dict, else None.
    """
    return find_json_object(text)


def parse_tool_calls(text: str, tool_names: Collection[str] | None = None) -> ParsedOutput:
    """Split ``text`` into tool calls and the remaining text.

    Tagged ``<tool_call>`` blocks are taken first and may name any tool (an unknown name
    then reaches the tool node, which answers with an error the model can read). Only
    when there are none are fenced or bare objects with ``name`` and ``arguments`` read,
    and then only for names in ``tool_names`` (when given), so a final-answer object is
    not mistaken for a call. A block that does not parse stays in the text.

    Args:
        text: The model's generated text.
        tool_names: Names of the bound tools, or None to accept any name.

    Returns:
        The calls in order, and the text with the parsed blocks removed.
    """
    calls, spans = _tagged_calls(text)
    if not calls:
        allowed = set(tool_names) if tool_names is not None else None
        calls, spans = _fenced_calls(text, allowed)
        if not calls:
            calls, spans = _bare_calls(text, allowed)
    if not calls:
        return ParsedOutput(text=text.strip(), tool_calls=[])
    remaining = text
    for start, end in sorted(spans, reverse=True):
        remaining = remaining[:start] + remaining[end:]
    return ParsedOutput(text=re.sub(r"\n{3,}", "\n\n", remaining).strip(), tool_calls=calls)


def format_tool_call(name: str, args: dict[str, Any]) -> str:
    """Render one call the way the local model is asked to write it (for its own history)."""
    payload = json.dumps({"name": name, "arguments": args}, ensure_ascii=False)
    return f"{TOOL_CALL_OPEN}{payload}{TOOL_CALL_CLOSE}"


def _as_call(value: Any, allowed: set[str] | None) -> ParsedToolCall | None:
    """Read ``{"name", "arguments"}`` (or OpenAI's ``{"function": {...}}``) as a call."""
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("function"), dict):
        value = value["function"]
    name = value.get("name")
    if not isinstance(name, str) or not name.strip():
        return None
    args: Any = next(
        (value[key] for key in ("arguments", "args", "parameters") if key in value), None
    )
    if args is None:
        return None
    if isinstance(args, str):
        try:
            args = loads_lenient(args) if args.strip() else {}
        except ValueError:
            return None
    if not isinstance(args, dict):
        return None
    if allowed is not None and name not in allowed:
        return None
    return ParsedToolCall(name=name.strip(), args=args)


def _calls_in_block(body: str, allowed: set[str] | None) -> list[ParsedToolCall] | None:
    """Decode a block holding one call object or a list of them; None if it does not parse."""
    try:
        value: Any = loads_lenient(_FENCE_MARK.sub("", body).strip())
    except ValueError:
        value = extract_json_object(body)
    items = value if isinstance(value, list) else [value]
    calls = [_as_call(item, allowed) for item in items]
    if not calls or any(call is None for call in calls):
        return None
    return [call for call in calls if call is not None]


def _tagged_calls(text: str) -> tuple[list[ParsedToolCall], list[tuple[int, int]]]:
    calls: list[ParsedToolCall] = []
    spans: list[tuple[int, int]] = []
    for match in _TAG_BLOCK.finditer(text):
        found = _calls_in_block(match.group(1), None)
        if found:
            calls.extend(found)
            spans.append(match.span())
    return calls, spans


def _fenced_calls(
    text: str, allowed: set[str] | None
) -> tuple[list[ParsedToolCall], list[tuple[int, int]]]:
    calls: list[ParsedToolCall] = []
    spans: list[tuple[int, int]] = []
    for match in _FENCE_BLOCK.finditer(text):
        found = _calls_in_block(match.group(1), allowed)
        if found:
            calls.extend(found)
            spans.append(match.span())
    return calls, spans


def _bare_calls(
    text: str, allowed: set[str] | None
) -> tuple[list[ParsedToolCall], list[tuple[int, int]]]:
    calls: list[ParsedToolCall] = []
    spans: list[tuple[int, int]] = []
    for span in iter_json_objects(text):
        call = _as_call(span.value, allowed)
        if call is not None:
            calls.append(call)
            spans.append((span.start, span.end))
    return calls, spans
