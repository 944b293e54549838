"""The real LanceDB index: two-step retrieval, source filters, idempotent and resumed ingest."""

from __future__ import annotations

from pathlib import Path

import pytest

from literature.corpus import CorpusItem
from literature.drugs import DrugMatcher
from literature.errors import IndexMissingError, LiteratureError
from literature.index import LiteratureIndex
from literature.retrieval import retrieve_pair, search_text


def test_two_step_retrieval_finds_co_mentioning_document(
    index: LiteratureIndex,
    known_pair: tuple[str, str],
    pair_docs: dict[tuple[str, str], set[str]],
) -> None:
    disease, drug = known_pair
    expected = pair_docs[known_pair]
    result = retrieve_pair(disease, drug, "both", index=index, top_n=10)
    assert result.candidates <= 80
    found = {p.doc_id for p in result.passages}
    assert found & expected, f"{drug}/{disease}: {sorted(found)} lacks {sorted(expected)}"
    best = result.passages[0]
    assert best.start < best.end
    assert -1.0 <= best.score <= 1.0


def test_source_filter_ct_pmc_none(index: LiteratureIndex) -> None:
    ct = retrieve_pair("Alzheimer's disease", "Galantamine", "ct", index=index)
    pmc = retrieve_pair("Alzheimer's disease", "Rivastigmine", "pmc", index=index)
    off = retrieve_pair("Alzheimer's disease", "Galantamine", "none", index=index)
    assert ct.passages and {p.source for p in ct.passages} == {"CT"}
    assert pmc.passages and {p.source for p in pmc.passages} == {"PMC"}
    assert off.passages == [] and off.note == "literature disabled"
    assert "NCT:NCT00000172" in {p.doc_id for p in ct.passages}


def test_unknown_source_is_refused(index: LiteratureIndex) -> None:
    with pytest.raises(LiteratureError, match="not one of ct, pmc, both, none"):
        retrieve_pair("asthma", "Ciclesonide", "pubmed", index=index)


def test_free_text_search(index: LiteratureIndex) -> None:
    result = search_text("riluzole amyotrophic lateral sclerosis", "pmc", index=index, top_n=3)
    assert result.passages[0].doc_id.startswith("PMC:")
    assert len(result.passages) <= 3


def test_reingest_adds_nothing(
    index: LiteratureIndex, subset_items: list[CorpusItem], matcher: DrugMatcher
) -> None:
    rows_before = index.table.count_rows()
    report = index.ingest(subset_items, matcher.find)
    assert report.added_docs == 0
    assert report.already_indexed == sum(report.kept.values())
    assert index.table.count_rows() == rows_before


def test_interrupted_ingest_is_repaired_by_rerun(
    tmp_path: Path, subset_items: list[CorpusItem], matcher: DrugMatcher
) -> None:
    items = subset_items[:40]
    index = LiteratureIndex(tmp_path)

    class Crash(Exception):
        pass

    calls = 0
    real_rows = index._rows

    def crash_on_second_batch(docs):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 2:
            raise Crash
        return real_rows(docs)

    index._rows = crash_on_second_batch  # type: ignore[method-assign]
    with pytest.raises(Crash):
        index.ingest(items, matcher.find, batch_docs=8)
    partial = index.indexed_doc_ids()
    assert len(partial) == 8  # the first committed batch, complete
    assert "content_idx" not in {ix.name for ix in index.table.list_indices()}

    resumed = LiteratureIndex(tmp_path)
    report = resumed.ingest(items, matcher.find, batch_docs=8)
    assert report.already_indexed == 8
    assert report.fts_rebuilt
    chunk_ids = resumed.table.search().select(["chunk_id"]).limit(None).to_arrow()
    ids = chunk_ids.column("chunk_id").to_pylist()
    assert len(ids) == len(set(ids))  # no chunk indexed twice
    assert resumed.indexed_doc_ids() == partial | {
        d for d in resumed.indexed_doc_ids() if d not in partial
    }
    assert len(resumed.indexed_doc_ids()) == sum(report.kept.values())


def test_table_name_hashes_model_and_chunking(tmp_path: Path) -> None:
    a = LiteratureIndex(tmp_path, chunk_words=128)
    b = LiteratureIndex(tmp_path, chunk_words=64)
    c = LiteratureIndex(tmp_path, embedding_model="/models/other")
    assert len({a.name, b.name, c.name}) == 3
    assert a.name.startswith("chunks_")


def test_missing_index_names_the_command(tmp_path: Path) -> None:
    with pytest.raises(IndexMissingError, match="kedrec lit ingest"):
        LiteratureIndex(tmp_path).bm25("aspirin")


def test_stats_report_sources_and_size(index: LiteratureIndex) -> None:
    stats = index.stats()
    assert stats["documents"] == len(index.indexed_doc_ids())
    assert set(stats["documents_by_source"]) == {"CT", "PMC"}
    assert stats["size_bytes"] > 0
    assert stats["last_ingest"]["table"] == index.name


def test_focused_ingest_adds_only_the_focus_then_the_rest(
    tmp_path: Path, subset_items: list[CorpusItem], matcher: DrugMatcher
) -> None:
    """A focus on a few drugs gives a quick partial index; a run without it completes it."""
    items = subset_items[:40]
    named = [
        set(matcher.find(f"{i.document.title}\n{i.document.text}")) for i in items if i.document
    ]
    focus_drug = sorted(set.union(*named))[0]
    wanted = sum(focus_drug in drugs for drugs in named)
    index = LiteratureIndex(tmp_path / "focus")
    first = index.ingest(items, matcher.find, focus={focus_drug})
    assert first.added_docs == wanted > 0
    assert first.focus_drugs == 1
    assert first.outside_focus == sum(first.kept.values()) - wanted
    second = index.ingest(items, matcher.find)
    assert second.already_indexed == wanted
    assert second.added_docs == sum(second.kept.values()) - wanted
    assert second.focus_drugs is None and second.outside_focus == 0


def test_focus_drugs_option_reads_ids_and_files(tmp_path: Path) -> None:
    from literature.cli import parse_focus

    assert parse_focus("DB00331, Compound::DB00945") == {"DB00331", "DB00945"}
    listed = tmp_path / "drugs.txt"
    listed.write_text("Compound::DB00331\nDB01136\n\n")
    assert parse_focus(f"@{listed}") == {"DB00331", "DB01136"}
    with pytest.raises(LiteratureError, match="missing"):
        parse_focus(f"@{tmp_path / 'nope.txt'}")
    with pytest.raises(LiteratureError, match="names no drug"):
        parse_focus(" , ")
