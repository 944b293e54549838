"""The server JVM as an OS process: pid file, ownership, ports, spawn, stop, and the file lock.

The server runs detached (its own session) so it outlives the CLI; the pid file plus a check
of the process's command line (entry point and ``--home-dir``) decide whether it is still ours,
so a stale pid file, or a pid reused by another program, is never trusted.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from graph_store.launcher.bolt import query_version, wait_for_bolt
from graph_store.launcher.configuration import ENTRY_POINT, HOST, HomeLayout
from kedrec.errors import Neo4jServerError
from kedrec.settings import Neo4jSettings

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]
"""Receives short human-readable phase descriptions (a CLI spinner's ``update``)."""


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


_SPAWNED: dict[int, subprocess.Popen[bytes]] = {}
"""Servers started by this process: kept so they can be reaped, never garbage-collected live."""


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Serialise start/stop/build across processes (two ``kedrec neo4j start`` at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- ports


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


def check_ports(bolt_port: int, http_port: int) -> None:
    """Fail before spawning when a port is taken (Neo4j's own error is buried in its log)."""
    for name, port, variable in (
        ("Bolt", bolt_port, "NEO4J_BOLT_PORT"),
        ("HTTP", http_port, "NEO4J_HTTP_PORT"),
    ):
        if port_in_use(port):
            raise Neo4jServerError(
                f"{name} port {port} on {HOST} is already in use by another process; "
                f"stop it or set {variable} to a free port"
            )


# --------------------------------------------------------------------------- pids


def process_cmdline(pid: int) -> str | None:
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


def pid_alive(pid: int) -> bool:
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
    return process_cmdline(pid) is not None


def read_pid(layout: HomeLayout) -> int | None:
    """The pid recorded in the pid file, or None."""
    try:
        return int(layout.pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def owns(pid: int, home: Path) -> bool:
    """True when ``pid`` is alive and is a Neo4j server for ``home`` (not a reused pid)."""
    if not pid_alive(pid):
        return False
    cmdline = process_cmdline(pid)
    if not cmdline:  # unreadable (other user): trust the pid file
        return True
    return ENTRY_POINT in cmdline and f"--home-dir={home}" in cmdline


def running_pid(layout: HomeLayout) -> int | None:
    """Pid of this home's running server, or None (a stale pid file is not trusted)."""
    pid = read_pid(layout)
    if pid is not None and owns(pid, layout.home):
        return pid
    return None


def forget_launch(layout: HomeLayout) -> None:
    """Remove the pid file and launch record (the server is gone)."""
    layout.pid_file.unlink(missing_ok=True)
    layout.launch_file.unlink(missing_ok=True)


def clear_stale_pid(layout: HomeLayout) -> None:
    """Drop a pid file whose process is gone or is not this home's server."""
    pid = read_pid(layout)
    if pid is not None and not owns(pid, layout.home):
        logger.info("removing stale pid file %s (pid %s is gone)", layout.pid_file, pid)
        forget_launch(layout)


def launch_record(layout: HomeLayout) -> dict[str, int]:
    """Pid and ports the running server was started with ({} when there is no record)."""
    try:
        return json.loads(layout.launch_file.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def maven_status(
    layout: HomeLayout, neo: Neo4jSettings, bolt_port: int, http_port: int, pinned_version: str
) -> ServerStatus:
    """Status of this home's server, with the ports it was started with (not the settings').

    ``pinned_version`` is reported when the server is down or cannot be asked.
    """
    pid = running_pid(layout)
    if pid is not None:
        record = launch_record(layout)
        bolt_port = int(record.get("bolt_port", bolt_port))
        http_port = int(record.get("http_port", http_port))
    http = f"http://{HOST}:{http_port}"
    return ServerStatus(
        running=pid is not None,
        mode="maven",
        pid=pid,
        version=(query_version(neo, bolt_port) or pinned_version) if pid else pinned_version,
        bolt_url=f"bolt://{HOST}:{bolt_port}",
        http_url=http,
        browser_url=f"{http}/browser/",
        home=layout.home,
        import_dir=layout.import_dir,
        log_file=layout.neo4j_log,
    )


# --------------------------------------------------------------------------- start / stop


def spawn(
    cmd: Sequence[str],
    layout: HomeLayout,
    env: dict[str, str],
    *,
    neo: Neo4jSettings,
    bolt_port: int,
    http_port: int,
    timeout_s: float,
) -> int:
    """Start the server JVM detached, record it, and wait until Bolt answers; returns its pid.

    A server that dies or never answers is stopped and its pid file removed before raising.
    """
    logger.debug("starting Neo4j: %s", " ".join(cmd))
    started = time.monotonic()
    logs = [layout.neo4j_log, layout.console_log]
    offsets = [(path, path.stat().st_size if path.exists() else 0) for path in logs]
    with layout.console_log.open("ab") as console:
        console.write(f"\n==== kedrec start {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        console.flush()
        proc = subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            cwd=layout.home,
            env=env,
            start_new_session=True,  # survives the CLI and its Ctrl-C
        )
    _SPAWNED[proc.pid] = proc
    layout.pid_file.write_text(f"{proc.pid}\n")
    layout.launch_file.write_text(
        json.dumps({"pid": proc.pid, "bolt_port": bolt_port, "http_port": http_port})
    )
    bolt_url = f"bolt://{HOST}:{bolt_port}"
    try:
        wait_for_bolt(proc, neo, bolt_url, layout, timeout_s, offsets)
    except BaseException:
        if proc.poll() is None:
            terminate(proc.pid, 30.0)
        _SPAWNED.pop(proc.pid, None)
        forget_launch(layout)
        raise
    logger.info(
        "Neo4j started (pid %s) in %.1f s at %s", proc.pid, time.monotonic() - started, bolt_url
    )
    return proc.pid


def terminate(pid: int, timeout_s: float) -> None:
    """SIGTERM (Neo4j checkpoints and shuts down cleanly), SIGKILL if it hangs."""
    logger.info("stopping Neo4j pid %s", pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.2)
    logger.warning("Neo4j pid %s ignored SIGTERM for %.0f s; sending SIGKILL", pid, timeout_s)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    for _ in range(50):
        if not pid_alive(pid):
            return
        time.sleep(0.1)
    raise Neo4jServerError(f"Neo4j pid {pid} survived SIGKILL; stop it by hand")


def stop(layout: HomeLayout, timeout_s: float, progress: Progress | None = None) -> bool:
    """Stop this home's server (SIGTERM, then SIGKILL after ``timeout_s``); False if not running."""
    if not layout.run_dir.exists():
        return False
    with file_lock(layout.lock_file):
        pid = running_pid(layout)
        if pid is None:
            clear_stale_pid(layout)
            return False
        if progress:
            progress(f"Stopping Neo4j (pid {pid})…")
        terminate(pid, timeout_s)
        forget_launch(layout)
    return True


# --------------------------------------------------------------------------- offline tools


def run_tool(
    cmd: Sequence[str],
    *,
    shown: str,
    layout: HomeLayout,
    env: dict[str, str],
    capture: bool = True,
    timeout_s: float | None = None,
    secret: str | None = None,
) -> str:
    """Run an offline JVM tool (``neo4j-admin``) in the home; raise with its output's tail.

    ``shown`` is the argv as logged and reported; ``secret`` is masked in the output.
    """
    try:
        result = subprocess.run(
            list(cmd),
            env=env,
            cwd=layout.home,
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
    if secret:
        output = output.replace(secret, "***")
    if result.returncode != 0:
        tail = "\n".join(f"  {line}" for line in output.strip().splitlines()[-20:])
        raise Neo4jServerError(
            f"neo4j-admin {shown} failed (exit {result.returncode})"
            + (f":\n{tail}" if tail else "")
        )
    return output
