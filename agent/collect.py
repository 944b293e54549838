"""Collect teacher trajectories: one JSON line per task set, resumable and kill-safe.

Crash safety comes from how lines are written, not from cleanup code (a ``kill -9`` runs
none): the single writer appends each record as ONE ``os.write`` of a complete line to an
``O_APPEND`` descriptor and ``fsync``s it. A crash can therefore only leave a partial *last*
line, which the next run detects and truncates (and reports) before appending. Sets already
in the file are skipped, so a killed collection loses at most the sets that were in flight.
A run that raises becomes a ``failed`` record with the reason; it never stops the collection.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.context import AgentContext
from agent.records import TeacherRun
from agent.trajectory import (
    TrajectoryRecord,
    build_record,
    failed_run,
    graph_version,
    literature_version,
    record_line,
    secret_values,
)
from kedrec.errors import ConfigError, DataFormatError
from tasks.task_sets import TaskSet, read_task_sets

logger = logging.getLogger(__name__)

Runner = Callable[..., TeacherRun]
"""``run(task_set, *, context, graph_tools) -> TeacherRun`` (``agent.run.run_teacher``)."""


@dataclass
class CollectReport:
    """What one collection did."""

    out_path: Path
    total: int = 0
    already_done: int = 0
    attempted: int = 0
    ok: int = 0
    failed: int = 0
    correct: int = 0
    repaired_bytes: int = 0
    seconds: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready view."""
        return {
            "out_path": str(self.out_path),
            "total": self.total,
            "already_done": self.already_done,
            "attempted": self.attempted,
            "ok": self.ok,
            "failed": self.failed,
            "correct": self.correct,
            "repaired_bytes": self.repaired_bytes,
            "seconds": round(self.seconds, 2),
            "failures": [{"set_id": s, "reason": r} for s, r in self.failures],
        }


def repair_tail(path: Path) -> int:
    """Truncate a partial last line (no trailing newline) left by a crash; return bytes cut."""
    if not path.exists():
        return 0
    size = path.stat().st_size
    if size == 0:
        return 0
    with path.open("rb+") as handle:
        handle.seek(-1, os.SEEK_END)
        if handle.read(1) == b"\n":
            return 0
        # scan back in blocks for the last newline
        end = size
        keep = 0
        while end > 0:
            start = max(0, end - 65536)
            handle.seek(start)
            block = handle.read(end - start)
            cut = block.rfind(b"\n")
            if cut >= 0:
                keep = start + cut + 1
                break
            end = start
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())
    return size - keep


def recorded_ids(path: Path) -> set[str]:
    """Set IDs already in a trajectory file (every line must be a complete JSON record)."""
    done: set[str] = set()
    if not path.exists():
        return done
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                done.add(json.loads(line)["set_id"])
            except (json.JSONDecodeError, KeyError, TypeError) as error:
                raise DataFormatError(
                    f"{path}:{number}: not a trajectory record ({error}); move the file aside "
                    "or delete that line, then collect again"
                ) from error
    return done


class _Writer:
    """The one appender: whole-line ``os.write`` + ``fsync`` under an exclusive lock."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            os.close(self.fd)
            raise ConfigError(
                f"another collector is writing {path}: wait for it or choose another --out"
            ) from error
        self.secrets = secret_values()

    def write(self, record: TrajectoryRecord) -> None:
        data = record_line(record, self.secrets)
        view = memoryview(data)
        while view:  # a regular file takes it in one write; loop only on a short write
            written = os.write(self.fd, view)
            view = view[written:]
        os.fsync(self.fd)

    def close(self) -> None:
        os.close(self.fd)  # closing releases the lock


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class _Env:
    """What every set of one collection shares: tools, versions, provenance."""

    context: AgentContext
    graph_tools: Any
    graph: dict[str, Any] | None
    literature: dict[str, Any] | None
    metadata: dict[str, Any]
    with_evidence: bool
    evidence_chars: int | None


def run_one(task_set: TaskSet, env: _Env, run: Runner) -> TrajectoryRecord:
    """Build the evidence bundle, run the teacher and combine both; never raises."""
    from evidence.bundle import build_evidence_bundle, render_bundle
    from evidence.masking import masked_tools

    started_at = _now()
    started = time.perf_counter()
    tools = (
        masked_tools(env.graph_tools, task_set.hidden_pairs)
        if env.graph_tools is not None
        else None
    )
    evidence = evidence_text = evidence_error = None
    if env.with_evidence and tools is not None:
        try:
            evidence = build_evidence_bundle(
                task_set, tools, literature_source=env.context.literature_source
            )
            evidence_text = render_bundle(evidence, env.evidence_chars)
        except Exception as error:  # recorded beside the run; the teacher may still answer
            evidence_error = f"{type(error).__name__}: {error}"
    try:
        result = run(task_set, context=env.context, graph_tools=tools)
    except Exception as error:
        logger.debug("set %s failed", task_set.set_id, exc_info=True)
        result = failed_run(
            f"{type(error).__name__}: {error}",
            wall_seconds=round(time.perf_counter() - started, 3),
        )
    return build_record(
        task_set,
        result,
        context=env.context,
        evidence=evidence,
        evidence_text=evidence_text,
        evidence_error=evidence_error,
        evidence_chars=env.evidence_chars,
        graph=env.graph,
        literature=env.literature,
        metadata=env.metadata,
        started_at=started_at,
        finished_at=_now(),
    )


def _pending(sets: list[TaskSet], done: set[str]) -> Iterator[TaskSet]:
    seen: set[str] = set()
    for task_set in sets:
        if task_set.set_id in done or task_set.set_id in seen:
            continue
        seen.add(task_set.set_id)
        yield task_set


def collect(
    sets_path: Path,
    out_path: Path,
    *,
    context: AgentContext,
    limit: int | None = None,
    concurrency: int = 1,
    run: Runner | None = None,
    progress: bool = True,
    graph_tools: Any = None,
    settings: Any = None,
    with_evidence: bool = True,
    evidence_chars: int | None = None,
) -> CollectReport:
    """Run the teacher on every set of ``sets_path`` not yet in ``out_path``; append records.

    Args:
        sets_path: Task sets (JSONL, ``kedrec sets build``).
        out_path: Trajectory file (JSONL); created, or resumed when it exists.
        context: The agent's run-time context (model, literature source, prompt version …).
        limit: Only the first ``limit`` sets of the file (done ones included).
        concurrency: Sets run at once (threads); records are still written by one writer.
        run: The runner (``agent.run.run_teacher`` when None); inject a scripted one in tests.
        progress: Show a rich progress bar.
        graph_tools: Unmasked graph tools; opened from the settings when None.
        settings: ``KedrecSettings`` (``get_settings()`` when None).
        with_evidence: Build and store the evidence bundle of every set.
        evidence_chars: Size of the rendered bundle stored as ``evidence_text`` (default:
            the evidence limits' ``bundle_chars``).

    Returns:
        Counts of what was skipped, run, ok, failed and correct, and bytes repaired.

    Raises:
        ConfigError: Bad concurrency, or another collector holds ``out_path``.
        DataFormatError: A task set or an existing record line is malformed.
    """
    from kedrec.console import progress_bar
    from kedrec.provenance import run_metadata
    from kedrec.settings import get_settings

    if concurrency < 1:
        raise ConfigError("--concurrency must be at least 1")
    if run is None:
        from agent.run import run_teacher

        run = run_teacher
    settings = settings or get_settings()
    started = time.perf_counter()
    sets = list(read_task_sets(sets_path))
    if limit is not None:
        sets = sets[:limit]
    report = CollectReport(out_path=out_path, total=len(sets))
    writer = _Writer(out_path)  # lock first: repairing another writer's tail would corrupt it
    driver = None
    try:
        report.repaired_bytes = repair_tail(out_path)
        if report.repaired_bytes:
            logger.warning(
                "cut a partial last line (%d bytes) from %s", report.repaired_bytes, out_path
            )
        done = recorded_ids(out_path)
        todo = list(_pending(sets, done))
        report.already_done = len({s.set_id for s in sets} & done)
        if graph_tools is None and todo:
            from graph_store.connection import open_driver
            from graph_store.tools import GraphTools

            driver = open_driver(settings.neo4j)
            graph_tools = GraphTools.from_settings(driver, settings.neo4j)
        env = _Env(
            context=context,
            graph_tools=graph_tools,
            graph=graph_version(graph_tools.driver, graph_tools.database) if todo else None,
            literature=literature_version(settings),
            metadata=run_metadata(),
            with_evidence=with_evidence,
            evidence_chars=evidence_chars,
        )
        bar = progress_bar() if progress else None
        task = bar.add_task("teacher", total=len(todo)) if bar else None
        if bar:
            bar.start()
        try:
            for record in _run_all(todo, env, run, concurrency):
                writer.write(record)
                report.attempted += 1
                if record.status == "ok":
                    report.ok += 1
                    report.correct += int(bool(record.correct))
                else:
                    report.failed += 1
                    report.failures.append((record.set_id, record.failure_reason or "?"))
                if bar and task is not None:
                    bar.advance(task)
        finally:
            if bar:
                bar.stop()
    finally:
        writer.close()
        if driver is not None:
            driver.close()
    report.seconds = time.perf_counter() - started
    return report


def _run_all(
    todo: list[TaskSet], env: _Env, run: Runner, concurrency: int
) -> Iterator[TrajectoryRecord]:
    """Yield records as sets finish, with at most ``concurrency`` sets in flight."""
    if concurrency == 1:
        for task_set in todo:
            yield run_one(task_set, env, run)
        return
    queue = iter(todo)
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="teacher") as pool:
        in_flight: set[Future[TrajectoryRecord]] = set()
        for task_set in queue:
            in_flight.add(pool.submit(run_one, task_set, env, run))
            if len(in_flight) >= concurrency:
                break
        while in_flight:
            finished, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in finished:
                yield future.result()
                following = next(queue, None)
                if following is not None:
                    in_flight.add(pool.submit(run_one, following, env, run))
