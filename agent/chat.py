"""Free multi-turn chat over the teacher's tools: a ReAct loop and a terminal REPL.

The teacher graph ends every run in a structured final answer, which does not suit a
conversation, so chat has its own small graph written out as in the LangGraph templates:
``call_model`` (the teacher's model with the teacher's tools bound) → ``tools`` → back, until
the model answers without tool calls or ``max_steps`` turns are spent. The ``tools`` node is
the teacher's (:class:`~agent.tool_node.ToolNode`): a failing tool is an error message the
model sees, not the end of the turn. Threads are persisted
by a LangGraph checkpointer (SQLite under ``<cache_dir>/chat``), so ``kedrec chat --thread``
continues a conversation. ``graph`` (no checkpointer) is what ``langgraph dev`` serves.

``/recommend DISEASE | DRUG A | DRUG B`` runs the plan-mode graph on an ad-hoc set (the
student's, for ``student:<folder>``: the same fixed evidence steps and one generation) and
adds the question and answer to the thread. A student answers only such turns: it was never
trained to call tools.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.tools import BaseTool
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.runtime import Runtime

from agent.context import AgentContext
from agent.defaults import close_default_tools, default_model, default_tools
from agent.tool_node import ToolNode, resolve_tools, run_context
from kedrec.errors import ConfigError
from llm.chat_models import is_student

logger = logging.getLogger(__name__)

CHAT_SYSTEM_PROMPT = (
    "You are KEDRec, an assistant for explainable drug recommendation. You can query the "
    "Drug Repurposing Knowledge Graph (DRKG) and a literature index (PubMed, PMC, "
    "ClinicalTrials.gov) with tools. Resolve names to DRKG IDs before asking for profiles, "
    "ground every claim in tool results and cite their IDs (Compound::…, Gene::…, PMID:…, "
    "NCT:…). Say so plainly when the evidence is missing or weak."
)
"""Chat's system prompt (the teacher's task prompt lives in agent.prompts)."""

OUT_OF_STEPS = "I could not finish within the step limit; ask a narrower question."

RECOMMEND_COMMAND = "/recommend"
RECOMMEND_USAGE = f"{RECOMMEND_COMMAND} DISEASE | DRUG A | DRUG B"

ToolsFactory = Callable[[AgentContext], list[BaseTool]]
ModelFactory = Callable[[AgentContext], BaseChatModel]


def refuse_student(context: AgentContext) -> None:
    """Refuse a student model in the ReAct loop: a student was never trained to call tools.

    A student (``student:<folder>``) answers one disease and two candidates in plan mode:
    ``/recommend`` in ``kedrec chat``, or ``kedrec recommend --model student:<folder>``.

    Raises:
        ConfigError: ``context.model`` is a student.
    """
    if is_student(context.model):
        raise ConfigError(
            f"the chat's tool loop needs a tool-calling model, and {context.model} is a student "
            f"(plan mode only): ask it with `{RECOMMEND_USAGE}` in kedrec chat, or `kedrec "
            f"recommend --model {context.model} --disease … --candidates … …`"
        )


def chat_model(context: AgentContext) -> BaseChatModel:
    """The model of the chat's tool loop (:func:`agent.defaults.default_model`); a student is
    refused (it answers ``/recommend`` turns only).

    Raises:
        ConfigError: ``context.model`` is a student (:func:`refuse_student`).
    """
    refuse_student(context)
    return default_model(context)


def _turn_steps(messages: list[Any]) -> int:
    """Model turns since the user's last message."""
    steps = 0
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            break
        if isinstance(message, AIMessage):
            steps += 1
    return steps


def build_chat_graph(
    *,
    tools_factory: ToolsFactory | None = None,
    model_factory: ModelFactory | None = None,
    checkpointer: Any = None,
) -> Any:
    """Compile the chat ReAct graph.

    Args:
        tools_factory: Builds the tools for a context (default: the teacher's tools on the
            settings' graph, :func:`agent.defaults.default_tools`).
        model_factory: Builds the chat model for a context (default: :func:`chat_model`,
            the context's model; students refused).
        checkpointer: Where threads are saved (None: in-memory / the platform's).

    Returns:
        The compiled graph; call it with ``context=AgentContext(...)``.
    """
    tools = tools_factory or default_tools
    make_model = model_factory or chat_model

    def call_model(state: MessagesState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
        """Ask the model for the next step; out of steps, answer that plainly."""
        context = run_context(runtime)
        if _turn_steps(state["messages"]) >= context.max_steps:
            return {"messages": [AIMessage(content=OUT_OF_STEPS)]}
        runnable = make_model(context).bind_tools(resolve_tools(tools, context))
        response = runnable.invoke([SystemMessage(content=CHAT_SYSTEM_PROMPT), *state["messages"]])
        return {"messages": [response]}

    def route_model_output(state: MessagesState) -> Literal["tools", "__end__"]:
        """Go to the tools when the model asked for any, else end the turn."""
        last = state["messages"][-1]
        if not isinstance(last, AIMessage):
            raise ValueError(f"expected an AIMessage after call_model, got {type(last).__name__}")
        return "tools" if last.tool_calls else "__end__"

    builder = StateGraph(MessagesState, context_schema=AgentContext)
    builder.add_node("call_model", call_model)
    builder.add_node("tools", ToolNode(tools))
    builder.add_edge(START, "call_model")
    builder.add_conditional_edges("call_model", route_model_output)
    builder.add_edge("tools", "call_model")
    return builder.compile(checkpointer=checkpointer, name="KEDRec chat")


graph = build_chat_graph()
"""The chat graph served by ``langgraph dev`` (the platform supplies the checkpointer)."""


# -- threads ----------------------------------------------------------------------------------


def threads_path(settings: Any = None) -> Path:
    """``<cache_dir>/chat/threads.sqlite``."""
    from kedrec.settings import get_settings

    return (settings or get_settings()).cache_dir / "chat" / "threads.sqlite"


def sqlite_checkpointer(path: Path) -> Any:
    """A SQLite checkpointer on ``path`` (created with its folder)."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    path.parent.mkdir(parents=True, exist_ok=True)
    saver = SqliteSaver(sqlite3.connect(str(path), check_same_thread=False))
    saver.setup()
    return saver


@dataclass
class ThreadInfo:
    """One saved conversation."""

    thread_id: str
    messages: int
    first_question: str


def list_threads(compiled: Any, checkpointer: Any) -> list[ThreadInfo]:
    """Every thread in the checkpointer, most recently updated first."""
    latest: dict[str, str] = {}
    for item in checkpointer.list(None):
        thread_id = item.config["configurable"]["thread_id"]
        latest[thread_id] = max(latest.get(thread_id, ""), item.checkpoint["ts"])
    infos = []
    for thread_id in sorted(latest, key=lambda t: latest[t], reverse=True):
        state = compiled.get_state({"configurable": {"thread_id": thread_id}})
        messages = state.values.get("messages", [])
        first = next((m for m in messages if isinstance(m, HumanMessage)), None)
        infos.append(ThreadInfo(thread_id, len(messages), str(first.content) if first else ""))
    return infos


def new_thread_id() -> str:
    """A fresh, short thread ID."""
    return f"chat-{uuid.uuid4().hex[:10]}"


# -- /recommend -------------------------------------------------------------------------------


def parse_recommend(text: str) -> tuple[str, str, str]:
    """``/recommend DISEASE | DRUG A | DRUG B`` → the three names (or DRKG IDs).

    Raises:
        ConfigError: Not three non-empty parts separated by ``|``.
    """
    parts = [part.strip() for part in text.removeprefix(RECOMMEND_COMMAND).split("|")]
    if len(parts) != 3 or not all(parts):
        raise ConfigError(
            f"usage: {RECOMMEND_USAGE} (a disease and two drugs, names or DRKG IDs, between |)"
        )
    disease, drug_a, drug_b = parts
    return disease, drug_a, drug_b


def answer_text(task_set: Any, run: Any) -> str:
    """A plan run as chat text: the choice, confidence, domain answers, rationale and the
    citations that survived the check (or why there is no answer).
    """
    if run.status != "ok" or run.answer is None:
        return f"No answer: {run.failure_reason or 'unknown reason'}"
    names = {c.id: c.name for c in task_set.candidates}
    answer = run.answer
    chosen = names.get(run.choice_id or "", answer.choice)
    lines = [
        f"{chosen} ({run.choice_id or '—'}) for {task_set.disease.name} "
        f"({task_set.disease.id}), confidence {answer.confidence:.2f}."
    ]
    lines += [f"{item.question_id}: {item.answer}" for item in answer.answers]
    lines.append(f"Rationale: {answer.rationale}")
    lines.append(f"Verified citations: {', '.join(run.citation_check.verified) or 'none'}")
    return "\n".join(lines)


def recommend_text(disease: str, drug_a: str, drug_b: str, context: AgentContext) -> str:
    """Resolve the names on the settings' graph and answer in the context's plan graph (the
    student's for a student: same evidence steps, one generation, citation check).
    """
    from agent.defaults import default_graph_tools
    from agent.run import resolve_task, run_set

    graph_tools = default_graph_tools()
    task_set = resolve_task(graph_tools, disease, [drug_a, drug_b])
    return answer_text(task_set, run_set(task_set, context=context, graph_tools=graph_tools))


def record_recommendation(compiled: Any, thread_id: str, question: str, answer: str) -> None:
    """Add a ``/recommend`` turn to the thread, as if the model had answered it."""
    compiled.update_state(
        {"configurable": {"thread_id": thread_id}},
        {"messages": [HumanMessage(content=question), AIMessage(content=answer)]},
        as_node="call_model",
    )


# -- the REPL ---------------------------------------------------------------------------------


def _short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def stream_turn(
    compiled: Any, text: str, *, thread_id: str, context: AgentContext
) -> Iterator[tuple[str, str]]:
    """Run one user turn and yield ``(kind, text)``: ``token``, ``tool_call``, ``tool_result``.

    Tokens come from ``stream_mode="messages"``; tool calls and results from ``"updates"``.
    """
    config = {"configurable": {"thread_id": thread_id}}
    streamed: set[str] = set()
    for mode, payload in compiled.stream(
        {"messages": [HumanMessage(content=text)]},
        config,
        context=context,
        stream_mode=["messages", "updates"],
    ):
        if mode == "messages":
            chunk, metadata = payload
            if metadata.get("langgraph_node") != "call_model":
                continue
            content = chunk.content if isinstance(chunk, AIMessageChunk | AIMessage) else None
            if isinstance(content, str) and content:
                streamed.add(chunk.id or "")
                yield "token", content
            continue
        for node, update in payload.items():
            for message in (update or {}).get("messages", []):
                if node == "call_model" and isinstance(message, AIMessage):
                    if message.content and (message.id or "") not in streamed:
                        yield "token", str(message.content)  # a model that did not stream
                    for call in message.tool_calls:
                        yield "tool_call", f"{call['name']}({_short(call['args'], 120)})"
                elif node == "tools" and isinstance(message, ToolMessage):
                    status = " [error]" if message.status == "error" else ""
                    yield "tool_result", f"{message.name}{status}: {_short(message.content)}"


HELP = (
    f"Commands: {RECOMMEND_USAGE}, /new (new thread), /threads (list threads), /quit. "
    "Anything else is asked."
)
STUDENT_HELP = (
    f"A student answers {RECOMMEND_USAGE} only (it was trained on the plan prompt, not to "
    "call tools). Commands: /new, /threads, /quit."
)


def chat_repl(
    compiled: Any,
    checkpointer: Any,
    *,
    context: AgentContext,
    thread_id: str | None = None,
    input_fn: Callable[[str], str] = input,
    console: Any = None,
) -> str:
    """Run the terminal chat until ``/quit`` or end of input; return the last thread ID.

    A failing tool is shown to the model (see :class:`~agent.tool_node.ToolNode`); a turn
    that fails anyway (e.g. the model's server is down) is reported and the session goes on.

    Args:
        compiled: A chat graph compiled with ``checkpointer``.
        checkpointer: The checkpointer (for ``/threads``).
        context: The agent context (model, literature source, step limit).
        thread_id: Thread to continue; a new one when None.
        input_fn: Reads one line (``input``; injected in tests).
        console: A rich console for output (stdout when None).
    """
    from rich.console import Console
    from rich.markup import escape

    out = console or Console()
    student = is_student(context.model)
    help_text = STUDENT_HELP if student else HELP
    thread = thread_id or new_thread_id()
    out.print(
        f"[bold]KEDRec chat[/bold] ({context.model}), thread [cyan]{thread}[/cyan]. {help_text}"
    )
    while True:
        try:
            text = input_fn("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            out.print()
            return thread
        if not text:
            continue
        if text == "/quit":
            return thread
        if text == "/new":
            thread = new_thread_id()
            out.print(f"new thread [cyan]{thread}[/cyan]")
            continue
        if text == "/threads":
            for info in list_threads(compiled, checkpointer):
                mark = "*" if info.thread_id == thread else " "
                out.print(
                    f"{mark} {info.thread_id}  {info.messages:>3} messages  "
                    f"{escape(_short(info.first_question, 60))}"
                )
            continue
        if text == RECOMMEND_COMMAND or text.startswith(RECOMMEND_COMMAND + " "):
            try:
                names = parse_recommend(text)
                with out.status(f"answering with {context.model}…"):
                    answer = recommend_text(*names, context)
            except Exception as error:  # a name not found, the model missing: one line
                logger.warning("recommend failed", exc_info=True)
                out.print(f"[red]error[/red]: {escape(_short(str(error) or type(error).__name__))}")
                continue
            record_recommendation(compiled, thread, text, answer)
            out.print(f"[bold green]kedrec>[/bold green] {escape(answer)}", highlight=False)
            continue
        if text.startswith("/"):
            out.print(f"unknown command {escape(text)}. {help_text}")
            continue
        if student:
            out.print(help_text)
            continue
        out.print("[bold green]kedrec>[/bold green] ", end="")
        after_tool = False
        try:
            for kind, piece in stream_turn(compiled, text, thread_id=thread, context=context):
                if kind == "token":
                    if after_tool:
                        out.print("[bold green]kedrec>[/bold green] ", end="")
                        after_tool = False
                    out.print(escape(piece), end="", soft_wrap=True, highlight=False)
                else:
                    arrow = "→" if kind == "tool_call" else "←"
                    out.print(f"\n  [dim]{arrow} {escape(piece)}[/dim]", end="", soft_wrap=True)
                    after_tool = True
        except Exception as error:  # e.g. the model's server is down: report, keep the session
            logger.warning("chat turn failed", exc_info=True)
            out.print(f"\n[red]error[/red]: {escape(_short(f'{type(error).__name__}: {error}'))}")
        out.print()


def chat_session(context: AgentContext, *, thread_id: str | None = None) -> str:
    """``kedrec chat``: the REPL on the settings' graph with threads in SQLite (a student
    answers ``/recommend`` turns only).
    """
    if is_student(context.model):
        default_model(context)  # a malformed folder fails now, in one line naming the fix
    checkpointer = sqlite_checkpointer(threads_path())
    try:
        compiled = build_chat_graph(checkpointer=checkpointer)
        return chat_repl(compiled, checkpointer, context=context, thread_id=thread_id)
    finally:
        checkpointer.conn.close()
        close_default_tools()
