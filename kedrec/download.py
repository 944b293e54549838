"""Resumable HTTP(S) downloads for large public files (DRKG, PMC tarballs).

Bytes go to ``<dest>.part`` and are renamed onto ``dest`` only once the size and any
checksum match, so ``dest`` existing always means a complete file. An interrupted run
resumes the ``.part`` with a ``Range`` request; a server that ignores ``Range`` (answers
200) makes it start over. Connection errors, truncated bodies and 5xx/408/429 answers are
retried with exponential backoff; other 4xx answers fail at once.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.progress import Progress, TaskID

from kedrec.console import console, progress_bar
from kedrec.errors import DownloadError

CHUNK_SIZE = 1 << 20
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


@dataclass(frozen=True)
class DownloadResult:
    """What :func:`download` produced: the file, its size and digest, and how it got there."""

    path: Path
    size: int
    sha256: str
    downloaded_bytes: int
    """Bytes transferred by this call (0 when ``dest`` was already complete)."""
    resumed_from: int
    """Bytes of an earlier ``.part`` file that were kept (0 for a fresh download)."""
    skipped: bool
    """True when ``dest`` already existed and matched, so nothing was transferred."""


class _Retry(DownloadError):
    """Internal: this attempt failed in a way worth retrying (after ``delay`` seconds)."""

    def __init__(self, reason: str, delay: float | None = None) -> None:
        super().__init__(reason)
        self.delay = delay


def redact_url(url: str) -> str:
    """Return ``url`` without user info or query string, which may carry credentials."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return "<invalid URL>"
    port = f":{parsed.port}" if parsed.port else ""
    query = "?…" if parsed.query else ""
    return f"{parsed.scheme}://{parsed.host}{port}{parsed.path}{query}"


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in chunks so large archives need little memory."""
    digest = hashlib.new(algorithm)
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def part_path(dest: Path) -> Path:
    """The partial-download file for ``dest`` (kept between runs to resume)."""
    return dest.with_name(dest.name + ".part")


def download(
    url: str,
    dest: Path,
    *,
    expected_size: int | None = None,
    sha256: str | None = None,
    md5: str | None = None,
    retries: int = 5,
    backoff_s: float = 1.0,
    max_backoff_s: float = 60.0,
    timeout_s: float = 60.0,
    headers: Mapping[str, str] | None = None,
    client: httpx.Client | None = None,
    show_progress: bool = True,
    description: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> DownloadResult:
    """Download ``url`` to ``dest``, resuming ``dest.part`` and verifying size and checksums.

    An existing ``dest`` that matches ``expected_size``/``sha256``/``md5`` is kept as is
    (``skipped=True``); one that does not match is downloaded again. ``retries`` counts
    extra attempts after the first. Raises :class:`DownloadError` with one line naming the
    (redacted) URL and the fix.
    """
    dest = Path(dest)
    safe_url = redact_url(url)
    if dest.is_file():
        existing = _verify(dest, safe_url, expected_size, sha256, md5, remove_on_error=False)
        if existing is not None:
            return DownloadResult(dest, dest.stat().st_size, existing, 0, 0, skipped=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(dest)
    own_client = client is None
    http = client or httpx.Client(
        follow_redirects=True, timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 30.0))
    )
    job = _Transfer(
        http=http,
        url=url,
        safe_url=safe_url,
        part=part,
        expected_size=expected_size,
        headers=dict(headers or {}),
    )
    try:
        with _maybe_progress(show_progress) as progress:
            if progress is not None:
                job.progress = progress
                job.task = progress.add_task(description or dest.name, total=expected_size)
            job.run(retries, backoff_s, max_backoff_s, sleep)
    finally:
        if own_client:
            http.close()
    digest = _verify(part, safe_url, expected_size, sha256, md5, remove_on_error=True)
    assert digest is not None  # _verify raises instead of returning None when removing
    os.replace(part, dest)
    size = dest.stat().st_size
    return DownloadResult(dest, size, digest, job.transferred, job.resumed_from, skipped=False)


@dataclass
class _Transfer:
    """State of one download across its attempts: where bytes go and what was sent."""

    http: httpx.Client
    url: str
    safe_url: str
    part: Path
    expected_size: int | None
    headers: dict[str, str]
    progress: Progress | None = None
    task: TaskID | None = None
    transferred: int = 0
    resumed_from: int = -1

    def run(
        self, retries: int, backoff_s: float, max_backoff_s: float, sleep: Callable[[float], None]
    ) -> None:
        """Run attempts until the part file is complete or the retries are spent."""
        attempt = 0
        while True:
            offset = self.part.stat().st_size if self.part.is_file() else 0
            if self.expected_size is not None and offset > self.expected_size:
                self.part.unlink()
                offset = 0
            if self.resumed_from < 0:
                self.resumed_from = offset
            if self.expected_size is not None and offset == self.expected_size:
                return
            try:
                self._attempt(offset)
                return
            except _Retry as failure:
                attempt += 1
                if attempt > retries:
                    raise DownloadError(
                        f"download of {self.safe_url} failed after {retries + 1} attempts "
                        f"({failure}); check the network or the URL and run again to resume "
                        f"from {self.part}"
                    ) from None
                delay = failure.delay
                if delay is None:
                    delay = backoff_s * 2 ** (attempt - 1)
                delay = min(delay, max_backoff_s)
                console.print(
                    f"[yellow]download of {self.safe_url}: {failure}; "
                    f"retry {attempt}/{retries} in {delay:.1f}s[/yellow]"
                )
                sleep(delay)

    def _attempt(self, offset: int) -> None:
        """One GET (ranged when ``offset`` > 0) written to the part file."""
        request_headers = {**self.headers, "Accept-Encoding": "identity"}
        if offset:
            request_headers["Range"] = f"bytes={offset}-"
        written = 0
        try:
            with self.http.stream("GET", self.url, headers=request_headers) as response:
                start, total = self._plan(response, offset)
                if start is None:  # 416 on a complete part file
                    return
                if self.progress is not None and self.task is not None:
                    self.progress.update(self.task, total=total, completed=start)
                with self.part.open("ab" if start else "wb") as handle:
                    for chunk in response.iter_raw():  # unbuffered: no bytes lost on a drop
                        handle.write(chunk)
                        written += len(chunk)
                        self.transferred += len(chunk)
                        if self.progress is not None and self.task is not None:
                            self.progress.advance(self.task, len(chunk))
                    handle.flush()
                    os.fsync(handle.fileno())
        except httpx.TransportError as error:
            detail = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
            raise _Retry(detail) from None
        if total is not None and start + written < total:
            raise _Retry(f"connection closed after {start + written} of {total} bytes")
        if total is not None and start + written > total:
            self.part.unlink(missing_ok=True)
            raise _Retry(f"server sent {start + written} bytes, more than {total} announced")

    def _plan(self, response: httpx.Response, offset: int) -> tuple[int | None, int | None]:
        """Check the status; return (byte offset this body starts at, total size if known).

        ``(None, ...)`` means the part file is already complete (416 with a matching size).
        """
        status = response.status_code
        if status == 416 and offset:
            content_range = response.headers.get("Content-Range", "")
            match = re.match(r"bytes\s+\*/(\d+)", content_range)
            if match and int(match.group(1)) == offset:
                return None, offset
            self.part.unlink(missing_ok=True)
            raise _Retry("server refused the resume range; starting over", delay=0.0)
        if status in RETRYABLE_STATUS:
            raise _Retry(f"HTTP {status}", delay=_retry_after(response))
        if status == 206 and offset:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if match is None or int(match.group(1)) != offset:
                self.part.unlink(missing_ok=True)
                raise _Retry("server answered a different range; starting over", delay=0.0)
            total = None if match.group(3) == "*" else int(match.group(3))
        elif status == 200:
            length = response.headers.get("Content-Length", "")
            total = int(length) if length.isdigit() else None
            if offset:
                console.print(
                    f"[yellow]{self.safe_url} ignored the resume request; starting over[/yellow]"
                )
        else:
            raise DownloadError(
                f"download of {self.safe_url} failed: HTTP {status} ({_status_hint(status)})"
            )
        if self.expected_size is not None and total is not None and total != self.expected_size:
            raise DownloadError(
                f"download of {self.safe_url}: server reports {total} bytes but "
                f"{self.expected_size} were expected; the file changed upstream, "
                "update the expected size/checksum"
            )
        return (offset if status == 206 else 0), total


def _status_hint(status: int) -> str:
    """The likely fix for a non-retryable HTTP status."""
    return {
        401: "the URL needs credentials",
        403: "access denied; check the URL and that the file is public",
        404: "not found; check the URL setting or --url",
        410: "the file was removed upstream; check the URL setting or --url",
    }.get(status, "check the URL setting or --url")


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds from a numeric ``Retry-After`` header, if any."""
    value = response.headers.get("Retry-After", "").strip()
    return float(value) if value.isdigit() else None


def _verify(
    path: Path,
    safe_url: str,
    expected_size: int | None,
    sha256: str | None,
    md5: str | None,
    *,
    remove_on_error: bool,
) -> str | None:
    """Return the sha256 of ``path`` if it matches; else ``None`` or raise (``remove_on_error``).

    A mismatching ``.part`` is deleted so the next run starts clean instead of resuming
    corrupt bytes.
    """
    size = path.stat().st_size
    problem = None
    digest = None
    if expected_size is not None and size != expected_size:
        problem = f"size {size} != expected {expected_size}"
    else:
        digest = file_digest(path, "sha256")
        if sha256 and digest.lower() != sha256.strip().lower():
            problem = f"sha256 {digest} != expected {sha256.strip().lower()}"
        elif md5 and (got := file_digest(path, "md5")) != md5.strip().lower():
            problem = f"md5 {got} != expected {md5.strip().lower()}"
    if problem is None:
        return digest
    if not remove_on_error:
        return None
    path.unlink(missing_ok=True)
    raise DownloadError(
        f"download of {safe_url} is corrupt ({problem}); the partial file was removed, "
        "run again, or fix the expected checksum if the file changed upstream"
    )


def _maybe_progress(show: bool) -> AbstractContextManager[Progress | None]:
    """A rich progress bar, or a no-op context yielding ``None`` when ``show`` is false."""
    return progress_bar() if show else nullcontext()
