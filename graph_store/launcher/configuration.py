"""The per-instance *home* (conf, data, logs, run, import) and the neo4j.conf written into it.

Everything here is pure file layout and settings: no process is started. The JVM flags live in
the generated neo4j.conf (as Neo4j's own start script expects) and are read back from it, so
the conf on disk is the single record of how the server was launched.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kedrec.settings import Neo4jSettings

HOST = "127.0.0.1"
"""The launcher only ever listens on loopback."""

ENTRY_POINT = "org.neo4j.server.CommunityEntryPoint"
ADMIN_TOOL = "org.neo4j.cli.AdminTool"
LAUNCH_FILE = "kedrec-launch.json"

JVM_DEFAULTS: tuple[str, ...] = (
    # Copied from the `server.jvm.additional` lines of Neo4j 5.26's shipped conf/neo4j.conf;
    # all of them are accepted by Java 17 and 21, none had to be dropped.
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+AlwaysPreTouch",
    "-XX:+UnlockExperimentalVMOptions",
    "-XX:+TrustFinalNonStaticFields",
    "-XX:+DisableExplicitGC",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Djdk.tls.ephemeralDHKeySize=2048",
    "-Djdk.tls.rejectClientInitiatedRenegotiation=true",
    "-XX:FlightRecorderOptions=stackdepth=256",
    "-XX:+UnlockDiagnosticVMOptions",
    "-XX:+DebugNonSafepoints",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--enable-native-access=ALL-UNNAMED",
    "-Dlog4j2.disable.jmx=true",
    "-Dlog4j.layout.jsonTemplate.maxStringLength=32768",
)
"""JVM flags Neo4j's start script would pass; written to neo4j.conf and read back from it."""

ADMIN_JVM_FLAGS: tuple[str, ...] = (
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--enable-native-access=ALL-UNNAMED",
    "-XX:+UseG1GC",
    "-Dfile.encoding=UTF-8",
)
"""Flags for offline ``neo4j-admin`` runs (the import tool uses off-heap buffers through NIO)."""

FAST_SHUTDOWN: dict[str, str] = {
    # Bolt's shutdown otherwise waits 2 x 5 s for idle pools: a stop takes ~12 s instead of ~2 s.
    "internal.dbms.bolt.netty_server_shutdown_quiet_period": "0",
    "internal.dbms.bolt.netty_server_shutdown_timeout": "5s",
    "internal.server.bolt.connection_shutdown_wait_time": "1s",
    "internal.server.bolt.thread_pool_shutdown_wait_time": "1s",
}


@dataclass(frozen=True)
class HomeLayout:
    """Where one instance keeps its state; the jars live in the shared distribution instead."""

    home: Path

    @property
    def conf_dir(self) -> Path:
        """Directory with the generated neo4j.conf (NEO4J_CONF)."""
        return self.home / "conf"

    @property
    def data_dir(self) -> Path:
        """Databases, transaction logs and the auth store."""
        return self.home / "data"

    @property
    def logs_dir(self) -> Path:
        """neo4j.log, debug.log and the JVM's console.log."""
        return self.home / "logs"

    @property
    def run_dir(self) -> Path:
        """Pid file and launch record."""
        return self.home / "run"

    @property
    def import_dir(self) -> Path:
        """Where ``LOAD CSV FROM 'file:///...'`` reads from."""
        return self.home / "import"

    @property
    def conf_file(self) -> Path:
        """The generated neo4j.conf."""
        return self.conf_dir / "neo4j.conf"

    @property
    def pid_file(self) -> Path:
        """Pid of the server JVM while it runs."""
        return self.run_dir / "neo4j.pid"

    @property
    def launch_file(self) -> Path:
        """Ports of the running server (``status`` reports them, not the current settings)."""
        return self.run_dir / LAUNCH_FILE

    @property
    def lock_file(self) -> Path:
        """Serialises start/stop of this home across processes."""
        return self.run_dir / "launcher.lock"

    @property
    def console_log(self) -> Path:
        """The JVM's stdout/stderr (early failures land here, not in neo4j.log)."""
        return self.logs_dir / "console.log"

    @property
    def neo4j_log(self) -> Path:
        """Neo4j's own user log."""
        return self.logs_dir / "neo4j.log"


def conf_settings(
    layout: HomeLayout, neo: Neo4jSettings, bolt_port: int, http_port: int, dist: Path
) -> dict[str, str | list[str]]:
    """The neo4j.conf the launcher writes (lists become repeated keys)."""
    return {
        "server.default_listen_address": HOST,
        "server.default_advertised_address": HOST,
        "server.bolt.enabled": "true",
        "server.bolt.listen_address": f"{HOST}:{bolt_port}",
        "server.bolt.advertised_address": f"{HOST}:{bolt_port}",
        "server.http.enabled": "true",
        "server.http.listen_address": f"{HOST}:{http_port}",
        "server.http.advertised_address": f"{HOST}:{http_port}",
        "server.https.enabled": "false",
        "server.directories.data": str(layout.data_dir),
        "server.directories.logs": str(layout.logs_dir),
        "server.directories.run": str(layout.run_dir),
        "server.directories.import": str(layout.import_dir),
        "server.directories.plugins": str(dist / "plugins"),
        "server.directories.lib": str(dist / "lib"),
        "server.memory.heap.initial_size": neo.heap,
        "server.memory.heap.max_size": neo.heap,
        "server.memory.pagecache.size": neo.pagecache,
        # Long enough for batched loads, short enough that a runaway query cannot hang.
        "db.transaction.timeout": "30m",
        "dbms.security.procedures.unrestricted": "apoc.*",
        # Built-in db.*/dbms.* procedures are not affected; only APOC is loaded from plugins/.
        "dbms.security.procedures.allowlist": "apoc.*",
        "dbms.usage_report.enabled": "false",
        **FAST_SHUTDOWN,
        "server.jvm.additional": list(JVM_DEFAULTS),
    }


def write_conf(layout: HomeLayout, settings: dict[str, str | list[str]]) -> Path:
    """(Re)write ``conf/neo4j.conf`` from ``settings``; returns its path."""
    lines = [
        "# Generated by kedrec (graph_store/launcher) on each start; edit settings instead.",
    ]
    for key, value in settings.items():
        values = value if isinstance(value, list) else [value]
        lines.extend(f"{key}={item}" for item in values)
    layout.conf_file.write_text("\n".join(lines) + "\n")
    return layout.conf_file


def make_state_dirs(layout: HomeLayout) -> None:
    """Create data/, logs/, run/, import/ (what the offline tools need besides the conf)."""
    for directory in (layout.data_dir, layout.logs_dir, layout.run_dir, layout.import_dir):
        directory.mkdir(parents=True, exist_ok=True)


def prepare_home(layout: HomeLayout, settings: dict[str, str | list[str]]) -> None:
    """Create conf/, data/, logs/, run/, import/ and write neo4j.conf."""
    layout.conf_dir.mkdir(parents=True, exist_ok=True)
    make_state_dirs(layout)
    write_conf(layout, settings)


def is_fresh(layout: HomeLayout) -> bool:
    """True before the first start (the system database does not exist yet)."""
    return not (layout.data_dir / "databases" / "system").exists()


def jvm_flags(layout: HomeLayout) -> list[str]:
    """JVM flags for the server, read back from the generated neo4j.conf plus heap."""
    values: dict[str, str] = {}
    flags: list[str] = []
    for line in layout.conf_file.read_text().splitlines():
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        if key.strip() == "server.jvm.additional":
            flags.append(value.strip())
        else:
            values[key.strip()] = value.strip()
    heap_min = values.get("server.memory.heap.initial_size")
    heap_max = values.get("server.memory.heap.max_size")
    if heap_min:
        flags.append(f"-Xms{heap_min}")
    if heap_max:
        flags.append(f"-Xmx{heap_max}")
    flags += [
        "-Dfile.encoding=UTF-8",
        f"-XX:ErrorFile={layout.logs_dir / 'hs_err_pid%p.log'}",
    ]
    return flags


def java_env(layout: HomeLayout) -> dict[str, str]:
    """This process's environment plus NEO4J_HOME/NEO4J_CONF for the server and admin JVMs."""
    env = dict(os.environ)
    env["NEO4J_HOME"] = str(layout.home)
    env["NEO4J_CONF"] = str(layout.conf_dir)
    return env


def server_command(java: str, layout: HomeLayout, dist: Path) -> list[str]:
    """The server argv: ``CommunityEntryPoint`` straight from the distribution's jars."""
    return [
        java,
        *jvm_flags(layout),
        "-cp",
        f"{dist / 'lib'}/*:{dist / 'plugins'}/*",
        ENTRY_POINT,
        f"--home-dir={layout.home}",
        f"--config-dir={layout.conf_dir}",
    ]


def admin_command(args: Sequence[str], java: str, dist: Path, heap: str | None = None) -> list[str]:
    """The ``neo4j-admin <args>`` argv (``AdminTool``; ``heap`` sets -Xmx)."""
    cmd = [java, *ADMIN_JVM_FLAGS]
    if heap:
        cmd.append(f"-Xmx{heap}")
    return [*cmd, "-cp", f"{dist / 'lib'}/*", ADMIN_TOOL, *args]
