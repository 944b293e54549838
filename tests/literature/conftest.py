"""Shared fixtures: a small real LanceDB index built once from a real corpus subset."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest

from kedrec.settings import get_settings
from literature.corpus import CorpusItem, iter_corpus
from literature.documents import coverage_doc_id
from literature.drugs import DrugMatcher, load_drug_matcher
from literature.index import LiteratureIndex

DATA = get_settings().data_dir
CORPUS = DATA / "literature" / "corpus"
FIXTURES = DATA / "literature" / "fixtures"
COVERAGE = DATA / "benchmarks" / "pharmacotherapydb" / "coverage"

KNOWN_PAIRS = [
    ("Alzheimer's disease", "Galantamine"),
    ("Alzheimer's disease", "Rivastigmine"),
    ("Crohn's disease", "Azathioprine"),
    ("Graves' disease", "Methimazole"),
    ("alcohol dependence", "Acamprosate"),
    ("amyotrophic lateral sclerosis", "Riluzole"),
    ("asthma", "Ciclesonide"),
]
"""PharmacotherapyDB disease-modifying pairs with co-mentioning documents in the corpus."""

DISTRACTORS_PER_FOLDER = 8


def pair_doc_ids() -> dict[tuple[str, str], set[str]]:
    """Return the co-mentioning document IDs of every DM pair in the coverage file."""
    found: dict[tuple[str, str], set[str]] = {}
    with (COVERAGE / "pharmacotherapydb_dm_pair_doc_hits.tsv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            ids = [x for x in row["example_doc_ids_lenient"].split(",") if x]
            if ids:
                found[(row["disease"], row["drug"])] = {coverage_doc_id(x) for x in ids}
    return found


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``known_pair`` over ``KNOWN_PAIRS``."""
    if "known_pair" in metafunc.fixturenames:
        metafunc.parametrize("known_pair", KNOWN_PAIRS, ids=[f"{d}-{c}" for d, c in KNOWN_PAIRS])


@pytest.fixture(scope="session")
def pair_docs() -> dict[tuple[str, str], set[str]]:
    """Co-mentioning document IDs per (disease, drug) pair, from the coverage file."""
    return pair_doc_ids()


@pytest.fixture(scope="session")
def corpus_items() -> list[CorpusItem]:
    """Every parsed item of the real corpus (parsing takes ~3 s)."""
    return list(iter_corpus(CORPUS))


@pytest.fixture(scope="session")
def matcher() -> DrugMatcher:
    """The drug matcher over the real DrugBank vocabulary."""
    return load_drug_matcher(get_settings().names_dir)


@pytest.fixture(scope="session")
def subset_items(corpus_items: list[CorpusItem]) -> list[CorpusItem]:
    """The documents of the known pairs plus a few of every folder (real, unchanged)."""
    wanted = set().union(*(pair_doc_ids()[pair] for pair in KNOWN_PAIRS))
    per_folder: dict[str, int] = {}
    chosen: list[CorpusItem] = []
    for item in corpus_items:
        doc = item.document
        if doc is None:
            continue
        if doc.doc_id in wanted or (
            per_folder.get(item.folder, 0) < DISTRACTORS_PER_FOLDER and len(doc.text) < 4000
        ):
            if doc.doc_id not in wanted:
                per_folder[item.folder] = per_folder.get(item.folder, 0) + 1
            chosen.append(item)
    return chosen


@pytest.fixture(scope="session")
def index(
    tmp_path_factory: pytest.TempPathFactory,
    subset_items: list[CorpusItem],
    matcher: DrugMatcher,
) -> LiteratureIndex:
    """A real on-disk LanceDB index of the subset, built once per session."""
    built = LiteratureIndex(tmp_path_factory.mktemp("lancedb"))
    built.ingest(subset_items, matcher.find, batch_docs=32)
    return built


@pytest.fixture()
def index_settings(index: LiteratureIndex, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the settings (and so the tools and CLI) at the session index."""
    monkeypatch.setenv("KEDREC_LIT_INDEX_DIR", str(index.index_dir))
    get_settings.cache_clear()
    yield index.index_dir
    get_settings.cache_clear()
