"""Benchmark: the plan-mode teacher on val task sets — parse rate, citation validity, accuracy,
abstention and time per set (model vs evidence), with and without gold-label rationales.

Usage::

    .venv/bin/python bench/bench_plan.py [--n 50] [--model local:smollm2]
        [--sets ~/.cache/kedrec/task_sets/val.jsonl] [--literature-source both]
        [--rationalize] [--max-tokens 192] [--rule mutual_info]

It needs the default Neo4j with the slice (``kedrec neo4j start && kedrec graph load``), the
task sets (``kedrec sets build``) and, unless ``--literature-source none``, the literature
index (``kedrec lit ingest``). Runs go through :func:`agent.collect.collect` (resumable), so
the trajectories land in ``bench/out/plan_<model>[_rationalized].jsonl``.
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


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of ``values``; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Aggregate per-set records into the numbers of the results table."""
    ok = [r for r in records if r["status"] == "ok"]
    verified = sum(len(r["citation_check"]["verified"]) for r in ok)
    removed = sum(len(r["citation_check"]["removed"]) for r in ok)
    abstained = [r for r in ok if r.get("abstained")]
    scored = [r for r in ok if r.get("correct") is not None]
    margins = [r["choice_scores"]["margin"] for r in ok if r.get("choice_scores")]
    return {
        "sets": len(records),
        "parsed": len(ok),
        "parse_rate": len(ok) / max(len(records), 1),
        "citations_verified": verified,
        "citations_removed": removed,
        "citation_validity": verified / (verified + removed) if verified + removed else None,
        "answers_citing": sum(bool(r["citation_check"]["verified"]) for r in ok),
        "abstained": len(abstained),
        "abstention_rate": len(abstained) / max(len(ok), 1),
        "scored": len(scored),
        "correct": sum(bool(r["correct"]) for r in scored),
        "accuracy": (sum(bool(r["correct"]) for r in scored) / len(scored) if scored else None),
        "rationalized": sum(bool(r.get("rationalized")) for r in records),
        "wall_p50": percentile([r["wall_seconds"] for r in records], 50),
        "wall_p95": percentile([r["wall_seconds"] for r in records], 95),
        "model_p50": percentile([r["model_seconds"] for r in records], 50),
        "model_p95": percentile([r["model_seconds"] for r in records], 95),
        "evidence_p50": percentile([r["tool_seconds"] for r in records], 50),
        "evidence_p95": percentile([r["tool_seconds"] for r in records], 95),
        "output_tokens_mean": statistics.mean([r["tokens"]["output_tokens"] for r in ok] or [0]),
        "prompt_tokens_mean": statistics.mean([r["tokens"]["input_tokens"] for r in ok] or [0]),
        "margin_median": statistics.median(margins) if margins else None,
        "failure_reasons": sorted(
            {(r.get("failure_reason") or "?").split(":")[0] for r in records if r not in ok}
        ),
    }


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def table(summary: dict[str, Any], label: str) -> str:
    """The markdown table for bench/RESULTS.md."""
    rows = [
        ("sets", f"{summary['sets']}"),
        ("parse rate", _pct(summary["parse_rate"])),
        (
            "citations verified against the bundle",
            f"{summary['citations_verified']} of "
            f"{summary['citations_verified'] + summary['citations_removed']} "
            f"({_pct(summary['citation_validity'])}); answers citing ≥1 valid ID: "
            f"{summary['answers_citing']}",
        ),
        ("abstentions", f"{summary['abstained']} ({_pct(summary['abstention_rate'])})"),
        (
            "accuracy (answered, not rationalized)",
            f"{summary['correct']}/{summary['scored']} ({_pct(summary['accuracy'])})",
        ),
        ("wall s/set p50 / p95", f"{summary['wall_p50']:.1f} / {summary['wall_p95']:.1f}"),
        ("model s/set p50 / p95", f"{summary['model_p50']:.1f} / {summary['model_p95']:.1f}"),
        (
            "evidence s/set p50 / p95",
            f"{summary['evidence_p50']:.2f} / {summary['evidence_p95']:.2f}",
        ),
        (
            "prompt / output tokens per set (mean)",
            f"{summary['prompt_tokens_mean']:.0f} / {summary['output_tokens_mean']:.0f}",
        ),
    ]
    if summary["margin_median"] is not None:
        rows.append(("median choice margin", f"{summary['margin_median']:.3f}"))
    if summary["failure_reasons"]:
        rows.append(("failure reasons", ", ".join(summary["failure_reasons"])))
    lines = [f"| {label} | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines)


def main() -> None:
    """Run the plan-mode teacher on the first N sets and print the results table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--model", default="local:smollm2")
    parser.add_argument("--sets", type=Path, default=None)
    parser.add_argument("--literature-source", default="both")
    parser.add_argument("--rationalize", action="store_true")
    parser.add_argument("--max-tokens", type=int, default=192)
    parser.add_argument("--rule", default=None, help="choice rule: sum, mean, mutual_info")
    parser.add_argument("--fresh", action="store_true", help="start the output file anew")
    args = parser.parse_args()

    settings = get_settings()
    sets = args.sets or settings.task_sets_dir / "val.jsonl"
    context_args: dict[str, Any] = {
        "model": args.model,
        "mode": "plan",
        "literature_source": args.literature_source,
        "rationalize": args.rationalize,
        "max_tokens": args.max_tokens,
    }
    if args.rule:
        context_args["choice_rule"] = args.rule
    context = AgentContext(**context_args)
    info = machine_info(sets=str(sets), n=args.n, **context_args)
    print(json.dumps(info, indent=2))
    OUT.mkdir(exist_ok=True)
    label = args.model.replace(":", "_").replace("/", "_")
    suffix = "_rationalized" if args.rationalize else ""
    rule = f"_{args.rule}" if args.rule else ""
    out = OUT / f"plan_{label}{rule}{suffix}.jsonl"
    if args.fresh:
        out.unlink(missing_ok=True)
    report = collect(sets, out, context=context, limit=args.n, progress=True)
    records = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    latest = {r["set_id"]: r for r in records}  # the last record of a set wins
    summary = summarise(list(latest.values()))
    (OUT / f"bench_plan{rule}{suffix}.json").write_text(
        json.dumps({"machine": info, "report": report.as_dict(), "summary": summary}, indent=2)
    )
    print(table(summary, f"plan mode, {args.model}{' (rationalized)' if suffix else ''}"))
    print(f"collection: {report.seconds:.1f}s for {report.attempted} sets -> {out}")


if __name__ == "__main__":
    main()
