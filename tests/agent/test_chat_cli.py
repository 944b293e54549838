"""Chat (threads in SQLite, streamed tokens, visible tool calls), the CLI and langgraph.json."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import importlib.util
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field
from rich.console import Console
from typer.testing import CliRunner

from agent.chat import build_chat_graph, chat_repl, list_threads, sqlite_checkpointer
from agent.cli import chat_command, recommend_command, teacher_app
from agent.context import AgentContext
from agent.records import CitationCheck, DomainAnswer, FinalAnswer, TeacherRun
from graph_store.tools import GraphTools
from kedrec.settings import get_settings
from tests.support.terminal import run_chat, scripted_input

REPO = Path(__file__).resolve().parents[2]
METFORMIN = "Compound::DB00331"


class ScriptedChatModel(BaseChatModel):
    """Replies from a script, streamed word by word; records what it was shown."""

    script: list[AIMessage]
    seen: list[list[BaseMessage]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:  # type: ignore[override]
        return self

    def _next(self, messages: list[BaseMessage]) -> AIMessage:
        self.seen.append(list(messages))
        return self.script.pop(0)

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._next(messages))])

    def _stream(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> Iterator[ChatGenerationChunk]:
        reply = self._next(messages)
        words = str(reply.content).split(" ") if reply.content else []
        for i, word in enumerate(words):
            piece = word if i == 0 else " " + word
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk
        if reply.tool_calls or not words:
            yield ChatGenerationChunk(
                message=AIMessageChunk(
                    content="",
                    tool_call_chunks=[
                        {
                            "name": c["name"],
                            "args": json.dumps(c["args"]),
                            "id": c["id"],
                            "index": i,
                        }
                        for i, c in enumerate(reply.tool_calls)
                    ],
                )
            )


@pytest.fixture(scope="module")
def tools(driver, settings, loaded_graph) -> GraphTools:  # type: ignore[no-untyped-def]
    return GraphTools.from_settings(driver, settings.neo4j)


@pytest.fixture()
def test_neo4j_env(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point get_settings() (and so the CLI) at the test instance."""
    monkeypatch.setenv("NEO4J_URI", settings.neo4j.uri)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_chat_two_turns_persist_in_sqlite(tmp_path: Path, tools: GraphTools) -> None:
    from agent.tools import make_tools

    model = ScriptedChatModel(
        script=[
            AIMessage(
                content="",
                tool_calls=[{"name": "resolve_entity", "args": {"name": "metformin"}, "id": "c1"}],
            ),
            AIMessage(content="Metformin is Compound::DB00331 in DRKG."),
            AIMessage(content="You asked about metformin before."),
        ],
        seen=[],
    )
    db = tmp_path / "chat" / "threads.sqlite"
    saver = sqlite_checkpointer(db)
    compiled = build_chat_graph(
        tools_factory=lambda ctx: make_tools(tools, literature_source="none"),
        model_factory=lambda ctx: model,
        checkpointer=saver,
    )
    lines = iter(["What is metformin?", "What did I ask?", "/threads", "/quit"])
    buffer = io.StringIO()
    thread = chat_repl(
        compiled,
        saver,
        context=AgentContext(literature_source="none"),
        thread_id="t-one",
        input_fn=lambda prompt: next(lines),
        console=Console(file=buffer, width=200, color_system=None),
    )
    out = buffer.getvalue()
    assert thread == "t-one"
    assert "→ resolve_entity" in out and "metformin" in out
    assert "← resolve_entity" in out and METFORMIN in out
    assert "Metformin is Compound::DB00331 in DRKG." in out
    assert "You asked about metformin before." in out
    assert "t-one" in out.split("You asked about metformin before.")[1], "/threads lists it"
    # the second turn saw the first one (same thread)
    assert any("What is metformin?" in str(m.content) for m in model.seen[-1])
    saver.conn.close()

    # a fresh process (new connection) finds the thread and its messages
    reopened = sqlite_checkpointer(db)
    graph2 = build_chat_graph(
        tools_factory=lambda ctx: [], model_factory=lambda ctx: model, checkpointer=reopened
    )
    state = graph2.get_state({"configurable": {"thread_id": "t-one"}})
    kinds = [m.type for m in state.values["messages"]]
    assert kinds == ["human", "ai", "tool", "ai", "human", "ai"]
    (info,) = list_threads(graph2, reopened)
    assert (info.thread_id, info.messages, info.first_question) == (
        "t-one",
        6,
        "What is metformin?",
    )
    reopened.conn.close()


def test_chat_new_thread_and_step_limit(tmp_path: Path) -> None:
    model = ScriptedChatModel(
        script=[
            AIMessage(content="", tool_calls=[{"name": "nope", "args": {}, "id": "x1"}]),
            AIMessage(content="first thread answer"),
        ],
        seen=[],
    )
    saver = sqlite_checkpointer(tmp_path / "threads.sqlite")
    compiled = build_chat_graph(
        tools_factory=lambda ctx: [], model_factory=lambda ctx: model, checkpointer=saver
    )
    reader = scripted_input(["hello", "/new", "/threads", "/bogus"])
    buffer = io.StringIO()

    last = chat_repl(
        compiled,
        saver,
        context=AgentContext(max_steps=1),
        thread_id="t-a",
        input_fn=reader,
        console=Console(file=buffer, width=200, color_system=None),
    )
    out = buffer.getvalue()
    assert last != "t-a" and last.startswith("chat-")
    assert "← nope [error]: Error: no tool 'nope'" in out
    assert "could not finish within the step limit" in out, "max_steps=1 stops the loop"
    assert "unknown command /bogus" in out
    assert [t.thread_id for t in list_threads(compiled, saver)] == ["t-a"]
    saver.conn.close()


def fake_run(task_set: Any, *, context: AgentContext, graph_tools: Any, **_: Any) -> TeacherRun:
    chosen = task_set.candidates[0]
    return TeacherRun(
        status="ok",
        answer=FinalAnswer(
            choice=chosen.id,
            confidence=0.72,
            answers=[DomainAnswer(question_id="mechanism", answer="Lowers hepatic glucose.")],
            rationale="Metformin acts on PRKAB1 (Gene::5564).",
            citations=[chosen.id, "PMID:1"],
        ),
        choice_id=chosen.id,
        citation_check=CitationCheck(verified=[chosen.id], removed=["PMID:1"]),
        steps=3,
    )


def test_recommend_resolves_names_and_prints_answer(
    test_neo4j_env: None, loaded_graph: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agent.run

    monkeypatch.setattr(agent.run, "run_set", fake_run)
    app = typer.Typer()
    app.command("recommend")(recommend_command)
    app.command("chat")(chat_command)
    result = CliRunner().invoke(
        app,
        [
            "recommend",
            "--disease",
            "type 2 diabetes mellitus",
            "--candidates",
            "metformin",
            "Galantamine",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Metformin" in result.output and "0.72" in result.output
    assert "Lowers hepatic glucose." in result.output
    assert "verified citations" in result.output and METFORMIN in result.output
    assert "PMID:1" in result.output  # listed as removed
    record = json.loads(result.stdout.strip().splitlines()[-1])
    assert record["label_known"] is False and record["correct"] is None
    assert record["disease"]["id"] == "Disease::DOID:9352"
    assert record["candidates"][1]["id"] == "Compound::DB00674"


def adhoc_set(i: int) -> Any:
    from tasks.task_sets import NamedEntity, TaskSet

    return TaskSet(
        set_id=f"cli-{i}",
        split="val",
        disease=NamedEntity(id="Disease::DOID:9352", name="type 2 diabetes mellitus"),
        candidates=[
            NamedEntity(id=METFORMIN, name="Metformin"),
            NamedEntity(id="Compound::DB00674", name="Galantamine"),
        ],
        label=0,
        seed=i,
        source="test",
        hidden_pairs=[(METFORMIN, "Disease::DOID:9352")],
    )


def test_teacher_collect_command(
    tmp_path: Path, test_neo4j_env: None, loaded_graph: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agent.run
    from tasks.task_sets import write_task_sets

    monkeypatch.setattr(agent.run, "run_set", fake_run)
    sets, out = tmp_path / "sets.jsonl", tmp_path / "out.jsonl"
    write_task_sets([adhoc_set(i) for i in range(3)], sets)
    args = [
        "teacher",
        "collect",
        "--sets",
        str(sets),
        "--out",
        str(out),
        "--limit",
        "2",
        "--literature-source",
        "none",
        "--no-evidence",
    ]
    app = typer.Typer()
    app.add_typer(teacher_app, name="teacher")
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert (report["attempted"], report["ok"]) == (2, 2)
    assert len(out.read_text().splitlines()) == 2


def test_langgraph_json_graphs_import() -> None:
    config = json.loads((REPO / "langgraph.json").read_text())
    assert config["dependencies"] == ["."] and config["env"] == ".env"
    assert set(config["graphs"]) == {"teacher", "chat", "plan", "student"}
    for name, target in config["graphs"].items():
        path, _, attribute = target.partition(":")
        spec = importlib.util.spec_from_file_location(f"langgraph_json_{name}", REPO / path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # as langgraph's loader does (dataclasses need it)
        try:
            spec.loader.exec_module(module)
        finally:
            sys.modules.pop(spec.name, None)
        graph = getattr(module, attribute)
        assert hasattr(graph, "invoke") and hasattr(graph, "stream"), name
        assert "__start__" in graph.get_graph().nodes


def test_chat_recommend_turn_answers_and_joins_the_thread(
    tmp_path: Path, test_neo4j_env: None, loaded_graph: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agent.run

    monkeypatch.setattr(agent.run, "run_set", fake_run)
    model = ScriptedChatModel(script=[AIMessage(content="As above: metformin.")], seen=[])
    saver = sqlite_checkpointer(tmp_path / "threads.sqlite")
    compiled = build_chat_graph(
        tools_factory=lambda ctx: [], model_factory=lambda ctx: model, checkpointer=saver
    )
    out = run_chat(
        compiled,
        saver,
        context=AgentContext(),
        thread_id="t-rec",
        lines=[
            "/recommend type 2 diabetes mellitus | metformin",
            "/recommend no such disease xyz | metformin | Galantamine",
            "/recommend type 2 diabetes mellitus | metformin | Galantamine",
            "Why that one?",
        ],
    )
    assert "usage: /recommend DISEASE | DRUG A | DRUG B" in out
    assert "error: no Disease matches 'no such disease xyz'" in out
    assert f"Metformin ({METFORMIN}) for type 2 diabetes mellitus (Disease::DOID:9352)" in out
    assert "confidence 0.72" in out and "mechanism: Lowers hepatic glucose." in out
    assert f"Verified citations: {METFORMIN}" in out and "PMID:1" not in out.split("Verified")[1]
    assert "As above: metformin." in out
    kinds = [
        m.type
        for m in compiled.get_state({"configurable": {"thread_id": "t-rec"}}).values["messages"]
    ]
    assert kinds == ["human", "ai", "human", "ai"], "the recommendation is part of the thread"
    assert any("Rationale: Metformin acts on PRKAB1" in str(m.content) for m in model.seen[-1])
    saver.conn.close()
