"""Neo4j in docker: the repo's ``docker-compose.yml`` driven with the same settings.

Used when ``NEO4J_USE_DOCKER`` is true, or unset and an engine answers ``docker info``. The
credentials, ports and memory reach compose through the environment, never the argv (which
other users can read in ``ps``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from typing import Literal

from graph_store.launcher.bolt import bolt_accepts, query_version
from graph_store.launcher.configuration import HOST
from graph_store.launcher.process import Progress, ServerStatus
from kedrec.errors import Neo4jServerError
from kedrec.settings import REPO_ROOT, Neo4jSettings

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
"""docker compose file used when Neo4j runs in docker."""


def docker_available() -> bool:
    """True when a docker CLI exists and ``docker info`` reaches an engine."""
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        result = subprocess.run([docker, "info"], capture_output=True, timeout=15, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def docker_env(neo: Neo4jSettings, bolt_port: int, http_port: int) -> dict[str, str]:
    """Environment for ``docker compose`` so the container matches the settings."""
    env = dict(os.environ)
    env.update(
        {
            "NEO4J_USER": neo.user,
            "NEO4J_PASSWORD": neo.password.get_secret_value(),
            "NEO4J_BOLT_PORT": str(bolt_port),
            "NEO4J_HTTP_PORT": str(http_port),
            "NEO4J_HEAP": neo.heap,
            "NEO4J_PAGECACHE": neo.pagecache,
        }
    )
    return env


def docker_command(action: Literal["up", "down"]) -> list[str]:
    """The ``docker compose`` argv for ``up`` (detached, neo4j service only) or ``down``."""
    base = ["docker", "compose", "-f", str(COMPOSE_FILE)]
    return [*base, "up", "-d", "neo4j"] if action == "up" else [*base, "down"]


def docker_run(action: Literal["up", "down"], env: dict[str, str]) -> None:
    """Run ``docker compose up|down``; raise with the output's tail when it fails."""
    if shutil.which("docker") is None:
        raise Neo4jServerError(
            "NEO4J_USE_DOCKER=true but the `docker` CLI is not on PATH; install docker or "
            "set NEO4J_USE_DOCKER=false to use the Maven launcher"
        )
    if not COMPOSE_FILE.is_file():
        raise Neo4jServerError(f"{COMPOSE_FILE} is missing; run from a KEDRec checkout")
    result = subprocess.run(
        docker_command(action), env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-20:])
        raise Neo4jServerError(
            f"`docker compose {action}` failed (exit {result.returncode}):\n{tail}"
        )


def docker_start(
    neo: Neo4jSettings,
    bolt_port: int,
    http_port: int,
    timeout_s: float,
    progress: Progress | None = None,
) -> bool:
    """Bring the container up and wait until it answers; False when Bolt already answered."""
    if bolt_accepts(bolt_port):
        return False
    if progress:
        progress("Starting Neo4j with docker compose…")
    docker_run("up", docker_env(neo, bolt_port, http_port))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if query_version(neo, bolt_port) is not None:
            return True
        time.sleep(1.0)
    raise Neo4jServerError(
        f"the docker Neo4j did not answer on bolt://{HOST}:{bolt_port} within {timeout_s:.0f} s; "
        "see `docker compose logs neo4j`"
    )


def docker_stop(
    neo: Neo4jSettings, bolt_port: int, http_port: int, progress: Progress | None = None
) -> bool:
    """``docker compose down``; False when nothing answered on the Bolt port."""
    if not bolt_accepts(bolt_port):
        return False
    if progress:
        progress("Stopping the docker Neo4j…")
    docker_run("down", docker_env(neo, bolt_port, http_port))
    return True


def docker_status(neo: Neo4jSettings, bolt_port: int, http_port: int) -> ServerStatus:
    """Status of the container: only Bolt and the version (its home is inside docker)."""
    running = bolt_accepts(bolt_port)
    http = f"http://{HOST}:{http_port}"
    return ServerStatus(
        running=running,
        mode="docker",
        pid=None,
        version=query_version(neo, bolt_port) if running else None,
        bolt_url=f"bolt://{HOST}:{bolt_port}",
        http_url=http,
        browser_url=f"{http}/browser/",
        home=None,
        import_dir=None,
        log_file=None,
    )
