"""Plan mode: the paper's teacher, and exactly what the student runs — no agent loop.

Written out like the LangGraph templates, with fixed nodes::

    START → gather_evidence → answer → verify → END

``gather_evidence`` builds the set's evidence bundle with the one evidence layer (masked with
the set's hidden pairs, added to whatever the tools already hide) and renders it;
``answer`` puts it into the one instruction (:data:`agent.prompts.PLAN_PROMPT`) and makes one
answer (:mod:`agent.plan_answer`: a choice that can never be invalid, then the explanation);
``verify`` holds the answer's citations to the rendered bundle. :func:`run_plan` returns the
same :class:`~agent.records.TeacherRun` as the agent mode, with ``mode='plan'``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AnyMessage, messages_to_dict
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agent.citations import check_answer
from agent.context import AgentContext
from agent.defaults import default_graph_tools, default_model
from agent.plan_answer import PlanAnswer, answer_plan, plan_messages
from agent.records import INSUFFICIENT, CitationCheck, TeacherRun, TokenUsage
from evidence.bundle import EvidenceBundle, build_evidence_bundle, bundle_evidence, render_bundle
from graph_store.tools import GraphTools
from kedrec.errors import failure_text
from tasks.task_sets import TaskSet

logger = logging.getLogger(__name__)


@dataclass
class PlanState:
    """One plan-mode run: the set, its evidence, the answer and its check."""

    task_set: TaskSet
    """The question (its label is read only when ``context.rationalize`` is set)."""

    bundle: EvidenceBundle | None = None
    """The evidence bundle of the set (gather_evidence)."""

    evidence_text: str = ""
    """The rendered bundle: what the model reads."""

    evidence_seconds: float = 0.0

    messages: list[AnyMessage] = field(default_factory=list)
    """The instruction and the model's reply."""

    result: PlanAnswer | None = None
    """The answer before the citation check, with how its choice was made."""

    citation_check: CitationCheck | None = None
    failure_reason: str | None = None


def build_plan_graph(
    *,
    graph_tools: GraphTools | None = None,
    model: BaseChatModel | None = None,
    literature_index: Any = None,
    checkpointer: Any = None,
    name: str = "KEDRec plan",
) -> Any:
    """Wire the plan graph.

    Args:
        graph_tools: Graph tools (the set's hidden pairs are added); default: the settings'.
        model: The chat model (teacher or student); default: the context's model.
        literature_index: A ``LiteratureIndex``; default: the settings' index.
        checkpointer: A LangGraph checkpointer (None: no persistence).
        name: The graph's name in traces and Studio.

    Returns:
        The compiled graph; invoke it with ``{"task_set": …}`` and ``context=AgentContext(…)``.
    """

    def gather_evidence(state: PlanState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
        """Run the fixed evidence steps for the set and render them (never raises).

        A bundle given with the input (the collector builds one for its record) is used as
        it is, so the answer reads exactly the recorded evidence.
        """
        if state.bundle is not None:
            return {"evidence_text": render_bundle(state.bundle)}
        started = time.perf_counter()
        tools = graph_tools if graph_tools is not None else default_graph_tools()
        bundle = build_evidence_bundle(
            state.task_set,
            tools,
            literature_source=runtime.context.literature_source,
            literature_index=literature_index,
        )
        return {
            "bundle": bundle,
            "evidence_text": render_bundle(bundle),
            "evidence_seconds": time.perf_counter() - started,
        }

    def answer(state: PlanState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
        """One answer from the instruction: choice first, then the explanation."""
        context = runtime.context
        chat_model = model if model is not None else default_model(context)
        messages = plan_messages(state.task_set, state.evidence_text, context.rationalize)
        try:
            result = answer_plan(chat_model, messages, state.task_set, context)
        except Exception as error:  # recorded as the run's failure, never raised
            logger.debug("plan answer for %s failed", state.task_set.set_id, exc_info=True)
            return {"messages": messages, "failure_reason": failure_text(error)}
        return {"messages": [*messages, result.message], "result": result}

    def verify(state: PlanState) -> dict[str, Any]:
        """Hold the answer's citations to what the rendered bundle shows."""
        assert state.result is not None and state.bundle is not None
        cleaned, check = check_answer(state.result.answer, bundle_evidence(state.bundle))
        result = state.result.model_copy(update={"answer": cleaned})
        return {"result": result, "citation_check": check}

    def route_after_answer(state: PlanState) -> Literal["verify", "__end__"]:
        return "verify" if state.result is not None else "__end__"

    builder = StateGraph(PlanState, context_schema=AgentContext)
    builder.add_node("gather_evidence", gather_evidence)
    builder.add_node("answer", answer)
    builder.add_node("verify", verify)
    builder.add_edge(START, "gather_evidence")
    builder.add_edge("gather_evidence", "answer")
    builder.add_conditional_edges("answer", route_after_answer)
    builder.add_edge("verify", END)
    return builder.compile(checkpointer=checkpointer, name=name)


def run_plan(
    task_set: TaskSet,
    *,
    context: AgentContext,
    graph_tools: GraphTools | None = None,
    model: BaseChatModel | None = None,
    literature_index: Any = None,
    bundle: EvidenceBundle | None = None,
) -> TeacherRun:
    """Answer one task set in plan mode; the run never raises (failures are recorded).

    Args:
        task_set: The question; its hidden pairs are masked in every evidence step.
        context: Model, literature source, choice rule, abstention margin, rationalize.
        graph_tools: Graph tools on the database to use (default: the settings').
        model: The chat model (default: ``context.model``, loaded once per process).
        literature_index: The literature index (default: the settings').
        bundle: The set's evidence bundle, when already built (it is not built again).

    Returns:
        The run record with ``mode='plan'``: answer (citations checked against the bundle),
        how the choice was made, tokens and timings.
    """
    started = time.perf_counter()
    graph = build_plan_graph(
        graph_tools=graph_tools, model=model, literature_index=literature_index
    )
    values: dict[str, Any] = {}
    error: str | None = None
    try:
        values = graph.invoke({"task_set": task_set, "bundle": bundle}, context=context)
    except Exception as exc:  # the run records its failure instead of raising
        logger.warning("plan run %s failed", task_set.set_id, exc_info=True)
        error = failure_text(exc)
    return plan_record(task_set, context, values, error, time.perf_counter() - started)


def plan_record(
    task_set: TaskSet,
    context: AgentContext,
    values: dict[str, Any],
    error: str | None,
    wall_seconds: float,
) -> TeacherRun:
    """Turn the plan graph's last state into a TeacherRun."""
    result: PlanAnswer | None = values.get("result")
    bundle: EvidenceBundle | None = values.get("bundle")
    failure = error or values.get("failure_reason")
    if result is None and failure is None:
        failure = "the run ended without an answer"
    answer = result.answer if result is not None and failure is None else None
    candidate_ids = {c.id for c in task_set.candidates}
    choice_id = answer.choice if answer and answer.choice in candidate_ids else None
    return TeacherRun(
        status="ok" if answer is not None else "failed",
        mode="plan",
        rationalized=context.rationalize,
        abstained=bool(answer and answer.choice == INSUFFICIENT),
        choice_scores=result.choice_scores if result else None,
        failure_reason=None if answer is not None else failure,
        answer=answer,
        choice_id=choice_id,
        messages=messages_to_dict(list(values.get("messages") or [])),
        citation_check=values.get("citation_check") or CitationCheck(),
        tokens=result.tokens if result else TokenUsage(),
        model_seconds=result.model_seconds if result else 0.0,
        tool_seconds=float(values.get("evidence_seconds") or (bundle.seconds if bundle else 0.0)),
        wall_seconds=wall_seconds,
        steps=1 if result else 0,
    )


graph = build_plan_graph()
"""The plan graph on the settings' Neo4j, index and model (LangGraph Studio: ``plan``)."""
