"""Citable IDs in text: DRKG entity IDs, PubMed, PMC and trial IDs, in one canonical form.

The evidence text prints every ID in its canonical form (``Compound::DB00331``, ``PMID:123``,
``PMC:PMC123``, ``NCT:NCT01234567``); answers may write them loosely (``PMID 123``,
``NCT01234567``), so both sides go through :func:`find_ids` before they are compared.
"""

from __future__ import annotations

import re

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
"""A DRKG relation name between two IDs (``DRUGBANK::treats::Compound:Disease``)."""

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


def ids_in(text: str) -> list[str]:
    """The distinct normalised IDs of ``text``, sorted."""
    return sorted({found for _, _, found in find_ids(text)})


def normalise(citation: str) -> str:
    """Normalise one citation: a lone document or entity ID to its canonical form, else trim."""
    text = citation.strip().strip(".,;[]()")
    ids = find_ids(text)
    if len(ids) == 1 and ids[0][0] == 0 and ids[0][1] == len(text):
        return ids[0][2]
    return text
