"""The tool-running node of the teacher and chat graphs.

:class:`ToolNode` runs the tool calls of the model's last turn and returns one
:class:`~langchain_core.messages.ToolMessage` per call, in call order. The calls of one turn are
independent, so they run concurrently (a thread pool of at most ``max_workers``). A tool never
ends a run: an unknown tool, or any exception a tool raises, becomes a ToolMessage with
``status="error"`` and a one-line ``Error: …`` text the model can act on. With
``record=True`` (the teacher) the node also returns a
:class:`~agent.records.ToolCallRecord` per call (arguments, result, error, latency and the
edges of the message's artifact) under ``tool_records``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, ToolCall, ToolMessage
from langchain_core.runnables.config import ContextThreadPoolExecutor
from langchain_core.tools import BaseTool
from langgraph.runtime import Runtime

from agent.context import AgentContext
from agent.records import ToolCallRecord

logger = logging.getLogger(__name__)

ToolSource = Sequence[BaseTool] | Callable[[AgentContext], Sequence[BaseTool]]
"""Fixed tools, or a factory that builds them from the run's context."""

MAX_WORKERS = 4
"""Tool calls of one model turn that run at once."""


def resolve_tools(source: ToolSource, context: AgentContext) -> list[BaseTool]:
    """The tools of a run: ``source`` itself, or what the factory builds for ``context``."""
    return list(source(context) if callable(source) else source)


def run_context(runtime: Runtime[AgentContext]) -> AgentContext:
    """The run's context; Studio and ``langgraph dev`` runs may start without one."""
    return runtime.context if runtime.context is not None else AgentContext()


@dataclass
class ToolResult:
    """One tool call's message and how long it took."""

    message: ToolMessage
    latency_ms: float


def error_message(call: ToolCall, text: str) -> ToolMessage:
    """An error ToolMessage for ``call``: ``Error: <first line of text>``."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    if not line.startswith("Error:"):
        line = f"Error: {line}"
    return ToolMessage(line, tool_call_id=call["id"], name=call["name"], status="error")


def run_tool_call(call: ToolCall, by_name: Mapping[str, BaseTool]) -> ToolResult:
    """Run one tool call; an unknown tool or a raised exception becomes an error message."""
    started = time.perf_counter()
    tool = by_name.get(call["name"])
    if tool is None:
        known = ", ".join(sorted(by_name)) or "none"
        message = error_message(call, f"no tool {call['name']!r}; the tools are: {known}")
    else:
        try:
            output = tool.invoke({**call, "type": "tool_call"})
            message = (
                output
                if isinstance(output, ToolMessage)
                else ToolMessage(str(output), tool_call_id=call["id"], name=call["name"])
            )
        except Exception as error:  # a tool must never end the run
            logger.warning("tool %s failed", call["name"], exc_info=True)
            detail = str(error).strip().splitlines()
            message = error_message(
                call,
                f"{call['name']} failed ({type(error).__name__}"
                + (f": {detail[0].strip()})" if detail else ")"),
            )
    return ToolResult(message, (time.perf_counter() - started) * 1000.0)


def run_tool_calls(
    calls: Sequence[ToolCall], tools: Sequence[BaseTool], *, max_workers: int = MAX_WORKERS
) -> list[ToolResult]:
    """Run ``calls`` concurrently (at most ``max_workers`` at once); results in call order."""
    by_name = {tool.name: tool for tool in tools}
    if len(calls) <= 1 or max_workers <= 1:
        return [run_tool_call(call, by_name) for call in calls]
    with ContextThreadPoolExecutor(max_workers=min(max_workers, len(calls))) as pool:
        return list(pool.map(run_tool_call, calls, [by_name] * len(calls)))


def tool_record(step: int, call: ToolCall, result: ToolResult) -> ToolCallRecord:
    """The teacher's record of one call; edges come from the message's artifact."""
    message = result.message
    text = message.text
    artifact = message.artifact if isinstance(message.artifact, list) else []
    return ToolCallRecord(
        step=step,
        tool=call["name"],
        arguments=dict(call.get("args") or {}),
        result=text,
        error=text if message.status == "error" else None,
        latency_ms=result.latency_ms,
        edges=[tuple(edge) for edge in artifact],
    )


class ToolNode:
    """A graph node that runs the last model turn's tool calls.

    Args:
        tools: The tools, or a factory ``context -> tools`` called on every run of the node.
        record: Also return ``tool_records`` (the teacher's state has them; chat's has not).
        max_workers: Tool calls of one turn run at once.
    """

    def __init__(
        self, tools: ToolSource, *, record: bool = False, max_workers: int = MAX_WORKERS
    ) -> None:
        self.tools = tools
        self.record = record
        self.max_workers = max_workers

    def __call__(self, state: Any, runtime: Runtime[AgentContext]) -> dict[str, Any]:
        """Run the tool calls of ``state``'s last message (a dict or a dataclass state)."""
        messages = state["messages"] if isinstance(state, Mapping) else state.messages
        last = messages[-1] if messages else None
        if not isinstance(last, AIMessage) or not last.tool_calls:
            raise ValueError(f"tools node reached without tool calls (last: {type(last).__name__})")
        step = int(getattr(state, "steps", 0))
        calls: list[ToolCall] = [
            {**call, "id": call.get("id") or f"call_{step}_{index}"}
            for index, call in enumerate(last.tool_calls)
        ]
        tools = resolve_tools(self.tools, run_context(runtime))
        results = run_tool_calls(calls, tools, max_workers=self.max_workers)
        update: dict[str, Any] = {"messages": [result.message for result in results]}
        if self.record:
            update["tool_records"] = [
                tool_record(step, call, result) for call, result in zip(calls, results, strict=True)
            ]
        return update
