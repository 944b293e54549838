"""Cleaning rules, the drug matcher and chunking."""

from __future__ import annotations

from literature.corpus import CorpusItem
from literature.documents import Document, chunk_document
from literature.drugs import DrugMatcher
from literature.index import LiteratureIndex


def _doc(doc_id: str, title: str, text: str) -> Document:
    return Document(doc_id=doc_id, source="PMC", collection="test", title=title, text=text)


def test_matcher_finds_real_drug_names_on_word_boundaries(matcher: DrugMatcher) -> None:
    assert "DB00945" in matcher.find("Low-dose Aspirin after stroke")  # synonym of DB00945
    assert "DB00843" in matcher.find("donepezil in Alzheimer's disease")
    assert matcher.find("the Donepezilxyz compound") == []


def test_matcher_skips_short_and_generic_names() -> None:
    built = DrugMatcher([("DB1", ["AD", "Water"]), ("DB2", ["Donepezil"])], min_chars=4)
    assert built.find("AD patients drank water") == []
    assert built.find("DONEPEZIL.") == ["DB2"]


def test_cleaning_rules_drop_and_count(tmp_path, matcher: DrugMatcher) -> None:  # type: ignore[no-untyped-def]
    items = [
        CorpusItem("f", _doc("PMID:1", "Metformin in diabetes", "Metformin lowers glucose.")),
        CorpusItem("f", _doc("PMID:1", "Metformin again", "Duplicate ID.")),
        CorpusItem("f", _doc("PMID:2", "", "Metformin without a title.")),
        CorpusItem("f", _doc("PMID:3", "Metformin without abstract", "")),
        CorpusItem("g", _doc("PMID:4", "Bird song at dusk", "Nobody sang today.")),
    ]
    index = LiteratureIndex(tmp_path)
    report = index.ingest(items, matcher.find)
    assert report.kept == {"f": 1}
    assert {rule: dict(c) for rule, c in report.dropped.items()} == {
        "duplicate": {"f": 1},
        "empty_title": {"f": 1},
        "empty_abstract": {"f": 1},
        "no_drug_mention": {"g": 1},
    }
    assert index.indexed_doc_ids() == {"PMID:1"}
    row = index.bm25("metformin", "both", 5)[0]
    assert row["drugs"] == ["DB00331"]


def test_chunks_keep_offsets_and_title() -> None:
    text = " ".join(f"w{i}" for i in range(300))
    doc = _doc("PMID:9", "A title", text)
    chunks = chunk_document(doc, chunk_words=128, overlap=16)
    assert [c.index for c in chunks] == [0, 1, 2]
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.passage
        assert chunk.content(doc.title).startswith("A title\n")
    assert chunks[1].passage.split()[0] == "w112"
    assert chunks[-1].end == len(text)
