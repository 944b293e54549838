"""HTTP for the live literature APIs: rate limit, retries with backoff, on-disk cache.

Retries cover 429 (honouring ``Retry-After``), 5xx, timeouts and connection errors; other
4xx fail at once. Successful responses are cached on disk under a hash of the request, so a
repeated query costs nothing and works without a network.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from literature.errors import ClientError

logger = logging.getLogger(__name__)


class RateLimiter:
    """Allow at most ``rate`` calls per second (a minimum interval between calls)."""

    def __init__(self, rate: float) -> None:
        """Set the rate in calls per second."""
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Sleep until the next call is allowed."""
        with self._lock:
            now = time.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + self.interval
        if delay > 0:
            time.sleep(delay)


class CachedHttp:
    """GET with a rate limit, retries with exponential backoff and an on-disk cache."""

    def __init__(
        self,
        *,
        cache_dir: Path | None,
        rate: float,
        timeout_s: float = 20.0,
        max_retries: int = 4,
        backoff_s: float = 1.0,
        user_agent: str = "kedrec-literature/0.1",
    ) -> None:
        """Configure the client.

        Args:
            cache_dir: Folder for cached bodies; None disables caching.
            rate: Requests per second.
            timeout_s: Timeout of one request.
            max_retries: Retries after the first try on 429, 5xx or a timeout.
            backoff_s: First retry delay; doubles each retry.
            user_agent: User-Agent header.
        """
        self.cache_dir = cache_dir
        self.limiter = RateLimiter(rate)
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.requests_sent = 0
        self._client = httpx.Client(
            timeout=timeout_s, headers={"User-Agent": user_agent}, follow_redirects=True
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def _cache_path(self, url: str, params: dict[str, Any]) -> Path | None:
        if self.cache_dir is None:
            return None
        key = json.dumps([url, sorted((k, str(v)) for k, v in params.items())])
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self.cache_dir / digest[:2] / f"{digest}.body"

    def get(
        self, url: str, params: dict[str, Any], *, secret_params: frozenset[str] = frozenset()
    ) -> bytes:
        """Return the body of a GET, from the cache when present.

        Args:
            url: Full URL.
            params: Query parameters (part of the cache key, except ``secret_params``).
            secret_params: Names of parameters (API keys) left out of the cache key.

        Returns:
            The response body.

        Raises:
            ClientError: A non-retryable status, or retries exhausted.
        """
        keyed = {k: v for k, v in params.items() if k not in secret_params}
        cache = self._cache_path(url, keyed)
        if cache is not None and cache.is_file():
            return cache.read_bytes()
        last = "no attempt"
        for attempt in range(self.max_retries + 1):
            self.limiter.wait()
            delay = self.backoff_s * (2**attempt)
            try:
                self.requests_sent += 1
                response = self._client.get(url, params=params)
            except httpx.TimeoutException as error:
                last = f"timeout ({error.__class__.__name__})"
            except httpx.TransportError as error:
                last = f"connection failed ({error})"
            else:
                if response.status_code == 200:
                    if cache is not None:
                        cache.parent.mkdir(parents=True, exist_ok=True)
                        tmp = cache.with_suffix(".tmp")
                        tmp.write_bytes(response.content)
                        tmp.replace(cache)
                    return response.content
                last = f"HTTP {response.status_code}"
                if response.status_code == 429:
                    retry_after = response.headers.get("Retry-After", "")
                    if retry_after.isdigit():
                        delay = max(delay, float(retry_after))
                elif response.status_code < 500:
                    raise ClientError(f"{url} answered {last}: check the query and base URL")
            logger.debug("GET %s attempt %d failed: %s", url, attempt + 1, last)
            if attempt < self.max_retries:
                time.sleep(delay)
        raise ClientError(
            f"{url} failed after {self.max_retries + 1} tries ({last}): "
            "retry later or set KEDREC_LIT_OFFLINE=1"
        )
