"""load_chat_model: ChatOpenAI against a real loopback OpenAI-compatible server, and its errors."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from langchain_core.messages import AIMessageChunk, HumanMessage, SystemMessage
from langchain_core.tools import tool
from pydantic import BaseModel, Field

from agent.context import AgentContext
from kedrec.errors import KedrecError
from kedrec.settings import KedrecSettings
from llm.chat_models import ChatModelConfigError, is_local_url, load_chat_model
from llm.local_model import LocalChatModel, LocalModelError
from tests.support import openai_loopback as loopback

SECRET = "sk-test-0123456789abcdefSECRET"


@tool
def drug_targets(drug: str, limit: int = 5) -> str:
    """Return the genes a drug targets, with DRKG edge IDs."""
    return f"{drug}: {limit}"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[loopback.OpenAILoopback]:
    """A loopback server, with the OpenAI environment pointing at it."""
    with loopback.OpenAILoopback() as running:
        monkeypatch.setenv("OPENAI_BASE_URL", running.url)
        monkeypatch.setenv("OPENAI_API_KEY", SECRET)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        yield running


def _context(**kwargs: object) -> AgentContext:
    return AgentContext(model="openai:loopback-model", **kwargs)  # type: ignore[arg-type]


def test_load_chat_model_openai_plain_answer(server: loopback.OpenAILoopback) -> None:
    server.script([loopback.reply("Metformin.", prompt_tokens=21, completion_tokens=3)])
    model = load_chat_model(_context(temperature=0.0, max_tokens=64))

    answer = model.invoke([SystemMessage("Be brief."), HumanMessage("First-line for T2D?")])

    assert answer.content == "Metformin."
    assert answer.usage_metadata is not None
    assert answer.usage_metadata["input_tokens"] == 21
    assert answer.usage_metadata["output_tokens"] == 3
    (request,) = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.body["model"] == "loopback-model"
    assert request.body["temperature"] == 0.0
    assert request.body["max_completion_tokens"] == 64
    assert [m["role"] for m in request.body["messages"]] == ["system", "user"]


def test_load_chat_model_openai_tool_call_after_bind_tools(
    server: loopback.OpenAILoopback,
) -> None:
    server.script([loopback.reply(tool_calls=[("drug_targets", {"drug": "Imatinib"})])])
    model = load_chat_model(_context()).bind_tools([drug_targets])

    answer = model.invoke("Which genes does imatinib target?")

    assert answer.tool_calls == [
        {
            "name": "drug_targets",
            "args": {"drug": "Imatinib"},
            "id": "call_loop0",
            "type": "tool_call",
        }
    ]
    (sent,) = server.requests[0].body["tools"]
    assert sent["function"]["name"] == "drug_targets"
    assert sent["function"]["description"].startswith("Return the genes a drug targets")
    assert set(sent["function"]["parameters"]["properties"]) == {"drug", "limit"}
    assert sent["function"]["parameters"]["required"] == ["drug"]


def test_load_chat_model_openai_streams_text_and_usage(server: loopback.OpenAILoopback) -> None:
    server.script([loopback.reply("Imatinib inhibits BCR-ABL.", completion_tokens=6)])
    model = load_chat_model(_context())

    chunks = list(model.stream("What does imatinib inhibit?"))

    assert server.requests[0].body["stream"] is True
    assert sum(1 for c in chunks if c.content) > 1
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    assert total.content == "Imatinib inhibits BCR-ABL."
    assert total.usage_metadata is not None and total.usage_metadata["output_tokens"] == 6


def test_load_chat_model_openai_streams_tool_calls(server: loopback.OpenAILoopback) -> None:
    calls = [("drug_targets", {"drug": "Imatinib"}), ("drug_targets", {"drug": "Dasatinib"})]
    server.script([loopback.reply(tool_calls=calls)])
    model = load_chat_model(_context()).bind_tools([drug_targets])

    total: AIMessageChunk | None = None
    for chunk in model.stream("Targets of imatinib and dasatinib?"):
        total = chunk if total is None else total + chunk

    assert total is not None
    assert [(c["name"], c["args"]) for c in total.tool_calls] == [
        ("drug_targets", {"drug": "Imatinib"}),
        ("drug_targets", {"drug": "Dasatinib"}),
    ]


def test_load_chat_model_openai_structured_output(server: loopback.OpenAILoopback) -> None:
    class Pick(BaseModel):
        """The chosen drug."""

        choice: str = Field(description="DRKG ID")
        confidence: float

    server.script([loopback.reply('{"choice": "Compound::DB00619", "confidence": 0.8}')])
    picked = load_chat_model(_context()).with_structured_output(Pick).invoke("Pick one.")

    assert picked == Pick(choice="Compound::DB00619", confidence=0.8)
    response_format = server.requests[0].body["response_format"]
    assert response_format["type"] == "json_schema"  # ChatOpenAI's default method
    assert response_format["json_schema"]["name"] == "Pick"


def test_load_chat_model_openai_key_never_logged_or_shown(
    server: loopback.OpenAILoopback, caplog: pytest.LogCaptureFixture
) -> None:
    server.script([loopback.reply("ok"), loopback.reply("ok")])
    caplog.set_level(logging.DEBUG)

    model = load_chat_model(_context())
    model.invoke("hi")
    list(model.stream("hi"))

    assert all(r.headers.get("authorization") == f"Bearer {SECRET}" for r in server.requests)
    assert len(server.requests) == 2
    assert SECRET not in caplog.text
    assert SECRET not in repr(model)
    assert SECRET not in str(model)
    assert "chat model openai:loopback-model" in caplog.text


def test_load_chat_model_openai_missing_key_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)

    with pytest.raises(ChatModelConfigError, match="OPENAI_API_KEY") as caught:
        load_chat_model(_context())

    assert isinstance(caught.value, KedrecError)
    assert "\n" not in str(caught.value)


def test_load_chat_model_openai_remote_base_url_still_needs_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", "https://llm.example.org/v1")

    with pytest.raises(ChatModelConfigError, match="OPENAI_API_KEY"):
        load_chat_model(_context())


def test_load_chat_model_openai_local_server_needs_no_key(
    server: loopback.OpenAILoopback, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    server.script([loopback.reply("pong")])

    assert load_chat_model(_context()).invoke("ping").content == "pong"
    assert server.requests[0].headers["authorization"] == "Bearer not-needed"


def test_load_chat_model_unknown_provider_lists_valid_ones() -> None:
    with pytest.raises(ChatModelConfigError) as caught:
        load_chat_model(AgentContext(model="anthropic:claude"))

    message = str(caught.value)
    assert "'anthropic'" in message
    assert "openai:<model>" in message and "local:<model>" in message


@pytest.mark.parametrize("model", ["openai:", "local:", "smollm2"])
def test_load_chat_model_rejects_missing_model_name(model: str) -> None:
    with pytest.raises(ChatModelConfigError):
        load_chat_model(AgentContext(model=model))


def test_load_chat_model_local_folder_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ChatModelConfigError, match=r"local:smollm2"):
        load_chat_model(AgentContext(model=f"local:{tmp_path / 'missing'}"))
    with pytest.raises(LocalModelError, match=r"config\.json"):
        load_chat_model(AgentContext(model=f"local:{tmp_path}"))


def test_load_chat_model_local_smollm2_reuses_cached_folder(tmp_path: Path) -> None:
    folder = tmp_path / "models" / "smollm2-135m-instruct"
    folder.mkdir(parents=True)
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        (folder / name).write_text("{}")
    settings = KedrecSettings(cache_dir=tmp_path)

    model = load_chat_model(AgentContext(model="local:smollm2", max_tokens=32), settings)

    assert isinstance(model, LocalChatModel)
    assert model.model_path == str(folder)
    assert model.max_tokens == 32 and model.temperature == 0.0


@dataclass(frozen=True)
class _Spec:
    """Not an AgentContext: load_chat_model needs only these three attributes."""

    model: str
    temperature: float
    max_tokens: int


def test_load_chat_model_takes_any_spec_with_model_temperature_and_max_tokens(
    server: loopback.OpenAILoopback, tmp_path: Path
) -> None:
    server.script([loopback.reply("ok")])
    remote = load_chat_model(_Spec("openai:loopback-model", 0.5, 16))
    folder = tmp_path / "models" / "smollm2-135m-instruct"
    folder.mkdir(parents=True)
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        (folder / name).write_text("{}")

    local = load_chat_model(_Spec("local:smollm2", 0.3, 8), KedrecSettings(cache_dir=tmp_path))

    assert remote.invoke("hi").content == "ok"
    assert server.requests[0].body["temperature"] == 0.5
    assert server.requests[0].body["max_completion_tokens"] == 16
    assert isinstance(local, LocalChatModel)
    assert (local.temperature, local.max_tokens) == (0.3, 8)
    with pytest.raises(ChatModelConfigError, match="'nope'"):
        load_chat_model(_Spec("nope:x", 0.0, 1))


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:8000/v1", True),
        ("http://localhost:11434/v1", True),
        ("http://[::1]:8080/v1", True),
        ("http://192.168.1.20:8000/v1", True),
        ("http://vllm:8000/v1", True),
        ("https://api.example.com/v1", False),
        ("http://8.8.8.8/v1", False),
        ("not a url", False),
    ],
)
def test_is_local_url(url: str, local: bool) -> None:
    assert is_local_url(url) is local
