"""Agent fixtures: real graph tools on the test Neo4j, a small real LanceDB index, a task set."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from collections.abc import Iterator
from pathlib import Path

import pytest

from eval.task_sets import NamedEntity, TaskSet
from graph_store.tools import GraphTools
from kedrec.settings import get_settings

METFORMIN = "Compound::DB00331"
CARVEDILOL = "Compound::DB01136"
T2D = "Disease::DOID:9352"

DOCS_PER_TOPIC = 10


@pytest.fixture(scope="session")
def graph_tools(driver, settings, loaded_graph) -> GraphTools:  # type: ignore[no-untyped-def]
    """Unmasked graph tools on the test database holding the real DRKG slice."""
    return GraphTools.from_settings(driver, settings.neo4j)


@pytest.fixture(scope="session")
def agent_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real LanceDB index of real corpus documents about metformin, plus distractors."""
    from literature.corpus import iter_corpus
    from literature.drugs import load_drug_matcher
    from literature.index import LiteratureIndex

    base = get_settings()
    chosen, topic, others = [], 0, 0
    for item in iter_corpus(base.data_dir / "literature" / "corpus"):
        doc = item.document
        if doc is None or len(doc.text) > 4000:
            continue
        text = f"{doc.title} {doc.text}".lower()
        if "metformin" in text or "carvedilol" in text:
            if topic < DOCS_PER_TOPIC:
                topic += 1
                chosen.append(item)
        elif others < DOCS_PER_TOPIC:
            others += 1
            chosen.append(item)
        if topic >= DOCS_PER_TOPIC and others >= DOCS_PER_TOPIC:
            break
    index = LiteratureIndex(tmp_path_factory.mktemp("agent-lancedb"))
    index.ingest(chosen, load_drug_matcher(base.names_dir).find, batch_docs=32)
    return index.index_dir


@pytest.fixture()
def literature_index(agent_index: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the settings (and so the literature tools) at the agent's index, offline."""
    monkeypatch.setenv("KEDREC_LIT_INDEX_DIR", str(agent_index))
    monkeypatch.setenv("KEDREC_LIT_OFFLINE", "1")
    get_settings.cache_clear()
    yield agent_index
    get_settings.cache_clear()


@pytest.fixture()
def task_set() -> TaskSet:
    """Metformin vs carvedilol for type 2 diabetes; the metformin–T2D label edges hidden."""
    return TaskSet(
        set_id="test-t2d-metformin",
        split="test",
        disease=NamedEntity(id=T2D, name="type 2 diabetes mellitus"),
        candidates=[
            NamedEntity(id=METFORMIN, name="Metformin"),
            NamedEntity(id=CARVEDILOL, name="Carvedilol"),
        ],
        label=0,
        seed=0,
        source="test",
        hidden_pairs=[(METFORMIN, T2D)],
    )
