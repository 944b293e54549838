"""The teacher agent: a ReAct loop over the graph and literature tools, then a structured answer.

Written out like the LangGraph react-agent template::

    START → call_model ─┬─ tool calls ──→ tools ─┬─ steps left ──→ call_model
                        │                        └─ step limit ──→ final_answer
                        └─ no tool calls ──────────────────────→ final_answer
    final_answer ─┬─ parsed, or failed after every retry ─→ END
                  └─ malformed, retries left ──────────────→ final_answer

Nodes read :class:`~agent.context.AgentContext` through the LangGraph runtime. The tools come
from :func:`build_graph` (``run_teacher`` passes the tools of one task, with its hidden pairs);
the module-level :data:`graph` for LangGraph Studio builds default, unmasked tools from the
settings on first use, as Studio runs have no task set.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import BaseTool
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agent.answer import AnswerFormatError, parse_final_answer
from agent.context import AgentContext
from agent.prompts import REPAIR_PROMPT, render_final_answer, render_system
from agent.records import ToolCallRecord
from agent.state import InputState, State

logger = logging.getLogger(__name__)

ToolSource = Sequence[BaseTool] | Callable[[AgentContext], Sequence[BaseTool]]
"""Fixed tools, or a factory that builds them from the run's context."""


def _context(runtime: Runtime[AgentContext]) -> AgentContext:
    """The run's context; Studio runs may start without one."""
    return runtime.context if runtime.context is not None else AgentContext()


_DEFAULT_TOOLS: dict[tuple[str, bool], list[BaseTool]] = {}
_DEFAULT_DRIVERS: list[Any] = []


def default_tools(context: AgentContext) -> list[BaseTool]:
    """Unmasked tools from the settings' Neo4j and literature index (Studio, exploration)."""
    key = (context.literature_source, context.use_live_apis)
    if key not in _DEFAULT_TOOLS:
        from agent.tools import make_tools
        from graph_store.connection import open_driver
        from graph_store.tools import GraphTools
        from kedrec.settings import get_settings

        settings = get_settings()
        driver = open_driver(settings.neo4j)
        _DEFAULT_DRIVERS.append(driver)
        graph_tools = GraphTools.from_settings(driver, settings.neo4j)
        _DEFAULT_TOOLS[key] = make_tools(
            graph_tools,
            literature_source=context.literature_source,
            use_live_apis=context.use_live_apis,
        )
    return _DEFAULT_TOOLS[key]


def close_default_tools() -> None:
    """Close the drivers :func:`default_tools` opened and forget its tools."""
    while _DEFAULT_DRIVERS:
        _DEFAULT_DRIVERS.pop().close()
    _DEFAULT_TOOLS.clear()


class _Resources:
    """Resolves the chat model and tools of a run (given, or built from the context)."""

    def __init__(self, tools: ToolSource | None, model: BaseChatModel | None) -> None:
        self._tools = tools
        self._model = model
        self._models: dict[tuple[str, float, int], BaseChatModel] = {}

    def tools(self, context: AgentContext) -> list[BaseTool]:
        if self._tools is None:
            return default_tools(context)
        if callable(self._tools):
            return list(self._tools(context))
        return list(self._tools)

    def model(self, context: AgentContext) -> BaseChatModel:
        if self._model is not None:
            return self._model
        key = (context.model, context.temperature, context.max_tokens)
        if key not in self._models:
            from llm.chat_models import load_chat_model

            self._models[key] = load_chat_model(context)
        return self._models[key]


def build_graph(
    *,
    tools: ToolSource | None = None,
    model: BaseChatModel | None = None,
    checkpointer: Any = None,
    name: str = "KEDRec teacher",
) -> Any:
    """Wire the teacher graph.

    Args:
        tools: The tools the model may call, or a factory ``context -> tools``; default:
            unmasked tools from the settings (:func:`default_tools`).
        model: The chat model; default: ``llm.chat_models.load_chat_model(context)``.
        checkpointer: A LangGraph checkpointer (None: no persistence; Studio adds its own).
        name: The graph's name in traces and Studio.

    Returns:
        The compiled graph; invoke it with ``context=AgentContext(...)``.
    """
    resources = _Resources(tools, model)

    def call_model(state: State, runtime: Runtime[AgentContext]) -> dict[str, Any]:
        """Ask the model for its next move, with the tools bound.

        Counts the turn; whether the tools of the last allowed turn run and the answer is
        then forced is decided after the tool node (see ``route_after_tools``).
        """
        context = _context(runtime)
        bound = resources.model(context).bind_tools(resources.tools(context))
        messages = [SystemMessage(render_system(state.task, context.max_steps)), *state.messages]
        started = time.perf_counter()
        response = bound.invoke(messages)
        elapsed = time.perf_counter() - started
        logger.debug("step %d: %d tool calls", state.steps + 1, len(response.tool_calls))
        return {"messages": [response], "steps": state.steps + 1, "model_seconds": elapsed}

    def call_tools(state: State, runtime: Runtime[AgentContext]) -> dict[str, Any]:
        """Run the last turn's tool calls in order, recording result, edges and latency.

        Unknown tools and unexpected failures become error tool messages, so the model can
        correct itself and the run never dies on a tool.
        """
        context = _context(runtime)
        last = state.messages[-1]
        if not isinstance(last, AIMessage) or not last.tool_calls:
            raise ValueError(f"tools node reached without tool calls (last: {type(last).__name__})")
        by_name = {tool.name: tool for tool in resources.tools(context)}
        messages: list[ToolMessage] = []
        records: list[ToolCallRecord] = []
        for index, call in enumerate(last.tool_calls):
            call_id = call.get("id") or f"call_{state.steps}_{index}"
            tool = by_name.get(call["name"])
            started = time.perf_counter()
            if tool is None:
                message = ToolMessage(
                    f"Error: there is no tool {call['name']!r}; use one of {sorted(by_name)}",
                    tool_call_id=call_id,
                    name=call["name"],
                    status="error",
                )
            else:
                try:
                    message = tool.invoke({**call, "id": call_id, "type": "tool_call"})
                except Exception as error:  # a tool must never end the run
                    logger.warning("tool %s failed", call["name"], exc_info=True)
                    message = ToolMessage(
                        f"Error: {call['name']} failed ({type(error).__name__}: {error})",
                        tool_call_id=call_id,
                        name=call["name"],
                        status="error",
                    )
            latency_ms = (time.perf_counter() - started) * 1000.0
            text = message.text
            artifact = message.artifact if isinstance(message.artifact, list) else []
            records.append(
                ToolCallRecord(
                    step=state.steps,
                    tool=call["name"],
                    arguments=dict(call.get("args") or {}),
                    result=text,
                    error=text if message.status == "error" else None,
                    latency_ms=latency_ms,
                    edges=[tuple(edge) for edge in artifact],
                )
            )
            messages.append(message)
        return {
            "messages": messages,
            "tool_records": records,
            "step_limit_reached": state.steps >= context.max_steps,
        }

    def final_answer(state: State, runtime: Runtime[AgentContext]) -> dict[str, Any]:
        """Ask for the structured answer (or its repair) and parse it into FinalAnswer.

        A malformed reply is sent back with the parse error until
        ``context.max_answer_retries`` repairs are spent; then the run is a failure.
        """
        context = _context(runtime)
        attempt = state.answer_attempts + 1
        if state.answer_error is None:
            text = render_final_answer(state.task, step_limit_reached=state.step_limit_reached)
        else:
            text = REPAIR_PROMPT.format(error=state.answer_error)
        prompt = HumanMessage(text)
        messages = [
            SystemMessage(render_system(state.task, context.max_steps)),
            *state.messages,
            prompt,
        ]
        started = time.perf_counter()
        response = resources.model(context).invoke(messages)
        update: dict[str, Any] = {
            "messages": [prompt, response],
            "answer_attempts": attempt,
            "model_seconds": time.perf_counter() - started,
        }
        candidates = state.task.candidates if state.task else []
        try:
            update["answer"] = parse_final_answer(response.text, candidates)
            update["answer_error"] = None
        except AnswerFormatError as error:
            logger.debug("final answer attempt %d malformed: %s", attempt, error)
            update["answer_error"] = str(error)
            if attempt > context.max_answer_retries:
                update["failure_reason"] = (
                    f"malformed final answer after {attempt} attempts: {error}"
                )
        return update

    def route_model_output(state: State) -> Literal["tools", "final_answer"]:
        """Run the tools the model asked for, or go to the final answer when it asked none."""
        last = state.messages[-1]
        if not isinstance(last, AIMessage):
            raise ValueError(f"expected an AIMessage after call_model, got {type(last).__name__}")
        return "tools" if last.tool_calls else "final_answer"

    def route_after_tools(state: State) -> Literal["call_model", "final_answer"]:
        """Go back to the model, unless the last allowed turn is spent: then force the answer."""
        return "final_answer" if state.step_limit_reached else "call_model"

    def route_final(state: State) -> Literal["final_answer", "__end__"]:
        """End on a parsed answer or a recorded failure; otherwise ask for a repair."""
        if state.answer is not None or state.failure_reason is not None:
            return "__end__"
        if state.answer_error is None:
            raise ValueError("final_answer produced neither an answer nor an error")
        return "final_answer"

    builder = StateGraph(State, input_schema=InputState, context_schema=AgentContext)
    builder.add_node("call_model", call_model)
    builder.add_node("tools", call_tools)
    builder.add_node("final_answer", final_answer)
    builder.add_edge(START, "call_model")
    builder.add_conditional_edges("call_model", route_model_output)
    builder.add_conditional_edges("tools", route_after_tools)
    builder.add_conditional_edges(
        "final_answer", route_final, {"final_answer": "final_answer", "__end__": END}
    )
    return builder.compile(checkpointer=checkpointer, name=name)


def recursion_limit(context: AgentContext) -> int:
    """Super-steps a run needs at most: two per turn, the answer attempts, and slack."""
    return 2 * context.max_steps + context.max_answer_retries + 6


graph = build_graph()
"""The teacher graph for langgraph.json / LangGraph Studio (default tools, no checkpointer)."""
