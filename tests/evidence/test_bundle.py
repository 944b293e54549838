"""The evidence bundle on the real slice: fixed steps, masking, deterministic rendering."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import json
from typing import Any

import pytest

from evidence.bundle import build_evidence_bundle, render_bundle
from evidence.limits import EvidenceLimits
from evidence.masking import masked_tools
from evidence.steps import EVIDENCE_STEPS
from graph_store.tools import GraphTools
from tasks.task_sets import NamedEntity, TaskSet

ALZHEIMER = "Disease::DOID:10652"
GALANTAMINE = "Compound::DB00674"
METFORMIN = "Compound::DB00331"


@pytest.fixture(scope="module")
def task_set() -> TaskSet:
    """Alzheimer's disease: Metformin (distractor) vs Galantamine (curated TREATS edge)."""
    return TaskSet(
        set_id="test-alzheimer",
        split="val",
        disease=NamedEntity(id=ALZHEIMER, name="Alzheimer's disease"),
        candidates=[
            NamedEntity(id=METFORMIN, name="Metformin"),
            NamedEntity(id=GALANTAMINE, name="Galantamine"),
        ],
        label=1,
        seed=0,
        source="test",
        hidden_pairs=[(METFORMIN, ALZHEIMER), (GALANTAMINE, ALZHEIMER)],
    )


@pytest.fixture(scope="module")
def tools(driver, settings, loaded_graph) -> GraphTools:  # type: ignore[no-untyped-def]
    """Unmasked graph tools on the test instance with the real slice."""
    return GraphTools.from_settings(driver, settings.neo4j)


@pytest.fixture(scope="module")
def small_index(tmp_path_factory: pytest.TempPathFactory, settings):  # type: ignore[no-untyped-def]
    """A real LanceDB index of the corpus documents mentioning galantamine or metformin."""
    from literature.corpus import iter_corpus
    from literature.drugs import load_drug_matcher
    from literature.index import LiteratureIndex

    wanted = ("galantamine", "metformin", "alzheimer")
    items, others = [], 0
    for item in iter_corpus(settings.data_dir / "literature" / "corpus"):
        doc = item.document
        if doc is None:
            continue
        text = f"{doc.title} {doc.text}".lower()
        if any(w in text for w in wanted) and len(items) < 40:
            items.append(item)
        elif others < 10 and len(doc.text) < 3000:
            items.append(item)
            others += 1
    index = LiteratureIndex(tmp_path_factory.mktemp("lancedb"))
    index.ingest(items, load_drug_matcher(settings.names_dir).find, batch_docs=32)
    return index


def test_evidence_steps_run_in_fixed_order(tools: GraphTools, task_set: TaskSet) -> None:
    bundle = build_evidence_bundle(task_set, tools, literature_source="none")
    expected = [EVIDENCE_STEPS[0][0]] + [name for name, _ in EVIDENCE_STEPS[1:]] * 2
    assert [step.tool for step in bundle.steps] == expected
    assert [step.candidate for step in bundle.steps] == [None, 0, 0, 0, 0, 1, 1, 1, 1]
    assert all(step.ok for step in bundle.steps), [s.error for s in bundle.steps]
    assert bundle.steps[2].arguments == {"drug": METFORMIN, "disease": ALZHEIMER}
    assert [s.index for s in bundle.steps] == list(range(9))


def test_evidence_masks_label_edges(tools: GraphTools, task_set: TaskSet) -> None:
    assert tools.direct_edges(GALANTAMINE, ALZHEIMER), "the slice has Galantamine TREATS AD"
    bundle = build_evidence_bundle(task_set, tools, literature_source="none")
    direct = {s.candidate: s.result for s in bundle.steps if s.tool == "direct_edges"}
    assert direct == {0: [], 1: []}
    galantamine = next(
        s.result for s in bundle.steps if s.tool == "drug_profile" and s.candidate == 1
    )
    assert ALZHEIMER not in {x["id"] for x in galantamine["indications"]}
    assert ALZHEIMER not in json.dumps(galantamine)
    assert sorted(map(tuple, bundle.hidden_pairs)) == sorted(task_set.hidden_pairs)
    # tools given unmasked are masked, already-masked tools are reused as they are
    masked = masked_tools(tools, task_set.hidden_pairs)
    assert masked is not tools and (GALANTAMINE, ALZHEIMER) in masked.hidden
    assert masked_tools(masked, task_set.hidden_pairs) is masked


def test_literature_none_skips_literature(tools: GraphTools, task_set: TaskSet) -> None:
    bundle = build_evidence_bundle(task_set, tools, literature_source="none")
    literature = [s for s in bundle.steps if s.tool == "search_literature"]
    assert len(literature) == 2
    assert all(s.skipped and s.result is None for s in literature)
    assert render_bundle(bundle).count("skipped (literature source: none)") == 2


def test_rendering_is_deterministic_and_bounded(tools: GraphTools, task_set: TaskSet) -> None:
    first = build_evidence_bundle(task_set, tools, literature_source="none")
    second = build_evidence_bundle(task_set.model_copy(), tools, literature_source="none")
    assert render_bundle(first) == render_bundle(second)
    text = render_bundle(first, max_chars=3000)
    assert len(text) <= 3000 + 9 * 450, "each section may overrun by one clipped line"
    assert (
        text.index("1. disease_profile")
        < text.index("2. drug_profile")
        < text.index("6. drug_profile")
    )
    for step in range(1, 10):
        assert f"## {step}. " in text, "every section keeps its title whatever the budget"
    assert "Galantamine (Compound::DB00674)" in text
    assert "more lines cut" in text
    # a bigger budget shows more but starts the same way
    assert len(render_bundle(first, max_chars=20_000)) > len(text)


def test_literature_steps_return_document_ids(
    tools: GraphTools, task_set: TaskSet, small_index: Any
) -> None:
    limits = EvidenceLimits(literature_top_n=3)
    bundle = build_evidence_bundle(
        task_set, tools, literature_source="both", limits=limits, literature_index=small_index
    )
    literature = [s for s in bundle.steps if s.tool == "search_literature"]
    assert [s.arguments["source"] for s in literature] == ["both", "both"]
    assert all(s.ok and not s.skipped for s in literature)
    passages = [p for s in literature for p in s.result["passages"]]
    assert passages and all(len(s.result["passages"]) <= 3 for s in literature)
    text = render_bundle(bundle, 100_000)
    for passage in passages:
        assert passage["doc_id"] in text
    again = build_evidence_bundle(
        task_set, tools, literature_source="both", limits=limits, literature_index=small_index
    )
    assert render_bundle(again, 100_000) == text
