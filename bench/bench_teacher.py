"""Benchmark: the teacher on val task sets: wall time per set (model vs tools), tool calls,
accuracy, and the cost of the evidence bundle.

Usage::

    .venv/bin/python bench/bench_teacher.py [--n 20] [--model local:smollm2]
        [--sets ~/.cache/kedrec/task_sets/val.jsonl] [--literature-source both]

It needs the default Neo4j with the slice (``kedrec neo4j start && kedrec graph load``) and
the task sets (``kedrec sets build``). Runs go through :func:`agent.collect.collect`, so the
trajectories land in ``bench/out/teacher_<model>.jsonl`` (overwritten) and can be inspected.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import machine_info

from agent.collect import collect
from agent.context import AgentContext
from kedrec.settings import get_settings

OUT = Path(__file__).resolve().parent / "out"


def _stats(values: list[float]) -> str:
    if not values:
        return "—"
    return f"{statistics.mean(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}"


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Aggregate per-set records into the numbers of the results table."""
    ok = [r for r in records if r["status"] == "ok"]
    evidence = [
        sum(s["latency_ms"] for s in r["evidence"]["steps"]) / 1000
        for r in records
        if r.get("evidence")
    ]
    reasons: dict[str, int] = {}
    for r in records:
        if r["status"] != "ok":
            key = (r.get("failure_reason") or "?").split(":")[0][:60]
            reasons[key] = reasons.get(key, 0) + 1
    return {
        "sets": len(records),
        "ok": len(ok),
        "failed": len(records) - len(ok),
        "correct": sum(bool(r.get("correct")) for r in records),
        "insufficient": sum(
            1 for r in ok if r["answer"] and r["answer"]["choice"] == "insufficient evidence"
        ),
        "wall_s": [r["wall_seconds"] for r in records],
        "model_s": [r["model_seconds"] for r in records],
        "tool_s": [r["tool_seconds"] for r in records],
        "tool_calls": [len(r["tool_calls"]) for r in records],
        "steps": [r["steps"] for r in records],
        "output_tokens": [r["tokens"]["output_tokens"] for r in records],
        "evidence_s": evidence,
        "failure_reasons": reasons,
    }


def table(summary: dict[str, Any], model: str) -> str:
    """The markdown table for bench/RESULTS.md."""
    rows = [
        ("sets run", f"{summary['sets']}"),
        ("ok / failed", f"{summary['ok']} / {summary['failed']}"),
        (
            "correct (of all sets)",
            f"{summary['correct']} ({summary['correct'] / max(summary['sets'], 1):.0%})",
        ),
        ("'insufficient evidence' answers", f"{summary['insufficient']}"),
        ("teacher wall s/set (mean / median / max)", _stats(summary["wall_s"])),
        ("model s/set", _stats(summary["model_s"])),
        ("tool s/set", _stats(summary["tool_s"])),
        ("tool calls/set", _stats([float(x) for x in summary["tool_calls"]])),
        ("model turns/set", _stats([float(x) for x in summary["steps"]])),
        ("output tokens/set", _stats([float(x) for x in summary["output_tokens"]])),
        ("evidence bundle s/set", _stats(summary["evidence_s"])),
    ]
    lines = [f"| {model} | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    if summary["failure_reasons"]:
        reasons = ", ".join(f"{k} ×{v}" for k, v in summary["failure_reasons"].items())
        lines.append(f"| failure reasons | {reasons} |")
    return "\n".join(lines)


def main() -> None:
    """Run the teacher on the first N sets and print the results table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--model", default="local:smollm2")
    parser.add_argument("--sets", type=Path, default=None)
    parser.add_argument("--literature-source", default="both")
    parser.add_argument("--max-steps", type=int, default=None)
    args = parser.parse_args()

    settings = get_settings()
    sets = args.sets or settings.cache_dir / "task_sets" / "val.jsonl"
    context_args: dict[str, Any] = {
        "model": args.model,
        "literature_source": args.literature_source,
    }
    if args.max_steps:
        context_args["max_steps"] = args.max_steps
    context = AgentContext(**context_args)
    info = machine_info(model=args.model, sets=str(sets), n=args.n)
    print(json.dumps(info, indent=2))
    OUT.mkdir(exist_ok=True)
    out = OUT / f"teacher_{args.model.replace(':', '_').replace('/', '_')}.jsonl"
    out.unlink(missing_ok=True)
    report = collect(sets, out, context=context, limit=args.n, progress=True)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    summary = summarise(records)
    result = {
        "machine": info,
        "context": context_args,
        "report": report.as_dict(),
        "summary": summary,
    }
    (OUT / "bench_teacher.json").write_text(json.dumps(result, indent=2))
    print(table(summary, args.model))
    print(f"collection: {report.seconds:.1f}s for {report.attempted} sets -> {out}")


if __name__ == "__main__":
    main()
