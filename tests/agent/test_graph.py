"""The teacher graph end to end: a scripted model, the real Neo4j slice and a real LanceDB index."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import InMemorySaver

from agent.context import AgentContext
from agent.records import INSUFFICIENT
from agent.run import run_teacher
from agent.tools import make_tools, tool_schema
from graph_store.tools import GraphTools
from tasks.task_sets import TaskSet
from tests.support.scripted_model import USAGE, ScriptedChatModel, tool_call, turn

pytestmark = pytest.mark.neo4j

METFORMIN = "Compound::DB00331"
CARVEDILOL = "Compound::DB01136"
T2D = "Disease::DOID:9352"
PRKAB1 = "Gene::5564"
PRKAB1_PMID = "PMID:12890675"
"""A PubMed ID DrugBank gives for metformin → PRKAB1 (shown by drug_profile)."""

TOOL_SCHEMA = {
    "resolve_entity": ["kind", "name"],
    "drug_profile": ["drug"],
    "disease_profile": ["disease"],
    "direct_edges": ["disease", "drug"],
    "mechanism_paths": ["disease", "drug"],
    "candidate_drugs": ["disease"],
    "similar_drugs": ["drug"],
    "run_cypher": ["query"],
    "search_literature": ["disease", "drug"],
    "pubmed_search": ["query"],
    "clinical_trials_search": ["condition", "intervention"],
}


def final(**overrides: object) -> AIMessage:
    body = {
        "choice": "Metformin",
        "confidence": 0.8,
        "answers": {
            "mechanism": f"Metformin activates AMPK through PRKAB1 ({PRKAB1}).",
            "clinical": "No trial found in the local index.",
            "literature": f"DrugBank cites {PRKAB1_PMID}; see also PMID:99999999.",
            "safety": "Lactic acidosis risk.",
            "comparison": "Metformin is better supported than carvedilol.",
        },
        "rationale": f"Metformin targets PRKAB1 ({PRKAB1}, {PRKAB1_PMID}).",
        "citations": [
            METFORMIN,
            PRKAB1,
            f"{METFORMIN} -TARGETS-> {PRKAB1}",
            "pmid 12890675",
            "PMID:99999999",
            f"{METFORMIN} -TREATS-> {T2D}",
        ],
        **overrides,
    }
    return turn(content=json.dumps(body))


def context(**overrides: object) -> AgentContext:
    values: dict[str, object] = {"model": "scripted", "max_steps": 6, "max_answer_retries": 2}
    values.update(overrides)
    return AgentContext(**values)  # type: ignore[arg-type]


def test_tool_schema_snapshot(graph_tools: GraphTools) -> None:
    tools = make_tools(graph_tools, literature_source="both")
    assert tool_schema(tools) == TOOL_SCHEMA
    assert all(tool.description and "Returns" in tool.description for tool in tools)
    ablations = {
        source: [t.name for t in make_tools(graph_tools, literature_source=source)][8:]
        for source in ("none", "ct", "pmc")
    }
    assert ablations == {
        "none": [],
        "ct": ["search_literature", "clinical_trials_search"],
        "pmc": ["search_literature", "pubmed_search"],
    }


def test_run_records_tools_answer_and_checked_citations(
    graph_tools: GraphTools, literature_index: Path, task_set: TaskSet
) -> None:
    model = ScriptedChatModel(
        script=[
            turn(
                tool_call("drug_profile", drug="Metformin"),
                tool_call("disease_profile", disease=T2D),
            ),
            turn(
                tool_call(
                    "search_literature", disease="type 2 diabetes mellitus", drug="Metformin"
                ),
                tool_call("drug_profile", drug="zzqxvw"),
            ),
            turn(content="Metformin is well supported; carvedilol is an antihypertensive."),
            final(),
        ]
    )
    run = run_teacher(task_set, context=context(), graph_tools=graph_tools, model=model)

    assert run.status == "ok", run.failure_reason
    assert run.choice_id == METFORMIN and run.steps == 3
    assert [(r.step, r.tool) for r in run.tool_calls] == [
        (1, "drug_profile"),
        (1, "disease_profile"),
        (2, "search_literature"),
        (2, "drug_profile"),
    ]
    profile, _, literature, unknown = run.tool_calls
    assert PRKAB1 in profile.result and PRKAB1_PMID in profile.result
    assert (METFORMIN, "TARGETS", PRKAB1) in profile.edges
    assert "BM25 hits" in literature.result.splitlines()[-1] and literature.error is None
    assert unknown.error and "no Compound matches 'zzqxvw'" in unknown.error
    assert all(r.latency_ms > 0 for r in run.tool_calls)
    assert run.tool_seconds == pytest.approx(sum(r.latency_ms for r in run.tool_calls) / 1000)
    assert 0 < run.model_seconds < run.wall_seconds

    assert run.citation_check.verified == [
        METFORMIN,
        PRKAB1,
        f"{METFORMIN} -TARGETS-> {PRKAB1}",
        PRKAB1_PMID,
    ]
    assert run.citation_check.removed == ["PMID:99999999", f"{METFORMIN} -TREATS-> {T2D}"]
    assert run.answer is not None
    assert "99999999" not in json.dumps(run.answer.model_dump())
    assert run.tokens.input_tokens == 4 * USAGE["input_tokens"]
    assert run.tokens.output_tokens == 4 * USAGE["output_tokens"]

    # the model saw the task, the tools, and the tool results
    assert model.tools_seen[0] == list(TOOL_SCHEMA)
    assert model.tools_seen[-1] is None  # the final answer is asked without tools
    assert "type 2 diabetes mellitus (Disease::DOID:9352)" in model.sent[0][0].content
    types = [m["type"] for m in run.messages]
    assert types[:3] == ["system", "human", "ai"] and types.count("tool") == 4
    assert run.messages[-2]["type"] == "human" and "JSON" in run.messages[-2]["data"]["content"]


def test_hidden_pair_stays_hidden(graph_tools: GraphTools, task_set: TaskSet) -> None:
    probe = f"MATCH (c:Compound {{id: '{METFORMIN}'}})-[r]-(d:Disease {{id: '{T2D}'}}) RETURN r"
    model = ScriptedChatModel(
        script=[
            turn(
                tool_call("direct_edges", drug=METFORMIN, disease=T2D),
                tool_call("run_cypher", query=probe),
                tool_call("direct_edges", drug="Carvedilol", disease="hypertension"),
            ),
            turn(content="The graph shows no direct edge for the task's pair."),
            final(choice="insufficient evidence", confidence=0.2),
        ]
    )
    run = run_teacher(
        task_set, context=context(literature_source="none"), graph_tools=graph_tools, model=model
    )
    edges, cypher, visible = run.tool_calls
    assert edges.result.startswith("none (no direct edge") and edges.edges == []
    assert cypher.error and "refused" in cypher.error
    assert visible.edges and visible.error is None  # masking hides only the task's pair
    assert run.status == "ok" and run.answer and run.answer.choice == INSUFFICIENT
    assert run.choice_id is None
    # the hidden edge can't be cited: no tool returned it
    assert f"{METFORMIN} -TREATS-> {T2D}" in run.citation_check.removed
    # the original tools are untouched by the run's masking
    assert graph_tools.direct_edges(METFORMIN, T2D)


def test_step_limit_forces_the_final_answer(graph_tools: GraphTools, task_set: TaskSet) -> None:
    endless = turn(tool_call("resolve_entity", name="metformin", kind="Compound"))
    model = ScriptedChatModel(script=[endless] * 3 + [final()], then=endless)
    run = run_teacher(
        task_set,
        context=context(max_steps=3, literature_source="none"),
        graph_tools=graph_tools,
        model=model,
    )
    assert run.steps == 3 and len(run.tool_calls) == 3 and run.step_limit_reached
    assert run.status == "ok" and run.choice_id == METFORMIN
    assert "could not finish" in model.sent[-1][-1].content


def test_step_limit_with_garbage_answers_fails_cleanly(
    graph_tools: GraphTools, task_set: TaskSet
) -> None:
    endless = turn(tool_call("resolve_entity", name="metformin"))
    garbage = turn(content="I keep searching.")
    model = ScriptedChatModel(script=[endless] * 2, then=garbage)
    run = run_teacher(
        task_set,
        context=context(max_steps=2, max_answer_retries=1, literature_source="none"),
        graph_tools=graph_tools,
        model=model,
    )
    assert run.status == "failed" and run.answer is None and run.choice_id is None
    assert run.failure_reason == (
        "malformed final answer after 2 attempts: no JSON object found in the reply"
    )
    assert run.steps == 2 and len(model.sent) == 4


def test_malformed_answer_is_repaired_by_asking_again(
    graph_tools: GraphTools, task_set: TaskSet
) -> None:
    model = ScriptedChatModel(
        script=[
            turn(content="Metformin."),
            turn(content="The answer is metformin, confidence high."),
            final(choice="aspirin"),
            final(citations=[]),
        ]
    )
    checkpointer = InMemorySaver()
    run = run_teacher(
        task_set,
        context=context(literature_source="none"),
        graph_tools=graph_tools,
        model=model,
        checkpointer=checkpointer,
        thread_id="repair",
    )
    assert run.status == "ok" and run.choice_id == METFORMIN
    repairs = [m["data"]["content"] for m in run.messages if m["type"] == "human"][1:]
    assert "no JSON object found" in repairs[1]
    assert "'aspirin' is not a candidate" in repairs[2]
    assert run.steps == 1 and run.tool_calls == []
    # with no tool call, every ID in the answer is unverifiable
    assert run.citation_check.verified == []
    assert PRKAB1 in run.citation_check.removed
    saved = checkpointer.get({"configurable": {"thread_id": "repair"}})
    assert saved is not None and saved["channel_values"]["answer_attempts"] == 3


def test_model_error_is_a_failed_run(graph_tools: GraphTools, task_set: TaskSet) -> None:
    model = ScriptedChatModel(script=[])  # raises on the first call
    run = run_teacher(task_set, context=context(), graph_tools=graph_tools, model=model)
    assert run.status == "failed" and "script exhausted" in (run.failure_reason or "")
    assert run.messages[0]["type"] == "system"


def test_open_conversation_uses_default_tools_from_settings(
    settings, loaded_graph, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    import agent.graph
    from agent.defaults import close_default_tools
    from kedrec.settings import get_settings

    monkeypatch.setenv("NEO4J_URI", settings.neo4j.uri)
    close_default_tools()
    get_settings.cache_clear()
    model = ScriptedChatModel(
        script=[
            turn(tool_call("resolve_entity", name="metformin")),
            turn(content="Metformin is Compound::DB00331."),
            turn(content=json.dumps({"choice": "Metformin", "confidence": 0.9, "rationale": "x"})),
        ]
    )
    try:
        state = agent.graph.build_graph(model=model).invoke(
            {"messages": [("user", "What is metformin's DRKG ID?")]},
            context=AgentContext(model="scripted", literature_source="none"),
        )
    finally:
        close_default_tools()
        get_settings.cache_clear()
    assert METFORMIN in state["tool_records"][0].result
    assert state["answer"].choice == "Metformin" and state.get("task") is None
    assert "No task set is given" in model.sent[0][0].content


def test_module_graph_is_compiled_for_studio() -> None:
    from agent.graph import graph

    assert set(graph.get_graph().nodes) == {
        "__start__",
        "call_model",
        "tools",
        "final_answer",
        "__end__",
    }


def test_prompt_version_is_a_hash_of_the_templates() -> None:
    from agent import prompts

    version = prompts.PROMPT_VERSION
    assert re.fullmatch(r"prompts-[0-9a-f]{12}", version)
    assert AgentContext().prompt_version == version == prompts.prompt_version()
    every_prompt = {v.name for v in vars(prompts).values() if isinstance(v, prompts.Prompt)}
    assert every_prompt <= set(prompts.TEMPLATES), "a template left out of the version"

    edited = {**prompts.TEMPLATES, "repair": prompts.TEMPLATES["repair"] + " Be brief."}
    assert prompts.prompt_version(edited) != version
    question = prompts.DOMAIN_QUESTIONS[0]
    reworded = (
        prompts.DomainQuestion(question.id, question.question + " Name the pathway."),
        *prompts.DOMAIN_QUESTIONS[1:],
    )
    assert prompts.prompt_version(questions=reworded) != version
    assert prompts.prompt_version(dict(reversed(prompts.TEMPLATES.items()))) == version
