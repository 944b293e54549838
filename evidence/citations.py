"""The citation check: an answer may cite only what the evidence it was given shows.

Citations are normalised first (``PMID 123`` → ``PMID:123``; ``PMC123`` → ``PMC:PMC123``;
``NCT01234567`` → ``NCT:NCT01234567``, see :mod:`evidence.ids`). A cited entity or document
ID must occur in the evidence text; an edge (two entity IDs, optionally with a relationship
type or DRKG relation between them) must be one of the edges the evidence lines carry. A
citation is an ID: one without any (a number, a phrase) is removed too. Unverifiable
citations are removed from the citation list and their IDs from the free texts, and reported
in :class:`CitationCheck`.

The evidence is a :class:`ShownEvidence`: built from the tool calls of a teacher run
(:meth:`ShownEvidence.of`), or from a rendered bundle (``evidence.bundle.bundle_evidence``),
so an answer can be held to exactly what the student will read.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from evidence.ids import DRKG_RELATION, REL_TYPE, find_ids, normalise
from evidence.observation import Edge

logger = logging.getLogger(__name__)


class CitationCheck(BaseModel):
    """Which cited IDs the evidence shows (verified) and which it does not (removed)."""

    verified: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)

    @property
    def precision(self) -> float | None:
        """Share of citations that verified; None when nothing was cited."""
        total = len(self.verified) + len(self.removed)
        return len(self.verified) / total if total else None


@dataclass
class ShownEvidence:
    """Every citable ID and edge some evidence showed, plus its (case-folded) texts."""

    ids: set[str] = field(default_factory=set)
    edges: set[tuple[frozenset[str], str]] = field(default_factory=set)
    texts: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, shown: Iterable[tuple[str, Iterable[Edge]]]) -> ShownEvidence:
        """Collect evidence from ``(text, edges)`` pairs (tool results, bundle lines)."""
        evidence = cls()
        for text, edges in shown:
            evidence.texts.append(text.casefold())
            evidence.ids.update(found for _, _, found in find_ids(text))
            for head, kind, tail in edges:
                evidence.edges.add((frozenset((head, tail)), kind.upper()))
        return evidence

    def has_edge(self, ends: frozenset[str], kind: str | None) -> bool:
        """True when the evidence shows an edge between ``ends`` (of type ``kind`` if given)."""
        if kind is None:
            return any(e == ends for e, _ in self.edges)
        return (ends, kind.upper()) in self.edges or (ends, "") in self.edges

    def verifies(self, citation: str) -> bool:
        """True when the (normalised) citation is backed by this evidence."""
        ids = find_ids(citation)
        entity_ids = [found for _, _, found in ids if "::" in found]
        if len(entity_ids) == 2 and len(ids) == 2:
            between = citation[ids[0][1] : ids[1][0]]
            relation = DRKG_RELATION.search(between)
            rel_type = REL_TYPE.search(between)
            kind = relation.group(0) if relation else rel_type.group(0) if rel_type else None
            return self.has_edge(frozenset(entity_ids), kind)
        return bool(ids) and all(found in self.ids for _, _, found in ids)


def strip_ids(text: str, unverified: set[str]) -> str:
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


def verify_citations(
    citations: Sequence[str], texts: Sequence[str], evidence: ShownEvidence
) -> tuple[list[str], list[str], CitationCheck]:
    """Check an answer's citation list and the IDs in its free texts against ``evidence``.

    Args:
        citations: The answer's citation list, as written.
        texts: The answer's free texts (rationale, domain answers) that may mention IDs.
        evidence: What the answer's author was shown.

    Returns:
        The verified citations (normalised, no repeats), the texts with unverified IDs
        removed, and the check (verified, removed).
    """
    verified: list[str] = []
    removed: list[str] = []
    for raw in citations:
        citation = normalise(raw)
        if not citation or citation in verified or citation in removed:
            continue
        (verified if evidence.verifies(citation) else removed).append(citation)
    unverified = {
        found for text in texts for _, _, found in find_ids(text) if found not in evidence.ids
    }
    removed += sorted(unverified - set(removed) - set(verified))
    if removed:
        logger.debug("citations removed: %s", removed)
    cleaned = [strip_ids(text, unverified) for text in texts]
    return verified, cleaned, CitationCheck(verified=verified, removed=removed)
