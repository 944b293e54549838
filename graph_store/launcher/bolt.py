"""Talking to the server over Bolt: is it up, which version, and why a start did not come up.

A server that is still booting refuses connections, so polling silences the driver's warnings;
when the JVM dies or never answers, the part of its logs written by this attempt is condensed
into the error (root cause first, stack frames dropped).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from graph_store.launcher.configuration import HOST, HomeLayout
from kedrec.errors import Neo4jServerError
from kedrec.settings import Neo4jSettings

logger = logging.getLogger(__name__)


def bolt_accepts(port: int, host: str = HOST) -> bool:
    """True when a TCP connection to the Bolt port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def quiet_driver_logs() -> Iterator[None]:
    """Silence the driver's connection warnings while polling a server that is still booting."""
    driver_logger = logging.getLogger("neo4j")
    previous = driver_logger.level
    driver_logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        driver_logger.setLevel(previous)


def query_version(neo: Neo4jSettings, bolt_port: int) -> str | None:
    """Ask the server for its version (None when it cannot be reached or rejects us)."""
    from neo4j import GraphDatabase

    url = f"bolt://{HOST}:{bolt_port}"
    try:
        with (
            quiet_driver_logs(),
            GraphDatabase.driver(
                url,
                auth=(neo.user, neo.password.get_secret_value()),
                connection_timeout=3.0,
            ) as driver,
        ):
            records, _, _ = driver.execute_query(
                "CALL dbms.components() YIELD versions RETURN versions[0] AS version"
            )
            return str(records[0]["version"]) if records else None
    except Exception as error:
        logger.debug("version query failed: %s", error)
        return None


def wait_for_bolt(
    proc: subprocess.Popen[bytes],
    neo: Neo4jSettings,
    bolt_url: str,
    layout: HomeLayout,
    timeout_s: float,
    logs: Sequence[tuple[Path, int]],
) -> None:
    """Poll Bolt with the configured credentials until it answers or the JVM dies.

    ``logs`` are (file, offset at spawn) pairs, summarised into the error on failure.
    """
    from neo4j import GraphDatabase
    from neo4j.exceptions import AuthError

    auth = (neo.user, neo.password.get_secret_value())
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    with (
        quiet_driver_logs(),
        GraphDatabase.driver(
            bolt_url, auth=auth, connection_timeout=3.0, max_connection_pool_size=2
        ) as driver,
    ):
        while time.monotonic() < deadline:
            code = proc.poll()
            if code is not None:
                summary = startup_failure_summary(logs)
                raise Neo4jServerError(f"Neo4j exited during startup (exit code {code}); {summary}")
            try:
                driver.verify_connectivity()
                driver.execute_query("RETURN 1", database_=neo.database)
                return
            except AuthError as error:
                raise Neo4jServerError(
                    f"Neo4j at {bolt_url} rejected user '{neo.user}': the home "
                    f"{layout.home} was initialised with another password; set NEO4J_PASSWORD "
                    f"to it, or stop Neo4j and delete {layout.data_dir / 'dbms' / 'auth.ini'} "
                    "and the system database to reset"
                ) from error
            except Exception as error:  # still booting: refused, unavailable, ...
                last_error = error
            time.sleep(0.5)
    raise Neo4jServerError(
        f"Neo4j did not answer on {bolt_url} within {timeout_s:.0f} s "
        f"(last error: {type(last_error).__name__}: {last_error}); " + startup_failure_summary(logs)
    )


def read_since(path: Path, offset: int = 0, limit: int = 256_000) -> list[str]:
    """Lines written to ``path`` after byte ``offset`` (at most the last ``limit`` bytes)."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(offset, size - limit))
            return handle.read().decode(errors="replace").splitlines()
    except FileNotFoundError:
        return []


def startup_failure_summary(logs: Sequence[tuple[Path, int]], lines: int = 20) -> str:
    """Pick the root cause and the last log lines (stack frames dropped) of this start attempt.

    ``logs`` are (file, offset at spawn) pairs; the first one whose new part reports an error
    wins, else the first with any new output.
    """
    written = [(path, read_since(path, offset)) for path, offset in logs]
    written = [(path, text) for path, text in written if any(line.strip() for line in text)]
    if not written:
        return "no log output"
    source, chosen = next(
        (
            (path, text)
            for path, text in written
            if any(" ERROR " in line or "Exception" in line for line in text)
        ),
        written[0],
    )
    useful = [
        line for line in chosen if line.strip() and not line.lstrip().startswith(("at ", "..."))
    ]
    causes = [line.strip() for line in useful if line.lstrip().startswith("Caused by:")]
    errors = [line.strip() for line in useful if " ERROR " in line]
    header = causes[-1] if causes else (errors[-1] if errors else "")
    body = "\n".join(f"  {line}" for line in useful[-lines:])
    cause = f"{header}\n" if header else ""
    return f"{cause}last lines of {source}:\n{body}"
