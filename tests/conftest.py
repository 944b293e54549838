"""Shared fixtures: a real Neo4j test instance holding the real DRKG slice.

The suite never touches the user's main database: it runs its own Neo4j home
(``<cache_dir>/neo4j/test-home``, Bolt 7688, HTTP 7475; override with KEDREC_TEST_BOLT_PORT /
KEDREC_TEST_HTTP_PORT), started with the project's launcher when it is not already running
(``.ci/run`` starts it before pytest), and stopped at the end only if this session started it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from graph_store.names import NameIndex, load_name_index
from graph_store.tools import GraphTools
from kedrec.settings import KedrecSettings, Neo4jSettings, get_settings
from tasks.task_sets import NamedEntity, TaskSet

TEST_BOLT_PORT = int(os.environ.get("KEDREC_TEST_BOLT_PORT", "7688"))
TEST_HTTP_PORT = int(os.environ.get("KEDREC_TEST_HTTP_PORT", "7475"))

METFORMIN = "Compound::DB00331"
CARVEDILOL = "Compound::DB01136"
T2D = "Disease::DOID:9352"

DOCS_PER_TOPIC = 10


def make_test_settings() -> KedrecSettings:
    """Settings for the test instance (same data and cache dirs as the user's)."""
    base = KedrecSettings()
    neo4j = Neo4jSettings(
        uri=f"bolt://127.0.0.1:{TEST_BOLT_PORT}",
        bolt_port=TEST_BOLT_PORT,
        http_port=TEST_HTTP_PORT,
        home=base.cache_dir / "neo4j" / "test-home",
        heap="1g",
        pagecache="512m",
        use_docker=False,
    )
    return base.model_copy(update={"neo4j": neo4j})


@pytest.fixture(scope="session")
def settings() -> KedrecSettings:
    """Test settings; fails clearly when the real data is missing."""
    test_settings = make_test_settings()
    if not test_settings.kg_slice_dir.is_dir():
        pytest.fail(
            f"real data not found at {test_settings.data_dir}: set KEDREC_DATA_DIR to shared/data"
        )
    return test_settings


@pytest.fixture(scope="session")
def names(settings: KedrecSettings) -> NameIndex:
    """The name index built from the real vocabularies."""
    return load_name_index(settings.names_dir)


@pytest.fixture(scope="session")
def neo4j_server(settings: KedrecSettings) -> Iterator[KedrecSettings]:
    """A running test Neo4j (started here unless already up)."""
    from graph_store.launcher import Neo4jLauncher

    launcher = Neo4jLauncher(settings)
    started_here = not launcher.is_running()
    if started_here:
        launcher.start()
    yield settings
    if started_here:
        launcher.stop()


@pytest.fixture(scope="session")
def driver(neo4j_server: KedrecSettings):  # type: ignore[no-untyped-def]
    """A driver to the test instance."""
    from graph_store.connection import open_driver

    neo4j_driver = open_driver(neo4j_server.neo4j)
    yield neo4j_driver
    neo4j_driver.close()


@pytest.fixture(scope="session")
def slice_files(settings: KedrecSettings) -> list[Path]:
    """The real DRKG slice's triple files."""
    from graph_store.load_plan import resolve_inputs

    return resolve_inputs([], settings.kg_slice_dir)


@pytest.fixture(scope="session")
def target_details(settings: KedrecSettings):  # type: ignore[no-untyped-def]
    """DrugBank's per drug–gene details from the real slice."""
    from graph_store.drugbank_details import DETAILS_FILE, load_target_details

    return load_target_details(settings.kg_slice_dir / DETAILS_FILE)


@pytest.fixture(scope="session")
def loaded_graph(
    driver, settings: KedrecSettings, slice_files: list[Path], names: NameIndex, target_details
):  # type: ignore[no-untyped-def]
    """The test database holding exactly the real kg_slice (reloaded when it holds other data)."""
    from graph_store.graph_meta import clear_graph, read_graph_meta
    from graph_store.load_plan import build_plan
    from graph_store.online_load import load_online

    plan = build_plan(slice_files, also_fingerprint=[target_details.path])
    meta = read_graph_meta(driver, settings.neo4j.database)
    if meta is None or meta.get("fingerprint") != plan.fingerprint:
        clear_graph(driver, settings.neo4j.database)
        load_online(driver, settings.neo4j.database, plan, names, details=target_details)
    return plan


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
