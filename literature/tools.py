"""Free-text literature search for the agent: live PubMed and ClinicalTrials.gov, local index.

Each returns compact text: one line per passage with its document ID (PMID, PMCID, NCT ID),
then a status line with counts. Live tools fall back to the local index when the network or
the API fails (or ``KEDREC_LIT_OFFLINE=1``) and say so in their status line. The
(disease, drug) pair search every reader shares is the evidence layer's
``evidence.steps.search_literature``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from kedrec.settings import LiteratureSource
from literature.documents import Document
from literature.errors import ClientError, LiteratureError
from literature.retrieval import Passage, RetrievalResult, search_text

logger = logging.getLogger(__name__)

SNIPPET_CHARS = 300


def _snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def format_passages(passages: Sequence[Passage]) -> list[str]:
    """Render passages as ``[doc_id | source | year | score] title — snippet (chars a-b)``."""
    return [
        f"[{p.doc_id} | {p.source} | {p.year or '?'} | score {p.score:.3f}] {p.title} — "
        f"{_snippet(p.passage)} (chars {p.start}-{p.end})"
        for p in passages
    ]


def format_result(result: RetrievalResult, what: str) -> str:
    """Render a retrieval result with a trailing status line."""
    lines = format_passages(result.passages)
    status = (
        f"Status: {len(result.passages)} passages from {result.candidates} BM25 candidates "
        f"for {what} (source={result.source})"
    )
    if result.note:
        status += f"; {result.note}"
    return "\n".join([*lines, status])


def _format_docs(docs: Sequence[Document], what: str, origin: str) -> str:
    lines = [
        f"[{d.doc_id} | {d.source} | {d.year or '?'}] {d.title} — {_snippet(d.text)}" for d in docs
    ]
    return "\n".join([*lines, f"Status: {len(docs)} records for {what} from {origin}"])


def _fallback(query: str, source: str, what: str, reason: str) -> str:
    try:
        result = search_text(query, source)
    except LiteratureError as error:
        return f"Status: no results for {what}: live API unavailable ({reason}) and {error}"
    result.note = f"live API unavailable ({reason}); answered from the local index"
    return format_result(result, what)


def local_search(query: str, source: LiteratureSource, what: str) -> str:
    """Answer a live-search tool from the local index (live APIs are off for this run)."""
    result = search_text(query, source)
    result.note = "live APIs are off; answered from the local index"
    return format_result(result, what)


def pubmed_search(query: str, max_results: int = 10) -> str:
    """Search PubMed live for a free-text query ("montelukast asthma randomized").

    Use it for evidence newer or wider than the local index. Returns one line per article
    "[PMID:… | PMC | year] title — abstract" and a status line. Responses are cached; with no
    network the local index (PubMed/PMC part) answers instead and the status line says so.
    """
    from kedrec.settings import get_settings
    from literature.clients import PubMedClient

    what = f"PubMed query {query!r}"
    if get_settings().literature.offline:
        return _fallback(query, "pmc", what, "offline mode")
    client = PubMedClient.from_settings()
    try:
        docs = client.search(query, max_results=max_results)
    except ClientError as error:
        logger.debug("pubmed_search falls back: %s", error)
        return _fallback(query, "pmc", what, str(error))
    finally:
        client.http.close()
    return _format_docs(docs, what, "PubMed (live)")


def clinical_trials_search(
    condition: str | None = None, intervention: str | None = None, max_results: int = 10
) -> str:
    """Search ClinicalTrials.gov live for trials of an intervention in a condition.

    Give a condition ("asthma"), an intervention ("montelukast") or both. Returns one line per
    trial "[NCT:… | CT | start year] title — conditions, interventions, phase, status, summary"
    and a status line. Cached; with no network the local index (CT part) answers instead.
    """
    from kedrec.settings import get_settings
    from literature.clients import ClinicalTrialsClient

    if not condition and not intervention:
        raise LiteratureError("clinical_trials_search needs a condition or an intervention")
    what = f"trials of {intervention or 'any intervention'} in {condition or 'any condition'}"
    query = " ".join(x for x in (intervention, condition) if x)
    if get_settings().literature.offline:
        return _fallback(query, "ct", what, "offline mode")
    client = ClinicalTrialsClient.from_settings()
    try:
        docs = client.search(condition, intervention, max_results=max_results)
    except ClientError as error:
        logger.debug("clinical_trials_search falls back: %s", error)
        return _fallback(query, "ct", what, str(error))
    finally:
        client.http.close()
    return _format_docs(docs, what, "ClinicalTrials.gov (live)")
