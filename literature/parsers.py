"""Parsers for every real format of the corpus and of the live APIs, into ``Document``.

Formats: PubTator (BC5CDR, BioRED, NCBI disease), PubMedQA JSON, the PMC RCT JSONL (evidence
inference), PMC JATS ``.nxml`` (single files and ``oa_comm`` tarballs), the DDI corpus zip,
ClinicalTrials.gov legacy JSONL and legacy XML, ClinicalTrials.gov API v2 JSON and PubMed XML
(efetch, read with Biopython's ``Bio.Entrez``). Malformed input raises ``CorpusFormatError``.
"""

from __future__ import annotations

import ast
import gzip
import io
import json
import re
import tarfile
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any
from xml.etree import ElementTree as ET

from literature.documents import Document, clean_text
from literature.errors import CorpusFormatError

CT_LICENCE = "public domain (NLM ClinicalTrials.gov)"
_YEAR = re.compile(r"(19|20)\d\d")


def _year(value: Any) -> int | None:
    match = _YEAR.search(str(value or ""))
    return int(match.group()) if match else None


def _literal_list(value: Any) -> list[Any]:
    """Read a list stored as a Python literal string ("['a', 'b']"), a list, or nothing."""
    if isinstance(value, list):
        return value
    if value in (None, "", "None"):
        return []
    try:
        parsed = ast.literal_eval(str(value))
    except (ValueError, SyntaxError):
        return [value]
    return parsed if isinstance(parsed, list) else [parsed]


def _none(value: Any) -> str | None:
    text = clean_text(None if value is None else str(value))
    return text or None


# --- PubTator -------------------------------------------------------------------------------


def parse_pubtator(handle: Iterable[str], collection: str) -> Iterator[Document]:
    """Parse PubTator blocks (``PMID|t|title``, ``PMID|a|abstract``, annotation lines).

    Args:
        handle: Lines of a PubTator file.
        collection: Corpus name recorded on each document (bc5cdr, biored, ncbi_disease).

    Yields:
        One PubMed abstract per block, source PMC.

    Raises:
        CorpusFormatError: A block has an abstract line without a title line.
    """
    pmid: str | None = None
    title = ""
    abstract = ""
    for number, raw in enumerate(handle, start=1):
        line = raw.rstrip("\n")
        if "|t|" in line[:20] or "|a|" in line[:20]:
            head, kind, body = line.split("|", 2)
            if kind == "t":
                if pmid is not None and head != pmid:
                    yield _pubtator_doc(pmid, title, abstract, collection)
                    abstract = ""
                pmid, title = head, body
            else:
                if head != pmid:
                    raise CorpusFormatError(f"line {number}: abstract of {head} has no title line")
                abstract = body
        elif not line.strip() and pmid is not None:
            yield _pubtator_doc(pmid, title, abstract, collection)
            pmid, title, abstract = None, "", ""
    if pmid is not None:
        yield _pubtator_doc(pmid, title, abstract, collection)


def _pubtator_doc(pmid: str, title: str, abstract: str, collection: str) -> Document:
    return Document(
        doc_id=f"PMID:{pmid}",
        source="PMC",
        collection=collection,
        title=clean_text(title),
        text=clean_text(abstract),
        pmid=pmid,
    )


# --- PubMedQA --------------------------------------------------------------------------------


def parse_pubmedqa(data: dict[str, Any]) -> Iterator[Document]:
    """Parse PubMedQA's ``ori_pqal.json`` (PMID → question, contexts, labels, MeSH, year).

    PubMedQA has no article title; its question (the title rephrased) stands in for it.
    """
    if not isinstance(data, dict):
        raise CorpusFormatError("PubMedQA JSON is not an object keyed by PMID")
    for pmid, entry in data.items():
        contexts = entry.get("CONTEXTS") or []
        labels = entry.get("LABELS") or []
        parts = [
            f"{label.title()}: {text}" if label else text
            for label, text in zip([*labels, *[""] * len(contexts)], contexts, strict=False)
        ]
        answer = entry.get("LONG_ANSWER")
        if answer:
            parts.append(f"Conclusions: {answer}")
        yield Document(
            doc_id=f"PMID:{pmid}",
            source="PMC",
            collection="pubmedqa",
            title=clean_text(entry.get("QUESTION")),
            text=clean_text(" ".join(parts)),
            year=_year(entry.get("YEAR")),
            pmid=str(pmid),
            mesh_terms=list(entry.get("MESHES") or []),
        )


# --- PMC evidence-inference JSONL --------------------------------------------------------------


def parse_pmc_rct_record(record: dict[str, Any]) -> Document:
    """Parse one line of the PMC RCT JSONL (title, abstract, PMID/PMCID, licence)."""
    pmcid = _none(record.get("pmcid"))
    if not pmcid:
        raise CorpusFormatError("PMC RCT record without a pmcid")
    licence = _none(record.get("license_type")) or _none(record.get("license_text"))
    return Document(
        doc_id=f"PMC:{pmcid}",
        source="PMC",
        collection="pmc_rct_evidence_inference",
        title=clean_text(record.get("title")),
        text=clean_text(record.get("abstract")),
        year=_year(record.get("year")),
        licence=licence[:200] if licence else None,
        pmid=_none(record.get("pmid")),
        pmcid=pmcid,
    )


# --- JATS (PMC Open Access) --------------------------------------------------------------------


def _itertext(element: ET.Element | None) -> str:
    return clean_text("".join(element.itertext())) if element is not None else ""


def parse_jats(data: bytes, collection: str = "pmc_oa") -> Document:
    """Parse a PMC Open Access JATS article (``.nxml``).

    Args:
        data: The XML bytes.
        collection: Corpus name recorded on the document.

    Returns:
        A PMC document: title, abstract followed by the body sections ("Heading: text"), PMID,
        PMCID, year and licence.

    Raises:
        CorpusFormatError: The XML is malformed or has no PMCID/PMID.
    """
    try:
        root = ET.fromstring(data)
    except ET.ParseError as error:
        raise CorpusFormatError(f"malformed JATS XML: {error}") from error
    meta = root.find("front/article-meta")
    if meta is None:
        raise CorpusFormatError("JATS without front/article-meta")
    ids = {
        el.get("pub-id-type"): clean_text(el.text) for el in meta.findall("article-id") if el.text
    }
    pmcid = ids.get("pmc") or ids.get("pmcid")
    if pmcid and not pmcid.startswith("PMC"):
        pmcid = f"PMC{pmcid}"
    pmid = ids.get("pmid")
    if not pmcid and not pmid:
        raise CorpusFormatError("JATS article has neither a PMCID nor a PMID")
    title = _itertext(meta.find("title-group/article-title"))
    abstract_parts: list[str] = []
    for abstract in meta.findall("abstract"):
        if abstract.get("abstract-type") in {"graphical", "teaser"}:
            continue
        sections = abstract.findall("sec")
        if sections:
            for sec in sections:
                heading = _itertext(sec.find("title"))
                sec_text = " ".join(_itertext(p) for p in sec.iter("p"))
                abstract_parts.append(f"{heading}: {sec_text}" if heading else sec_text)
        else:
            abstract_parts.append(_itertext(abstract))
        break
    body_parts: list[str] = []
    body = root.find("body")
    if body is not None:
        for sec in body.findall("sec"):
            heading = _itertext(sec.find("title"))
            text = " ".join(_itertext(p) for p in sec.iter("p"))
            if text:
                body_parts.append(f"{heading}: {text}" if heading else text)
        if not body_parts:
            body_parts = [_itertext(p) for p in body.findall("p")]
    licence_el = meta.find("permissions/license")
    licence = None
    if licence_el is not None:
        href = licence_el.get("{http://www.w3.org/1999/xlink}href")
        licence = href or licence_el.get("license-type") or _itertext(licence_el)[:200] or None
    year = None
    for date in meta.findall("pub-date"):
        year = year or _year(date.findtext("year"))
    return Document(
        doc_id=f"PMC:{pmcid}" if pmcid else f"PMID:{pmid}",
        source="PMC",
        collection=collection,
        title=title,
        text=clean_text(" ".join([*abstract_parts, *body_parts])),
        year=year,
        licence=licence,
        pmid=pmid,
        pmcid=pmcid,
        mesh_terms=[_itertext(k) for k in meta.findall("kwd-group/kwd")],
    )


def iter_oa_tarball(path: Path) -> Iterator[tuple[str, Document | CorpusFormatError]]:
    """Iterate the ``.nxml`` articles of a PMC ``oa_comm``/``oa_noncomm`` bulk tarball.

    Yields:
        ``(member name, document)``, or ``(member name, error)`` for an article that does not
        parse, so one bad member does not stop the rest.
    """
    with tarfile.open(path, mode="r:*") as archive:
        for member in archive:
            if not member.isfile() or not member.name.endswith((".nxml", ".xml")):
                continue
            handle = archive.extractfile(member)
            if handle is None:
                continue
            try:
                yield member.name, parse_jats(handle.read(), collection="pmc_oa_bulk")
            except CorpusFormatError as error:
                yield member.name, error


# --- DDI corpus ---------------------------------------------------------------------------------


def parse_ddi_xml(data: bytes, name: str) -> Document:
    """Parse one DDI corpus document (sentences joined); the title comes from the file name.

    DrugBank texts are named after the drug (``Abacavir_ddi.xml`` → "Abacavir drug
    interactions"); MEDLINE files after their PMID, whose title is the first sentence.
    """
    try:
        root = ET.fromstring(data)
    except ET.ParseError as error:
        raise CorpusFormatError(f"malformed DDI XML: {error}") from error
    doc_id = root.get("id")
    if not doc_id:
        raise CorpusFormatError("DDI document without an id")
    sentences = [clean_text(s.get("text")) for s in root.iter("sentence")]
    sentences = [s for s in sentences if s]
    stem = Path(name).stem.removesuffix("_ddi")
    if "DrugBank" in doc_id:
        title = f"{stem.replace('_', ' ')} drug interactions"
        text = " ".join(sentences)
    else:
        title = sentences[0] if sentences else ""
        text = " ".join(sentences[1:])
    return Document(
        doc_id=f"DDI:{doc_id}",
        source="PMC",
        collection="ddi_corpus",
        title=title,
        text=text,
        licence="CC BY-NC 4.0",
    )


def iter_ddi_zip(path: Path) -> Iterator[tuple[str, Document | CorpusFormatError]]:
    """Iterate the XML documents in the DDI corpus zip (training and test parts)."""
    with zipfile.ZipFile(path) as archive:
        for name in sorted(archive.namelist()):
            if not name.endswith(".xml") or "/." in name or "__MACOSX" in name:
                continue
            try:
                yield name, parse_ddi_xml(archive.read(name), name)
            except CorpusFormatError as error:
                yield name, error


# --- ClinicalTrials.gov ---------------------------------------------------------------------------


def _ct_text(
    brief_summary: str | None,
    detailed: str | None,
    conditions: list[str],
    interventions: list[dict[str, Any]],
    phase: str | None,
    status: str | None,
) -> str:
    lines = []
    if conditions:
        lines.append("Conditions: " + "; ".join(conditions) + ".")
    if interventions:
        described = []
        for item in interventions:
            other = item.get("other_names") or []
            label = f"{item.get('type') or 'Intervention'}: {item.get('name')}"
            described.append(label + (f" ({', '.join(other)})" if other else ""))
        lines.append("Interventions: " + "; ".join(described) + ".")
    if phase:
        lines.append(f"Phase: {phase}.")
    if status:
        lines.append(f"Status: {status}.")
    for text in (brief_summary, detailed):
        if clean_text(text):
            lines.append(clean_text(text))
    return " ".join(lines)


def _ct_document(
    *,
    nct_id: str,
    collection: str,
    brief_title: str | None,
    official_title: str | None,
    brief_summary: str | None,
    detailed: str | None,
    conditions: list[str],
    interventions: list[dict[str, Any]],
    phase: str | None,
    status: str | None,
    start_date: str | None,
    mesh: list[str],
    reference_pmids: list[str],
) -> Document:
    if not nct_id:
        raise CorpusFormatError("ClinicalTrials.gov record without an NCT ID")
    summary = clean_text(brief_summary)
    return Document(
        doc_id=f"NCT:{nct_id}",
        source="CT",
        collection=collection,
        title=clean_text(brief_title) or clean_text(official_title),
        # An empty summary means "no abstract" for the cleaning rule, whatever the metadata.
        text=_ct_text(summary, detailed, conditions, interventions, phase, status)
        if summary or clean_text(detailed)
        else "",
        year=_year(start_date),
        licence=CT_LICENCE,
        nct_id=nct_id,
        mesh_terms=mesh,
        pmid=",".join(reference_pmids) or None,
    )


def parse_ctgov_legacy_record(record: dict[str, Any]) -> Document:
    """Parse one line of the ClinicalTrials.gov legacy JSONL (derived from the legacy XML)."""
    interventions = [
        {
            "type": i.get("type"),
            "name": i.get("name"),
            "other_names": list(i.get("other_names") or []),
        }
        for i in _literal_list(record.get("interventions"))
        if isinstance(i, dict)
    ]
    return _ct_document(
        nct_id=_none(record.get("nct_id")) or "",
        collection="ctgov_legacy_xml",
        brief_title=_none(record.get("brief_title")),
        official_title=_none(record.get("official_title")),
        brief_summary=_none(record.get("brief_summary")),
        detailed=_none(record.get("detailed_description")),
        conditions=[str(c) for c in _literal_list(record.get("conditions"))],
        interventions=interventions,
        phase=_none(record.get("phase")),
        status=_none(record.get("overall_status")),
        start_date=_none(record.get("start_date")),
        mesh=[str(m) for m in _literal_list(record.get("condition_mesh"))],
        reference_pmids=[str(p) for p in _literal_list(record.get("reference_pmids"))],
    )


def parse_ctgov_legacy_xml(data: bytes) -> Document:
    """Parse one ClinicalTrials.gov legacy ``<clinical_study>`` XML record."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as error:
        raise CorpusFormatError(f"malformed ClinicalTrials.gov XML: {error}") from error
    interventions = [
        {
            "type": i.findtext("intervention_type"),
            "name": i.findtext("intervention_name"),
            "other_names": [clean_text(o.text) for o in i.findall("other_name") if o.text],
        }
        for i in root.findall("intervention")
    ]
    return _ct_document(
        nct_id=clean_text(root.findtext("id_info/nct_id")),
        collection="ctgov_legacy_xml",
        brief_title=root.findtext("brief_title"),
        official_title=root.findtext("official_title"),
        brief_summary=root.findtext("brief_summary/textblock"),
        detailed=root.findtext("detailed_description/textblock"),
        conditions=[clean_text(c.text) for c in root.findall("condition") if c.text],
        interventions=interventions,
        phase=root.findtext("phase"),
        status=root.findtext("overall_status"),
        start_date=root.findtext("start_date"),
        mesh=[clean_text(m.text) for m in root.findall("condition_browse/mesh_term") if m.text],
        reference_pmids=[
            clean_text(p.text) for p in root.findall("reference/PMID") if p is not None and p.text
        ],
    )


def parse_ctgov_v2_study(study: dict[str, Any], collection: str = "ctgov_v2") -> Document:
    """Parse one ClinicalTrials.gov API v2 study (``protocolSection`` + ``derivedSection``)."""
    if not isinstance(study, dict) or "protocolSection" not in study:
        raise CorpusFormatError("ClinicalTrials.gov v2 study without a protocolSection")
    protocol = study["protocolSection"]
    ident = protocol.get("identificationModule", {})
    status = protocol.get("statusModule", {})
    desc = protocol.get("descriptionModule", {})
    arms = protocol.get("armsInterventionsModule", {})
    refs = protocol.get("referencesModule", {})
    phases = protocol.get("designModule", {}).get("phases") or []
    interventions = [
        {"type": i.get("type"), "name": i.get("name"), "other_names": i.get("otherNames") or []}
        for i in arms.get("interventions", [])
    ]
    mesh = [
        m.get("term", "")
        for m in study.get("derivedSection", {}).get("conditionBrowseModule", {}).get("meshes", [])
    ]
    return _ct_document(
        nct_id=ident.get("nctId", ""),
        collection=collection,
        brief_title=ident.get("briefTitle"),
        official_title=ident.get("officialTitle"),
        brief_summary=desc.get("briefSummary"),
        detailed=desc.get("detailedDescription"),
        conditions=protocol.get("conditionsModule", {}).get("conditions", []),
        interventions=interventions,
        phase="/".join(phases) or None,
        status=status.get("overallStatus"),
        start_date=status.get("startDateStruct", {}).get("date"),
        mesh=mesh,
        reference_pmids=[str(r["pmid"]) for r in refs.get("references", []) if r.get("pmid")],
    )


def ctgov_v2_interventions(study: dict[str, Any]) -> list[dict[str, Any]]:
    """Return a v2 study's interventions as ``{"name", "type", "other_names"}`` dicts."""
    arms = study.get("protocolSection", {}).get("armsInterventionsModule", {})
    return [
        {"name": i.get("name"), "type": i.get("type"), "other_names": i.get("otherNames") or []}
        for i in arms.get("interventions", [])
    ]


def parse_ctgov_v2_payload(payload: Any, collection: str = "ctgov_v2") -> list[Document]:
    """Parse a v2 payload: one study, a list of studies, or a ``{"studies": [...]}`` page."""
    if isinstance(payload, dict) and "studies" in payload:
        payload = payload["studies"]
    studies = payload if isinstance(payload, list) else [payload]
    return [parse_ctgov_v2_study(s, collection) for s in studies]


# --- PubMed XML (efetch) --------------------------------------------------------------------------


def parse_pubmed_xml(handle: IO[bytes], collection: str = "pubmed") -> list[Document]:
    """Parse an efetch PubMed XML response with ``Bio.Entrez.read``.

    Structured abstracts are joined as "Label: text"; MeSH headings, journal and year are kept.

    Raises:
        CorpusFormatError: The XML is malformed or is not a PubmedArticleSet.
    """
    try:
        from Bio import Entrez
    except ImportError as error:
        raise CorpusFormatError("biopython missing: pip install 'kedrec[literature]'") from error
    try:
        record = Entrez.read(handle, validate=False)
    except Exception as error:  # Bio.Entrez raises several unrelated parser errors
        raise CorpusFormatError(f"malformed PubMed XML: {error}") from error
    articles = record.get("PubmedArticle", []) if isinstance(record, dict) else []
    return [_pubmed_article(a, collection) for a in articles]


def _pubmed_article(article: Any, collection: str) -> Document:
    citation = article["MedlineCitation"]
    pmid = str(citation["PMID"])
    art = citation["Article"]
    parts = []
    for section in art.get("Abstract", {}).get("AbstractText", []):
        label = getattr(section, "attributes", {}).get("Label")
        parts.append(f"{label.title()}: {section}" if label else str(section))
    year = None
    issue = art.get("Journal", {}).get("JournalIssue", {}).get("PubDate", {})
    year = _year(issue.get("Year") or issue.get("MedlineDate"))
    mesh = [str(h["DescriptorName"]) for h in citation.get("MeshHeadingList", [])]
    ids = {
        getattr(i, "attributes", {}).get("IdType"): str(i)
        for i in article.get("PubmedData", {}).get("ArticleIdList", [])
    }
    journal = clean_text(str(art.get("Journal", {}).get("Title", "")))
    return Document(
        doc_id=f"PMID:{pmid}",
        source="PMC",
        collection=collection,
        title=clean_text(str(art.get("ArticleTitle", ""))),
        text=clean_text(" ".join(parts)),
        year=year,
        journal=journal or None,
        pmid=pmid,
        pmcid=ids.get("pmc"),
        mesh_terms=mesh,
    )


# --- helpers for files ----------------------------------------------------------------------------


def read_json(path: Path) -> Any:
    """Read a JSON file; malformed JSON raises ``CorpusFormatError``."""
    try:
        return json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CorpusFormatError(f"malformed JSON: {error}") from error


def iter_jsonl_gz(path: Path) -> Iterator[tuple[int, dict[str, Any] | CorpusFormatError]]:
    """Yield ``(line number, record or error)`` for each line of a gzipped JSONL file."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as error:
                yield number, CorpusFormatError(f"line {number}: {error}")


def bytes_handle(data: bytes) -> IO[bytes]:
    """Wrap bytes in a binary handle for parsers that read files."""
    return io.BytesIO(data)
