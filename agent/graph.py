"""The teacher agent: a ReAct loop over the graph and literature tools, then a structured answer.

Written out like the LangGraph react-agent template::

    START → call_model ─┬─ tool calls ──→ tools ─┬─ steps left ──→ call_model
                        │                        └─ step limit ──→ final_answer
                        └─ no tool calls ──────────────────────→ final_answer
    final_answer ─┬─ parsed, or failed after every retry ─→ END
                  └─ malformed, retries left ──────────────→ final_answer

Nodes read :class:`~agent.context.AgentContext` through the LangGraph runtime; the ``tools``
node is the :class:`~agent.tool_node.ToolNode` chat uses too (concurrent calls, errors as tool
messages, a :class:`~agent.records.ToolCallRecord` per call). The tools come from
:func:`build_graph` (``run_teacher`` passes the tools of one task, with its hidden pairs); the
module-level :data:`graph` for LangGraph Studio uses :func:`agent.defaults.default_tools`
(unmasked, from the settings, built on first use), as Studio runs have no task set.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agent.answer import AnswerFormatError, parse_final_answer
from agent.context import AgentContext
from agent.defaults import default_model, default_tools
from agent.prompts import REPAIR_PROMPT, render_final_answer, render_system
from agent.state import InputState, State
from agent.tool_node import ToolNode, ToolSource, resolve_tools, run_context

logger = logging.getLogger(__name__)


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
            unmasked tools from the settings (:func:`agent.defaults.default_tools`).
        model: The chat model; default: :func:`agent.defaults.default_model` (the context's).
        checkpointer: A LangGraph checkpointer (None: no persistence; Studio adds its own).
        name: The graph's name in traces and Studio.

    Returns:
        The compiled graph; invoke it with ``context=AgentContext(...)``.
    """
    tool_source: ToolSource = default_tools if tools is None else tools

    def chat_model(context: AgentContext) -> BaseChatModel:
        return default_model(context) if model is None else model

    def call_model(state: State, runtime: Runtime[AgentContext]) -> dict[str, Any]:
        """Ask the model for its next move, with the tools bound.

        Counts the turn. When the last allowed turn still asks for tools, they run and the
        answer is then forced (``step_limit_reached``, read by ``route_after_tools``).
        """
        context = run_context(runtime)
        bound = chat_model(context).bind_tools(resolve_tools(tool_source, context))
        messages = [SystemMessage(render_system(state.task, context.max_steps)), *state.messages]
        started = time.perf_counter()
        response = bound.invoke(messages)
        elapsed = time.perf_counter() - started
        steps = state.steps + 1
        logger.debug("step %d: %d tool calls", steps, len(response.tool_calls))
        return {
            "messages": [response],
            "steps": steps,
            "model_seconds": elapsed,
            "step_limit_reached": bool(response.tool_calls) and steps >= context.max_steps,
        }

    def final_answer(state: State, runtime: Runtime[AgentContext]) -> dict[str, Any]:
        """Ask for the structured answer (or its repair) and parse it into FinalAnswer.

        A malformed reply is sent back with the parse error until
        ``context.max_answer_retries`` repairs are spent; then the run is a failure.
        """
        context = run_context(runtime)
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
        response = chat_model(context).invoke(messages)
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
    builder.add_node("tools", ToolNode(tool_source, record=True))
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
