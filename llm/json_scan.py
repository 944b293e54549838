"""Find JSON objects in free model text: one balanced-brace scanner for every caller.

Models wrap their JSON in prose and code fences, and small ones write Python literals
(single quotes, ``True``/``None``) or leave trailing commas. This module finds each balanced
``{...}`` span in such text and decodes it leniently:

1. Scanning: every ``{`` may start an object. Inside it, braces are counted until the matching
   ``}``; braces inside strings do not count. Strings are double-quoted, or single-quoted
   where the quote does not follow a letter or digit (so the apostrophe in ``it's`` is not a
   quote); a backslash escapes the next character. Quotes in the prose between objects are
   ignored.
2. Decoding (:func:`loads_lenient`): strict JSON first, then JSON with trailing commas
   removed, then a Python literal with ``true``/``false``/``null`` read as JSON's. Whatever
   decodes is normalised to plain JSON values (tuples become lists, non-string keys become
   strings); a value JSON cannot hold (a set, bytes) makes the span fail.
3. Order: a span that decodes is yielded and scanning resumes after it, so objects nested in a
   yielded object are not yielded again. A span that does not decode, or a ``{`` that never
   closes, is searched again from the next ``{`` on, so a valid object nested in a broken one
   (or after a stray brace in the prose) is still found.

:func:`find_json_object` picks one object, optionally preferring those a predicate accepts
(the final-answer parser prefers objects with a ``"choice"`` key).
"""

from __future__ import annotations

import ast
import json
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

_STRING_OR_TRAILING_COMMA = re.compile(r'"(?:[^"\\]|\\.)*"|,\s*(?=[}\]])', re.DOTALL)
_JSON_NAMES: dict[str, Any] = {"true": True, "false": False, "null": None}


@dataclass(frozen=True)
class JsonSpan:
    """One decoded object and where it lies in the scanned text (``text[start:end]``)."""

    start: int
    end: int
    value: dict[str, Any]


def loads_lenient(text: str) -> Any:
    """Decode JSON, repairing trailing commas and Python-literal syntax.

    Tried in order: ``json.loads``; ``json.loads`` with commas before ``}``/``]`` removed
    (commas inside strings are kept); ``ast.literal_eval`` with the bare names ``true``,
    ``false`` and ``null`` read as ``True``, ``False`` and ``None`` (names inside strings are
    left alone). A Python result is normalised through a JSON round trip.

    Args:
        text: The candidate, e.g. one ``{...}`` span.

    Returns:
        The decoded value (any JSON value, not only an object).

    Raises:
        ValueError: When no attempt decodes it, or the Python literal holds a value JSON
            cannot represent.
    """
    try:
        return json.loads(text)
    except ValueError:
        pass
    without_commas = _STRING_OR_TRAILING_COMMA.sub(_keep_strings, text)
    if without_commas != text:
        try:
            return json.loads(without_commas)
        except ValueError:
            pass
    return _python_literal(text)


def iter_json_objects(text: str) -> Iterator[JsonSpan]:
    """Yield every JSON object in ``text``, left to right (see the module docstring).

    Args:
        text: Any text, e.g. a model's reply.

    Yields:
        Each decoded object with its span. Objects nested in a yielded one are not yielded.
    """
    ends: dict[int, int | None] = {}
    position = 0
    while (start := text.find("{", position)) >= 0:
        if start not in ends:
            ends.update(_match_braces(text, start))
        end = ends[start]
        value = _load_object(text[start:end]) if end is not None else None
        if end is not None and value is not None:
            yield JsonSpan(start, end, value)
            position = end
        else:
            position = start + 1


def find_json_object(
    text: str, prefer: Callable[[dict[str, Any]], bool] | None = None
) -> dict[str, Any] | None:
    """Return the first object ``prefer`` accepts, else the first object, else None.

    Args:
        text: Any text, e.g. a model's reply.
        prefer: A test for the wanted object (``lambda o: "choice" in o``); None takes the
            first object in the text.

    Returns:
        The chosen object, or None when ``text`` holds no decodable ``{...}``.
    """
    first: dict[str, Any] | None = None
    for span in iter_json_objects(text):
        if prefer is None or prefer(span.value):
            return span.value
        if first is None:
            first = span.value
    return first


def _match_braces(text: str, start: int) -> dict[int, int | None]:
    """Scan from the ``{`` at ``start`` to its match; map each ``{`` seen to its span's end.

    Every ``{`` met outside a string gets the end of its own balanced span (None if it does
    not close before the text ends). The scan from such a ``{`` would see the same strings,
    so the caller can reuse these ends instead of scanning again, which keeps text full of
    unclosed braces linear rather than quadratic.
    """
    ends: dict[int, int | None] = {}
    opened: list[int] = []
    quote = ""
    escaped = False
    for index in range(start, len(text)):
        char = text[index]
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char == '"' or (char == "'" and not text[index - 1].isalnum()):
            quote = char
        elif char == "{":
            opened.append(index)
        elif char == "}":
            ends[opened.pop()] = index + 1
            if not opened:
                return ends
    ends.update(dict.fromkeys(opened))
    return ends


def _load_object(candidate: str) -> dict[str, Any] | None:
    try:
        value = loads_lenient(candidate)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _keep_strings(match: re.Match[str]) -> str:
    found = match.group(0)
    return found if found.startswith('"') else ""


def _python_literal(text: str) -> Any:
    try:
        with warnings.catch_warnings():  # invalid escapes such as "\d" warn while parsing
            warnings.simplefilter("ignore")
            tree = ast.parse(text.strip(), mode="eval")
        value = ast.literal_eval(_JsonNames().visit(tree))
        return json.loads(json.dumps(value))  # sets, bytes, complex: TypeError
    except (SyntaxError, TypeError, ValueError, MemoryError, RecursionError) as error:
        raise ValueError(f"not JSON or a Python literal: {error}") from error


class _JsonNames(ast.NodeTransformer):
    """Turn the bare names ``true``, ``false`` and ``null`` into Python constants."""

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in _JSON_NAMES:
            return ast.copy_location(ast.Constant(_JSON_NAMES[node.id]), node)
        return node
