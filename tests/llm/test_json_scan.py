"""The one balanced-brace JSON scanner: spans, strings, leniency, preference, broken text."""

from __future__ import annotations

import pytest

import llm.json_scan as json_scan
from llm.json_scan import JsonSpan, find_json_object, iter_json_objects, loads_lenient


def _has_choice(value: dict[str, object]) -> bool:
    return "choice" in value


def test_braces_and_quotes_inside_strings_do_not_end_an_object() -> None:
    text = 'x {"a": "} {", "b": "say \\"}\\" twice", "c": \'{\'} y'

    (span,) = iter_json_objects(text)

    assert span.value == {"a": "} {", "b": 'say "}" twice', "c": "{"}
    assert text[span.start : span.end] == text[2:-2]


def test_nested_objects_are_yielded_once_inside_their_parent() -> None:
    text = 'before {"a": {"b": {"c": 1}}, "d": [{"e": 2}]} after {"f": 3}'

    spans = list(iter_json_objects(text))

    assert [s.value for s in spans] == [{"a": {"b": {"c": 1}}, "d": [{"e": 2}]}, {"f": 3}]
    assert spans[0] == JsonSpan(7, text.index(" after"), spans[0].value)
    assert text[spans[1].start : spans[1].end] == '{"f": 3}'


def test_preference_picks_the_first_accepted_object_else_the_first() -> None:
    text = 'Args {"drug": "x"}, then {"choice": "A"} and {"choice": "B"}'

    assert find_json_object(text, prefer=_has_choice) == {"choice": "A"}
    assert find_json_object(text) == {"drug": "x"}
    assert find_json_object('{"drug": "x"} {"n": 1}', prefer=_has_choice) == {"drug": "x"}


def test_python_literal_quotes_and_constants() -> None:
    text = "Here's my answer: {'choice': 'A', 'sure': True, 'why': None, 'json': [true, null]}"

    assert find_json_object(text) == {
        "choice": "A",
        "sure": True,
        "why": None,
        "json": [True, None],
    }


def test_json_names_inside_strings_are_left_alone() -> None:
    assert find_json_object("{'text': 'it is true, not null', 'ok': false}") == {
        "text": "it is true, not null",
        "ok": False,
    }


def test_apostrophes_in_words_are_not_quotes() -> None:
    assert find_json_object("{'why': \"Alzheimer's\", 'n': 1}") == {"why": "Alzheimer's", "n": 1}
    assert find_json_object('{"why": "x"} isn\'t {\'it\': 1}') == {"why": "x"}


def test_trailing_commas_are_removed_outside_strings() -> None:
    text = '```json\n{"a": [1, 2,], "b": "keep, }", "c": {"d": 1,},}\n```'

    assert find_json_object(text) == {"a": [1, 2], "b": "keep, }", "c": {"d": 1}}


def test_no_object_gives_none() -> None:
    assert find_json_object("I think metformin is better.") is None
    assert find_json_object("") is None
    assert find_json_object("{not json at all}") is None
    assert list(iter_json_objects("a set {1, 2} is not an object")) == []


def test_unbalanced_braces() -> None:
    assert find_json_object('{"unterminated": 1') is None
    assert find_json_object('{ a stray brace, then {"ok": 1}') == {"ok": 1}
    assert find_json_object('{"truncated": {"inner": 1}, "more": ') == {"inner": 1}
    assert find_json_object('} {"ok": 1} }') == {"ok": 1}
    assert find_json_object('{bad json} then {"ok": true}') == {"ok": True}


def test_unclosed_braces_are_scanned_once(monkeypatch: pytest.MonkeyPatch) -> None:
    scans: list[int] = []
    real = json_scan._match_braces

    def counting(text: str, start: int) -> dict[int, int | None]:
        scans.append(start)
        return real(text, start)

    monkeypatch.setattr(json_scan, "_match_braces", counting)

    assert find_json_object("{" * 5000) is None
    assert scans == [0]


def test_loads_lenient_values_and_errors() -> None:
    assert loads_lenient('[1, 2, {"a": "b"},]') == [1, 2, {"a": "b"}]
    assert loads_lenient("{'t': (1, 2), 3: 'x'}") == {"t": [1, 2], "3": "x"}
    assert loads_lenient(" null ") is None
    for bad in ("{'a': {1, 2}}", "{'a': b'x'}", "{'a': f(1)}", "nope", "{'a': 1"):
        with pytest.raises(ValueError):
            loads_lenient(bad)


def test_invalid_escapes_fail_quietly(recwarn: pytest.WarningsRecorder) -> None:
    assert find_json_object('{"path": "C:\\d"}') == {"path": "C:\\d"}
    assert not [w for w in recwarn if issubclass(w.category, (SyntaxWarning, DeprecationWarning))]
