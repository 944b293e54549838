"""The shared Neo4j distribution: the pinned pom's jars, fetched once from Maven Central.

Neo4j's tarball is not on a package registry, but every jar of it is on Maven Central, so
``mvn dependency:copy-dependencies`` on ``neo4j_dist/pom.xml`` yields ``lib/`` (server) and,
after moving APOC, ``plugins/``. A marker with the pom's hash says the build is complete and
current; the build is staged and swapped in so a half-built directory is never used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from functools import lru_cache
from pathlib import Path

from graph_store.launcher.process import Progress, file_lock
from kedrec.errors import Neo4jServerError

logger = logging.getLogger(__name__)

POM_PATH = Path(__file__).resolve().parents[1] / "neo4j_dist" / "pom.xml"
"""Pinned Maven description of the distribution (Neo4j, Browser, APOC)."""

DIST_MARKER = ".kedrec-dist.json"
MIN_JAVA = 17


def read_pom_versions(pom: Path = POM_PATH) -> dict[str, str]:
    """Return the ``<properties>`` of the pinned pom (``neo4j.version``, ``apoc.version``...)."""
    root = ET.parse(pom).getroot()
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    props = root.find("m:properties", ns)
    if props is None:
        return {}
    return {child.tag.split("}", 1)[-1]: (child.text or "").strip() for child in props}


NEO4J_VERSION = read_pom_versions().get("neo4j.version", "5.26.19")
"""The Neo4j version the pom pins (single source of truth: the pom)."""


def dist_dir(cache_dir: Path) -> Path:
    """Where the distribution of :data:`NEO4J_VERSION` lives, shared by every home."""
    return cache_dir / "neo4j" / f"dist-{NEO4J_VERSION}"


# --------------------------------------------------------------------------- tools on PATH


def find_java(java: str | None = None) -> str:
    """Return a usable ``java`` (explicit path, ``$JAVA_HOME/bin/java`` or PATH), Java >= 17."""
    candidate: str | None = None
    if java:
        candidate = shutil.which(java) or (java if Path(java).is_file() else None)
    else:
        java_home = os.environ.get("JAVA_HOME")
        if java_home and (Path(java_home) / "bin" / "java").is_file():
            candidate = str(Path(java_home) / "bin" / "java")
        else:
            candidate = shutil.which("java")
    if candidate is None:
        raise Neo4jServerError(
            "Java 17 or 21 is needed to run Neo4j but `java` was not found (PATH, JAVA_HOME); "
            "install a JDK (e.g. `apt-get install openjdk-17-jdk-headless`) or set JAVA_HOME"
        )
    major = java_major(candidate)
    if major is not None and major < MIN_JAVA:
        raise Neo4jServerError(
            f"Neo4j {NEO4J_VERSION} needs Java 17 or 21 but {candidate} is Java {major}; "
            "install openjdk-17 and put it first on PATH or set JAVA_HOME"
        )
    return candidate


@lru_cache(maxsize=8)
def java_major(java: str) -> int | None:
    """Parse the major version from ``java -version`` (None when it cannot be parsed)."""
    try:
        out = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError as error:
        raise Neo4jServerError(f"cannot run {java}: {error}") from error
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def find_maven() -> str:
    """Return ``mvn`` from PATH; it is only needed once, to build the distribution."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise Neo4jServerError(
            "Maven (`mvn`) is needed once to build Neo4j from Maven Central but was not found "
            "on PATH; install it (e.g. `apt-get install maven`) or run Neo4j in docker "
            "(NEO4J_USE_DOCKER=true)"
        )
    return mvn


# --------------------------------------------------------------------------- building


def pom_hash(pom: Path = POM_PATH) -> str:
    """sha256 of the pom: a changed pin means a rebuild."""
    return hashlib.sha256(pom.read_bytes()).hexdigest()


def dist_ready(dist: Path, expected_hash: str) -> bool:
    """True when ``dist`` was completely built from the pom with ``expected_hash``."""
    try:
        recorded = json.loads((dist / DIST_MARKER).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return False
    return recorded.get("pom_sha256") == expected_hash and (dist / "lib").is_dir()


def ensure_dist(dist: Path, java: str | None = None, progress: Progress | None = None) -> Path:
    """Build the shared distribution from Maven Central once (again when the pom changes).

    Returns ``dist`` with ``lib/`` (server jars) and ``plugins/`` (APOC). ``java`` names the
    java executable Maven runs on (default: ``$JAVA_HOME/bin/java`` or PATH).
    """
    expected = pom_hash()
    if dist_ready(dist, expected):
        return dist
    with file_lock(dist.parent / ".dist.lock"):
        if dist_ready(dist, expected):
            return dist
        _build(dist, find_java(java), find_maven(), expected, progress)
    return dist


def _build(dist: Path, java: str, mvn: str, expected: str, progress: Progress | None) -> None:
    """Run Maven into a staging directory, check it, then swap it in for ``dist``."""
    if progress:
        progress(f"Building Neo4j {NEO4J_VERSION} from Maven Central (once)…")
    logger.info("building Neo4j %s distribution in %s", NEO4J_VERSION, dist)
    started = time.monotonic()
    staging = dist.parent / f".{dist.name}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "plugins").mkdir(parents=True)
    env = dict(os.environ)
    env.setdefault("JAVA_HOME", str(Path(os.path.realpath(java)).parent.parent))
    cmd = [
        mvn,
        "-B",
        "-q",
        "-Dstyle.color=never",
        "-f",
        str(POM_PATH),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={staging / 'lib'}",
        "-DincludeScope=runtime",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-20:])
        raise Neo4jServerError(
            f"Maven could not fetch Neo4j {NEO4J_VERSION} (exit {result.returncode}); "
            f"check access to Maven Central:\n{tail}"
        )
    # APOC must be loaded as a plugin (the procedure loader scans plugins/); apoc-core
    # on Maven Central is thin and needs apoc-common beside it.
    for jar in (staging / "lib").glob("apoc-*.jar"):
        jar.rename(staging / "plugins" / jar.name)
    if not (staging / "lib" / f"neo4j-{NEO4J_VERSION}.jar").is_file() or not any(
        (staging / "plugins").glob("apoc-core-*.jar")
    ):
        shutil.rmtree(staging, ignore_errors=True)
        raise Neo4jServerError(
            f"the Maven build of Neo4j in {staging} lacks neo4j-{NEO4J_VERSION}.jar "
            f"or apoc-core; check {POM_PATH}"
        )
    (staging / DIST_MARKER).write_text(
        json.dumps(
            {
                "pom_sha256": expected,
                "neo4j_version": NEO4J_VERSION,
                "jars": len(list((staging / "lib").glob("*.jar"))),
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            },
            indent=2,
        )
    )
    old = dist.parent / f".{dist.name}.old-{os.getpid()}"
    if dist.exists():
        dist.rename(old)
    staging.rename(dist)
    shutil.rmtree(old, ignore_errors=True)
    logger.info("built Neo4j distribution in %.1f s", time.monotonic() - started)
