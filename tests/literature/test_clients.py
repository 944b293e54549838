"""Live clients against a loopback server that replays the real fixture files.

Covers esearch + efetch (history server), paging, 429 then success, repeated 5xx, timeouts,
malformed XML, empty result sets, the on-disk cache and the tools' offline fallback.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from kedrec.settings import get_settings
from literature.clients import ClinicalTrialsClient, PubMedClient
from literature.errors import ClientError
from literature.http import CachedHttp, RateLimiter

FIXTURES = get_settings().data_dir / "literature" / "fixtures"
ENTREZ = FIXTURES / "biopython_entrez"


@dataclass
class Reply:
    """One scripted response."""

    status: int = 200
    body: bytes = b""
    delay_s: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()


class Loopback:
    """A 127.0.0.1 HTTP server whose replies per path are scripted by the test."""

    def __init__(self) -> None:
        self.routes: dict[str, list[Reply]] = {}
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        loop = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                loop.requests.append((url.path, parse_qs(url.query)))
                replies = loop.routes.get(url.path) or [Reply(404, b"not found")]
                reply = replies.pop(0) if len(replies) > 1 else replies[0]
                time.sleep(reply.delay_s)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers:
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def count(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def loopback() -> Iterator[Loopback]:
    server = Loopback()
    yield server
    server.close()


def _http(tmp_path: Path, **overrides: float) -> CachedHttp:
    options = {"rate": 1000.0, "timeout_s": 0.5, "max_retries": 2, "backoff_s": 0.01}
    options.update(overrides)
    return CachedHttp(
        cache_dir=tmp_path / "cache",
        rate=options["rate"],
        timeout_s=options["timeout_s"],
        max_retries=int(options["max_retries"]),
        backoff_s=options["backoff_s"],
    )


def _pubmed(loopback: Loopback, tmp_path: Path) -> PubMedClient:
    return PubMedClient(
        f"{loopback.base}/eutils/", email="dev@example.org", api_key="k", http=_http(tmp_path)
    )


def _bytes(path: Path) -> bytes:
    return path.read_bytes()


def test_pubmed_esearch_then_efetch_with_history(loopback: Loopback, tmp_path: Path) -> None:
    loopback.routes["/eutils/esearch.fcgi"] = [Reply(body=_bytes(ENTREZ / "esearch2.xml"))]
    loopback.routes["/eutils/efetch.fcgi"] = [
        Reply(body=_bytes(FIXTURES / "pubmed_xml" / "pubmed-29768149.xml"))
    ]
    docs = _pubmed(loopback, tmp_path).search("budesonide formoterol asthma", max_results=5)
    assert [d.doc_id for d in docs] == ["PMID:29768149"]
    assert docs[0].mesh_terms and docs[0].journal
    fetch_params = next(q for p, q in loopback.requests if p.endswith("efetch.fcgi"))
    assert fetch_params["WebEnv"][0].startswith("MCID") and fetch_params["query_key"] == ["1"]
    assert fetch_params["retmax"] == ["5"]
    search_params = next(q for p, q in loopback.requests if p.endswith("esearch.fcgi"))
    assert search_params["email"] == ["dev@example.org"] and search_params["api_key"] == ["k"]


def test_pubmed_real_esearch_fixture_and_id_batches(loopback: Loopback, tmp_path: Path) -> None:
    loopback.routes["/eutils/esearch.fcgi"] = [Reply(body=_bytes(ENTREZ / "esearch1.xml"))]
    loopback.routes["/eutils/efetch.fcgi"] = [Reply(body=_bytes(ENTREZ / "pubmed2.xml"))]
    client = _pubmed(loopback, tmp_path)
    found = client.esearch("biopython")
    assert found["count"] == 63 and len(found["ids"]) == 20
    docs = client.efetch([str(i) for i in range(450)])
    assert loopback.count("/eutils/efetch.fcgi") == 3  # 200 + 200 + 50
    assert docs and all(d.doc_id.startswith("PMID:") for d in docs)


def test_pubmed_empty_result_set(loopback: Loopback, tmp_path: Path) -> None:
    loopback.routes["/eutils/esearch.fcgi"] = [Reply(body=_bytes(ENTREZ / "esearch8.xml"))]
    assert _pubmed(loopback, tmp_path).search("abcXYZ") == []
    assert loopback.count("/eutils/efetch.fcgi") == 0


def test_429_then_success_is_retried(loopback: Loopback, tmp_path: Path) -> None:
    loopback.routes["/eutils/esearch.fcgi"] = [
        Reply(429, b"slow down", headers=(("Retry-After", "0"),)),
        Reply(body=_bytes(ENTREZ / "esearch1.xml")),
    ]
    found = _pubmed(loopback, tmp_path).esearch("biopython")
    assert found["count"] == 63
    assert loopback.count("/eutils/esearch.fcgi") == 2


def test_repeated_5xx_fails_after_retries(loopback: Loopback, tmp_path: Path) -> None:
    loopback.routes["/eutils/esearch.fcgi"] = [Reply(503, b"unavailable")]
    with pytest.raises(ClientError, match=r"failed after 3 tries \(HTTP 503\)"):
        _pubmed(loopback, tmp_path).esearch("x")
    assert loopback.count("/eutils/esearch.fcgi") == 3


def test_client_4xx_is_not_retried(loopback: Loopback, tmp_path: Path) -> None:
    loopback.routes["/eutils/esearch.fcgi"] = [Reply(400, b"bad")]
    with pytest.raises(ClientError, match="HTTP 400"):
        _pubmed(loopback, tmp_path).esearch("x")
    assert loopback.count("/eutils/esearch.fcgi") == 1


def test_timeouts_fail_after_retries(loopback: Loopback, tmp_path: Path) -> None:
    loopback.routes["/eutils/esearch.fcgi"] = [Reply(body=b"late", delay_s=1.0)]
    client = PubMedClient(
        f"{loopback.base}/eutils/", http=_http(tmp_path, timeout_s=0.2, max_retries=1)
    )
    with pytest.raises(ClientError, match="timeout"):
        client.esearch("x")


def test_malformed_xml_is_a_client_error(loopback: Loopback, tmp_path: Path) -> None:
    loopback.routes["/eutils/efetch.fcgi"] = [Reply(body=b"<PubmedArticleSet><PubmedArticle>")]
    with pytest.raises(ClientError, match="malformed PubMed XML"):
        _pubmed(loopback, tmp_path).efetch(["1"])


def test_responses_are_cached_on_disk(loopback: Loopback, tmp_path: Path) -> None:
    loopback.routes["/eutils/esearch.fcgi"] = [Reply(body=_bytes(ENTREZ / "esearch1.xml"))]
    first = _pubmed(loopback, tmp_path).esearch("biopython")
    second = _pubmed(loopback, tmp_path).esearch("biopython")
    assert first == second
    assert loopback.count("/eutils/esearch.fcgi") == 1
    cached = list((tmp_path / "cache").rglob("*.body"))
    assert len(cached) == 1


def test_rate_limiter_spaces_calls() -> None:
    limiter = RateLimiter(3.0)
    started = time.monotonic()
    for _ in range(4):
        limiter.wait()
    assert time.monotonic() - started >= 0.9


def test_ctgov_v2_paging_and_fields(loopback: Loopback, tmp_path: Path) -> None:
    study = json.loads((FIXTURES / "ctgov_v2" / "NCT02513394.json").read_bytes())
    other = json.loads(
        (FIXTURES / "ctgov_v2" / "NCT02513394.trimmed_no_results_no_locations.json").read_bytes()
    )
    loopback.routes["/api/v2/studies"] = [
        Reply(body=json.dumps({"studies": [study], "nextPageToken": "tok2"}).encode()),
        Reply(body=json.dumps({"studies": [other]}).encode()),
    ]
    client = ClinicalTrialsClient(f"{loopback.base}/api/v2/", http=_http(tmp_path))
    docs = client.search("breast cancer", "palbociclib", max_results=10)
    assert [d.doc_id for d in docs] == ["NCT:NCT02513394", "NCT:NCT02513394"]
    first, second = (q for p, q in loopback.requests if p == "/api/v2/studies")
    assert first["query.cond"] == ["breast cancer"] and first["query.intr"] == ["palbociclib"]
    assert "NCTId" in first["fields"][0]
    assert second["pageToken"] == ["tok2"]


def test_ctgov_invalid_json(loopback: Loopback, tmp_path: Path) -> None:
    loopback.routes["/api/v2/studies"] = [Reply(body=b"<html>maintenance</html>")]
    client = ClinicalTrialsClient(f"{loopback.base}/api/v2/", http=_http(tmp_path))
    with pytest.raises(ClientError, match="invalid JSON"):
        client.search("asthma")
