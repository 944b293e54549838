"""Plan mode on the real Neo4j + LanceDB: one instruction over the bundle, answers that parse."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from pathlib import Path

import pytest

from agent.context import AgentContext
from agent.plan import build_plan_graph, run_plan
from agent.plan_answer import plan_messages
from agent.records import INSUFFICIENT
from agent.sections import parse_sections, render_sections, split_fields
from agent.trajectory import build_record
from evidence.bundle import build_evidence_bundle, render_bundle
from graph_store.tools import GraphTools
from tasks.task_sets import TaskSet
from tests.conftest import CARVEDILOL, METFORMIN
from tests.support.scripted_model import ScriptedChatModel, turn


def context(**overrides: object) -> AgentContext:
    """A plan-mode context with the literature off unless asked (fast, deterministic)."""
    values: dict[str, object] = {"mode": "plan", "literature_source": "none"}
    values.update(overrides)
    return AgentContext(**values)  # type: ignore[arg-type]


PCOS = "Disease::DOID:11612"
"""A known indication of metformin that its rendered drug profile shows."""


def layout_reply(choice: str, *citations: str, rationale: str = "") -> str:
    return "\n".join(
        [
            f"Choice: {choice}",
            "Mechanism: Metformin acts on PRKAB1 (Gene::5564).",
            "Clinical: curated indication hidden.",
            "Literature: none shown.",
            "Safety: lactic acidosis.",
            "Comparison: better supported than carvedilol.",
            f"Rationale: {rationale or 'Metformin targets AMPK subunits (Gene::5564).'}",
            "Citations: " + ", ".join(citations),
        ]
    )


def test_plan_run_answers_from_the_bundle_and_checks_citations(
    graph_tools: GraphTools, task_set: TaskSet
) -> None:
    model = ScriptedChatModel(
        script=[
            turn(content=layout_reply("Metformin", METFORMIN, PCOS, "Gene::5564", "PMID:99999999"))
        ]
    )
    run = run_plan(task_set, context=context(), graph_tools=graph_tools, model=model)
    assert run.status == "ok", run.failure_reason
    assert run.mode == "plan" and not run.rationalized and run.steps == 1
    assert run.choice_id == METFORMIN and run.answer is not None
    assert run.citation_check.verified == [METFORMIN, PCOS]
    # PRKAB1 is a metformin target in the graph, but the rendered bundle cut it: only what the
    # model was shown verifies, so it goes the way of the invented PMID
    assert "Gene::5564" not in render_bundle(
        build_evidence_bundle(task_set, graph_tools, literature_source="none")
    )
    assert run.citation_check.removed == ["Gene::5564", "PMID:99999999"]
    assert "99999999" not in run.answer.model_dump_json()
    # the model read exactly the rendered bundle, in the one instruction, and no tool
    assert len(model.sent) == 1 and model.tools_seen == [None]
    bundle = build_evidence_bundle(task_set, graph_tools, literature_source="none")
    prompt = model.sent[0][-1].content
    assert render_bundle(bundle) in prompt
    assert prompt == plan_messages(task_set, render_bundle(bundle), False)[-1].content
    assert [m["type"] for m in run.messages] == ["system", "human", "ai"]
    assert run.tokens.input_tokens > 0 and run.tool_seconds > 0


def test_plan_run_repairs_an_answer_without_a_candidate(
    graph_tools: GraphTools, task_set: TaskSet
) -> None:
    model = ScriptedChatModel(
        script=[turn(content="I think aspirin."), turn(content=layout_reply("Carvedilol"))]
    )
    run = run_plan(task_set, context=context(), graph_tools=graph_tools, model=model)
    assert run.status == "ok" and run.choice_id == CARVEDILOL
    assert "could not be used" in model.sent[1][-1].content


def test_plan_run_fails_cleanly_after_every_retry(
    graph_tools: GraphTools, task_set: TaskSet
) -> None:
    model = ScriptedChatModel(script=[], then=turn(content="no idea"))
    run = run_plan(
        task_set, context=context(max_answer_retries=1), graph_tools=graph_tools, model=model
    )
    assert run.status == "failed" and run.answer is None
    assert run.failure_reason and "after 2 attempts" in run.failure_reason
    assert len(model.sent) == 2


def test_rationalized_runs_choose_the_label_and_never_count_as_accuracy(
    graph_tools: GraphTools, task_set: TaskSet
) -> None:
    model = ScriptedChatModel(script=[turn(content=layout_reply("Carvedilol"))])
    ctx = context(rationalize=True)
    run = run_plan(task_set, context=ctx, graph_tools=graph_tools, model=model)
    assert run.status == "ok" and run.rationalized
    assert run.choice_id == task_set.answer.id == METFORMIN, "the label, whatever the model says"
    prompt = model.sent[0][-1].content
    assert "The relevant drug for this disease is Metformin (Compound::DB00331)" in prompt
    record = build_record(task_set, run, context=ctx)
    assert record.correct is None and record.rationalized
    student_prompt = plan_messages(task_set, "evidence", False)[-1].content
    assert "relevant drug for this disease is" not in student_prompt


def test_abstention_is_recorded_and_not_scored(graph_tools: GraphTools, task_set: TaskSet) -> None:
    model = ScriptedChatModel(script=[turn(content=layout_reply("insufficient evidence"))])
    run = run_plan(task_set, context=context(), graph_tools=graph_tools, model=model)
    assert run.status == "ok" and run.abstained and run.answer.choice == INSUFFICIENT
    assert run.choice_id is None
    assert build_record(task_set, run, context=context()).correct is None


def test_plan_graph_has_fixed_nodes() -> None:
    graph = build_plan_graph(model=ScriptedChatModel(script=[]))
    nodes = set(graph.get_graph().nodes)
    assert nodes == {"__start__", "gather_evidence", "answer", "verify", "__end__"}


def test_module_plan_graph_is_served_for_studio() -> None:
    import json

    from agent.plan import graph

    served = json.loads((Path(__file__).parents[2] / "langgraph.json").read_text())["graphs"]
    assert served["plan"] == "./agent/plan.py:graph"
    assert graph.name == "KEDRec plan"


# -- the layout -------------------------------------------------------------------------------


def test_sections_parse_lenient_layouts(task_set: TaskSet) -> None:
    text = (
        "Sure! Here is my answer.\n**Choice:** metformin\n- Mechanism: AMPK\n  via PRKAB1\n"
        "Rationale: fits.\nCitations: Gene::5564; PMID:1\n"
    )
    fields = split_fields(text)
    assert fields["mechanism"] == "AMPK via PRKAB1"
    answer = parse_sections(text, task_set.candidates)
    assert answer.choice == METFORMIN
    assert answer.citations == ["Gene::5564", "PMID:1"]
    assert answer.answers[0].question_id == "mechanism"
    assert {a.question_id: a.answer for a in answer.answers}["safety"] == ""
    assert parse_sections("nothing", task_set.candidates, choice=CARVEDILOL).choice == CARVEDILOL


def test_sections_round_trip(task_set: TaskSet) -> None:
    answer = parse_sections(layout_reply("Carvedilol", "Gene::5564"), task_set.candidates)
    text = render_sections(answer, task_set.candidates)
    assert text.startswith("Choice: Carvedilol\nMechanism: ")
    assert parse_sections(text, task_set.candidates) == answer


@pytest.mark.slow
def test_plan_run_with_the_local_model(
    graph_tools: GraphTools, task_set: TaskSet, literature_index: Path
) -> None:
    """SmolLM2 in plan mode: the choice is a candidate by log-likelihood; the run parses."""
    ctx = context(model="local:smollm2", literature_source="both", max_tokens=96)
    run = run_plan(task_set, context=ctx, graph_tools=graph_tools)
    assert run.status == "ok", run.failure_reason
    assert run.choice_scores is not None and len(run.choice_scores.scores) == 2
    assert run.answer is not None
    assert run.answer.choice in {METFORMIN, CARVEDILOL, INSUFFICIENT}
    assert run.messages[-1]["data"]["content"].startswith("Choice: ")
    assert run.tokens.output_tokens > 0 and run.model_seconds > 0


# -- OpenAI-compatible servers: structured output, and the text path when it fails ------------


@pytest.fixture
def openai_server(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A loopback OpenAI server with the environment pointing at it."""
    from tests.support import openai_loopback as loopback

    with loopback.OpenAILoopback() as running:
        monkeypatch.setenv("OPENAI_BASE_URL", running.url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-plan")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        yield running


def test_plan_run_with_structured_output(
    graph_tools: GraphTools, task_set: TaskSet, openai_server
) -> None:  # type: ignore[no-untyped-def]
    import json

    from llm.chat_models import load_chat_model
    from tests.support import openai_loopback as loopback

    answer = {
        "choice": "Carvedilol",
        "confidence": 0.7,
        "answers": {
            q: "x" for q in ("mechanism", "clinical", "literature", "safety", "comparison")
        },
        "rationale": "Shared genes (Gene::150).",
        "citations": ["Gene::150", "PMID:99999999"],
    }
    openai_server.script([loopback.reply(json.dumps(answer), completion_tokens=40)])
    ctx = context(model="openai:loopback-model")
    run = run_plan(task_set, context=ctx, graph_tools=graph_tools, model=load_chat_model(ctx))
    assert run.status == "ok" and run.choice_id == CARVEDILOL
    assert run.citation_check.removed == ["PMID:99999999"]
    body = openai_server.requests[-1].body
    schema = body["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["choice"]["enum"] == ["Metformin", "Carvedilol", INSUFFICIENT]
    assert run.messages[-1]["data"]["content"].startswith("Choice: Carvedilol\n")
    assert run.tokens.output_tokens == 40


def test_plan_run_falls_back_to_the_layout_when_the_json_is_cut(
    graph_tools: GraphTools, task_set: TaskSet, openai_server
) -> None:  # type: ignore[no-untyped-def]
    from llm.chat_models import load_chat_model
    from tests.support import openai_loopback as loopback

    openai_server.script(
        [
            loopback.reply('{"choice": "Metformin", "citations": ["1", "1', finish_reason="length"),
            loopback.reply(layout_reply("Metformin", "Gene::5564")),
        ]
    )
    ctx = context(model="openai:loopback-model")
    run = run_plan(task_set, context=ctx, graph_tools=graph_tools, model=load_chat_model(ctx))
    assert run.status == "ok" and run.choice_id == METFORMIN
    assert len(openai_server.requests) == 2
    assert "response_format" not in openai_server.requests[-1].body
