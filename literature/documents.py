"""The one document model every source is parsed into, and passage chunking with offsets."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

Source = Literal["CT", "PMC"]
"""ClinicalTrials.gov records ("CT") or PubMed / PubMed Central articles ("PMC")."""

COVERAGE_ID_PREFIXES: dict[str, str] = {
    "ei": "PMC:",
    "ctgov": "NCT:",
    "ctgov2": "NCT:",
    "bc5cdr": "PMID:",
    "biored": "PMID:",
    "pubmedqa": "PMID:",
    "ddi": "DDI:",
}
"""Collection prefixes of shared/data's PharmacotherapyDB coverage file -> our doc_id prefixes."""


def coverage_doc_id(raw: str) -> str:
    """Map a coverage-file ID (``ei:PMC123``, ``ctgov:NCT…``, ``ddi:…``) to an index doc_id."""
    prefix, _, local = raw.partition(":")
    return COVERAGE_ID_PREFIXES[prefix] + local


_WORD = re.compile(r"\S+")
_SPACES = re.compile(r"\s+")


def clean_text(text: str | None) -> str:
    """Collapse runs of whitespace and strip; ``None`` and the string 'None' become ''."""
    if text is None or text == "None":
        return ""
    return _SPACES.sub(" ", text).strip()


class Document(BaseModel):
    """A PubMed/PMC article or a ClinicalTrials.gov record, as indexed."""

    doc_id: str = Field(description="PMID:…, PMC:PMC…, NCT:NCT… or DDI:… (unique in the index).")
    source: Source = Field(description="CT or PMC (PubMed abstracts and DDI texts count as PMC).")
    collection: str = Field(description="Corpus folder or API it came from (bc5cdr, ctgov_v2, …).")
    title: str
    text: str = Field(description="Abstract (or abstract + body, or trial summaries) as indexed.")
    year: int | None = None
    licence: str | None = None
    journal: str | None = None
    pmid: str | None = None
    pmcid: str | None = None
    nct_id: str | None = None
    mesh_terms: list[str] = Field(default_factory=list)
    drugs: list[str] = Field(
        default_factory=list, description="DrugBank IDs whose name or synonym the text mentions."
    )


@dataclass(frozen=True, slots=True)
class Chunk:
    """One passage of a document; ``start``/``end`` are character offsets into ``Document.text``."""

    chunk_id: str
    doc_id: str
    index: int
    start: int
    end: int
    passage: str

    def content(self, title: str) -> str:
        """Return what is indexed and embedded: the title, then the passage."""
        return f"{title}\n{self.passage}"


def chunk_document(doc: Document, chunk_words: int, overlap: int) -> list[Chunk]:
    """Split a document's text into overlapping word windows, keeping character offsets.

    Args:
        doc: The document; its title is kept with every chunk by ``Chunk.content``.
        chunk_words: Words per chunk.
        overlap: Words shared by consecutive chunks (must be below ``chunk_words``).

    Returns:
        At least one chunk for a non-empty text; the last window may be shorter.
    """
    spans = [(m.start(), m.end()) for m in _WORD.finditer(doc.text)]
    if not spans:
        return []
    step = max(1, chunk_words - min(overlap, chunk_words - 1))
    chunks: list[Chunk] = []
    for n, first in enumerate(range(0, len(spans), step)):
        last = min(first + chunk_words, len(spans)) - 1
        start, end = spans[first][0], spans[last][1]
        chunks.append(Chunk(f"{doc.doc_id}#{n}", doc.doc_id, n, start, end, doc.text[start:end]))
        if last == len(spans) - 1:
            break
    return chunks


def iter_words(text: str) -> Iterator[str]:
    """Yield the whitespace-separated words of a text."""
    for match in _WORD.finditer(text):
        yield match.group()
