"""docker-compose.yml and the launcher's docker path (no engine here: command construction only)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from pydantic import SecretStr

from graph_store.launcher import COMPOSE_FILE, NEO4J_VERSION, Neo4jLauncher
from kedrec.settings import REPO_ROOT, KedrecSettings, Neo4jSettings

_VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def interpolate(value: str, env: dict[str, str]) -> str:
    """Resolve ``${VAR:-default}`` like docker compose does (``$$`` stays a literal ``$``)."""
    escaped = value.replace("$$", "\0")
    resolved = _VARIABLE.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), escaped)
    return resolved.replace("\0", "$")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def service(compose: dict) -> dict:
    return compose["services"]["neo4j"]


def test_compose_file_is_the_launchers(compose: dict) -> None:
    assert COMPOSE_FILE == REPO_ROOT / "docker-compose.yml"
    assert set(compose["services"]) == {"neo4j"}


def test_image_matches_the_pinned_minor_version(service: dict) -> None:
    assert service["image"] == "neo4j:5.26-community"
    assert NEO4J_VERSION.startswith("5.26.")


def test_ports_are_loopback_only_with_defaults(service: dict) -> None:
    ports = [interpolate(port, {}) for port in service["ports"]]
    assert sorted(ports) == ["127.0.0.1:7474:7474", "127.0.0.1:7687:7687"]
    moved = [interpolate(p, {"NEO4J_BOLT_PORT": "17687"}) for p in service["ports"]]
    assert "127.0.0.1:17687:7687" in moved


def test_auth_is_wired_to_the_settings_variables(service: dict) -> None:
    auth = service["environment"]["NEO4J_AUTH"]
    defaults = Neo4jSettings.model_fields
    assert interpolate(auth, {}) == (
        f"{defaults['user'].default}/{defaults['password'].default.get_secret_value()}"
    )
    assert interpolate(auth, {"NEO4J_USER": "neo4j", "NEO4J_PASSWORD": "s3cret-pw"}) == (
        "neo4j/s3cret-pw"
    )


def test_apoc_plugin_and_procedures(service: dict) -> None:
    env = service["environment"]
    assert json.loads(env["NEO4J_PLUGINS"]) == ["apoc"]
    assert env["NEO4J_dbms_security_procedures_unrestricted"] == "apoc.*"
    assert env["NEO4J_dbms_usage__report_enabled"] == "false"


def test_memory_follows_settings_variables(service: dict) -> None:
    env = service["environment"]
    heap = Neo4jSettings.model_fields["heap"].default
    pagecache = Neo4jSettings.model_fields["pagecache"].default
    assert interpolate(env["NEO4J_server_memory_heap_max__size"], {}) == heap
    assert interpolate(env["NEO4J_server_memory_heap_initial__size"], {}) == heap
    assert interpolate(env["NEO4J_server_memory_pagecache_size"], {}) == pagecache


def test_data_volume_and_healthcheck(compose: dict, service: dict) -> None:
    assert "neo4j-data:/data" in service["volumes"]
    assert "neo4j-data" in compose["volumes"]
    test = " ".join(service["healthcheck"]["test"])
    assert "cypher-shell" in test
    # Escaped so compose leaves the container's own $NEO4J_AUTH alone.
    assert "$${NEO4J_AUTH" in test
    assert "${NEO4J_AUTH%%/*}" in interpolate(test, {})


def _docker_launcher(tmp_path: Path) -> Neo4jLauncher:
    settings = KedrecSettings(
        cache_dir=tmp_path,
        neo4j=Neo4jSettings(password=SecretStr("docker-pw-123"), heap="1g", pagecache="512m"),
    )
    return Neo4jLauncher(settings, bolt_port=17687, http_port=17474, use_docker=True)


def test_docker_commands(tmp_path: Path) -> None:
    launcher = _docker_launcher(tmp_path)
    assert launcher.mode == "docker"
    base = ["docker", "compose", "-f", str(COMPOSE_FILE)]
    assert launcher.docker_command("up") == [*base, "up", "-d", "neo4j"]
    assert launcher.docker_command("down") == [*base, "down"]


def test_docker_env_carries_settings_not_argv(tmp_path: Path) -> None:
    launcher = _docker_launcher(tmp_path)
    env = launcher.docker_env()
    assert env["NEO4J_USER"] == "neo4j"
    assert env["NEO4J_PASSWORD"] == "docker-pw-123"
    assert (env["NEO4J_BOLT_PORT"], env["NEO4J_HTTP_PORT"]) == ("17687", "17474")
    assert (env["NEO4J_HEAP"], env["NEO4J_PAGECACHE"]) == ("1g", "512m")
    assert not any("docker-pw-123" in arg for arg in launcher.docker_command("up"))
    # Every variable compose reads is one the settings define (same names as NEO4J_* settings).
    text = (REPO_ROOT / "docker-compose.yml").read_text()
    used = {m.group(1) for m in _VARIABLE.finditer(text.replace("$$", ""))}
    fields = {f"NEO4J_{name.upper()}" for name in Neo4jSettings.model_fields}
    assert used <= fields
    assert used <= set(env)


def test_explicit_maven_mode_skips_docker(tmp_path: Path) -> None:
    settings = KedrecSettings(cache_dir=tmp_path, neo4j=Neo4jSettings(use_docker=False))
    assert Neo4jLauncher(settings).mode == "maven"
    assert Neo4jLauncher(settings, use_docker=True).mode == "docker"
