"""Run a local Neo4j 5.26 community server without docker (or with it, when an engine answers).

Neo4j's tarball is not on a package registry, but every jar of it is on Maven Central. The
launcher resolves the pinned ``neo4j_dist/pom.xml`` with Maven into one shared distribution
(``<cache_dir>/neo4j/dist-<version>/{lib,plugins}``), and keeps per-instance state (conf, data,
logs, pid) in a separate *home*, so several instances (the default one, throwaway test ones) can
share the 130 MB of jars. The server is started directly through ``CommunityEntryPoint`` with
the JVM flags Neo4j's own start script would use, detached from the CLI process.

Public API: :class:`Neo4jLauncher` (``ensure_dist``, ``start``, ``stop``, ``status``,
``is_running``, ``run_admin``), :class:`ServerStatus`, and :func:`run_admin` for offline
``neo4j-admin`` commands such as ``database import full``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from kedrec.errors import Neo4jServerError
from kedrec.settings import REPO_ROOT, KedrecSettings, get_settings

logger = logging.getLogger(__name__)

POM_PATH = Path(__file__).resolve().parent / "neo4j_dist" / "pom.xml"
"""Pinned Maven description of the distribution (Neo4j, Browser, APOC)."""

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
"""docker compose file used when Neo4j runs in docker."""

HOST = "127.0.0.1"
"""The launcher only ever listens on loopback."""

ENTRY_POINT = "org.neo4j.server.CommunityEntryPoint"
ADMIN_TOOL = "org.neo4j.cli.AdminTool"
DIST_MARKER = ".kedrec-dist.json"
LAUNCH_FILE = "kedrec-launch.json"
MIN_JAVA = 17

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

Progress = Callable[[str], None]
"""Receives short human-readable phase descriptions (a CLI spinner's ``update``)."""


def _read_pom_versions(pom: Path = POM_PATH) -> dict[str, str]:
    """Return the ``<properties>`` of the pinned pom (``neo4j.version``, ``apoc.version``...)."""
    root = ET.parse(pom).getroot()
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    props = root.find("m:properties", ns)
    if props is None:
        return {}
    return {child.tag.split("}", 1)[-1]: (child.text or "").strip() for child in props}


NEO4J_VERSION = _read_pom_versions().get("neo4j.version", "5.26.19")
"""The Neo4j version the pom pins (single source of truth: the pom)."""


@dataclass(frozen=True)
class ServerStatus:
    """What ``kedrec neo4j status`` reports about one Neo4j instance."""

    running: bool
    mode: Literal["maven", "docker"]
    pid: int | None
    version: str | None
    bolt_url: str
    http_url: str
    browser_url: str
    home: Path | None
    import_dir: Path | None
    log_file: Path | None


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
    major = _java_major(candidate)
    if major is not None and major < MIN_JAVA:
        raise Neo4jServerError(
            f"Neo4j {NEO4J_VERSION} needs Java 17 or 21 but {candidate} is Java {major}; "
            "install openjdk-17 and put it first on PATH or set JAVA_HOME"
        )
    return candidate


@lru_cache(maxsize=8)
def _java_major(java: str) -> int | None:
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


def port_in_use(port: int, host: str = HOST) -> bool:
    """True when something already listens on ``host:port`` (bind fails like Neo4j's would)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Neo4j's netty sets SO_REUSEADDR too, so sockets in TIME_WAIT do not count.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise
    return False


# --------------------------------------------------------------------------- processes


def _process_cmdline(pid: int) -> str | None:
    """Return the command line of a live (non-zombie) process, or None when it is gone."""
    proc = Path("/proc") / str(pid)
    if Path("/proc/self").exists():
        try:
            stat = (proc / "stat").read_text()
            if stat.rsplit(")", 1)[-1].split()[0] == "Z":
                return None
            return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (FileNotFoundError, ProcessLookupError, IndexError):
            return None
        except PermissionError:
            return ""
    try:
        out = subprocess.run(
            ["ps", "-p", str(pid), "-o", "stat=,command="],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return None
    line = out.stdout.strip()
    if out.returncode != 0 or not line or line.startswith("Z"):
        return None
    return line.split(None, 1)[-1]


_SPAWNED: dict[int, subprocess.Popen[bytes]] = {}
"""Servers started by this process: kept so they can be reaped, never garbage-collected live."""


def _pid_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (our own children get reaped)."""
    proc = _SPAWNED.get(pid)
    if proc is not None:
        if proc.poll() is None:
            return True
        _SPAWNED.pop(pid, None)
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _process_cmdline(pid) is not None


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Serialise start/stop/build across processes (two ``kedrec neo4j start`` at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _quiet_driver_logs() -> Iterator[None]:
    """Silence the driver's connection warnings while polling a server that is still booting."""
    driver_logger = logging.getLogger("neo4j")
    previous = driver_logger.level
    driver_logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        driver_logger.setLevel(previous)


def _read_since(path: Path, offset: int = 0, limit: int = 256_000) -> list[str]:
    """Lines written to ``path`` after byte ``offset`` (at most the last ``limit`` bytes)."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(offset, size - limit))
            return handle.read().decode(errors="replace").splitlines()
    except FileNotFoundError:
        return []


def _startup_failure_summary(logs: Sequence[tuple[Path, int]], lines: int = 20) -> str:
    """Pick the root cause and the last log lines (stack frames dropped) of this start attempt.

    ``logs`` are (file, offset at spawn) pairs; the first one whose new part reports an error
    wins, else the first with any new output.
    """
    written = [(path, _read_since(path, offset)) for path, offset in logs]
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


# --------------------------------------------------------------------------- launcher


class Neo4jLauncher:
    """Build, start, stop and inspect one Neo4j instance (home + ports) from settings.

    ``home``, ``bolt_port``, ``http_port`` override the settings so tests can run a second,
    independent instance; ``use_docker`` overrides ``settings.neo4j.use_docker``; ``java``
    names the java executable (default: ``$JAVA_HOME/bin/java`` or PATH).
    """

    def __init__(
        self,
        settings: KedrecSettings | None = None,
        *,
        home: Path | str | None = None,
        bolt_port: int | None = None,
        http_port: int | None = None,
        use_docker: bool | None = None,
        java: str | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        neo = self.settings.neo4j
        self.cache_dir = Path(self.settings.cache_dir).expanduser()
        chosen_home = home if home is not None else neo.home
        self.home = (
            Path(chosen_home).expanduser().resolve()
            if chosen_home is not None
            else (self.cache_dir / "neo4j" / "home").resolve()
        )
        self.bolt_port = bolt_port if bolt_port is not None else neo.bolt_port
        self.http_port = http_port if http_port is not None else neo.http_port
        self._use_docker = use_docker if use_docker is not None else neo.use_docker
        self._java = java
        self.dist = self.cache_dir / "neo4j" / f"dist-{NEO4J_VERSION}"

    # ----------------------------------------------------------------- paths and urls

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
    def pid_file(self) -> Path:
        """Pid of the server JVM while it runs."""
        return self.run_dir / "neo4j.pid"

    @property
    def console_log(self) -> Path:
        """The JVM's stdout/stderr (early failures land here, not in neo4j.log)."""
        return self.logs_dir / "console.log"

    @property
    def bolt_url(self) -> str:
        """Bolt URI of this instance."""
        return f"bolt://{HOST}:{self.bolt_port}"

    @property
    def http_url(self) -> str:
        """HTTP root of this instance."""
        return f"http://{HOST}:{self.http_port}"

    @property
    def browser_url(self) -> str:
        """Neo4j Browser, served by the HTTP connector."""
        return f"{self.http_url}/browser/"

    @property
    def use_docker(self) -> bool:
        """Docker when asked for, or (setting unset) when an engine answers ``docker info``."""
        if self._use_docker is None:
            self._use_docker = docker_available()
            logger.debug("docker engine available: %s", self._use_docker)
        return self._use_docker

    @property
    def mode(self) -> Literal["maven", "docker"]:
        """How this instance is run."""
        return "docker" if self.use_docker else "maven"

    # ----------------------------------------------------------------- distribution

    def _dist_ready(self, pom_hash: str) -> bool:
        marker = self.dist / DIST_MARKER
        try:
            recorded = json.loads(marker.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return False
        return recorded.get("pom_sha256") == pom_hash and (self.dist / "lib").is_dir()

    def ensure_dist(self, progress: Progress | None = None) -> Path:
        """Build the shared distribution from Maven Central once (again when the pom changes).

        Returns the distribution directory with ``lib/`` (server jars) and ``plugins/`` (APOC).
        """
        pom_hash = hashlib.sha256(POM_PATH.read_bytes()).hexdigest()
        if self._dist_ready(pom_hash):
            return self.dist
        with _file_lock(self.dist.parent / ".dist.lock"):
            if self._dist_ready(pom_hash):
                return self.dist
            java = find_java(self._java)
            mvn = find_maven()
            if progress:
                progress(f"Building Neo4j {NEO4J_VERSION} from Maven Central (once)…")
            logger.info("building Neo4j %s distribution in %s", NEO4J_VERSION, self.dist)
            started = time.monotonic()
            staging = self.dist.parent / f".{self.dist.name}.tmp-{os.getpid()}"
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
                        "pom_sha256": pom_hash,
                        "neo4j_version": NEO4J_VERSION,
                        "jars": len(list((staging / "lib").glob("*.jar"))),
                        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    },
                    indent=2,
                )
            )
            old = self.dist.parent / f".{self.dist.name}.old-{os.getpid()}"
            if self.dist.exists():
                self.dist.rename(old)
            staging.rename(self.dist)
            shutil.rmtree(old, ignore_errors=True)
            logger.info("built Neo4j distribution in %.1f s", time.monotonic() - started)
        return self.dist

    # ----------------------------------------------------------------- home and conf

    def conf_settings(self) -> dict[str, str | list[str]]:
        """The neo4j.conf this launcher writes (lists become repeated keys)."""
        neo = self.settings.neo4j
        return {
            "server.default_listen_address": HOST,
            "server.default_advertised_address": HOST,
            "server.bolt.enabled": "true",
            "server.bolt.listen_address": f"{HOST}:{self.bolt_port}",
            "server.bolt.advertised_address": f"{HOST}:{self.bolt_port}",
            "server.http.enabled": "true",
            "server.http.listen_address": f"{HOST}:{self.http_port}",
            "server.http.advertised_address": f"{HOST}:{self.http_port}",
            "server.https.enabled": "false",
            "server.directories.data": str(self.data_dir),
            "server.directories.logs": str(self.logs_dir),
            "server.directories.run": str(self.run_dir),
            "server.directories.import": str(self.import_dir),
            "server.directories.plugins": str(self.dist / "plugins"),
            "server.directories.lib": str(self.dist / "lib"),
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

    def write_conf(self) -> Path:
        """(Re)write ``conf/neo4j.conf`` from the settings; returns its path."""
        lines = [
            "# Generated by kedrec (graph_store/server.py) on each start; edit settings instead.",
        ]
        for key, value in self.conf_settings().items():
            values = value if isinstance(value, list) else [value]
            lines.extend(f"{key}={item}" for item in values)
        conf = self.conf_dir / "neo4j.conf"
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def prepare_home(self) -> None:
        """Create conf/, data/, logs/, run/, import/ and write neo4j.conf."""
        for directory in (
            self.conf_dir,
            self.data_dir,
            self.logs_dir,
            self.run_dir,
            self.import_dir,
        ):
            directory.mkdir(parents=True, exist_ok=True)
        self.write_conf()

    def is_fresh(self) -> bool:
        """True before the first start (the system database does not exist yet)."""
        return not (self.data_dir / "databases" / "system").exists()

    def jvm_flags(self) -> list[str]:
        """JVM flags for the server, read back from the generated neo4j.conf plus heap."""
        conf = (self.conf_dir / "neo4j.conf").read_text().splitlines()
        values: dict[str, str] = {}
        flags: list[str] = []
        for line in conf:
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
            f"-XX:ErrorFile={self.logs_dir / 'hs_err_pid%p.log'}",
        ]
        return flags

    def _java_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["NEO4J_HOME"] = str(self.home)
        env["NEO4J_CONF"] = str(self.conf_dir)
        return env

    def _admin_command(self, args: Sequence[str], java: str, heap: str | None = None) -> list[str]:
        cmd = [java, *ADMIN_JVM_FLAGS]
        if heap:
            cmd.append(f"-Xmx{heap}")
        return [*cmd, "-cp", f"{self.dist / 'lib'}/*", ADMIN_TOOL, *args]

    def run_admin(
        self,
        args: Sequence[str],
        *,
        heap: str | None = None,
        capture: bool = True,
        timeout_s: float | None = None,
        progress: Progress | None = None,
        _secret: str | None = None,
    ) -> str:
        """Run ``neo4j-admin <args>`` (``org.neo4j.cli.AdminTool``) against this home.

        Offline commands such as ``database import full`` need the server stopped (the store
        is locked while it runs). Returns the captured output ('' when ``capture`` is False,
        in which case output streams to this process's stdout/stderr). ``heap`` sets -Xmx.
        """
        java = find_java(self._java)
        self.ensure_dist(progress)
        if (self.conf_dir / "neo4j.conf").is_file():
            # Keep the conf of the last start: its ports belong to that instance, and the
            # offline tools only read the directories from it.
            for directory in (self.data_dir, self.logs_dir, self.run_dir, self.import_dir):
                directory.mkdir(parents=True, exist_ok=True)
        else:
            self.prepare_home()
        cmd = self._admin_command(args, java, heap)
        shown = " ".join(args if _secret is None else [a.replace(_secret, "***") for a in args])
        logger.info("neo4j-admin %s (home %s)", shown, self.home)
        try:
            result = subprocess.run(
                cmd,
                env=self._java_env(),
                cwd=self.home,
                capture_output=capture,
                text=True,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise Neo4jServerError(
                f"neo4j-admin {shown} did not finish within {timeout_s} s"
            ) from error
        output = ((result.stdout or "") + (result.stderr or "")) if capture else ""
        if _secret:
            output = output.replace(_secret, "***")
        if result.returncode != 0:
            tail = "\n".join(f"  {line}" for line in output.strip().splitlines()[-20:])
            raise Neo4jServerError(
                f"neo4j-admin {shown} failed (exit {result.returncode})"
                + (f":\n{tail}" if tail else "")
            )
        return output

    def _set_initial_password(self, progress: Progress | None) -> None:
        password = self.settings.neo4j.password.get_secret_value()
        if self.settings.neo4j.user != "neo4j":
            logger.warning(
                "NEO4J_USER=%s: the initial password is set for the built-in user 'neo4j'",
                self.settings.neo4j.user,
            )
        if progress:
            progress("Setting the initial password…")
        try:
            self.run_admin(["dbms", "set-initial-password", password], _secret=password)
        except Neo4jServerError as error:
            raise Neo4jServerError(
                f"could not set the initial Neo4j password (NEO4J_PASSWORD; Neo4j needs at "
                f"least 8 characters): {error}"
            ) from None

    # ----------------------------------------------------------------- process state

    def read_pid(self) -> int | None:
        """The pid recorded in the pid file, or None."""
        try:
            return int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def _owns(self, pid: int) -> bool:
        """True when ``pid`` is alive and is a Neo4j server for this home (not a reused pid)."""
        if not _pid_alive(pid):
            return False
        cmdline = _process_cmdline(pid)
        if not cmdline:  # unreadable (other user): trust the pid file
            return True
        return ENTRY_POINT in cmdline and f"--home-dir={self.home}" in cmdline

    def running_pid(self) -> int | None:
        """Pid of this home's running server, or None (a stale pid file is not trusted)."""
        pid = self.read_pid()
        if pid is not None and self._owns(pid):
            return pid
        return None

    def _clear_stale_pid(self) -> None:
        pid = self.read_pid()
        if pid is not None and not self._owns(pid):
            logger.info("removing stale pid file %s (pid %s is gone)", self.pid_file, pid)
            self.pid_file.unlink(missing_ok=True)
            (self.run_dir / LAUNCH_FILE).unlink(missing_ok=True)

    def is_running(self) -> bool:
        """True when this instance's server runs (docker mode: when Bolt accepts connections)."""
        if self.use_docker:
            return _bolt_accepts(self.bolt_port)
        return self.running_pid() is not None

    def _launch_record(self) -> dict[str, int]:
        try:
            return json.loads((self.run_dir / LAUNCH_FILE).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    # ----------------------------------------------------------------- start / stop

    def start(self, *, timeout_s: float = 120.0, progress: Progress | None = None) -> bool:
        """Start the server and wait until Bolt answers; False when it was already running."""
        if self.use_docker:
            return self._docker_start(timeout_s, progress)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with _file_lock(self.run_dir / "launcher.lock"):
            pid = self.running_pid()
            if pid is not None:
                logger.info("Neo4j already running (pid %s, home %s)", pid, self.home)
                return False
            self._clear_stale_pid()
            java = find_java(self._java)
            self._check_ports()
            self.ensure_dist(progress)
            self.prepare_home()
            if self.is_fresh():
                self._set_initial_password(progress)
            self._spawn(java, timeout_s, progress)
        return True

    def _check_ports(self) -> None:
        for name, port, variable in (
            ("Bolt", self.bolt_port, "NEO4J_BOLT_PORT"),
            ("HTTP", self.http_port, "NEO4J_HTTP_PORT"),
        ):
            if port_in_use(port):
                raise Neo4jServerError(
                    f"{name} port {port} on {HOST} is already in use by another process; "
                    f"stop it or set {variable} to a free port"
                )

    def _spawn(self, java: str, timeout_s: float, progress: Progress | None) -> None:
        dist = self.dist
        cmd = [
            java,
            *self.jvm_flags(),
            "-cp",
            f"{dist / 'lib'}/*:{dist / 'plugins'}/*",
            ENTRY_POINT,
            f"--home-dir={self.home}",
            f"--config-dir={self.conf_dir}",
        ]
        logger.debug("starting Neo4j: %s", " ".join(cmd))
        if progress:
            progress(f"Starting Neo4j {NEO4J_VERSION} on {self.bolt_url}…")
        started = time.monotonic()
        logs = [self.logs_dir / "neo4j.log", self.console_log]
        offsets = [(path, path.stat().st_size if path.exists() else 0) for path in logs]
        with self.console_log.open("ab") as console:
            console.write(f"\n==== kedrec start {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
            console.flush()
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                cwd=self.home,
                env=self._java_env(),
                start_new_session=True,  # survives the CLI and its Ctrl-C
            )
        _SPAWNED[proc.pid] = proc
        self.pid_file.write_text(f"{proc.pid}\n")
        (self.run_dir / LAUNCH_FILE).write_text(
            json.dumps({"pid": proc.pid, "bolt_port": self.bolt_port, "http_port": self.http_port})
        )
        try:
            self._wait_for_bolt(proc, timeout_s, offsets)
        except BaseException:
            if proc.poll() is None:
                self._terminate(proc.pid, 30.0)
            self.pid_file.unlink(missing_ok=True)
            (self.run_dir / LAUNCH_FILE).unlink(missing_ok=True)
            raise
        logger.info(
            "Neo4j started (pid %s) in %.1f s at %s",
            proc.pid,
            time.monotonic() - started,
            self.bolt_url,
        )

    def _wait_for_bolt(
        self, proc: subprocess.Popen[bytes], timeout_s: float, logs: list[tuple[Path, int]]
    ) -> None:
        """Poll Bolt with the configured credentials until it answers or the JVM dies."""
        from neo4j import GraphDatabase
        from neo4j.exceptions import AuthError

        neo = self.settings.neo4j
        auth = (neo.user, neo.password.get_secret_value())
        deadline = time.monotonic() + timeout_s
        last_error: Exception | None = None
        with (
            _quiet_driver_logs(),
            GraphDatabase.driver(
                self.bolt_url, auth=auth, connection_timeout=3.0, max_connection_pool_size=2
            ) as driver,
        ):
            while time.monotonic() < deadline:
                code = proc.poll()
                if code is not None:
                    _SPAWNED.pop(proc.pid, None)
                    summary = _startup_failure_summary(logs)
                    raise Neo4jServerError(
                        f"Neo4j exited during startup (exit code {code}); {summary}"
                    )
                try:
                    driver.verify_connectivity()
                    driver.execute_query("RETURN 1", database_=neo.database)
                    return
                except AuthError as error:
                    raise Neo4jServerError(
                        f"Neo4j at {self.bolt_url} rejected user '{neo.user}': the home "
                        f"{self.home} was initialised with another password; set NEO4J_PASSWORD "
                        f"to it, or stop Neo4j and delete {self.data_dir / 'dbms' / 'auth.ini'} "
                        "and the system database to reset"
                    ) from error
                except Exception as error:  # still booting: refused, unavailable, ...
                    last_error = error
                time.sleep(0.5)
        raise Neo4jServerError(
            f"Neo4j did not answer on {self.bolt_url} within {timeout_s:.0f} s "
            f"(last error: {type(last_error).__name__}: {last_error}); "
            + _startup_failure_summary(logs)
        )

    def stop(self, *, timeout_s: float = 60.0, progress: Progress | None = None) -> bool:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout_s``); False if not running."""
        if self.use_docker:
            return self._docker_stop(progress)
        if not self.run_dir.exists():
            return False
        with _file_lock(self.run_dir / "launcher.lock"):
            pid = self.running_pid()
            if pid is None:
                self._clear_stale_pid()
                return False
            if progress:
                progress(f"Stopping Neo4j (pid {pid})…")
            self._terminate(pid, timeout_s)
            self.pid_file.unlink(missing_ok=True)
            (self.run_dir / LAUNCH_FILE).unlink(missing_ok=True)
        return True

    def _terminate(self, pid: int, timeout_s: float) -> None:
        """SIGTERM (Neo4j checkpoints and shuts down cleanly), SIGKILL if it hangs."""
        logger.info("stopping Neo4j pid %s", pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not _pid_alive(pid):
                return
            time.sleep(0.2)
        logger.warning("Neo4j pid %s ignored SIGTERM for %.0f s; sending SIGKILL", pid, timeout_s)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        for _ in range(50):
            if not _pid_alive(pid):
                return
            time.sleep(0.1)
        raise Neo4jServerError(f"Neo4j pid {pid} survived SIGKILL; stop it by hand")

    # ----------------------------------------------------------------- status

    def status(self) -> ServerStatus:
        """Report whether the server runs, its pid, version, URLs and home."""
        if self.use_docker:
            running = _bolt_accepts(self.bolt_port)
            return ServerStatus(
                running=running,
                mode="docker",
                pid=None,
                version=self._query_version() if running else None,
                bolt_url=self.bolt_url,
                http_url=self.http_url,
                browser_url=self.browser_url,
                home=None,
                import_dir=None,
                log_file=None,
            )
        pid = self.running_pid()
        bolt_port, http_port = self.bolt_port, self.http_port
        if pid is not None:
            record = self._launch_record()
            bolt_port = int(record.get("bolt_port", bolt_port))
            http_port = int(record.get("http_port", http_port))
        http = f"http://{HOST}:{http_port}"
        return ServerStatus(
            running=pid is not None,
            mode="maven",
            pid=pid,
            version=(self._query_version(bolt_port) or NEO4J_VERSION) if pid else NEO4J_VERSION,
            bolt_url=f"bolt://{HOST}:{bolt_port}",
            http_url=http,
            browser_url=f"{http}/browser/",
            home=self.home,
            import_dir=self.import_dir,
            log_file=self.logs_dir / "neo4j.log",
        )

    def _query_version(self, bolt_port: int | None = None) -> str | None:
        """Ask the server for its version (None when it cannot be reached or rejects us)."""
        from neo4j import GraphDatabase

        neo = self.settings.neo4j
        url = f"bolt://{HOST}:{bolt_port or self.bolt_port}"
        try:
            with (
                _quiet_driver_logs(),
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

    # ----------------------------------------------------------------- docker

    def docker_env(self) -> dict[str, str]:
        """Environment for ``docker compose`` so the container matches the settings."""
        neo = self.settings.neo4j
        env = dict(os.environ)
        env.update(
            {
                "NEO4J_USER": neo.user,
                "NEO4J_PASSWORD": neo.password.get_secret_value(),
                "NEO4J_BOLT_PORT": str(self.bolt_port),
                "NEO4J_HTTP_PORT": str(self.http_port),
                "NEO4J_HEAP": neo.heap,
                "NEO4J_PAGECACHE": neo.pagecache,
            }
        )
        return env

    def docker_command(self, action: Literal["up", "down"]) -> list[str]:
        """The ``docker compose`` argv for ``up`` (detached, neo4j service only) or ``down``."""
        base = ["docker", "compose", "-f", str(COMPOSE_FILE)]
        return [*base, "up", "-d", "neo4j"] if action == "up" else [*base, "down"]

    def _docker_run(self, action: Literal["up", "down"]) -> None:
        if shutil.which("docker") is None:
            raise Neo4jServerError(
                "NEO4J_USE_DOCKER=true but the `docker` CLI is not on PATH; install docker or "
                "set NEO4J_USE_DOCKER=false to use the Maven launcher"
            )
        if not COMPOSE_FILE.is_file():
            raise Neo4jServerError(f"{COMPOSE_FILE} is missing; run from a KEDRec checkout")
        result = subprocess.run(
            self.docker_command(action),
            env=self.docker_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-20:])
            raise Neo4jServerError(
                f"`docker compose {action}` failed (exit {result.returncode}):\n{tail}"
            )

    def _docker_start(self, timeout_s: float, progress: Progress | None) -> bool:
        if _bolt_accepts(self.bolt_port):
            return False
        if progress:
            progress("Starting Neo4j with docker compose…")
        self._docker_run("up")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._query_version() is not None:
                return True
            time.sleep(1.0)
        raise Neo4jServerError(
            f"the docker Neo4j did not answer on {self.bolt_url} within {timeout_s:.0f} s; "
            "see `docker compose logs neo4j`"
        )

    def _docker_stop(self, progress: Progress | None) -> bool:
        if not _bolt_accepts(self.bolt_port):
            return False
        if progress:
            progress("Stopping the docker Neo4j…")
        self._docker_run("down")
        return True


def _bolt_accepts(port: int, host: str = HOST) -> bool:
    """True when a TCP connection to the Bolt port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def run_admin(
    args: Sequence[str],
    *,
    settings: KedrecSettings | None = None,
    home: Path | str | None = None,
    heap: str | None = None,
    capture: bool = True,
    timeout_s: float | None = None,
) -> str:
    """Run ``neo4j-admin <args>`` against the configured Neo4j home (server must be stopped
    for offline commands), e.g. ``run_admin(["database", "import", "full", "--nodes=...",
    "--relationships=...", "--overwrite-destination", "neo4j"])``. Returns captured output.
    """
    launcher = Neo4jLauncher(settings, home=home, use_docker=False)
    return launcher.run_admin(args, heap=heap, capture=capture, timeout_s=timeout_s)
