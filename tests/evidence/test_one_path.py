"""One evidence path: the teacher's tools and the student's bundle show the same evidence.

For the same (disease, drug) and the same hidden pairs, each teacher tool returns exactly the
text, IDs and edges of the bundle's step; masking only ever widens; an answer can be held to
what the rendered bundle shows.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from pathlib import Path

import pytest

from agent.citations import check_answer
from agent.records import FinalAnswer
from agent.tools import graph_tool_functions, literature_tool_functions
from evidence import steps
from evidence.bundle import build_evidence_bundle, bundle_evidence, bundle_version, render_bundle
from evidence.ids import ids_in
from evidence.limits import EvidenceLimits, default_limits
from evidence.masking import masked_tools
from graph_store.masking import HiddenPairs
from graph_store.tools import GraphTools
from tasks.task_sets import TaskSet
from tests.conftest import CARVEDILOL, METFORMIN, T2D

GALANTAMINE = "Compound::DB00674"
ALZHEIMER = "Disease::DOID:10652"


def _step(bundle, tool: str, candidate: int | None):  # type: ignore[no-untyped-def]
    return next(s for s in bundle.steps if s.tool == tool and s.candidate == candidate)


@pytest.mark.parametrize("candidate", [0, 1])
def test_teacher_tools_and_bundle_show_the_same_evidence(
    graph_tools: GraphTools, task_set: TaskSet, literature_index: Path, candidate: int
) -> None:
    bundle = build_evidence_bundle(task_set, graph_tools, literature_source="both")
    assert all(step.ok for step in bundle.steps), [s.error for s in bundle.steps]
    teacher = masked_tools(graph_tools, task_set.hidden_pairs)  # what run_teacher gives tools
    tools = {f.__name__: f for f in graph_tool_functions(teacher)}
    literature = {f.__name__: f for f in literature_tool_functions(teacher, "both", False)}
    drug = task_set.candidates[candidate]
    calls = {
        "drug_profile": lambda: tools["drug_profile"](drug.name),
        "direct_edges": lambda: tools["direct_edges"](drug.name, task_set.disease.name),
        "mechanism_paths": lambda: tools["mechanism_paths"](drug.id, task_set.disease.name),
        "search_literature": lambda: (
            literature["search_literature"](task_set.disease.name, drug.name),
            [],
        ),
    }
    for tool, call in calls.items():
        text, edges = call()
        step = _step(bundle, tool, candidate)
        assert text == "\n".join(line.text for line in step.lines), tool
        assert edges == list(dict.fromkeys(e for line in step.lines for e in line.edges)), tool
        assert ids_in(text) == ids_in("\n".join(line.text for line in step.lines)), tool
    text, _ = tools["disease_profile"]("type 2 diabetes mellitus")
    assert text == "\n".join(line.text for line in _step(bundle, "disease_profile", None).lines)


def test_the_evidence_shows_ids_and_edges(graph_tools: GraphTools, task_set: TaskSet) -> None:
    masked = masked_tools(graph_tools, task_set.hidden_pairs)
    profile = steps.drug_profile(masked, METFORMIN, default_limits())
    assert METFORMIN in profile.ids and any(i.startswith("Gene::") for i in profile.ids)
    assert any(head == METFORMIN and kind == "TARGETS" for head, kind, _ in profile.edges)
    assert T2D not in profile.text, "the label pair is hidden from the profile"
    direct = steps.direct_edges(masked, METFORMIN, T2D, default_limits())
    assert direct.edges == [] and "hidden" in direct.text
    unmasked = steps.direct_edges(graph_tools, METFORMIN, T2D, default_limits())
    assert (METFORMIN, "TREATS", T2D) in unmasked.edges and T2D in unmasked.text


def test_masking_is_always_the_union(graph_tools: GraphTools, task_set: TaskSet) -> None:
    """Tools hiding other pairs (an evaluation's labels) keep them when a set adds its own."""
    already = graph_tools.with_hidden(HiddenPairs.of([(CARVEDILOL, T2D)]))
    union = masked_tools(already, task_set.hidden_pairs)
    assert union.hidden.pairs == {(CARVEDILOL, T2D), (METFORMIN, T2D)}
    bundle = build_evidence_bundle(task_set, already, literature_source="none")
    assert sorted(map(tuple, bundle.hidden_pairs)) == sorted(union.hidden.pairs)
    carvedilol_direct = _step(bundle, "direct_edges", 1)
    assert carvedilol_direct.lines[0].text.startswith("none"), "the caller's pair stays hidden"


def test_run_teacher_widens_the_callers_masking(
    graph_tools: GraphTools, task_set: TaskSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agent.tools
    from agent.context import AgentContext
    from agent.run import run_teacher
    from tests.support.scripted_model import ScriptedChatModel, turn

    seen: list[GraphTools] = []
    real = agent.tools.make_tools

    def spy(tools: GraphTools, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(tools)
        return real(tools, **kwargs)

    monkeypatch.setattr(agent.tools, "make_tools", spy)
    already = graph_tools.with_hidden(HiddenPairs.of([(CARVEDILOL, T2D)]))
    model = ScriptedChatModel(script=[turn(content="no tools")], then=turn(content="{}"))
    run_teacher(
        task_set,
        context=AgentContext(literature_source="none", max_steps=1),
        graph_tools=already,
        model=model,
    )
    assert seen and seen[0].hidden.pairs == {(CARVEDILOL, T2D), (METFORMIN, T2D)}


def test_citations_are_held_to_the_rendered_bundle(
    graph_tools: GraphTools, task_set: TaskSet
) -> None:
    bundle = build_evidence_bundle(task_set, graph_tools, literature_source="none")
    full = bundle_evidence(bundle, 100_000)
    small = bundle_evidence(bundle, 3_000)
    carvedilol_edges = [
        e for line in _step(bundle, "drug_profile", 1).lines for e in line.edges if e[1]
    ]
    assert len(carvedilol_edges) > 10
    cut_text = render_bundle(bundle, 3_000)
    first = carvedilol_edges[0]
    assert first[2] in cut_text
    cut = [e for e in carvedilol_edges if e[2] not in cut_text]
    assert cut, "the small budget cuts some of carvedilol's edges"
    last = cut[-1]
    answer = FinalAnswer(
        choice=CARVEDILOL,
        confidence=0.9,
        rationale=f"Carvedilol is linked to {first[2]} and {last[2]}.",
        citations=[f"{first[0]} -{first[1]}-> {first[2]}", last[2], "PMID:99999999"],
    )
    _, seen_all = check_answer(answer, full)
    assert seen_all.removed == ["PMID:99999999"]
    cleaned, seen_small = check_answer(answer, small)
    assert seen_small.verified == [f"{first[0]} -{first[1]}-> {first[2]}"]
    assert seen_small.removed == [last[2], "PMID:99999999"]
    assert last[2] not in cleaned.rationale and first[2] in cleaned.rationale


def test_bundle_version_is_computed_from_steps_limits_and_rendering() -> None:
    base = default_limits()
    assert bundle_version(base) == bundle_version(EvidenceLimits(**base.model_dump()))
    changed = EvidenceLimits(**{**base.model_dump(), "profile_limit": base.profile_limit + 1})
    assert bundle_version(changed) != bundle_version(base)
    assert bundle_version(base).startswith("evidence-")


def test_literature_names_come_from_the_graph(
    graph_tools: GraphTools, literature_index: Path
) -> None:
    """By name or by DRKG ID, the literature step searches under the graph's names."""
    limits = default_limits()
    by_name = steps.search_literature(
        graph_tools, "type 2 diabetes mellitus", "Metformin", "both", limits
    )
    by_id = steps.search_literature(graph_tools, T2D, METFORMIN, "both", limits)
    assert by_name.text == by_id.text and by_name.query == by_id.query
    assert "metformin" in by_name.query.lower()
    assert by_name.arguments == {"disease": T2D, "drug": METFORMIN, "source": "both"}
    assert any(i.startswith(("PMID:", "PMC:", "NCT:")) for i in by_name.ids)
