"""Benchmark: ``kedrec teacher collect`` concurrency against an API teacher, K=1 vs K=8.

The teacher is ``openai:loopback-model`` in plan mode: the real ``ChatOpenAI`` client (with
structured output, :mod:`llm.structured`) talking over real HTTP to the loopback
OpenAI-compatible server of ``tests/support/openai_loopback.py``, which waits ``--delay``
seconds per chat completion (an API's latency) and answers with a JSON answer whose
``choice`` is one of the set's candidates. Evidence bundles are built for real on the test
Neo4j (Bolt 127.0.0.1:7688, holding the real DRKG slice, as in ``tests/conftest.py``) with
``literature_source=none``. Everything stays on 127.0.0.1; the run stops by itself (a
``--deadline`` alarm ends it if anything hangs).

Task sets: the first ``--n`` of ``~/.cache/kedrec/task_sets/val.jsonl`` when it exists, else
``--n`` val-like sets made from the slice: the seeded val split of the diseases
(:func:`tasks.sampling.split_diseases`), per disease its most relevant drug against an
unrelated drug (by a stable hash instead of embedding similarity, which needs trained KGE),
with every (candidate, disease-group ID) pair hidden, like ``kedrec sets build``.

Usage::

    .venv/bin/python bench/bench_collect_concurrency.py [--n 24] [--delay 0.5] [--k 1 8]
        [--price-input 0.15 --price-output 0.60]

Token counts are the loopback's (prompt: a quarter of the request's characters; 240 out);
the prices (USD per million tokens, default gpt-4o-mini's list prices) only show the cost
column of the records at work.

An untimed warm-up collection (imports, client, Neo4j page cache) runs first; then one timed
collection per K, each into a fresh file. Goal: K=8 at least 6x faster than K=1.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import machine_info

from tests.support.openai_loopback import OpenAILoopback, RecordedRequest, ScriptedReply

LOOPBACK_MODEL = "loopback-model"
BOLT_PORT = int(os.environ.get("KEDREC_TEST_BOLT_PORT", "7688"))
HTTP_PORT = int(os.environ.get("KEDREC_TEST_HTTP_PORT", "7475"))


def test_settings() -> Any:
    """The test instance's settings (``tests/conftest.py`` ``make_test_settings``)."""
    from kedrec.settings import KedrecSettings, Neo4jSettings

    base = KedrecSettings()
    neo4j = Neo4jSettings(
        uri=f"bolt://127.0.0.1:{BOLT_PORT}",
        bolt_port=BOLT_PORT,
        http_port=HTTP_PORT,
        home=base.cache_dir / "neo4j" / "test-home",
        heap="1g",
        pagecache="512m",
        use_docker=False,
    )
    return base.model_copy(update={"neo4j": neo4j})


def _unit(*parts: object) -> float:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def val_like_sets(settings: Any, n: int, seed: int = 0) -> list[Any]:
    """``n`` val-like task sets from the real slice (see the module docstring)."""
    from graph_store.load_plan import resolve_inputs
    from graph_store.names import load_name_index
    from tasks.disease_groups import DiseaseGroups
    from tasks.relevance import CompoundDiseaseEdges
    from tasks.sampling import SamplingConfig, eligible_diseases, split_diseases
    from tasks.task_sets import NamedEntity, TaskSet

    config = SamplingConfig(seed=seed)
    edges = CompoundDiseaseEdges.from_files(resolve_inputs([], settings.kg_slice_dir))
    names = load_name_index(settings.names_dir)
    groups = DiseaseGroups(edges.by_disease, names)
    diseases = eligible_diseases(edges, config.min_relevance)
    split_of = split_diseases(
        diseases,
        seed=seed,
        val_fraction=config.val_fraction,
        test_fraction=config.test_fraction,
        groups=groups,
    )
    drugs = sorted({drug for by_drug in edges.by_disease.values() for drug in by_drug})
    sets: list[TaskSet] = []
    for disease in sorted(d for d, split in split_of.items() if split == "val"):
        relevant = sorted(
            (d for d in edges.drugs_of(disease) if edges.relevance(d, disease) >= 1.0),
            key=lambda d: (-edges.relevance(d, disease), _unit(seed, disease, d)),
        )
        group = groups.group_of(disease)
        negatives = [d for d in drugs if not any(edges.related(d, g) for g in group)]
        if not relevant or not negatives:
            continue
        c_rel = relevant[0]
        c_irr = min(negatives, key=lambda d: _unit(seed, disease, d, "negative"))
        pair = [c_rel, c_irr] if _unit(seed, disease, "order") < 0.5 else [c_irr, c_rel]
        digest = hashlib.sha256(f"{seed}|{disease}|{c_rel}|{c_irr}".encode()).hexdigest()[:12]
        sets.append(
            TaskSet(
                set_id=f"bench-{digest}",
                split="val",
                disease=NamedEntity(id=disease, name=names.name_of(disease)),
                candidates=[NamedEntity(id=c, name=names.name_of(c)) for c in pair],
                label=pair.index(c_rel),
                relevance=edges.relevance(c_rel, disease),
                seed=seed,
                source="bench-val-like",
                hidden_pairs=[(c, d) for c in pair for d in sorted(group)],
            )
        )
        if len(sets) >= n:
            break
    return sets


# -- the loopback teacher ---------------------------------------------------------------------


def fill(schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    """A value valid under a (simple) JSON schema: enums take their first member."""
    if "$ref" in schema:
        return fill(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return fill(options[0], defs)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        return {name: fill(sub, defs) for name, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [fill(schema.get("items") or {}, defs) for _ in range(schema.get("minItems", 0))]
    if kind in ("number", "integer"):
        low, high = schema.get("minimum", 0), schema.get("maximum", 1)
        value = 0.7 if low <= 0.7 <= high else low
        return int(value) if kind == "integer" else value
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return "The evidence bundle shows a direct treatment edge for this candidate."


def answer_for(request: RecordedRequest) -> ScriptedReply:
    """The reply to one chat completion: structured JSON, a tool call, or the text layout."""
    body = request.body
    prompt = json.dumps(body.get("messages", []))
    usage = {"prompt_tokens": max(1, len(prompt) // 4), "completion_tokens": 240}
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        schema = response_format["json_schema"]["schema"]
        value = fill(schema, schema.get("$defs") or schema.get("definitions") or {})
        return ScriptedReply(content=json.dumps(value), **usage)
    tools = body.get("tools") or []
    if tools:
        function = tools[0]["function"]
        schema = function.get("parameters") or {}
        value = fill(schema, schema.get("$defs") or {})
        return ScriptedReply(tool_calls=[(function["name"], value)], **usage)
    return ScriptedReply(content="Choice: insufficient evidence", **usage)


class Teacher:
    """The loopback server plus what it saw: requests and the peak of concurrent ones."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0
        self.count = 0
        self.server = OpenAILoopback(LOOPBACK_MODEL, responder=self.respond)

    def respond(self, request: RecordedRequest) -> ScriptedReply:
        with self.lock:
            self.in_flight += 1
            self.count += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            time.sleep(self.delay_s)  # the API's latency, concurrent requests in parallel
            return answer_for(request)
        finally:
            with self.lock:
                self.in_flight -= 1

    def reset(self) -> None:
        with self.lock:
            self.peak = self.count = 0
            self.server.requests.clear()


def timed_collect(
    sets_path: Path, out: Path, context: Any, k: int, tools: Any, settings: Any
) -> dict[str, Any]:
    """One collection; its wall time and what its records say."""
    from agent.collect import collect, latest_records

    report = collect(
        sets_path,
        out,
        context=context,
        concurrency=k,
        progress=False,
        graph_tools=tools,
        settings=settings,
    )
    records = list(latest_records(out).values())
    evidence = [sum(s["latency_ms"] for s in r["evidence"]["steps"]) / 1000 for r in records]
    model_s = [r["model_seconds"] for r in records]
    return {
        "k": k,
        "wall_s": round(report.seconds, 2),
        "sets": report.attempted,
        "ok": report.ok,
        "failed": report.failed,
        "failures": report.summary.failures_by_reason,
        "accuracy": report.summary.accuracy,
        "citation_validity": report.summary.citation_validity,
        "evidence_s_per_set": round(sum(evidence) / max(len(evidence), 1), 3),
        "model_s_per_set": round(sum(model_s) / max(len(model_s), 1), 3),
        "tokens_in": report.summary.input_tokens,
        "tokens_out": report.summary.output_tokens,
        "cost_usd": report.summary.as_dict()["cost_usd"],
    }


def main() -> None:
    """Warm up, then time one collection per K and print the speed-up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=24, help="Task sets per collection.")
    parser.add_argument("--delay", type=float, default=0.5, help="Seconds per completion.")
    parser.add_argument("--k", type=int, nargs="+", default=[1, 8], help="Concurrencies.")
    parser.add_argument("--sets", type=Path, default=None, help="Task sets (JSONL).")
    parser.add_argument("--deadline", type=int, default=900, help="Give up after seconds.")
    parser.add_argument(
        "--price-input", type=float, default=0.15, help="USD per million input tokens."
    )
    parser.add_argument(
        "--price-output", type=float, default=0.60, help="USD per million output tokens."
    )
    args = parser.parse_args()
    signal.signal(signal.SIGALRM, lambda *_: sys.exit(f"bench: gave up after {args.deadline}s"))
    signal.alarm(args.deadline)

    from agent.context import AgentContext
    from graph_store.connection import open_driver
    from graph_store.graph_meta import read_graph_meta
    from graph_store.tools import GraphTools
    from tasks.task_sets import read_task_sets, write_task_sets

    settings = test_settings()
    default_sets = settings.task_sets_dir / "val.jsonl"
    sets_file = args.sets or (default_sets if default_sets.is_file() else None)
    if sets_file is not None:
        sets = list(read_task_sets(sets_file))[: args.n]
        source = str(sets_file)
    else:
        sets = val_like_sets(settings, args.n)
        source = "val-like sets made from the slice"
    driver = open_driver(settings.neo4j)
    teacher = Teacher(args.delay)
    try:
        meta = read_graph_meta(driver, settings.neo4j.database)
        if meta is None:
            sys.exit(f"no graph at {settings.neo4j.uri}: run the tests once (they load the slice)")
        tools = GraphTools.from_settings(driver, settings.neo4j)
        teacher.server.start()
        os.environ["OPENAI_BASE_URL"] = teacher.server.url
        os.environ["OPENAI_API_KEY"] = "sk-loopback-not-a-real-key-000000"
        os.environ["NO_PROXY"] = "127.0.0.1,localhost"
        context = AgentContext(
            model=f"openai:{LOOPBACK_MODEL}",
            mode="plan",
            literature_source="none",
            use_live_apis=False,
            rationalize=False,
            price_input_per_mtok=args.price_input,
            price_output_per_mtok=args.price_output,
        )
        info = machine_info(
            n=len(sets),
            sets=source,
            delay_s=args.delay,
            concurrency=args.k,
            usd_per_mtok=[args.price_input, args.price_output],
            graph_triples=meta.get("triples"),
        )
        print(json.dumps(info, indent=2), flush=True)
        results: list[dict[str, Any]] = []
        with tempfile.TemporaryDirectory(prefix="bench_collect_") as tmp:
            folder = Path(tmp)
            sets_path = folder / "sets.jsonl"
            write_task_sets(sets, sets_path)
            warm_path = folder / "warm_sets.jsonl"
            write_task_sets(sets[: max(args.k)], warm_path)
            timed_collect(warm_path, folder / "warm.jsonl", context, max(args.k), tools, settings)
            for k in args.k:
                teacher.reset()
                result = timed_collect(
                    sets_path, folder / f"k{k}.jsonl", context, k, tools, settings
                )
                result["requests"] = teacher.count
                result["peak_requests_in_flight"] = teacher.peak
                results.append(result)
                print(json.dumps(result), flush=True)
    finally:
        teacher.server.stop()
        driver.close()
    base = results[0]["wall_s"]
    print(f"\n| K | wall s | sets/s | speed-up vs K={results[0]['k']} | peak requests |")
    print("|---|---|---|---|---|")
    for result in results:
        rate = result["sets"] / result["wall_s"] if result["wall_s"] else 0.0
        speedup = base / result["wall_s"] if result["wall_s"] else 0.0
        result["speedup"] = round(speedup, 2)
        print(
            f"| {result['k']} | {result['wall_s']:.2f} | {rate:.2f} | {speedup:.2f}x | "
            f"{result['peak_requests_in_flight']} |"
        )
    print(json.dumps({"machine": info, "results": results}))
    signal.alarm(0)


if __name__ == "__main__":
    main()
