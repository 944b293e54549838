"""Live clients: PubMed (E-utilities, parsed with Biopython's ``Bio.Entrez``) and
ClinicalTrials.gov API v2. Base URLs, e-mail and API key come from ``LiteratureSettings``.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

from literature.documents import Document
from literature.errors import ClientError, CorpusFormatError
from literature.http import CachedHttp
from literature.parsers import parse_ctgov_v2_study, parse_pubmed_xml

logger = logging.getLogger(__name__)

EFETCH_BATCH = 200
"""IDs per efetch request (NCBI asks for at most 200 per GET)."""

CTGOV_FIELDS = (
    "NCTId,BriefTitle,OfficialTitle,Condition,InterventionName,InterventionType,"
    "InterventionOtherName,Phase,OverallStatus,BriefSummary,DetailedDescription,"
    "ReferencePMID,StartDate,ConditionMeshTerm"
)
"""The v2 ``fields`` selection: only what ``parse_ctgov_v2_study`` reads."""


def _http_from_settings(lit: Any, cache_dir: Any, rate: float) -> CachedHttp:
    return CachedHttp(
        cache_dir=cache_dir,
        rate=rate,
        timeout_s=lit.http_timeout_s,
        max_retries=lit.max_retries,
        backoff_s=lit.backoff_s,
    )


def _cache_dir(settings: Any) -> Any:
    lit = settings.literature
    return lit.http_cache_dir or settings.cache_dir / "literature" / "http"


class PubMedClient:
    """esearch + efetch against NCBI E-utilities; records parsed by ``Bio.Entrez``."""

    def __init__(
        self,
        base_url: str,
        *,
        email: str | None = None,
        api_key: str | None = None,
        http: CachedHttp,
    ) -> None:
        """Create a client; use ``from_settings`` in application code.

        Args:
            base_url: E-utilities base, ending in ``/eutils/``.
            email: Sent as ``email`` with each request (NCBI's policy).
            api_key: Sent as ``api_key``; allows 10 requests/s instead of 3.
            http: The rate-limited, caching HTTP client.
        """
        self.base_url = base_url.rstrip("/") + "/"
        self.email = email
        self.api_key = api_key
        self.http = http

    @classmethod
    def from_settings(cls, settings: Any = None) -> PubMedClient:
        """Build from ``KedrecSettings`` (rate 10/s with an API key, 3/s without)."""
        from kedrec.settings import get_settings

        settings = settings or get_settings()
        lit = settings.literature
        key = lit.ncbi_api_key.get_secret_value() if lit.ncbi_api_key else None
        http = _http_from_settings(lit, _cache_dir(settings) / "pubmed", 10.0 if key else 3.0)
        return cls(lit.pubmed_base_url, email=lit.ncbi_email, api_key=key, http=http)

    def _params(self, **params: Any) -> dict[str, Any]:
        params = {"tool": "kedrec", **params}
        if self.email:
            params["email"] = self.email
        if self.api_key:
            params["api_key"] = self.api_key
        return params

    def _get(self, cgi: str, **params: Any) -> bytes:
        return self.http.get(
            self.base_url + cgi, self._params(**params), secret_params=frozenset({"api_key"})
        )

    def esearch(self, query: str, retmax: int = 20) -> dict[str, Any]:
        """Run esearch with the history server.

        Returns:
            ``{"count", "ids", "webenv", "query_key"}``.

        Raises:
            ClientError: HTTP failure or an unreadable response.
        """
        from Bio import Entrez

        body = self._get("esearch.fcgi", db="pubmed", term=query, retmax=retmax, usehistory="y")
        try:
            record = Entrez.read(io.BytesIO(body), validate=False)
        except Exception as error:  # Bio.Entrez raises several parser errors
            raise ClientError(f"esearch returned malformed XML: {error}") from error
        return {
            "count": int(record.get("Count", 0)),
            "ids": [str(i) for i in record.get("IdList", [])],
            "webenv": record.get("WebEnv"),
            "query_key": record.get("QueryKey"),
        }

    def efetch(self, pmids: list[str]) -> list[Document]:
        """Fetch and parse PubMed records by PMID, in batches of at most 200."""
        docs: list[Document] = []
        for first in range(0, len(pmids), EFETCH_BATCH):
            batch = pmids[first : first + EFETCH_BATCH]
            body = self._get("efetch.fcgi", db="pubmed", id=",".join(batch), retmode="xml")
            docs.extend(self._parse(body))
        return docs

    def efetch_history(self, webenv: str, query_key: str, count: int) -> list[Document]:
        """Fetch ``count`` records of a history-server result, 200 at a time."""
        docs: list[Document] = []
        for start in range(0, count, EFETCH_BATCH):
            body = self._get(
                "efetch.fcgi",
                db="pubmed",
                WebEnv=webenv,
                query_key=query_key,
                retstart=start,
                retmax=min(EFETCH_BATCH, count - start),
                retmode="xml",
            )
            docs.extend(self._parse(body))
        return docs

    @staticmethod
    def _parse(body: bytes) -> list[Document]:
        try:
            return parse_pubmed_xml(io.BytesIO(body))
        except CorpusFormatError as error:
            raise ClientError(f"efetch returned malformed PubMed XML: {error}") from error

    def search(self, query: str, max_results: int = 20) -> list[Document]:
        """Search PubMed and return parsed records (title, abstract, MeSH, journal, year)."""
        found = self.esearch(query, retmax=max_results)
        if not found["ids"]:
            return []
        if found["webenv"] and found["query_key"]:
            return self.efetch_history(
                found["webenv"], found["query_key"], min(max_results, len(found["ids"]))
            )
        return self.efetch(found["ids"])


class ClinicalTrialsClient:
    """ClinicalTrials.gov API v2 ``/studies`` with condition/intervention queries and paging."""

    def __init__(self, base_url: str, *, http: CachedHttp) -> None:
        """Create a client; use ``from_settings`` in application code."""
        self.base_url = base_url.rstrip("/") + "/"
        self.http = http

    @classmethod
    def from_settings(cls, settings: Any = None) -> ClinicalTrialsClient:
        """Build from ``KedrecSettings``."""
        from kedrec.settings import get_settings

        settings = settings or get_settings()
        lit = settings.literature
        http = _http_from_settings(lit, _cache_dir(settings) / "ctgov", 5.0)
        return cls(lit.ctgov_base_url, http=http)

    def pages(
        self,
        condition: str | None = None,
        intervention: str | None = None,
        *,
        page_size: int = 50,
        max_pages: int = 4,
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield pages of raw v2 studies, following ``nextPageToken``.

        Raises:
            ClientError: HTTP failure or a response that is not JSON.
        """
        params: dict[str, Any] = {"pageSize": page_size, "fields": CTGOV_FIELDS, "format": "json"}
        if condition:
            params["query.cond"] = condition
        if intervention:
            params["query.intr"] = intervention
        for _ in range(max_pages):
            body = self.http.get(self.base_url + "studies", params)
            try:
                payload = json.loads(body)
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                raise ClientError(f"ClinicalTrials.gov returned invalid JSON: {error}") from error
            studies = payload.get("studies", []) if isinstance(payload, dict) else []
            yield studies
            token = payload.get("nextPageToken") if isinstance(payload, dict) else None
            if not token:
                return
            params = {**params, "pageToken": token}

    def search(
        self, condition: str | None = None, intervention: str | None = None, max_results: int = 20
    ) -> list[Document]:
        """Return parsed trials for a condition and/or intervention."""
        docs: list[Document] = []
        for page in self.pages(condition, intervention, page_size=min(max_results, 100)):
            for study in page:
                try:
                    docs.append(parse_ctgov_v2_study(study, collection="ctgov_api"))
                except CorpusFormatError as error:
                    logger.warning("skipping malformed study: %s", error)
                if len(docs) >= max_results:
                    return docs
        return docs
