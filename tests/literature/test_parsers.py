"""Parsers on each real format of the corpus and the fixtures."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from kedrec.settings import get_settings
from literature.corpus import iter_corpus
from literature.errors import CorpusFormatError
from literature.parsers import (
    iter_ddi_zip,
    iter_jsonl_gz,
    iter_oa_tarball,
    parse_ctgov_legacy_record,
    parse_ctgov_legacy_xml,
    parse_ctgov_v2_payload,
    parse_jats,
    parse_pmc_rct_record,
    parse_pubmed_xml,
    parse_pubmedqa,
    parse_pubtator,
    read_json,
)

CORPUS = get_settings().data_dir / "literature" / "corpus"
FIXTURES = get_settings().data_dir / "literature" / "fixtures"


def test_pubtator_bc5cdr_first_abstract() -> None:
    path = CORPUS / "pubtator" / "bc5cdr" / "CDR_TestSet.PubTator.txt"
    with path.open(encoding="utf-8") as handle:
        docs = list(parse_pubtator(handle, "bc5cdr"))
    assert len(docs) == 500
    first = docs[0]
    assert first.doc_id == "PMID:8701013"
    assert first.title.startswith("Famotidine-associated delirium")
    assert first.text.startswith("Famotidine is a histamine H2-receptor antagonist")
    assert first.source == "PMC"


def test_pubtator_rejects_abstract_without_title() -> None:
    with pytest.raises(CorpusFormatError, match="no title line"):
        list(parse_pubtator(io.StringIO("123|a|orphan abstract\n"), "x"))


def test_pubmedqa_contexts_joined_with_labels() -> None:
    docs = {d.doc_id: d for d in parse_pubmedqa(read_json(CORPUS / "pubmedqa" / "ori_pqal.json"))}
    assert len(docs) == 1000
    doc = docs["PMID:21645374"]
    assert doc.title.startswith("Do mitochondria play a role")
    assert doc.text.startswith("Background: Programmed cell death")
    assert doc.year == 2011
    assert "Mitochondria" in doc.mesh_terms


def test_pmc_rct_jsonl_record() -> None:
    path = CORPUS / "pmc_rct_evidence_inference" / "evidence_inference_pmc_rct_4470.jsonl.gz"
    _, record = next(iter_jsonl_gz(path))
    assert isinstance(record, dict)
    doc = parse_pmc_rct_record(record)
    assert doc.doc_id == "PMC:PMC101395"
    assert doc.pmid == "11943073"
    assert doc.title.startswith("Diclofenac does not interact with codeine")
    assert doc.year == 2002
    assert doc.licence and "Open Access" in doc.licence


JATS_FIXTURES = sorted((FIXTURES / "pmc_jats").glob("*.nxml"))


@pytest.mark.parametrize("path", JATS_FIXTURES, ids=lambda p: p.name)
def test_jats_fixture_articles(path: Path) -> None:
    doc = parse_jats(path.read_bytes())
    assert doc.pmcid and doc.pmcid.startswith("PMC")
    assert doc.title
    assert len(doc.text) > 1000  # abstract + body sections
    assert doc.year is not None


def test_jats_corpus_full_text_has_body_sections() -> None:
    path = CORPUS / "pmc_rct_evidence_inference" / "nxml" / "PMC1261533.nxml"
    doc = parse_jats(path.read_bytes())
    assert doc.doc_id == "PMC:PMC1261533"
    assert doc.pmid == "16179089"
    assert "artemether" in doc.title.lower()
    assert doc.licence  # CC BY per the manifest
    assert len(doc.text.split()) > 2000


def test_jats_malformed_xml_is_reported() -> None:
    with pytest.raises(CorpusFormatError, match="malformed JATS"):
        parse_jats(b"<article><front>")


def test_oa_tarball_iterates_members_and_reports_corrupt(tmp_path: Path) -> None:
    tarball = tmp_path / "oa_comm_xml.PMC000xxxxxx.baseline.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        for path in sorted((FIXTURES / "pmc_jats").glob("*.nxml"))[:2]:
            archive.add(path, arcname=f"PMC000xxxxxx/{path.name}")
        broken = b"<article><front><article-meta>"
        info = tarfile.TarInfo("PMC000xxxxxx/broken.nxml")
        info.size = len(broken)
        archive.addfile(info, io.BytesIO(broken))
    results = list(iter_oa_tarball(tarball))
    assert len(results) == 3
    assert sum(isinstance(r, CorpusFormatError) for _, r in results) == 1


def test_ddi_zip_drugbank_and_medline_documents() -> None:
    results = list(iter_ddi_zip(CORPUS / "ddi_corpus" / "DDICorpus-2013.zip"))
    docs = [r for _, r in results if not isinstance(r, CorpusFormatError)]
    assert len(docs) == 1017
    drugbank = [d for d in docs if "DrugBank" in d.doc_id]
    assert len(drugbank) == 784
    assert all(d.title.endswith("drug interactions") for d in drugbank)
    assert {d.doc_id for d in docs} >= {"DDI:DDI-DrugBank.d45"}


def test_ctgov_legacy_jsonl_record() -> None:
    path = CORPUS / "ctgov_legacy_xml" / "ctgov_legacy_xml_6786_studies.jsonl.gz"
    _, record = next(iter_jsonl_gz(path))
    assert isinstance(record, dict)
    doc = parse_ctgov_legacy_record(record)
    assert doc.doc_id == "NCT:NCT00000102"
    assert doc.source == "CT"
    assert "Drug: Nifedipine" in doc.text
    assert "Phase: Phase 1/Phase 2." in doc.text
    assert "Status: Completed." in doc.text


def test_ctgov_legacy_raw_xml() -> None:
    path = sorted((CORPUS / "ctgov_legacy_xml" / "raw_xml_sample").glob("*.xml"))[0]
    doc = parse_ctgov_legacy_xml(path.read_bytes())
    assert doc.doc_id == f"NCT:{path.stem}"
    assert doc.title and doc.text


def test_ctgov_v2_fixture_record() -> None:
    (doc,) = parse_ctgov_v2_payload(read_json(FIXTURES / "ctgov_v2" / "NCT02513394.json"))
    assert doc.doc_id == "NCT:NCT02513394"
    assert doc.source == "CT"
    assert "Interventions:" in doc.text
    assert doc.year is not None


def test_ctgov_v2_bulk_files() -> None:
    docs = parse_ctgov_v2_payload(
        read_json(CORPUS / "ctgov_v2_json" / "nsclcbench_ctg-studies_100_nsclc.json")
    )
    assert len(docs) == 100
    assert all(d.doc_id.startswith("NCT:NCT") for d in docs)


def test_ctgov_v2_without_protocol_section_is_rejected() -> None:
    with pytest.raises(CorpusFormatError):
        parse_ctgov_v2_payload({"studies": [{"hasResults": False}]})


def test_pubmed_xml_structured_abstract_and_mesh() -> None:
    with (FIXTURES / "pubmed_xml" / "pubmed-29768149.xml").open("rb") as handle:
        (doc,) = parse_pubmed_xml(handle)
    assert doc.doc_id == "PMID:29768149"
    assert "formoterol" in doc.title.lower() or "formoterol" in doc.text.lower()
    assert doc.mesh_terms
    assert doc.journal
    assert doc.year is not None
    assert ": " in doc.text  # labelled sections joined


@pytest.mark.parametrize("name", ["pubmed1.xml", "pubmed2.xml", "pubmed4.xml", "pubmed7.xml"])
def test_pubmed_xml_biopython_fixtures(name: str) -> None:
    with (FIXTURES / "biopython_entrez" / name).open("rb") as handle:
        docs = parse_pubmed_xml(handle)
    assert docs
    assert all(d.doc_id.startswith("PMID:") and d.title for d in docs)


def test_pubmed_xml_malformed() -> None:
    with pytest.raises(CorpusFormatError, match="malformed PubMed XML"):
        parse_pubmed_xml(io.BytesIO(b"<PubmedArticleSet><PubmedArticle>"))


def test_corpus_walk_counts_every_folder(corpus_items: list) -> None:  # type: ignore[type-arg]
    folders = {item.folder for item in corpus_items}
    assert folders >= {
        "pubtator/bc5cdr",
        "pubtator/biored",
        "pubtator/ncbi_disease",
        "pubmedqa",
        "pmc_rct_evidence_inference",
        "pmc_rct_evidence_inference/nxml",
        "ddi_corpus",
        "ctgov_v2_json",
        "ctgov_legacy_xml",
        "ctgov_legacy_xml/raw_xml_sample",
    }
    assert not [item for item in corpus_items if item.corrupt]
    assert sum(item.document is not None for item in corpus_items) > 16000


def test_corpus_walk_reports_corrupt_file(tmp_path: Path) -> None:
    (tmp_path / "ctgov_v2_json").mkdir()
    (tmp_path / "ctgov_v2_json" / "bad.json").write_text("{not json", encoding="utf-8")
    items = list(iter_corpus(tmp_path))
    assert len(items) == 1
    assert items[0].corrupt is not None
    assert items[0].corrupt.path.endswith("bad.json")
    assert "malformed JSON" in items[0].corrupt.reason
