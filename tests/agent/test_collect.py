"""The collector: resumable, kill -9 safe, failures recorded, secrets scrubbed."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from agent.collect import (
    CollectReport,
    _Writer,
    collect,
    latest_records,
    recorded_ids,
    repair_tail,
    summary_table,
)
from agent.context import AgentContext
from agent.prompts import PROMPT_VERSION
from agent.records import CitationCheck, FinalAnswer, TeacherRun, TokenUsage, ToolCallRecord
from graph_store.tools import GraphTools
from kedrec.errors import ConfigError
from tasks.task_sets import NamedEntity, TaskSet, write_task_sets

ALZHEIMER = "Disease::DOID:10652"
GALANTAMINE = "Compound::DB00674"
METFORMIN = "Compound::DB00331"
REPO = Path(__file__).resolve().parents[2]


def make_sets(count: int, prefix: str = "set") -> list[TaskSet]:
    """Real entities, distinct set IDs (the collector keys on set_id)."""
    return [
        TaskSet(
            set_id=f"{prefix}-{i:03d}",
            split="val",
            disease=NamedEntity(id=ALZHEIMER, name="Alzheimer's disease"),
            candidates=[
                NamedEntity(id=METFORMIN, name="Metformin"),
                NamedEntity(id=GALANTAMINE, name="Galantamine"),
            ],
            label=1,
            seed=i,
            source="test",
            hidden_pairs=[(METFORMIN, ALZHEIMER), (GALANTAMINE, ALZHEIMER)],
        )
        for i in range(count)
    ]


def scripted_run(
    task_set: TaskSet, *, context: AgentContext, graph_tools: Any, **kwargs: Any
) -> TeacherRun:
    """A teacher that always picks the second candidate; set IDs with 'fail' raise.

    ``kwargs`` are what the collector adds (``bundle=`` in plan mode).
    """
    if "fail" in task_set.set_id:
        raise RuntimeError(f"model server went away on {task_set.set_id}")
    assert graph_tools is not None and (GALANTAMINE, ALZHEIMER) in graph_tools.hidden
    choice = task_set.candidates[1]
    return TeacherRun(
        status="ok",
        answer=FinalAnswer(choice=choice.id, confidence=0.8, rationale="AChE inhibitor."),
        choice_id=choice.id,
        messages=[{"role": "user", "content": f"Which drug for {task_set.disease.name}?"}],
        tool_calls=[
            ToolCallRecord(
                step=1,
                tool="drug_profile",
                arguments={"drug": choice.id},
                result="{}",
                latency_ms=1.0,
            )
        ],
        wall_seconds=0.01,
    )


SLOW_COLLECTOR = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {tests!r})
    from test_collect import scripted_run
    from agent.collect import collect
    from agent.context import AgentContext

    def slow(task_set, **kwargs):
        time.sleep(0.4)
        return scripted_run(task_set, **kwargs)

    collect(__import__("pathlib").Path(sys.argv[1]), __import__("pathlib").Path(sys.argv[2]),
            context=AgentContext(literature_source="none"), concurrency={concurrency},
            run=slow, progress=False)
    """
)


def read_lines(path: Path) -> list[dict[str, Any]]:
    raw = path.read_bytes()
    assert raw.endswith(b"\n")
    return [json.loads(line) for line in raw.decode().splitlines()]


@pytest.fixture(scope="module")
def tools(driver, settings, loaded_graph) -> GraphTools:  # type: ignore[no-untyped-def]
    return GraphTools.from_settings(driver, settings.neo4j)


def run_collect(sets: Path, out: Path, tools: GraphTools, settings: Any, **kwargs: Any):  # type: ignore[no-untyped-def]
    kwargs.setdefault("run", scripted_run)
    return collect(
        sets,
        out,
        context=kwargs.pop("context", None) or AgentContext(literature_source="none"),
        progress=False,
        graph_tools=tools,
        settings=settings,
        **kwargs,
    )


def kill_collector_after(
    sets_path: Path, out: Path, settings: Any, lines: int, concurrency: int
) -> list[dict[str, Any]]:
    """Run SLOW_COLLECTOR in a child, ``kill -9`` it once ``lines`` records are in the file."""
    env = {**os.environ, "NEO4J_URI": settings.neo4j.uri, "KEDREC_DATA_DIR": str(settings.data_dir)}
    code = SLOW_COLLECTOR.format(tests=str(Path(__file__).parent), concurrency=concurrency)
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(sets_path), str(out)],
        cwd=REPO,
        env=env,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None:
        if out.exists() and out.read_bytes().count(b"\n") >= lines:
            break
        time.sleep(0.05)
    assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    return read_lines(out)


def test_kill_9_mid_run_then_resume_records_every_set_once(
    tmp_path: Path, tools: GraphTools, settings: Any
) -> None:
    sets = make_sets(14, "kill")
    sets_path, out = tmp_path / "sets.jsonl", tmp_path / "out.jsonl"
    write_task_sets(sets, sets_path)
    before = kill_collector_after(sets_path, out, settings, lines=4, concurrency=2)
    assert 4 <= len(before) < len(sets), "killed mid-run"
    # a crash inside a write leaves a partial last line: simulate one on top
    with out.open("ab") as handle:
        handle.write(b'{"set_id": "kill-999", "status": "o')
    report = run_collect(sets_path, out, tools, settings)
    assert isinstance(report, CollectReport)
    assert report.repaired_bytes == len(b'{"set_id": "kill-999", "status": "o')
    assert report.already_done == len(before)
    assert report.attempted == len(sets) - len(before)
    records = read_lines(out)
    ids = [r["set_id"] for r in records]
    assert sorted(ids) == [s.set_id for s in sets] and len(set(ids)) == len(ids)
    assert records[: len(before)] == before, "resume only appends"
    assert all(r["status"] == "ok" and r["correct"] is True for r in records)
    # a finished collection run again does nothing
    again = run_collect(sets_path, out, tools, settings)
    assert (again.attempted, again.already_done, again.repaired_bytes) == (0, len(sets), 0)


def test_kill_9_with_failures_then_retry_failed_at_k4_latest_record_wins(
    tmp_path: Path, tools: GraphTools, settings: Any
) -> None:
    sets = [*make_sets(2, "fail"), *make_sets(12, "kill")]
    sets_path, out = tmp_path / "sets.jsonl", tmp_path / "out.jsonl"
    write_task_sets(sets, sets_path)
    before = kill_collector_after(sets_path, out, settings, lines=5, concurrency=3)
    assert 5 <= len(before) < len(sets), "killed mid-run"
    failed_before = {r["set_id"] for r in before if r["status"] == "failed"}
    assert failed_before == {"fail-000", "fail-001"}, "fail sets go first and fail"

    def healed(task_set: TaskSet, **kwargs: Any) -> TeacherRun:
        time.sleep(0.05)
        return scripted_run(task_set.model_copy(update={"set_id": "healed"}), **kwargs)

    report = run_collect(
        sets_path, out, tools, settings, run=healed, concurrency=4, retry_failed=True
    )
    assert report.retried == 2 and report.already_done == len(before) - 2
    assert report.attempted == len(sets) - len(before) + 2 and report.failed == 0
    records = read_lines(out)
    assert records[: len(before)] == before, "the failed attempts stay as history"
    assert len(records) == len(before) + report.attempted
    latest = latest_records(out)
    assert list(latest) == list(dict.fromkeys(r["set_id"] for r in records))
    assert set(latest) == {s.set_id for s in sets}
    assert all(r["status"] == "ok" and r["correct"] is True for r in latest.values())
    assert report.summary.sets == len(sets) and report.summary.failed == 0
    assert recorded_ids(out, retry_failed=True) == {s.set_id for s in sets}
    # nothing left to retry
    again = run_collect(sets_path, out, tools, settings, retry_failed=True, concurrency=4)
    assert (again.attempted, again.retried, again.already_done) == (0, 0, len(sets))


def test_retry_failed_reruns_only_failed_sets(
    tmp_path: Path, tools: GraphTools, settings: Any
) -> None:
    sets = [*make_sets(2, "a"), *make_sets(1, "fail")]
    sets_path, out = tmp_path / "sets.jsonl", tmp_path / "out.jsonl"
    write_task_sets(sets, sets_path)
    first = run_collect(sets_path, out, tools, settings, with_evidence=False)
    assert (first.ok, first.failed, first.summary.failed) == (2, 1, 1)
    assert recorded_ids(out) == {"a-000", "a-001", "fail-000"}
    assert recorded_ids(out, retry_failed=True) == {"a-000", "a-001"}
    # a plain resume keeps the failure
    assert run_collect(sets_path, out, tools, settings, with_evidence=False).attempted == 0
    # still failing: a second failed attempt is appended, the set is still failed
    still = run_collect(sets_path, out, tools, settings, with_evidence=False, retry_failed=True)
    assert (still.retried, still.attempted, still.failed) == (1, 1, 1)
    seen: list[str] = []

    def healed(task_set: TaskSet, **kwargs: Any) -> TeacherRun:
        seen.append(task_set.set_id)
        return scripted_run(task_set.model_copy(update={"set_id": "healed"}), **kwargs)

    report = run_collect(
        sets_path, out, tools, settings, run=healed, with_evidence=False, retry_failed=True
    )
    assert seen == ["fail-000"], "only the failed set runs again"
    assert (report.retried, report.attempted, report.ok, report.already_done) == (1, 1, 1, 2)
    lines = read_lines(out)
    assert [r["set_id"] for r in lines] == ["a-000", "a-001", "fail-000", "fail-000", "fail-000"]
    assert [r["status"] for r in lines[2:]] == ["failed", "failed", "ok"]
    latest = latest_records(out)
    assert list(latest) == ["a-000", "a-001", "fail-000"]
    assert latest["fail-000"]["status"] == "ok" and latest["fail-000"]["correct"] is True
    assert (report.summary.sets, report.summary.ok, report.summary.failed) == (3, 3, 0)
    assert report.summary.accuracy == 1.0


def _run_with(**update: Any) -> TeacherRun:
    base = TeacherRun(
        status="ok",
        answer=FinalAnswer(choice=GALANTAMINE, confidence=0.8, rationale="AChE inhibitor."),
        choice_id=GALANTAMINE,
        tokens=TokenUsage(input_tokens=1_000, output_tokens=200),
    )
    return base.model_copy(update=update)


def test_tokens_and_cost_per_record(tmp_path: Path, tools: GraphTools, settings: Any) -> None:
    sets_path = tmp_path / "sets.jsonl"
    write_task_sets(make_sets(2), sets_path)

    def priced(task_set: TaskSet, **kwargs: Any) -> TeacherRun:
        return _run_with(tokens=TokenUsage(input_tokens=1_500_000, output_tokens=250_000))

    context = AgentContext(
        literature_source="none", price_input_per_mtok=0.15, price_output_per_mtok=0.6
    )
    out = tmp_path / "priced.jsonl"
    report = run_collect(
        sets_path, out, tools, settings, run=priced, context=context, with_evidence=False
    )
    records = read_lines(out)
    expected = 1.5 * 0.15 + 0.25 * 0.6
    assert [r["cost_usd"] for r in records] == [pytest.approx(expected)] * 2
    assert records[0]["tokens"] == {"input_tokens": 1_500_000, "output_tokens": 250_000}
    assert records[0]["context"]["price_input_per_mtok"] == 0.15
    assert report.summary.cost_usd == pytest.approx(2 * expected) and report.summary.priced == 2
    assert report.summary.input_tokens == 3_000_000 and report.summary.output_tokens == 500_000
    # prices unknown (0): no cost, never a made-up 0
    unpriced = tmp_path / "unpriced.jsonl"
    report = run_collect(sets_path, unpriced, tools, settings, run=priced, with_evidence=False)
    assert [r["cost_usd"] for r in read_lines(unpriced)] == [None, None]
    assert report.summary.cost_usd is None and report.summary.input_tokens == 3_000_000


def test_summary_counts_abstained_rationalized_and_failures_by_reason(
    tmp_path: Path, tools: GraphTools, settings: Any
) -> None:
    kinds = ["right", "wrong", "abstain", "rational", "quota-1", "quota-2", "parse"]
    sets = [s.model_copy(update={"set_id": k}) for s, k in zip(make_sets(7), kinds, strict=True)]
    sets_path, out = tmp_path / "sets.jsonl", tmp_path / "out.jsonl"
    write_task_sets(sets, sets_path)

    def mixed(task_set: TaskSet, **kwargs: Any) -> TeacherRun:
        kind = task_set.set_id
        if kind.startswith("quota"):
            raise RuntimeError(f"429 quota exceeded\nrequest {kind}")
        if kind == "parse":
            return TeacherRun(status="failed", failure_reason="AnswerFormatError: no choice")
        if kind == "wrong":
            wrong = _run_with(choice_id=METFORMIN)
            assert wrong.answer is not None
            wrong.answer.choice = METFORMIN
            return wrong
        if kind == "abstain":
            return _run_with(
                abstained=True,
                choice_id=None,
                answer=FinalAnswer(choice="insufficient evidence", confidence=0.2, rationale="?"),
            )
        if kind == "rational":
            return _run_with(rationalized=True)
        return _run_with(citation_check=CitationCheck(verified=["a", "b", "c"], removed=["d"]))

    report = run_collect(sets_path, out, tools, settings, run=mixed, concurrency=3)
    summary = report.summary
    assert (summary.sets, summary.ok, summary.failed) == (7, 4, 3)
    assert summary.failures_by_reason == {
        "RuntimeError: 429 quota exceeded": 2,
        "AnswerFormatError: no choice": 1,
    }
    assert (summary.abstained, summary.rationalized) == (1, 1)
    assert (summary.scored, summary.correct, summary.accuracy) == (2, 1, 0.5)
    records = latest_records(out)
    assert records["rational"]["correct"] is None and records["abstain"]["correct"] is None
    assert (summary.citations_verified, summary.citations_removed) == (3, 1)
    assert summary.citation_validity == 0.75
    assert summary.input_tokens == 4 * 1_000 and summary.cost_usd is None
    data = report.as_dict()["summary"]
    assert data["accuracy"] == 0.5 and data["citation_validity"] == 0.75
    assert data["failures_by_reason"]["RuntimeError: 429 quota exceeded"] == 2
    json.dumps(report.as_dict())
    from rich.console import Console

    console = Console(record=True, width=120)
    console.print(summary_table(summary))
    text = console.export_text()
    assert "accuracy" in text and "50.0% (1/2)" in text and "75.0% (3/4)" in text


def test_plan_mode_answers_the_recorded_bundle(
    tmp_path: Path, tools: GraphTools, settings: Any
) -> None:
    from evidence.bundle import render_bundle
    from evidence.limits import default_limits

    sets_path = tmp_path / "sets.jsonl"
    write_task_sets(make_sets(1), sets_path)
    given: list[Any] = []

    def capturing(task_set: TaskSet, **kwargs: Any) -> TeacherRun:
        given.append(kwargs.get("bundle"))
        return scripted_run(task_set, **kwargs)

    plan = AgentContext(literature_source="none", mode="plan")
    run_collect(sets_path, tmp_path / "plan.jsonl", tools, settings, run=capturing, context=plan)
    (record,) = read_lines(tmp_path / "plan.jsonl")
    (bundle,) = given
    assert bundle is not None and render_bundle(bundle) == record["evidence_text"]
    assert bundle.limits.bundle_chars == default_limits().bundle_chars
    assert len(record["evidence_text"]) <= bundle.limits.bundle_chars
    assert record["evidence"]["version"] == bundle.version
    agent = AgentContext(literature_source="none", mode="agent")
    run_collect(sets_path, tmp_path / "agent.jsonl", tools, settings, run=capturing, context=agent)
    assert given[1:] == [None], "the agent mode gathers its own evidence"


def test_api_teacher_backs_off_on_429_then_succeeds(monkeypatch: pytest.MonkeyPatch) -> None:
    from kedrec.settings import AgentSettings, field_default
    from llm.chat_models import load_chat_model
    from tests.support import openai_loopback as loopback

    with loopback.OpenAILoopback() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdefBACKOFF")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        assert field_default(AgentSettings, "api_max_retries") == 6
        model = load_chat_model(AgentContext(model="openai:loopback-model", api_max_retries=3))
        assert getattr(model, "max_retries", None) == 3
        fast = {"retry-after-ms": "20"}
        server.script(
            [
                loopback.reply(status=429, headers=fast),
                loopback.reply(status=503, headers=fast),
                loopback.reply("Galantamine."),
            ]
        )
        assert model.invoke("Which drug?").content == "Galantamine."
        assert len(server.requests) == 3 and server.pending() == 0
        # without retries the 429 is the caller's
        strict = load_chat_model(AgentContext(model="openai:loopback-model", api_max_retries=0))
        server.script([loopback.reply(status=429, headers=fast), loopback.reply("late")])
        with pytest.raises(Exception, match="429"):
            strict.invoke("Which drug?")
        assert server.pending() == 1


def test_repair_tail_cuts_only_a_partial_last_line(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"set_id": "a"}\n{"set_id": "b"}\n{"set_')
    assert repair_tail(path) == len(b'{"set_')
    assert path.read_bytes() == b'{"set_id": "a"}\n{"set_id": "b"}\n'
    assert repair_tail(path) == 0
    path.write_bytes(b'{"set_id": "only partial')
    assert repair_tail(path) == len(b'{"set_id": "only partial') and path.read_bytes() == b""


def test_record_content(tmp_path: Path, tools: GraphTools, settings: Any) -> None:
    sets_path, out = tmp_path / "sets.jsonl", tmp_path / "out.jsonl"
    write_task_sets(make_sets(1), sets_path)
    run_collect(sets_path, out, tools, settings)
    (record,) = read_lines(out)
    assert record["set_id"] == "set-000" and record["split"] == "val" and record["label"] == 1
    assert record["hidden_pairs"] == [[METFORMIN, ALZHEIMER], [GALANTAMINE, ALZHEIMER]]
    assert record["model"] == "local:smollm2" and record["prompt_version"] == PROMPT_VERSION
    assert record["context"]["literature_source"] == "none"
    assert record["graph_version"]["fingerprint"] == tools_fingerprint(tools)
    assert record["literature_index"]["table"].startswith("chunks_")
    assert record["metadata"]["git_commit"] is not None or record["metadata"]["kedrec_version"]
    assert [s["tool"] for s in record["evidence"]["steps"]][:2] == [
        "disease_profile",
        "drug_profile",
    ]
    assert record["evidence_text"].startswith("# Evidence")
    assert record["tool_calls"][0]["tool"] == "drug_profile"
    assert record["answer"]["choice"] == GALANTAMINE and record["correct"] is True


def tools_fingerprint(tools: GraphTools) -> str:
    from graph_store.graph_meta import read_graph_meta

    meta = read_graph_meta(tools.driver, tools.database)
    assert meta is not None
    return str(meta["fingerprint"])


def test_failures_are_recorded_with_reason_and_do_not_stop(
    tmp_path: Path, tools: GraphTools, settings: Any
) -> None:
    sets = [*make_sets(2, "a"), *make_sets(1, "fail"), *make_sets(2, "b")]
    sets_path, out = tmp_path / "sets.jsonl", tmp_path / "out.jsonl"
    write_task_sets(sets, sets_path)
    report = run_collect(sets_path, out, tools, settings, concurrency=3, with_evidence=False)
    assert (report.ok, report.failed, report.correct) == (4, 1, 4)
    assert report.failures == [("fail-000", "RuntimeError: model server went away on fail-000")]
    records = {r["set_id"]: r for r in read_lines(out)}
    assert set(records) == {s.set_id for s in sets}
    failed = records["fail-000"]
    assert failed["status"] == "failed" and "model server went away" in failed["failure_reason"]
    assert failed["answer"] is None and failed["correct"] is None


def test_limit_takes_the_first_sets(tmp_path: Path, tools: GraphTools, settings: Any) -> None:
    sets_path, out = tmp_path / "sets.jsonl", tmp_path / "out.jsonl"
    write_task_sets(make_sets(5), sets_path)
    report = run_collect(sets_path, out, tools, settings, limit=2, with_evidence=False)
    assert report.total == 2 and [r["set_id"] for r in read_lines(out)] == ["set-000", "set-001"]


def test_secrets_never_reach_the_file(
    tmp_path: Path, tools: GraphTools, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai_key = "sk-proj-Abc123Def456Ghi789Jkl012Mno345"
    ncbi_key = "0123456789abcdef0123456789abcdef01"
    monkeypatch.setenv("OPENAI_API_KEY", openai_key)
    monkeypatch.setenv("NCBI_API_KEY", ncbi_key)

    def leaky(task_set: TaskSet, **kwargs: Any) -> TeacherRun:
        run = scripted_run(task_set, **kwargs)
        run.messages.append({"role": "assistant", "content": f"my key is {openai_key}"})
        run.tool_calls[0].result = f'{{"url": "https://x/?api_key={ncbi_key}"}}'
        return run

    def crashing(task_set: TaskSet, **kwargs: Any) -> TeacherRun:
        raise RuntimeError(f"401 for key {openai_key}")

    sets_path, out = tmp_path / "sets.jsonl", tmp_path / "out.jsonl"
    write_task_sets(make_sets(1), sets_path)
    run_collect(sets_path, out, tools, settings, run=leaky, with_evidence=False)
    write_task_sets(make_sets(1, "crash"), sets_path)
    run_collect(sets_path, out, tools, settings, run=crashing, with_evidence=False)
    text = out.read_text()
    assert openai_key not in text and ncbi_key not in text
    assert text.count("[REDACTED]") >= 3
    assert all(json.loads(line) for line in text.splitlines())


def test_second_writer_is_refused(tmp_path: Path) -> None:
    first = _Writer(tmp_path / "out.jsonl")
    try:
        with pytest.raises(ConfigError, match="another collector"):
            _Writer(tmp_path / "out.jsonl")
    finally:
        first.close()


def test_choice_only_records_never_stand_in_for_whole_answers(
    tmp_path: Path, tools: GraphTools, settings: Any
) -> None:
    """A choice-only record has no rationale: a run that writes one answers the set again,
    while a choice-only run takes any earlier record (its choice is the same).
    """
    sets_path, out = tmp_path / "sets.jsonl", tmp_path / "out.jsonl"
    write_task_sets(make_sets(2, "c"), sets_path)
    choice = AgentContext(literature_source="none", choice_only=True)
    first = run_collect(sets_path, out, tools, settings, context=choice, with_evidence=False)
    assert first.attempted == 2
    assert all(r["context"]["choice_only"] for r in read_lines(out))
    assert recorded_ids(out) == {"c-000", "c-001"}
    assert recorded_ids(out, need_answers=True) == set()
    again = run_collect(sets_path, out, tools, settings, context=choice, with_evidence=False)
    assert again.attempted == 0
    full = run_collect(sets_path, out, tools, settings, with_evidence=False)
    assert (full.retried, full.attempted, full.already_done) == (2, 2, 0)
    assert recorded_ids(out, need_answers=True) == {"c-000", "c-001"}
    after = run_collect(sets_path, out, tools, settings, context=choice, with_evidence=False)
    assert (after.attempted, after.already_done) == (0, 2)


@pytest.mark.parametrize(
    ("overrides", "words"),
    [({"mode": "agent"}, "plan-mode setting"), ({"model": "openai:gpt-4o-mini"}, "in-process")],
)
def test_choice_only_is_refused_in_one_line_where_it_cannot_hold(
    tmp_path: Path, overrides: dict[str, Any], words: str
) -> None:
    sets_path, out = tmp_path / "sets.jsonl", tmp_path / "out.jsonl"
    write_task_sets(make_sets(1), sets_path)
    context = AgentContext(literature_source="none", choice_only=True, **overrides)
    with pytest.raises(ConfigError, match=words) as refused:
        collect(sets_path, out, context=context, run=scripted_run, progress=False)
    assert "\n" not in str(refused.value) and "choice" in str(refused.value)
    assert not out.exists(), "refused before anything is written"
