"""Structured output: the strict JSON schema of an answer, sent to a real loopback OpenAI server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import openai
import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from kedrec.errors import KedrecError, StructuredOutputUnsupported
from llm.chat_models import load_chat_model
from llm.local_model import LocalChatModel
from llm.structured import (
    INSUFFICIENT_EVIDENCE,
    SCHEMA_NAME,
    StructuredOutputInvalid,
    choice_schema,
    schema_errors,
    structured_answer,
)
from tests.support import openai_loopback as loopback

NAMES = ["Metformin", "Carvedilol"]
QUESTIONS = ["mechanism", "clinical"]
MESSAGES = [SystemMessage("Answer in JSON."), HumanMessage("Which drug treats type 2 diabetes?")]
ANSWER = {
    "choice": "Metformin",
    "confidence": 0.85,
    "answers": {"mechanism": "AMPK activation", "clinical": "first-line therapy"},
    "rationale": "Metformin lowers hepatic glucose output (e1).",
    "citations": ["e1", "PMID:123"],
}


@dataclass(frozen=True)
class _Spec:
    """What load_chat_model reads."""

    model: str = "openai:loopback-model"
    temperature: float = 0.0
    max_tokens: int = 256


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[loopback.OpenAILoopback]:
    """A loopback server, with the OpenAI environment pointing at it."""
    with loopback.OpenAILoopback() as running:
        monkeypatch.setenv("OPENAI_BASE_URL", running.url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-structured")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        yield running


def _objects(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if schema.get("type") == "object":
        yield schema
    for sub in schema.get("properties", {}).values():
        yield from _objects(sub)
    if isinstance(schema.get("items"), dict):
        yield from _objects(schema["items"])


# --- the schema ------------------------------------------------------------------------------


def test_choice_schema_is_strict_mode_compatible() -> None:
    schema = choice_schema(NAMES, QUESTIONS)

    assert schema["title"] == SCHEMA_NAME
    objects = list(_objects(schema))
    assert len(objects) == 2  # the answer and its answers
    for node in objects:
        assert node["additionalProperties"] is False
        assert node["required"] == list(node["properties"])
    properties = schema["properties"]
    assert properties["choice"]["enum"] == [*NAMES, INSUFFICIENT_EVIDENCE]
    assert properties["confidence"] == {
        "type": "number",
        "minimum": 0,
        "maximum": 1,
        "description": properties["confidence"]["description"],
    }
    assert list(properties["answers"]["properties"]) == QUESTIONS
    assert properties["rationale"]["type"] == "string"
    assert properties["citations"]["items"] == {"type": "string"}
    assert schema_errors(ANSWER, schema) == []


@pytest.mark.parametrize(
    ("names", "questions", "match"),
    [
        ([], QUESTIONS, "at least one candidate"),
        (["Metformin", "Metformin"], QUESTIONS, "duplicate candidate"),
        (["Metformin", " "], QUESTIONS, "empty candidate"),
        (["Metformin", "Insufficient Evidence"], QUESTIONS, "may not be named"),
        (NAMES, ["mechanism", "mechanism"], "duplicate question"),
    ],
)
def test_choice_schema_rejects_bad_inputs(
    names: list[str], questions: list[str], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        choice_schema(names, questions)


def test_schema_errors_names_each_problem() -> None:
    schema = choice_schema(NAMES, QUESTIONS)
    bad = {
        "choice": "Aspirin",
        "confidence": 1.5,
        "answers": {"mechanism": 3},
        "citations": ["e1", None],
        "extra": True,
    }

    assert schema_errors(bad, schema) == [
        "$: missing 'rationale'",
        "$: unexpected 'extra'",
        "$.choice: 'Aspirin' is not one of ['Metformin', 'Carvedilol', 'insufficient evidence']",
        "$.confidence: 1.5 is above 1",
        "$.answers: missing 'clinical'",
        "$.answers.mechanism: expected string, got int",
        "$.citations[1]: expected string, got NoneType",
    ]
    assert schema_errors(True, {"type": "number"}) == ["$: expected number, got bool"]
    assert schema_errors(2.0, {"type": "integer"}) == []


# --- against the loopback server -------------------------------------------------------------


def test_structured_answer_sends_a_strict_json_schema_and_parses_the_reply(
    server: loopback.OpenAILoopback,
) -> None:
    server.script([loopback.reply(json.dumps(ANSWER), prompt_tokens=321, completion_tokens=45)])
    model = load_chat_model(_Spec())
    schema = choice_schema(NAMES, QUESTIONS)

    parsed, usage = structured_answer(model, MESSAGES, schema)

    assert parsed == ANSWER
    assert usage == {"input_tokens": 321, "output_tokens": 45, "total_tokens": 366}
    (request,) = server.requests
    response_format = request.body["response_format"]
    assert response_format["type"] == "json_schema"
    json_schema = response_format["json_schema"]
    assert json_schema["name"] == SCHEMA_NAME
    assert json_schema["strict"] is True
    sent = json_schema["schema"]
    assert sent["properties"]["choice"]["enum"] == [*NAMES, INSUFFICIENT_EVIDENCE]
    assert sent["required"] == ["choice", "confidence", "answers", "rationale", "citations"]
    assert sent["additionalProperties"] is False
    assert sent["properties"]["answers"]["required"] == QUESTIONS
    assert "tools" not in request.body  # the schema goes in response_format, not a tool
    assert [m["role"] for m in request.body["messages"]] == ["system", "user"]


@pytest.mark.filterwarnings("ignore:Invalid schema for OpenAI")  # langchain-openai's hint
@pytest.mark.parametrize(
    ("status", "message"),
    [
        (400, "response_format of type json_schema is not supported by this server"),
        (422, "Unknown field: response_format.json_schema"),
        (400, "Invalid schema for response_format 'kedrec_choice'"),
    ],
)
def test_a_server_refusing_the_schema_raises_unsupported(
    server: loopback.OpenAILoopback, status: int, message: str
) -> None:
    server.script([loopback.reply(status=status, error_message=message)])
    model = load_chat_model(_Spec())

    with pytest.raises(StructuredOutputUnsupported, match="refused response_format") as caught:
        structured_answer(model, MESSAGES, choice_schema(NAMES, QUESTIONS))

    assert isinstance(caught.value, KedrecError)
    assert not isinstance(caught.value, StructuredOutputInvalid)
    assert f"HTTP {status}" in str(caught.value) and "\n" not in str(caught.value)
    assert isinstance(caught.value.__cause__, openai.APIStatusError)
    assert len(server.requests) == 1  # a refusal is not retried


def test_other_bad_requests_are_not_mistaken_for_a_refusal(
    server: loopback.OpenAILoopback,
) -> None:
    server.script([loopback.reply(status=400, error_message="temperature must be <= 2")])
    model = load_chat_model(_Spec())

    with pytest.raises(openai.BadRequestError, match="temperature"):
        structured_answer(model, MESSAGES, choice_schema(NAMES, QUESTIONS))


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("Metformin, because it lowers glucose.", "could not be parsed"),
        (json.dumps({**ANSWER, "choice": "Aspirin"}), r"\$\.choice: 'Aspirin'"),
    ],
)
def test_a_reply_that_ignores_the_schema_raises_invalid_with_its_text(
    server: loopback.OpenAILoopback, content: str, match: str
) -> None:
    server.script([loopback.reply(content, prompt_tokens=50, completion_tokens=9)])
    model = load_chat_model(_Spec())

    with pytest.raises(StructuredOutputInvalid, match=match) as caught:
        structured_answer(model, MESSAGES, choice_schema(NAMES, QUESTIONS))

    assert isinstance(caught.value, StructuredOutputUnsupported)  # callers catch one class
    assert caught.value.text == content
    assert caught.value.usage == {"input_tokens": 50, "output_tokens": 9, "total_tokens": 59}


def test_a_reply_cut_at_the_token_limit_raises_invalid_with_its_usage(
    server: loopback.OpenAILoopback,
) -> None:
    """A small model looping inside the JSON hits max_tokens: the caller falls back."""
    cut = '{"choice": "Metformin", "confidence": 0.5, "citations": ["1", "1", "1'
    server.script([loopback.reply(cut, completion_tokens=1024, finish_reason="length")])
    model = load_chat_model(_Spec())

    with pytest.raises(StructuredOutputInvalid, match="cut at the token limit") as caught:
        structured_answer(model, MESSAGES, choice_schema(NAMES, QUESTIONS))

    assert caught.value.text == cut
    assert caught.value.usage["output_tokens"] == 1024


def test_the_citation_list_is_bounded() -> None:
    schema = choice_schema(NAMES, QUESTIONS)
    assert schema["properties"]["citations"]["maxItems"] == 8


def test_a_local_model_is_unsupported_without_loading_it() -> None:
    model = LocalChatModel(model_path="/nonexistent/model")

    with pytest.raises(StructuredOutputUnsupported, match="LocalChatModel"):
        structured_answer(model, MESSAGES, choice_schema(NAMES, QUESTIONS))
