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

from agent.collect import CollectReport, _Writer, collect, repair_tail
from agent.context import AgentContext
from agent.records import FinalAnswer, TeacherRun, ToolCallRecord
from tasks.task_sets import NamedEntity, TaskSet, write_task_sets
from graph_store.tools import GraphTools
from kedrec.errors import ConfigError

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


def scripted_run(task_set: TaskSet, *, context: AgentContext, graph_tools: Any) -> TeacherRun:
    """A teacher that always picks the second candidate; set IDs with 'fail' raise."""
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
            context=AgentContext(literature_source="none"), concurrency=2, run=slow,
            progress=False)
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
        context=AgentContext(literature_source="none"),
        progress=False,
        graph_tools=tools,
        settings=settings,
        **kwargs,
    )


def test_kill_9_mid_run_then_resume_records_every_set_once(
    tmp_path: Path, tools: GraphTools, settings: Any
) -> None:
    sets = make_sets(14, "kill")
    sets_path, out = tmp_path / "sets.jsonl", tmp_path / "out.jsonl"
    write_task_sets(sets, sets_path)
    env = {**os.environ, "NEO4J_URI": settings.neo4j.uri, "KEDREC_DATA_DIR": str(settings.data_dir)}
    code = SLOW_COLLECTOR.format(tests=str(Path(__file__).parent))
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(sets_path), str(out)],
        cwd=REPO,
        env=env,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None:
        if out.exists() and out.read_bytes().count(b"\n") >= 4:
            break
        time.sleep(0.05)
    assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    before = read_lines(out)
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
    assert record["model"] == "local:smollm2" and record["prompt_version"] == "teacher-v1"
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
