"""The shared tool node: failing tools become error messages, calls of a turn run concurrently.

Pure logic: small real tools and the scripted chat model, no Neo4j.
"""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path

import pytest
from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool, StructuredTool
from rich.console import Console

from agent.chat import build_chat_graph, chat_repl, sqlite_checkpointer
from agent.context import AgentContext
from agent.graph import build_graph
from agent.tool_node import MAX_WORKERS, run_tool_calls
from tests.support.scripted_model import ScriptedChatModel, tool_call, turn


def boom(drug: str) -> str:
    """Always fails, like a tool whose database went away."""
    raise RuntimeError(f"connection to the graph lost while looking up {drug}\nstack details")


def echo(text: str) -> str:
    """Returns its argument."""
    return f"echo: {text}"


def tools(*functions: object) -> list[BaseTool]:
    return [StructuredTool.from_function(f) for f in functions]  # type: ignore[arg-type]


def test_chat_turn_with_a_failing_tool_keeps_the_session(tmp_path: Path) -> None:
    model = ScriptedChatModel(
        script=[
            turn(tool_call("boom", drug="metformin"), tool_call("echo", text="still here")),
            turn(content="The graph lookup failed; echo worked."),
            turn(content="Second turn answered."),
        ]
    )
    saver = sqlite_checkpointer(tmp_path / "threads.sqlite")
    compiled = build_chat_graph(
        tools_factory=lambda ctx: tools(boom, echo),
        model_factory=lambda ctx: model,
        checkpointer=saver,
    )
    lines = iter(["Look up metformin.", "And now?", "/quit"])
    buffer = io.StringIO()
    try:
        chat_repl(
            compiled,
            saver,
            context=AgentContext(literature_source="none"),
            thread_id="t-boom",
            input_fn=lambda prompt: next(lines),
            console=Console(file=buffer, width=300, color_system=None),
        )
    finally:
        saver.conn.close()
    out = buffer.getvalue()
    assert "← boom [error]: Error: boom failed (RuntimeError: connection to the graph lost" in out
    assert "← echo: echo: still here" in out
    assert "The graph lookup failed; echo worked." in out
    assert "Second turn answered." in out, "the session went on after the failing tool"

    # the model saw the error as a one-line tool message, next to the working call's result
    failed, worked = [m for m in model.sent[1] if isinstance(m, ToolMessage)]
    assert failed.status == "error" and worked.status == "success"
    lost = "connection to the graph lost while looking up metformin"
    assert failed.content == f"Error: boom failed (RuntimeError: {lost})"
    assert worked.content == "echo: still here"
    assert len(model.sent) == 3 and "Look up metformin." in str(model.sent[2])


def test_unknown_tool_and_multiline_errors_are_one_line() -> None:
    calls = [
        {"name": "nope", "args": {}, "id": "c1", "type": "tool_call"},
        {"name": "boom", "args": {"drug": "x"}, "id": "c2", "type": "tool_call"},
        {"name": "boom", "args": {}, "id": "c3", "type": "tool_call"},  # invalid arguments
    ]
    results = run_tool_calls(calls, tools(boom, echo))  # type: ignore[arg-type]
    texts = [r.message.content for r in results]
    assert [r.message.status for r in results] == ["error"] * 3
    assert [r.message.tool_call_id for r in results] == ["c1", "c2", "c3"]
    assert texts[0] == "Error: no tool 'nope'; the tools are: boom, echo"
    assert all(isinstance(t, str) and t.startswith("Error: ") and "\n" not in t for t in texts)


def test_calls_of_one_turn_run_concurrently_and_keep_their_order() -> None:
    lock = threading.Lock()
    running = {"now": 0, "most": 0}
    # the first three calls only finish when all three run at once: sequential calls would
    # time out on the barrier and come back as errors
    barrier = threading.Barrier(3, timeout=10)

    def slow(index: int, edge: str) -> tuple[str, list[tuple[str, str, str]]]:
        """Waits a little, then returns its index and one edge."""
        with lock:
            running["now"] += 1
            running["most"] = max(running["most"], running["now"])
        try:
            if index < 3:
                barrier.wait()
            time.sleep(0.05 * (6 - index))  # later calls finish first
        finally:
            with lock:
                running["now"] -= 1
        return f"result {index}", [(f"Compound::{index}", "TARGETS", edge)]

    slow_tool = StructuredTool.from_function(slow, response_format="content_and_artifact")
    calls = [tool_call("slow", index=i, edge=f"Gene::{i}") for i in range(6)]
    calls.insert(3, tool_call("boom", drug="metformin"))
    model = ScriptedChatModel(
        script=[
            turn(*calls),
            turn(content="Enough."),
            turn(content=json.dumps({"choice": "Metformin", "confidence": 0.5, "rationale": "x"})),
        ]
    )
    state = build_graph(tools=[slow_tool, *tools(boom)], model=model).invoke(
        {"messages": [("user", "Run them all.")]},
        context=AgentContext(model="scripted", literature_source="none"),
    )

    records = state["tool_records"]
    assert [r.tool for r in records] == ["slow"] * 3 + ["boom"] + ["slow"] * 3
    slow_records = [r for r in records if r.tool == "slow"]
    assert [r.result for r in slow_records] == [f"result {i}" for i in range(6)]
    assert [r.arguments["index"] for r in slow_records] == list(range(6))
    assert all(r.error is None and r.step == 1 for r in slow_records)
    assert [r.edges for r in slow_records] == [
        [(f"Compound::{i}", "TARGETS", f"Gene::{i}")] for i in range(6)
    ]
    assert records[3].error and records[3].error.startswith("Error: boom failed (RuntimeError")
    assert 3 <= running["most"] <= MAX_WORKERS

    # the tool messages are in call order and answer the calls' IDs
    ai = next(m for m in state["messages"] if m.type == "ai")
    answers = [m for m in state["messages"] if isinstance(m, ToolMessage)]
    assert [m.tool_call_id for m in answers] == [c["id"] for c in ai.tool_calls]
    assert [m.status for m in answers] == ["success"] * 3 + ["error"] + ["success"] * 3
    assert state["answer"].choice == "Metformin"


def test_no_tool_calls_is_a_wiring_error() -> None:
    from agent.tool_node import ToolNode

    class Runtime:
        context = None

    with pytest.raises(ValueError, match="without tool calls"):
        ToolNode([])({"messages": []}, Runtime())  # type: ignore[arg-type]
