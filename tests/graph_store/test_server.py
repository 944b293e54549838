"""The Neo4j launcher against real Neo4j processes (no mocks).

One throwaway instance (own home in a tmp dir, free ports, small heap) is shared by the module;
the distribution is the shared one under the cache dir, built once from Maven Central. Tests
run in file order: the last ones stop the server, exercise offline ``neo4j-admin`` and restart.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from neo4j import Driver, GraphDatabase
from pydantic import SecretStr
from typer.testing import CliRunner

from graph_store.launcher import (
    NEO4J_VERSION,
    POM_PATH,
    Neo4jLauncher,
    find_java,
    port_in_use,
    run_admin,
)
from kedrec.errors import Neo4jServerError
from kedrec.settings import KedrecSettings
from kedrec_cli.main import app

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

pytestmark = pytest.mark.neo4j

PASSWORD = "launcher-test-pw"


def free_port() -> int:
    """A port nothing listens on right now (the kernel picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_settings(**neo4j: object) -> KedrecSettings:
    """Settings with the shared cache dir (one dist build) and a small server."""
    base = KedrecSettings()
    overrides = {
        "heap": "512m",
        "pagecache": "64m",
        "password": SecretStr(PASSWORD),
        "use_docker": False,
        **neo4j,
    }
    return base.model_copy(update={"neo4j": base.neo4j.model_copy(update=overrides)})


test_settings.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def _java_or_skip() -> None:
    try:
        find_java()
    except Neo4jServerError as error:
        pytest.skip(f"no usable java: {error}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Neo4jLauncher]:
    _java_or_skip()
    home = tmp_path_factory.mktemp("neo4j") / "home"
    launcher = Neo4jLauncher(
        test_settings(), home=home, bolt_port=free_port(), http_port=free_port()
    )
    launcher.ensure_dist()
    began = time.monotonic()
    assert launcher.start(timeout_s=180) is True
    print(f"first start of a fresh home took {time.monotonic() - began:.1f} s")
    try:
        yield launcher
    finally:
        launcher.stop()


@pytest.fixture
def driver(server: Neo4jLauncher) -> Iterator[Driver]:
    with GraphDatabase.driver(server.bolt_url, auth=("neo4j", PASSWORD)) as drv:
        yield drv


# ----------------------------------------------------------------------------- running server


def test_bolt_answers(driver: Driver) -> None:
    records, _, _ = driver.execute_query("RETURN 1 AS one")
    assert records[0]["one"] == 1


def test_apoc_is_loaded(driver: Driver) -> None:
    records, _, _ = driver.execute_query("CALL apoc.help('text') YIELD name RETURN name")
    assert len(records) > 10
    records, _, _ = driver.execute_query("RETURN apoc.version() AS version")
    assert records[0]["version"] == NEO4J_VERSION
    # The allowlist only limits plugins: built-in procedures stay available.
    records, _, _ = driver.execute_query("CALL db.labels() YIELD label RETURN count(*) AS n")
    assert records[0]["n"] == 0


def test_browser_is_served(server: Neo4jLauncher) -> None:
    page = httpx.get(server.browser_url, timeout=10)
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert "Neo4j Browser" in page.text
    discovery = httpx.get(server.http_url + "/", timeout=10).json()
    assert discovery["bolt_direct"] == server.bolt_url  # the Browser connects here
    assert discovery["neo4j_edition"] == "community"


def test_home_layout_and_conf(server: Neo4jLauncher) -> None:
    for name in ("conf", "data", "logs", "run", "import"):
        assert (server.home / name).is_dir()
    conf = (server.conf_dir / "neo4j.conf").read_text()
    assert "server.default_listen_address=127.0.0.1" in conf
    assert f"server.bolt.listen_address=127.0.0.1:{server.bolt_port}" in conf
    assert "server.https.enabled=false" in conf
    assert "dbms.usage_report.enabled=false" in conf
    assert "server.jvm.additional=--add-opens=java.base/java.nio=ALL-UNNAMED" in conf
    assert f"server.directories.plugins={server.dist / 'plugins'}" in conf
    assert sorted(p.name.split("-")[1] for p in (server.dist / "plugins").glob("*.jar")) == [
        "common",
        "core",
    ]
    assert server.read_pid() == server.running_pid()
    for path in (server.conf_dir / "neo4j.conf", server.console_log, server.logs_dir / "neo4j.log"):
        assert PASSWORD not in path.read_text(errors="replace")


def test_start_again_is_a_noop(server: Neo4jLauncher) -> None:
    pid = server.running_pid()
    assert pid is not None
    assert server.start() is False
    assert server.running_pid() == pid


def test_status_reports_the_running_server(server: Neo4jLauncher) -> None:
    status = server.status()
    assert status.running and status.mode == "maven"
    assert status.pid == server.read_pid()
    assert status.version == NEO4J_VERSION
    assert status.bolt_url == f"bolt://127.0.0.1:{server.bolt_port}"
    assert status.browser_url == f"http://127.0.0.1:{server.http_port}/browser/"
    assert status.home == server.home


def test_cli_status_json(server: Neo4jLauncher) -> None:
    result = CliRunner().invoke(app, ["neo4j", "status", "--home", str(server.home), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["running"] is True
    assert payload["pid"] == server.read_pid()
    assert payload["bolt_url"] == server.bolt_url  # from the launch record, not the settings


def test_another_launcher_object_sees_it(server: Neo4jLauncher) -> None:
    same = Neo4jLauncher(server.settings, home=server.home)
    assert same.is_running()
    assert same.running_pid() == server.running_pid()


def test_bolt_port_taken_is_reported(server: Neo4jLauncher, tmp_path: Path) -> None:
    other = Neo4jLauncher(
        server.settings, home=tmp_path / "home", bolt_port=server.bolt_port, http_port=free_port()
    )
    with pytest.raises(Neo4jServerError, match=rf"Bolt port {server.bolt_port}.*NEO4J_BOLT_PORT"):
        other.start()
    assert not other.is_running()


def test_http_port_taken_is_reported(server: Neo4jLauncher, tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        assert port_in_use(taken)
        other = Neo4jLauncher(
            server.settings, home=tmp_path / "home", bolt_port=free_port(), http_port=taken
        )
        with pytest.raises(Neo4jServerError, match=rf"HTTP port {taken}.*NEO4J_HTTP_PORT"):
            other.start()


# ----------------------------------------------------------------------------- distribution


def test_shared_dist_is_built_once(server: Neo4jLauncher) -> None:
    marker = json.loads((server.dist / ".kedrec-dist.json").read_text())
    assert marker["pom_sha256"] == hashlib.sha256(POM_PATH.read_bytes()).hexdigest()
    began = time.monotonic()
    assert server.ensure_dist() == server.dist
    assert time.monotonic() - began < 1.0  # marker hit, no Maven run


def test_dist_is_rebuilt_when_the_pom_changes(tmp_path: Path) -> None:
    _java_or_skip()
    settings = test_settings().model_copy(update={"cache_dir": tmp_path})
    launcher = Neo4jLauncher(settings)
    (launcher.dist / "lib").mkdir(parents=True)
    (launcher.dist / "lib" / "leftover.jar").write_text("old build")
    (launcher.dist / ".kedrec-dist.json").write_text(json.dumps({"pom_sha256": "older pom"}))
    launcher.ensure_dist()  # jars come from the local Maven repository after the first build
    marker = json.loads((launcher.dist / ".kedrec-dist.json").read_text())
    assert marker["pom_sha256"] == hashlib.sha256(POM_PATH.read_bytes()).hexdigest()
    assert not (launcher.dist / "lib" / "leftover.jar").exists()
    assert (launcher.dist / "lib" / f"neo4j-{NEO4J_VERSION}.jar").is_file()
    assert {p.name for p in (launcher.dist / "plugins").iterdir()} == {
        f"apoc-core-{NEO4J_VERSION}.jar",
        f"apoc-common-{NEO4J_VERSION}.jar",
    }
    assert not list((launcher.dist / "lib").glob("apoc-*.jar"))


# ----------------------------------------------------------------------------- failures


def test_missing_java_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    launcher = Neo4jLauncher(
        test_settings(), home=tmp_path / "home", bolt_port=free_port(), http_port=free_port()
    )
    with pytest.raises(Neo4jServerError, match=r"Java 17 or 21.*install"):
        launcher.start()
    with pytest.raises(Neo4jServerError, match="Java 17 or 21"):
        Neo4jLauncher(test_settings(), home=tmp_path / "home", java="no-such-java").start()


def test_missing_maven_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _java_or_skip()
    java_only = tmp_path / "bin"
    java_only.mkdir()
    (java_only / "java").symlink_to(os.path.realpath(find_java()))
    monkeypatch.setenv("PATH", str(java_only))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    settings = test_settings().model_copy(update={"cache_dir": tmp_path / "cache"})
    with pytest.raises(Neo4jServerError, match=r"Maven \(`mvn`\).*install"):
        Neo4jLauncher(settings).ensure_dist()


def test_startup_failure_shows_the_log(server: Neo4jLauncher, tmp_path: Path) -> None:
    broken = Neo4jLauncher(
        test_settings(pagecache="lots"),
        home=tmp_path / "home",
        bolt_port=free_port(),
        http_port=free_port(),
    )
    # Not fresh, so the password step is skipped and the server itself meets the bad setting.
    (broken.data_dir / "databases" / "system").mkdir(parents=True)
    with pytest.raises(Neo4jServerError, match="exited during startup") as raised:
        broken.start(timeout_s=120)
    message = str(raised.value)
    assert "server.memory.pagecache.size" in message
    assert "last lines of" in message
    assert not broken.pid_file.exists()
    assert not broken.is_running()


# ----------------------------------------------------------------------------- stop, admin


def test_stop_is_idempotent(server: Neo4jLauncher) -> None:
    pid = server.running_pid()
    assert pid is not None
    assert server.stop() is True
    assert not server.is_running()
    assert not server.pid_file.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert server.stop() is False
    assert not port_in_use(server.bolt_port)


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_stale_pid_file_is_ignored(server: Neo4jLauncher) -> None:
    server.pid_file.write_text(f"{_dead_pid()}\n")
    assert not server.is_running()
    assert server.status().running is False
    assert server.stop() is False
    assert not server.pid_file.exists()  # cleaned up
    # A live pid that is not a Neo4j server for this home (pid reuse) is not trusted either.
    server.pid_file.write_text(f"{os.getpid()}\n")
    assert not server.is_running()


def test_admin_import_then_restart(server: Neo4jLauncher, tmp_path: Path) -> None:
    nodes = tmp_path / "nodes.csv"
    nodes.write_text(
        "id:ID,name,:LABEL\nDB00001,Lepirudin,Drug\nG1,F2,Gene\nD1,Thrombosis,Disease\n"
    )
    rels = tmp_path / "rels.csv"
    rels.write_text(":START_ID,:END_ID,:TYPE\nDB00001,G1,TARGETS\nDB00001,D1,TREATS\n")
    output = run_admin(
        [
            "database",
            "import",
            "full",
            f"--nodes={nodes}",
            f"--relationships={rels}",
            "--overwrite-destination",
            "neo4j",
        ],
        settings=server.settings,
        home=server.home,
    )
    assert "IMPORT DONE" in output
    # The conf of the test instance (its ports) survives the offline run.
    conf = (server.conf_dir / "neo4j.conf").read_text()
    assert f"server.bolt.listen_address=127.0.0.1:{server.bolt_port}" in conf

    server.pid_file.write_text(f"{_dead_pid()}\n")  # stale pid file left from a crash
    began = time.monotonic()
    assert server.start(timeout_s=180) is True
    print(f"restart took {time.monotonic() - began:.1f} s")
    with GraphDatabase.driver(server.bolt_url, auth=("neo4j", PASSWORD)) as drv:
        records, _, _ = drv.execute_query(
            "MATCH (d:Drug {id: 'DB00001'})-[r]->(x) RETURN type(r) AS t, x.name AS name ORDER BY t"
        )
    assert [(r["t"], r["name"]) for r in records] == [("TARGETS", "F2"), ("TREATS", "Thrombosis")]


def test_admin_errors_are_reported(server: Neo4jLauncher) -> None:
    with pytest.raises(Neo4jServerError, match="neo4j-admin database nosuchcommand failed"):
        server.run_admin(["database", "nosuchcommand"])
