"""The citation check: an answer may cite only what a tool of the same run returned.

Citations are normalised first (``PMID 123``, ``pmid:123`` → ``PMID:123``; ``PMC123`` →
``PMC:PMC123``; ``NCT01234567`` → ``NCT:NCT01234567``), the forms the literature tools print.
A cited graph entity ID, document ID or any other token must occur in some tool result of the
run; an edge (two entity IDs, optionally with a relationship type or DRKG relation between them)
must be one of the edges a graph tool returned. Unverifiable citations are removed from the
citation list and from the rationale and domain answers, and reported in
:class:`~agent.records.CitationCheck`; this keeps invented evidence out of the trajectories the
student is distilled from.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from agent.records import CitationCheck, FinalAnswer, ToolCallRecord

logger = logging.getLogger(__name__)

ENTITY_TYPES = (
    "Compound",
    "Disease",
    "Gene",
    "Anatomy",
    "Atc",
    "Biological Process",
    "Cellular Component",
    "Molecular Function",
    "Pathway",
    "Pharmacologic Class",
    "Side Effect",
    "Symptom",
    "Tax",
)
"""DRKG entity types (the prefix of every graph ID)."""

ENTITY_ID = re.compile(
    r"\b(?:" + "|".join(re.escape(t) for t in ENTITY_TYPES) + r")::[A-Za-z0-9_.:\-]*[A-Za-z0-9_]"
)
PMID = re.compile(r"\bPMID\s*[:#]?\s*(\d{1,9})\b", re.IGNORECASE)
PMC = re.compile(r"\b(?:PMC(?:ID)?\s*[:#]?\s*)?PMC\s*[:#]?\s*(\d{3,9})\b", re.IGNORECASE)
NCT = re.compile(r"\bNCT\s*[:#]?\s*(?:NCT\s*)?(\d{8})\b", re.IGNORECASE)
DDI = re.compile(r"\bDDI:[A-Za-z0-9_.\-]*[A-Za-z0-9_]")
REL_TYPE = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b|\b[A-Z]{4,}\b")
"""A relationship type between two IDs (``TREATS``, ``METABOLIZED_BY``)."""
DRKG_RELATION = re.compile(r"\b[A-Za-z][\w\-]*::[^\s:]+::[A-Za-z ]+:[A-Za-z ]*[A-Za-z]")

_DOCUMENT_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (PMID, "PMID:{}"),
    (PMC, "PMC:PMC{}"),
    (NCT, "NCT:NCT{}"),
)


def find_ids(text: str) -> list[tuple[int, int, str]]:
    """Citable IDs in free text as ``(start, end, normalised ID)``, in text order."""
    found: list[tuple[int, int, str]] = []
    for pattern, form in _DOCUMENT_PATTERNS:
        found += [(m.start(), m.end(), form.format(m.group(1))) for m in pattern.finditer(text)]
    for pattern in (ENTITY_ID, DDI):
        found += [(m.start(), m.end(), m.group(0)) for m in pattern.finditer(text)]
    found.sort()
    kept: list[tuple[int, int, str]] = []
    for item in found:  # drop matches nested in an earlier one ("PMC:PMC1" also matches PMC1)
        if kept and item[0] < kept[-1][1]:
            continue
        kept.append(item)
    return kept


def normalise(citation: str) -> str:
    """Normalise one citation: a lone document or entity ID to its canonical form, else trim."""
    text = citation.strip().strip(".,;[]()")
    ids = find_ids(text)
    if len(ids) == 1 and ids[0][0] == 0 and ids[0][1] == len(text):
        return ids[0][2]
    return text


@dataclass
class Evidence:
    """What the tools of one run returned: every citable ID and edge, plus the raw texts."""

    ids: set[str] = field(default_factory=set)
    edges: set[tuple[frozenset[str], str]] = field(default_factory=set)
    texts: list[str] = field(default_factory=list)

    @classmethod
    def from_records(cls, records: Iterable[ToolCallRecord]) -> Evidence:
        """Collect the evidence of successful tool calls (errors prove nothing)."""
        evidence = cls()
        for record in records:
            if record.error is not None:
                continue
            evidence.texts.append(record.result.casefold())
            evidence.ids.update(found for _, _, found in find_ids(record.result))
            for head, kind, tail in record.edges:
                evidence.edges.add((frozenset((head, tail)), kind.upper()))
        return evidence

    def has_edge(self, ends: frozenset[str], kind: str | None) -> bool:
        """True when a tool returned an edge between ``ends`` (of type ``kind`` if given)."""
        if kind is None:
            return any(e == ends for e, _ in self.edges)
        return (ends, kind.upper()) in self.edges or (ends, "") in self.edges

    def verifies(self, citation: str) -> bool:
        """True when the (normalised) citation is backed by this run's tool results."""
        ids = find_ids(citation)
        entity_ids = [found for _, _, found in ids if "::" in found]
        if len(entity_ids) == 2 and len(ids) == 2:
            between = citation[ids[0][1] : ids[1][0]]
            relation = DRKG_RELATION.search(between)
            rel_type = REL_TYPE.search(between)
            kind = relation.group(0) if relation else rel_type.group(0) if rel_type else None
            return self.has_edge(frozenset(entity_ids), kind)
        if ids:
            return all(found in self.ids for _, _, found in ids)
        folded = citation.casefold()
        return bool(folded) and any(folded in text for text in self.texts)


def _strip_ids(text: str, unverified: set[str]) -> str:
    """Remove unverified IDs from free text and tidy what they leave behind."""
    pieces: list[str] = []
    last = 0
    for start, end, found in find_ids(text):
        if found in unverified:
            pieces.append(text[last:start])
            last = end
    pieces.append(text[last:])
    cleaned = "".join(pieces)
    cleaned = re.sub(r"\(\s*[,;]?\s*\)|\[\s*[,;]?\s*\]", "", cleaned)
    cleaned = re.sub(r"\s*[,;]\s*([)\]])", r"\1", cleaned)
    cleaned = re.sub(r"([(\[])\s*[,;]\s*", r"\1", cleaned)
    return re.sub(r"[ \t]{2,}", " ", cleaned).replace(" .", ".").replace(" ,", ",").strip()


def check_citations(
    answer: FinalAnswer, records: Iterable[ToolCallRecord]
) -> tuple[FinalAnswer, CitationCheck]:
    """Keep only citations some tool of the run returned; strip the rest from the answer.

    Args:
        answer: The parsed final answer.
        records: The run's tool calls (results and edges).

    Returns:
        The cleaned answer and which citations were verified or removed.
    """
    evidence = Evidence.from_records(records)
    verified: list[str] = []
    removed: list[str] = []
    for raw in answer.citations:
        citation = normalise(raw)
        if not citation or citation in verified or citation in removed:
            continue
        (verified if evidence.verifies(citation) else removed).append(citation)
    texts = [answer.rationale, *(a.answer for a in answer.answers)]
    unverified = {
        found for text in texts for _, _, found in find_ids(text) if found not in evidence.ids
    }
    removed += sorted(unverified - set(removed) - set(verified))
    if removed:
        logger.debug("citations removed: %s", removed)
    cleaned = answer.model_copy(
        update={
            "citations": verified,
            "rationale": _strip_ids(answer.rationale, unverified),
            "answers": [
                a.model_copy(update={"answer": _strip_ids(a.answer, unverified)})
                for a in answer.answers
            ],
        }
    )
    return cleaned, CitationCheck(verified=verified, removed=removed)
