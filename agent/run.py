"""One teacher run on one task set: masked tools, the graph, and the :class:`TeacherRun` record.

The run never raises for what happens inside it: a model error, a malformed answer after every
retry or a runaway loop all come back as ``status='failed'`` with ``failure_reason`` and
everything recorded up to that point.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    messages_to_dict,
)

from agent.citations import check_citations
from agent.context import AgentContext
from agent.prompts import render_system, render_task
from agent.records import INSUFFICIENT, CitationCheck, TeacherRun, TokenUsage, ToolCallRecord
from agent.state import AgentTask
from evidence.bundle import EvidenceBundle
from evidence.masking import masked_tools
from graph_store.tools import GraphTools
from kedrec.errors import ConfigError, EntityNotFoundError, failure_text
from llm.chat_models import is_student
from tasks.task_sets import NamedEntity, TaskSet

logger = logging.getLogger(__name__)


def token_usage(messages: Sequence[BaseMessage]) -> TokenUsage:
    """Sum the usage metadata of every model turn."""
    usage = TokenUsage()
    for message in messages:
        if isinstance(message, AIMessage) and message.usage_metadata:
            usage.input_tokens += message.usage_metadata.get("input_tokens", 0)
            usage.output_tokens += message.usage_metadata.get("output_tokens", 0)
    return usage


def run_teacher(
    task_set: TaskSet,
    *,
    context: AgentContext,
    graph_tools: GraphTools,
    model: BaseChatModel | None = None,
    checkpointer: Any = None,
    thread_id: str | None = None,
) -> TeacherRun:
    """Answer one task set with the teacher agent, its label edges hidden from every tool.

    Args:
        task_set: The question; its ``hidden_pairs`` are masked in every graph tool.
        context: Model, step limit, retries, literature source, live APIs.
        graph_tools: Graph tools on the database to use; the set's hidden pairs are added to
            those they already hide.
        model: The chat model; default ``llm.chat_models.load_chat_model(context)``.
        checkpointer: Optional LangGraph checkpointer (to inspect or resume a run).
        thread_id: Checkpoint thread; default the set ID.

    Returns:
        The run record: answer (citations checked), tool calls, messages, tokens, timings.
    """
    from agent.graph import build_graph, recursion_limit
    from agent.tools import make_tools

    started = time.perf_counter()
    if model is None:
        from agent.defaults import default_model

        model = default_model(context)
    tools = make_tools(
        masked_tools(graph_tools, task_set.hidden_pairs),
        literature_source=context.literature_source,
        use_live_apis=context.use_live_apis,
    )
    graph = build_graph(tools=tools, model=model, checkpointer=checkpointer)
    task = AgentTask.from_task_set(task_set)
    config: dict[str, Any] = {"recursion_limit": recursion_limit(context)}
    if checkpointer is not None:
        config["configurable"] = {"thread_id": thread_id or task_set.set_id}
    values: dict[str, Any] = {}
    error: str | None = None
    try:
        for chunk in graph.stream(
            {"task": task, "messages": [HumanMessage(render_task(task))]},
            config,
            context=context,
            stream_mode="values",
        ):
            values = chunk
    except Exception as exc:  # the run records its failure instead of raising
        logger.warning("teacher run %s failed", task_set.set_id, exc_info=True)
        error = failure_text(exc)
    return _record(task, context, values, error, time.perf_counter() - started)


def _record(
    task: AgentTask,
    context: AgentContext,
    values: dict[str, Any],
    error: str | None,
    wall_seconds: float,
) -> TeacherRun:
    """Turn the graph's last state into a TeacherRun (citations checked)."""
    messages: list[BaseMessage] = list(values.get("messages") or [])
    records: list[ToolCallRecord] = list(values.get("tool_records") or [])
    answer = values.get("answer")
    check = CitationCheck()
    if answer is not None and error is None:
        answer, check = check_citations(answer, records)
    else:
        answer = None
    failure = error or values.get("failure_reason")
    if answer is None and failure is None:
        failure = "the run ended without a final answer"
    candidate_ids = {c.id for c in task.candidates}
    choice_id = answer.choice if answer and answer.choice in candidate_ids else None
    if answer is not None and answer.choice != INSUFFICIENT and choice_id is None:
        logger.debug("choice %r is not a candidate", answer.choice)
    system = SystemMessage(render_system(task, context.max_steps))
    return TeacherRun(
        status="ok" if answer is not None else "failed",
        failure_reason=None if answer is not None else failure,
        answer=answer,
        choice_id=choice_id,
        messages=messages_to_dict([system, *messages]),
        tool_calls=records,
        citation_check=check,
        tokens=token_usage(messages),
        model_seconds=float(values.get("model_seconds") or 0.0),
        tool_seconds=sum(r.latency_ms for r in records) / 1000.0,
        wall_seconds=wall_seconds,
        steps=int(values.get("steps") or 0),
        step_limit_reached=bool(values.get("step_limit_reached")),
    )


def run_set(
    task_set: TaskSet,
    *,
    context: AgentContext,
    graph_tools: GraphTools,
    model: BaseChatModel | None = None,
    bundle: EvidenceBundle | None = None,
) -> TeacherRun:
    """Answer one task set in the context's mode: ``plan`` (one instruction over the fixed
    evidence bundle) or ``agent`` (the ReAct loop over the tools).

    A student (``context.model`` is ``student:<folder>``) always runs in plan mode without
    rationalization: it was trained on the plan prompt and does not call tools. Its folder is
    checked before the run (a malformed one raises ``llm.student.StudentModelError``).
    """
    if is_student(context.model):
        import copy

        from agent.defaults import default_model

        # a copy with the fields set (not dataclasses.replace: __post_init__ would refill
        # fields equal to their default from KEDREC_AGENT_*)
        context = copy.copy(context)
        context.mode, context.rationalize = "plan", False
        if model is None:
            model = default_model(context)
    if context.mode == "plan":
        from agent.plan import run_plan

        return run_plan(
            task_set, context=context, graph_tools=graph_tools, model=model, bundle=bundle
        )
    return run_teacher(task_set, context=context, graph_tools=graph_tools, model=model)


def resolve_task(graph_tools: GraphTools, disease: str, candidates: list[str]) -> TaskSet:
    """An ad-hoc task set from names or IDs (`kedrec recommend`, chat's ``/recommend``).

    The label is unknown (0 is a filler); the set ID is a hash of the three entity IDs.

    Raises:
        EntityNotFoundError: A name matches no entity of its kind.
        ConfigError: Not exactly two candidates.
    """

    def one(name: str, kind: str) -> NamedEntity:
        matches = graph_tools.resolve_entity(name, kinds=[kind], limit=1)
        if not matches:
            raise EntityNotFoundError(f"no {kind} matches {name!r}: try another spelling or ID")
        return NamedEntity(id=matches[0].id, name=matches[0].name)

    if len(candidates) != 2:
        raise ConfigError("a recommendation takes exactly two candidate drugs")
    found_disease = one(disease, "Disease")
    drugs = [one(name, "Compound") for name in candidates]
    digest = hashlib.sha256(
        "|".join([found_disease.id, *(d.id for d in drugs)]).encode()
    ).hexdigest()
    return TaskSet(
        set_id=f"adhoc-{digest[:12]}",
        split="test",
        disease=found_disease,
        candidates=drugs,
        label=0,
        seed=0,
        source="adhoc",
        hidden_pairs=[],
    )
