"""The paper's two-step retrieval for a (disease, drug) pair, and plain text search.

Step 1: a BM25 query built from both names and a few synonyms returns ``bm25_top_k`` (80)
chunks, prefiltered by source. Step 2: those chunks are re-ranked by cosine similarity between
their stored embeddings and the embedding of the pair ("<drug> for <disease>"), and the best
``top_n`` are kept, at most one chunk per document.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Sequence
from typing import Any, get_args

import numpy as np
from pydantic import BaseModel, Field

from kedrec.settings import LiteratureSource
from literature.errors import LiteratureError
from literature.index import LiteratureIndex

logger = logging.getLogger(__name__)

_TOKEN = re.compile(r"[A-Za-z0-9]+")
_STOP = frozenset({"and", "or", "not", "of", "the", "in", "with", "for", "to", "a", "an", "by"})
SOURCES: tuple[str, ...] = get_args(LiteratureSource)


class Passage(BaseModel):
    """One retrieved chunk with its provenance."""

    doc_id: str = Field(description="PMID:…, PMC:PMC…, NCT:NCT… or DDI:…")
    source: str = Field(description="CT or PMC.")
    collection: str
    title: str
    passage: str
    start: int = Field(description="Character offset of the passage in the document text.")
    end: int
    chunk_id: str
    score: float = Field(description="Final score: cosine similarity to the query/pair.")
    bm25: float = Field(description="Step-1 BM25 score.")
    year: int | None = None
    licence: str | None = None
    pmid: str | None = None
    pmcid: str | None = None
    nct_id: str | None = None
    drugs: list[str] = Field(default_factory=list)

    def cite(self) -> str:
        """Return the short citation used in tool output (``NCT:NCT00000173``)."""
        return self.doc_id


class RetrievalResult(BaseModel):
    """Passages for one query with the query that produced them."""

    query: str = Field(description="The BM25 query as sent.")
    source: str
    passages: list[Passage]
    candidates: int = Field(description="Chunks returned by BM25 before the embedding filter.")
    note: str | None = Field(None, description="Fallbacks or ablations worth telling the user.")
    elapsed_ms: float = 0.0


def _words(names: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for name in names:
        for token in _TOKEN.findall(name):
            lowered = token.lower()
            if lowered not in _STOP and len(lowered) > 1:
                seen.setdefault(lowered, None)
    return list(seen)


def build_query(names: Sequence[str], *synonym_lists: Sequence[str], max_synonyms: int = 5) -> str:
    """Return a BM25 query of the distinct words of the names and their first synonyms."""
    parts = list(names)
    for synonyms in synonym_lists:
        parts.extend(list(synonyms)[:max_synonyms])
    return " ".join(_words(parts))


def _validate_source(source: str) -> LiteratureSource:
    lowered = source.lower()
    if lowered not in SOURCES:
        raise LiteratureError(f"source {source!r} is not one of {', '.join(SOURCES)}")
    return lowered  # type: ignore[return-value]


def _passage(row: dict[str, Any], score: float) -> Passage:
    return Passage(
        doc_id=row["doc_id"],
        source=row["source"],
        collection=row["collection"],
        title=row["title"],
        passage=row["passage"],
        start=row["start"],
        end=row["end"],
        chunk_id=row["chunk_id"],
        score=round(float(score), 4),
        bm25=round(float(row.get("_score") or 0.0), 4),
        year=row.get("year"),
        licence=row.get("licence"),
        pmid=row.get("pmid"),
        pmcid=row.get("pmcid"),
        nct_id=row.get("nct_id"),
        drugs=list(row.get("drugs") or []),
    )


def rerank(
    index: LiteratureIndex, rows: list[dict[str, Any]], text: str, top_n: int
) -> list[Passage]:
    """Keep the ``top_n`` rows most similar to ``text`` (one chunk per document)."""
    if not rows:
        return []
    query = index.embedder().encode([text])[0]
    vectors = np.asarray([row["vector"] for row in rows], dtype=np.float32)
    similarity = vectors @ query
    kept: list[Passage] = []
    docs: set[str] = set()
    for i in np.argsort(-similarity, kind="stable"):
        row = rows[int(i)]
        if row["doc_id"] in docs:
            continue
        docs.add(row["doc_id"])
        kept.append(_passage(row, float(similarity[i])))
        if len(kept) >= top_n:
            break
    return kept


def retrieve_pair(
    disease: str,
    drug: str,
    source: str = "both",
    *,
    disease_synonyms: Sequence[str] = (),
    drug_synonyms: Sequence[str] = (),
    index: LiteratureIndex | None = None,
    bm25_top_k: int | None = None,
    top_n: int | None = None,
    max_synonyms: int | None = None,
) -> RetrievalResult:
    """Run the two-step retrieval for a (disease, drug) pair.

    Args:
        disease: Disease name ("Alzheimer's disease").
        drug: Drug name ("Donepezil").
        source: ``ct``, ``pmc``, ``both`` or ``none`` (literature off; returns no passages).
        disease_synonyms: Extra disease names for the BM25 query.
        drug_synonyms: Extra drug names for the BM25 query.
        index: The index; the settings' index when None.
        bm25_top_k: Step-1 candidates (setting ``bm25_top_k``, 80).
        top_n: Passages kept by step 2 (setting ``top_n``).
        max_synonyms: Synonyms per name used in the query (setting ``max_synonyms``).

    Returns:
        Passages best first, each with document ID, source, score and offsets.

    Raises:
        LiteratureError: Unknown source, or the index has not been built.
    """
    from kedrec.settings import get_settings

    lit = get_settings().literature
    started = time.perf_counter()
    chosen = _validate_source(source)
    query = build_query(
        [drug, disease],
        drug_synonyms,
        disease_synonyms,
        max_synonyms=lit.max_synonyms if max_synonyms is None else max_synonyms,
    )
    if chosen == "none":
        return RetrievalResult(
            query=query, source=chosen, passages=[], candidates=0, note="literature disabled"
        )
    index = index or LiteratureIndex.from_settings()
    rows = index.bm25(query, chosen, bm25_top_k or lit.bm25_top_k)
    passages = rerank(index, rows, f"{drug} for {disease}", top_n or lit.top_n)
    logger.debug("pair query %r source=%s: %d candidates", query, chosen, len(rows))
    return RetrievalResult(
        query=query,
        source=chosen,
        passages=passages,
        candidates=len(rows),
        elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
    )


def search_text(
    text: str,
    source: str = "both",
    *,
    index: LiteratureIndex | None = None,
    bm25_top_k: int | None = None,
    top_n: int | None = None,
) -> RetrievalResult:
    """Search the index with free text: BM25 candidates re-ranked by similarity to the text.

    Args:
        text: Any query ("metformin type 2 diabetes").
        source: ``ct``, ``pmc``, ``both`` or ``none``.
        index: The index; the settings' index when None.
        bm25_top_k: Step-1 candidates.
        top_n: Passages returned.

    Returns:
        Passages best first.
    """
    from kedrec.settings import get_settings

    lit = get_settings().literature
    started = time.perf_counter()
    chosen = _validate_source(source)
    query = " ".join(_words([text]))
    if chosen == "none":
        return RetrievalResult(
            query=query, source=chosen, passages=[], candidates=0, note="literature disabled"
        )
    index = index or LiteratureIndex.from_settings()
    rows = index.bm25(query, chosen, bm25_top_k or lit.bm25_top_k)
    passages = rerank(index, rows, text, top_n or lit.top_n)
    return RetrievalResult(
        query=query,
        source=chosen,
        passages=passages,
        candidates=len(rows),
        elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
    )
