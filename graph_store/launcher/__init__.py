"""Run a local Neo4j 5.26 community server without docker (or with it, when an engine answers).

The launcher resolves the pinned ``neo4j_dist/pom.xml`` with Maven into one shared distribution
(``<cache_dir>/neo4j/dist-<version>/{lib,plugins}``, :mod:`.distribution`), and keeps
per-instance state (conf, data, logs, pid) in a separate *home* (:mod:`.configuration`), so
several instances (the default one, throwaway test ones) can share the 130 MB of jars. The
server is started directly through ``CommunityEntryPoint`` with the JVM flags Neo4j's own start
script would use, detached from the CLI process (:mod:`.process`, :mod:`.bolt`); with docker
the repo's compose file runs it instead (:mod:`.docker`).

Public API: :class:`Neo4jLauncher` (``ensure_dist``, ``start``, ``stop``, ``status``,
``is_running``, ``run_admin``), :class:`ServerStatus`, and :func:`run_admin` for offline
``neo4j-admin`` commands such as ``database import full``. The class holds the settings and
paths; each method hands them to a function of the submodules.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from graph_store.launcher import bolt, configuration, distribution, docker, process
from graph_store.launcher.configuration import HOST, HomeLayout
from graph_store.launcher.distribution import NEO4J_VERSION, POM_PATH, find_java, find_maven
from graph_store.launcher.docker import COMPOSE_FILE, docker_available
from graph_store.launcher.process import Progress, ServerStatus, port_in_use
from kedrec.errors import Neo4jServerError
from kedrec.settings import KedrecSettings, get_settings

__all__ = [
    "COMPOSE_FILE",
    "HOST",
    "NEO4J_VERSION",
    "POM_PATH",
    "Neo4jLauncher",
    "Progress",
    "ServerStatus",
    "docker_available",
    "find_java",
    "find_maven",
    "port_in_use",
    "run_admin",
]

logger = logging.getLogger(__name__)


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
        self.dist = distribution.dist_dir(self.cache_dir)

    # ----------------------------------------------------------------- paths and urls

    @property
    def layout(self) -> HomeLayout:
        """The home's directories and files (see :class:`HomeLayout`)."""
        return HomeLayout(self.home)

    @property
    def conf_dir(self) -> Path:
        """Directory with the generated neo4j.conf (NEO4J_CONF)."""
        return self.layout.conf_dir

    @property
    def data_dir(self) -> Path:
        """Databases, transaction logs and the auth store."""
        return self.layout.data_dir

    @property
    def logs_dir(self) -> Path:
        """neo4j.log, debug.log and the JVM's console.log."""
        return self.layout.logs_dir

    @property
    def run_dir(self) -> Path:
        """Pid file and launch record."""
        return self.layout.run_dir

    @property
    def import_dir(self) -> Path:
        """Where ``LOAD CSV FROM 'file:///...'`` reads from."""
        return self.layout.import_dir

    @property
    def pid_file(self) -> Path:
        """Pid of the server JVM while it runs."""
        return self.layout.pid_file

    @property
    def console_log(self) -> Path:
        """The JVM's stdout/stderr (early failures land here, not in neo4j.log)."""
        return self.layout.console_log

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

    # ----------------------------------------------------------------- distribution, home

    def ensure_dist(self, progress: Progress | None = None) -> Path:
        """Build the shared distribution from Maven Central once (again when the pom changes).

        Returns the distribution directory with ``lib/`` (server jars) and ``plugins/`` (APOC).
        """
        return distribution.ensure_dist(self.dist, self._java, progress)

    def conf_settings(self) -> dict[str, str | list[str]]:
        """The neo4j.conf this launcher writes (lists become repeated keys)."""
        return configuration.conf_settings(
            self.layout, self.settings.neo4j, self.bolt_port, self.http_port, self.dist
        )

    def write_conf(self) -> Path:
        """(Re)write ``conf/neo4j.conf`` from the settings; returns its path."""
        return configuration.write_conf(self.layout, self.conf_settings())

    def prepare_home(self) -> None:
        """Create conf/, data/, logs/, run/, import/ and write neo4j.conf."""
        configuration.prepare_home(self.layout, self.conf_settings())

    def is_fresh(self) -> bool:
        """True before the first start (the system database does not exist yet)."""
        return configuration.is_fresh(self.layout)

    def jvm_flags(self) -> list[str]:
        """JVM flags for the server, read back from the generated neo4j.conf plus heap."""
        return configuration.jvm_flags(self.layout)

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
        if self.layout.conf_file.is_file():
            # Keep the conf of the last start: its ports belong to that instance, and the
            # offline tools only read the directories from it.
            configuration.make_state_dirs(self.layout)
        else:
            self.prepare_home()
        cmd = configuration.admin_command(args, java, self.dist, heap)
        shown = " ".join(args if _secret is None else [a.replace(_secret, "***") for a in args])
        logger.info("neo4j-admin %s (home %s)", shown, self.home)
        return process.run_tool(
            cmd,
            shown=shown,
            layout=self.layout,
            env=configuration.java_env(self.layout),
            capture=capture,
            timeout_s=timeout_s,
            secret=_secret,
        )

    def _set_initial_password(self, progress: Progress | None) -> None:
        """Neo4j refuses the default password, so a fresh home gets NEO4J_PASSWORD offline."""
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
        return process.read_pid(self.layout)

    def running_pid(self) -> int | None:
        """Pid of this home's running server, or None (a stale pid file is not trusted)."""
        return process.running_pid(self.layout)

    def is_running(self) -> bool:
        """True when this instance's server runs (docker mode: when Bolt accepts connections)."""
        if self.use_docker:
            return bolt.bolt_accepts(self.bolt_port)
        return self.running_pid() is not None

    # ----------------------------------------------------------------- start / stop

    def start(self, *, timeout_s: float = 120.0, progress: Progress | None = None) -> bool:
        """Start the server and wait until Bolt answers; False when it was already running."""
        neo = self.settings.neo4j
        if self.use_docker:
            return docker.docker_start(neo, self.bolt_port, self.http_port, timeout_s, progress)
        layout = self.layout
        layout.run_dir.mkdir(parents=True, exist_ok=True)
        with process.file_lock(layout.lock_file):
            pid = process.running_pid(layout)
            if pid is not None:
                logger.info("Neo4j already running (pid %s, home %s)", pid, self.home)
                return False
            process.clear_stale_pid(layout)
            java = find_java(self._java)
            process.check_ports(self.bolt_port, self.http_port)
            self.ensure_dist(progress)
            self.prepare_home()
            if self.is_fresh():
                self._set_initial_password(progress)
            cmd = configuration.server_command(java, layout, self.dist)
            if progress:
                progress(f"Starting Neo4j {NEO4J_VERSION} on {self.bolt_url}…")
            process.spawn(
                cmd,
                layout,
                configuration.java_env(layout),
                neo=neo,
                bolt_port=self.bolt_port,
                http_port=self.http_port,
                timeout_s=timeout_s,
            )
        return True

    def stop(self, *, timeout_s: float = 60.0, progress: Progress | None = None) -> bool:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout_s``); False if not running."""
        if self.use_docker:
            return docker.docker_stop(self.settings.neo4j, self.bolt_port, self.http_port, progress)
        return process.stop(self.layout, timeout_s, progress)

    # ----------------------------------------------------------------- status

    def status(self) -> ServerStatus:
        """Report whether the server runs, its pid, version, URLs and home."""
        neo = self.settings.neo4j
        if self.use_docker:
            return docker.docker_status(neo, self.bolt_port, self.http_port)
        return process.maven_status(self.layout, neo, self.bolt_port, self.http_port, NEO4J_VERSION)

    # ----------------------------------------------------------------- docker

    def docker_env(self) -> dict[str, str]:
        """Environment for ``docker compose`` so the container matches the settings."""
        return docker.docker_env(self.settings.neo4j, self.bolt_port, self.http_port)

    def docker_command(self, action: Literal["up", "down"]) -> list[str]:
        """The ``docker compose`` argv for ``up`` (detached, neo4j service only) or ``down``."""
        return docker.docker_command(action)


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
