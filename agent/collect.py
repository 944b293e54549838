"""Collect teacher trajectories: one JSON line per task set, resumable and kill-safe.

Crash safety comes from how lines are written, not from cleanup code (a ``kill -9`` runs
none): the single writer appends each record as ONE ``os.write`` of a complete line to an
``O_APPEND`` descriptor and ``fsync``s it. A crash can therefore only leave a partial *last*
line, which the next run detects and truncates (and reports) before appending. Sets already
in the file are skipped, so a killed collection loses at most the sets that were in flight.
A run that raises becomes a ``failed`` record with the reason; it never stops the collection.

With ``retry_failed`` (``--retry-failed``) a resumed collection runs again every set whose
last record failed and appends the new record: the file keeps the failed attempt as history,
and the LAST record of a set ID is the authoritative one (:func:`latest_records`; every
reader of a trajectory file, summaries and distillation alike, must take the last line of
each set). Up to ``concurrency`` sets run at once (threads; API teachers spend their time
waiting on the server, whose 429 / 5xx replies the OpenAI client retries with exponential
backoff, ``api_max_retries``); records are still appended by the one writer, as sets finish.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.context import AgentContext
from agent.plan_answer import check_choice_only
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
"""``run(task_set, *, context, graph_tools, **kwargs) -> TeacherRun`` (``agent.run.run_set``).

In plan mode the collector passes ``bundle=`` (the evidence bundle it built for the record), so
the answer reads exactly the recorded evidence; an injected runner must accept ``**kwargs``.
"""

REASON_CHARS = 160
"""Failure reasons are grouped by their first line, cut to this many characters."""

SUMMARY_FIELDS = (
    "status",
    "failure_reason",
    "abstained",
    "rationalized",
    "correct",
    "citation_check",
    "bundle_citation_check",
    "tokens",
    "cost_usd",
)
"""What :class:`CollectSummary` reads of a record (the rest is not kept in memory)."""


def failure_key(reason: str | None) -> str:
    """The group of a failure reason: its first line (cut to :data:`REASON_CHARS`)."""
    lines = (reason or "").strip().splitlines()
    return (lines[0].strip() if lines else "")[:REASON_CHARS] or "?"


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


@dataclass
class CollectSummary:
    """The collection as the file holds it: the latest record of each of its sets."""

    sets: int = 0
    ok: int = 0
    failed: int = 0
    failures_by_reason: dict[str, int] = field(default_factory=dict)
    abstained: int = 0
    """Ok records whose answer is 'insufficient evidence' (not scored)."""
    rationalized: int = 0
    """Ok records of a teacher told the label (gold-label rationales; not scored)."""
    scored: int = 0
    """Ok records with a known label, neither rationalized nor abstained."""
    correct: int = 0
    citations_verified: int = 0
    citations_removed: int = 0
    """The run's check (the tool calls in agent mode, the bundle in plan mode), ok records."""
    bundle_citations_verified: int = 0
    bundle_citations_removed: int = 0
    """The answers held to the rendered bundle (what the student reads), ok records."""
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    """Sum over the records with a cost; None when none has one (prices unknown)."""
    priced: int = 0
    """Records with a cost."""

    @property
    def accuracy(self) -> float | None:
        """Correct over scored; None when nothing was scored."""
        return _ratio(self.correct, self.scored)

    @property
    def citation_validity(self) -> float | None:
        """Verified over verified + removed citations of the run's check."""
        return _ratio(self.citations_verified, self.citations_verified + self.citations_removed)

    @property
    def bundle_citation_validity(self) -> float | None:
        """Verified over verified + removed citations of the bundle check."""
        return _ratio(
            self.bundle_citations_verified,
            self.bundle_citations_verified + self.bundle_citations_removed,
        )

    def add(self, record: dict[str, Any]) -> None:
        """Count one record (a JSON dict, as read back from the file)."""
        self.sets += 1
        tokens = record.get("tokens") or {}
        self.input_tokens += int(tokens.get("input_tokens") or 0)
        self.output_tokens += int(tokens.get("output_tokens") or 0)
        cost = record.get("cost_usd")
        if cost is not None:
            self.cost_usd = (self.cost_usd or 0.0) + float(cost)
            self.priced += 1
        if record.get("status") != "ok":
            self.failed += 1
            key = failure_key(record.get("failure_reason"))
            self.failures_by_reason[key] = self.failures_by_reason.get(key, 0) + 1
            return
        self.ok += 1
        self.abstained += bool(record.get("abstained"))
        self.rationalized += bool(record.get("rationalized"))
        if record.get("correct") is not None:
            self.scored += 1
            self.correct += bool(record["correct"])
        run_check = record.get("citation_check") or {}
        self.citations_verified += len(run_check.get("verified") or [])
        self.citations_removed += len(run_check.get("removed") or [])
        bundle_check = record.get("bundle_citation_check") or {}
        self.bundle_citations_verified += len(bundle_check.get("verified") or [])
        self.bundle_citations_removed += len(bundle_check.get("removed") or [])

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready view (ratios included)."""
        return {
            "sets": self.sets,
            "ok": self.ok,
            "failed": self.failed,
            "failures_by_reason": dict(
                sorted(self.failures_by_reason.items(), key=lambda item: -item[1])
            ),
            "abstained": self.abstained,
            "rationalized": self.rationalized,
            "scored": self.scored,
            "correct": self.correct,
            "accuracy": self.accuracy,
            "citations_verified": self.citations_verified,
            "citations_removed": self.citations_removed,
            "citation_validity": self.citation_validity,
            "bundle_citations_verified": self.bundle_citations_verified,
            "bundle_citations_removed": self.bundle_citations_removed,
            "bundle_citation_validity": self.bundle_citation_validity,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 6),
            "priced": self.priced,
        }


def summarize(records: Iterable[dict[str, Any]]) -> CollectSummary:
    """Summarise records (the latest per set: :func:`latest_records`)."""
    summary = CollectSummary()
    for record in records:
        summary.add(record)
    return summary


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def summary_table(summary: CollectSummary) -> Any:
    """A small rich table of a :class:`CollectSummary` (what ``kedrec teacher collect`` prints)."""
    from rich.table import Table

    table = Table(title="collection (latest record per set)", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("sets recorded", str(summary.sets))
    table.add_row("ok / failed", f"{summary.ok} / {summary.failed}")
    for reason, count in sorted(summary.failures_by_reason.items(), key=lambda i: -i[1])[:5]:
        table.add_row(f"  [red]failed[/red] {reason}", str(count))
    table.add_row("abstained", str(summary.abstained))
    table.add_row("rationalized (not scored)", str(summary.rationalized))
    table.add_row(
        "accuracy (scored sets)",
        f"{_share(summary.accuracy)} ({summary.correct}/{summary.scored})",
    )
    table.add_row(
        "citation validity (run check)",
        f"{_share(summary.citation_validity)} "
        f"({summary.citations_verified}/{summary.citations_verified + summary.citations_removed})",
    )
    bundle_total = summary.bundle_citations_verified + summary.bundle_citations_removed
    table.add_row(
        "citation validity (bundle check)",
        f"{_share(summary.bundle_citation_validity)} "
        f"({summary.bundle_citations_verified}/{bundle_total})",
    )
    table.add_row("tokens in / out", f"{summary.input_tokens:,} / {summary.output_tokens:,}")
    cost = "unknown (no prices)" if summary.cost_usd is None else f"${summary.cost_usd:,.4f}"
    table.add_row("cost", cost)
    return table


@dataclass
class CollectReport:
    """What one collection did (``attempted`` … ``failures``: this run's records) and the
    :class:`CollectSummary` of the whole collection after it (``summary``: the latest record
    of each set, resumed and retried runs included).
    """

    out_path: Path
    total: int = 0
    already_done: int = 0
    retried: int = 0
    """Sets run again because their last record had failed (``retry_failed``) or held only
    a choice where this run writes whole answers (see :func:`recorded_ids`)."""
    attempted: int = 0
    ok: int = 0
    failed: int = 0
    correct: int = 0
    repaired_bytes: int = 0
    seconds: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)
    summary: CollectSummary = field(default_factory=CollectSummary)

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready view."""
        return {
            "out_path": str(self.out_path),
            "total": self.total,
            "already_done": self.already_done,
            "retried": self.retried,
            "attempted": self.attempted,
            "ok": self.ok,
            "failed": self.failed,
            "correct": self.correct,
            "repaired_bytes": self.repaired_bytes,
            "seconds": round(self.seconds, 2),
            "failures": [{"set_id": s, "reason": r} for s, r in self.failures],
            "summary": self.summary.as_dict(),
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


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """Every record of a trajectory file in file order (history included); none if absent.

    Raises:
        DataFormatError: A line is not a complete JSON record with a ``set_id``.
    """
    if not path.exists():
        return
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                if not isinstance(record, dict) or not isinstance(record["set_id"], str):
                    raise TypeError("no set_id")
            except (json.JSONDecodeError, KeyError, TypeError) as error:
                raise DataFormatError(
                    f"{path}:{number}: not a trajectory record ({error}); move the file aside "
                    "or delete that line, then collect again"
                ) from error
            yield record


def latest_records(path: Path, keep: Collection[str] | None = None) -> dict[str, dict[str, Any]]:
    """The authoritative record of every set: the LAST line per ``set_id``.

    Earlier lines of a set are history (a failed attempt that ``--retry-failed`` ran again).
    Sets are in the order of their first line.

    Args:
        path: A trajectory file (none: an empty dict).
        keep: Only these keys of each record (and ``set_id``), to summarise big files.

    Raises:
        DataFormatError: A line is not a complete JSON record with a ``set_id``.
    """
    latest: dict[str, dict[str, Any]] = {}
    for record in read_records(path):
        if keep is not None:
            record = {k: record[k] for k in (*keep, "set_id") if k in record}
        latest[record["set_id"]] = record
    return latest


RESUME_KEYS = ("status", "context")
"""The keys of a record that decide whether a resumed collection skips its set."""


def recorded_ids(path: Path, *, retry_failed: bool = False, need_answers: bool = False) -> set[str]:
    """Set IDs a resumed collection skips: every set in the file, less those whose last
    record failed (with ``retry_failed``) or holds only a choice (with ``need_answers``: a
    ``choice_only`` record has no rationale for a run that writes one).

    Raises:
        DataFormatError: A line is not a complete JSON record (see :func:`read_records`).
    """
    return _skipped(latest_records(path, RESUME_KEYS), retry_failed, need_answers)


def _skipped(latest: dict[str, dict[str, Any]], retry_failed: bool, need_answers: bool) -> set[str]:
    """:func:`recorded_ids` over records already read (``latest_records(…, RESUME_KEYS)``)."""
    return {
        set_id
        for set_id, record in latest.items()
        if not (retry_failed and record.get("status") == "failed")
        and not (need_answers and (record.get("context") or {}).get("choice_only"))
    }


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


def run_one(task_set: TaskSet, env: _Env, run: Runner) -> TrajectoryRecord:
    """Build the evidence bundle, run the teacher and combine both; never raises.

    The bundle is rendered at the evidence limits' ``bundle_chars``; in plan mode the runner
    gets it (``bundle=``), so the answer reads exactly the recorded ``evidence_text``.
    """
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
            evidence_text = render_bundle(evidence)
        except Exception as error:  # recorded beside the run; the teacher may still answer
            evidence_error = f"{type(error).__name__}: {error}"
    extra: dict[str, Any] = {}
    if env.context.mode == "plan" and evidence is not None:
        extra["bundle"] = evidence  # built once: the answer reads the recorded evidence
    try:
        result = run(task_set, context=env.context, graph_tools=tools, **extra)
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
    retry_failed: bool = False,
) -> CollectReport:
    """Run the teacher on every set of ``sets_path`` not yet in ``out_path``; append records.

    Args:
        sets_path: Task sets (JSONL, ``kedrec sets build``).
        out_path: Trajectory file (JSONL); created, or resumed when it exists.
        context: The agent's run-time context (model, literature source, prompt version …).
        limit: Only the first ``limit`` sets of the file (done ones included).
        concurrency: Sets run at once (threads); records are still written by one writer.
        run: The runner (``agent.run.run_set``: the context's mode, when None); inject a
            scripted one in tests.
        progress: Show a rich progress bar.
        graph_tools: Unmasked graph tools; opened from the settings when None.
        settings: ``KedrecSettings`` (``get_settings()`` when None).
        with_evidence: Build and store the evidence bundle of every set (rendered at the
            evidence limits' ``bundle_chars``, ``KEDREC_EVIDENCE_BUNDLE_CHARS``; in plan mode
            the answer reads that same bundle).
        retry_failed: Run again the sets whose last record failed (the new record is
            appended; the failed one stays as history, the last record of a set wins).

    Returns:
        Counts of what was skipped, retried, run, ok, failed and correct, bytes repaired, and
        the summary of the collection's latest records (abstained, rationalized, accuracy,
        failures by reason, citation validity, tokens and cost).

    Raises:
        ConfigError: Bad concurrency, ``choice_only`` where it cannot hold (agent mode, an
            API model), or another collector holds ``out_path``.
        DataFormatError: A task set or an existing record line is malformed.
    """
    from kedrec.console import progress_bar
    from kedrec.provenance import run_metadata
    from kedrec.settings import get_settings

    if concurrency < 1:
        raise ConfigError("--concurrency must be at least 1")
    check_choice_only(context)
    if run is None:
        from agent.run import run_set

        run = run_set
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
        latest = latest_records(out_path, RESUME_KEYS)  # one read for both counts below
        done = _skipped(latest, retry_failed, need_answers=not context.choice_only)
        todo = list(_pending(sets, done))
        wanted = {s.set_id for s in sets}
        report.already_done = len(wanted & done)
        report.retried = len(wanted & (set(latest) - done))
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
        )
        bar = progress_bar() if progress and todo else None  # no bar when all are recorded
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
                    bar.update(
                        task,
                        advance=1,
                        description=f"teacher [green]{report.ok} ok[/green] "
                        f"[red]{report.failed} failed[/red]",
                    )
        finally:
            if bar:
                bar.stop()
        latest = latest_records(out_path, SUMMARY_FIELDS)
        report.summary = summarize(latest[i] for i in wanted if i in latest)
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
