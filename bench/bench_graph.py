"""Benchmark: load a DRKG-scale graph with both loaders, then time the graph tools and the
evidence layer built on them.

Usage (about 6 minutes on 2 idle cores, 16 under a load average of 5 to 10)::

    .venv/bin/python bench/bench_graph.py                    # synthetic DRKG, seed 0
    .venv/bin/python bench/bench_graph.py --triples drkg.tsv # the real DRKG once fetched

It runs its own Neo4j home (<cache_dir>/neo4j/bench-home, Bolt 7692) so the user's graph is
untouched: an online load into the empty database, then a bulk import over it, then, on the
bulk-loaded graph, latencies (p50/p95) over the same sampled drug–disease pairs of

* every graph tool (``graph_store.tools.GraphTools``);
* the evidence steps (``evidence.steps``, ``default_limits()``; literature excluded: its
  index is not part of this benchmark);
* whole evidence bundles without literature (``build_evidence_bundle(...,
  literature_source="none")``) on synthetic task sets made from the pairs, and their
  rendering (``render_bundle``) on its own.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import machine_info

from evidence import steps
from evidence.bundle import EvidenceBundle, build_evidence_bundle, render_bundle
from evidence.limits import EvidenceLimits, default_limits
from graph_store.bulk_import import load_bulk
from graph_store.connection import open_driver
from graph_store.launcher import Neo4jLauncher
from graph_store.load_plan import build_plan
from graph_store.names import NameIndex, load_name_index
from graph_store.online_load import load_online
from graph_store.tools import GraphTools
from kedrec.settings import KedrecSettings, Neo4jSettings
from tasks.task_sets import NamedEntity, TaskSet


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def time_calls(call: Callable[[], object], repeats: int) -> list[float]:
    """Milliseconds per call, after one warm-up call."""
    call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def loadavg() -> str:
    """The first three fields of /proc/loadavg (1, 5, 15 minutes)."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())


def p50_p95(times: list[float]) -> tuple[float, float]:
    """Median and nearest-rank 95th percentile."""
    return statistics.median(times), percentile(times, 0.95)


def bench_task_sets(pairs: list[tuple[str, str]], drugs: list[str], seed: int) -> list[TaskSet]:
    """One set per pair: the pair's disease, its drug first (hidden pair) and another drug."""
    rng = random.Random(seed + 1)
    sets = []
    for i, (drug, disease) in enumerate(pairs):
        other = pairs[(i + 1) % len(pairs)][0]
        while other == drug:
            other = rng.choice(drugs)
        sets.append(
            TaskSet(
                set_id=f"bench-{i:03d}",
                split="benchmark",
                disease=NamedEntity(id=disease, name=disease),
                candidates=[NamedEntity(id=drug, name=drug), NamedEntity(id=other, name=other)],
                label=0,
                seed=seed,
                source="bench-synthetic",
                hidden_pairs=[(drug, disease)],
            )
        )
    return sets


def time_evidence(
    tools: GraphTools,
    pairs: list[tuple[str, str]],
    drugs: list[str],
    limits: EvidenceLimits,
    seed: int,
) -> list[tuple[str, str, str]]:
    """Time the evidence steps, whole bundles without literature, and their rendering.

    Returns rows (measure, standalone p50 / p95, in-bundle p50 / p95) in ms.
    """
    step_calls: dict[str, Callable[[str, str], object]] = {
        "disease_profile": lambda c, d: steps.disease_profile(tools, d, limits),
        "drug_profile": lambda c, d: steps.drug_profile(tools, c, limits),
        "direct_edges": lambda c, d: steps.direct_edges(tools, c, d, limits),
        "mechanism_paths": lambda c, d: steps.mechanism_paths(tools, c, d, limits),
    }
    standalone: dict[str, tuple[float, float]] = {}
    for name, call in step_calls.items():
        times: list[float] = []
        for drug, disease in pairs:
            times.extend(time_calls(partial(call, drug, disease), 3))
        standalone[name] = p50_p95(times)
        p50, p95 = standalone[name]
        print(f"evidence step {name}: p50 {p50:.1f} ms, p95 {p95:.1f} ms over {len(times)} calls")

    task_sets = bench_task_sets(pairs, drugs, seed)
    bundle_ms: list[float] = []
    render_ms: list[float] = []
    rendered_chars: list[int] = []
    in_bundle: dict[str, list[float]] = {name: [] for name in step_calls}
    failed: list[str] = []
    for task_set in task_sets:
        build = partial(
            build_evidence_bundle, task_set, tools, literature_source="none", limits=limits
        )
        build()  # warm-up
        bundle: EvidenceBundle | None = None
        for _ in range(3):
            started = time.perf_counter()
            bundle = build()
            bundle_ms.append((time.perf_counter() - started) * 1000)
            for step in bundle.steps:
                if step.tool in in_bundle and step.ok:
                    in_bundle[step.tool].append(step.latency_ms)
                if not step.ok:
                    failed.append(f"{task_set.set_id} {step.tool}: {step.error}")
        assert bundle is not None
        render_ms.extend(time_calls(partial(render_bundle, bundle), 3))
        rendered_chars.append(len(render_bundle(bundle)))
    if failed:
        print(f"{len(failed)} failed bundle steps, e.g. {failed[:3]}")
    rows = []
    for name in step_calls:
        p50, p95 = standalone[name]
        shown = "n/a"
        if in_bundle[name]:
            b50, b95 = p50_p95(in_bundle[name])
            shown = f"{b50:.1f} / {b95:.1f}"
        rows.append((name, f"{p50:.1f} / {p95:.1f}", shown))
    p50, p95 = p50_p95(bundle_ms)
    print(
        f"bundle (no literature): p50 {p50:.1f} ms, p95 {p95:.1f} ms over {len(bundle_ms)} "
        f"bundles of {len(task_sets)} sets, {len(failed)} failed steps"
    )
    rows.append(("bundle, literature none (7 steps + 2 skipped)", f"{p50:.1f} / {p95:.1f}", ""))
    p50, p95 = p50_p95(render_ms)
    chars = statistics.median(rendered_chars)
    print(f"render_bundle: p50 {p50:.2f} ms, p95 {p95:.2f} ms; median {chars:,.0f} chars")
    rows.append((f"render_bundle (median {chars:,.0f} chars)", f"{p50:.2f} / {p95:.2f}", ""))
    rows.append(("failed bundle steps", str(len(failed)), ""))
    return rows


def ensure_triples(path: Path | None, cache: Path, seed: int) -> Path:
    """Return the triples to load, generating the synthetic DRKG when none is given."""
    if path is not None:
        return path
    out = cache / "bench" / f"drkg_synth_seed{seed}" / "drkg.tsv"
    if not out.exists():
        subprocess.run(
            [
                sys.executable,
                str(Path(__file__).parent / "synthetic_drkg.py"),
                "--out",
                str(out),
                "--seed",
                str(seed),
            ],
            check=True,
        )
    return out


def run_bench(
    args: argparse.Namespace,
    neo4j: Neo4jSettings,
    launcher: Neo4jLauncher,
    triples: Path,
    names: NameIndex,
) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
    """Both loads, then the tool and evidence timings; returns the two tables' rows."""
    results: list[tuple[str, str]] = []

    if not args.skip_online:
        launcher.start()
        started = time.perf_counter()
        plan = build_plan([triples])
        scan_s = time.perf_counter() - started
        driver = open_driver(neo4j)
        online = load_online(driver, neo4j.database, plan, names, batch_size=args.batch_size)
        driver.close()
        print(f"online: scan {scan_s:.1f} s, {online}")
        results.append(("online load, edges/s (writes only)", f"{online.edges_per_second:,.0f}"))
        results.append(
            ("online load, total s (scan + nodes + edges)", f"{scan_s + online.seconds:.1f}")
        )

    bulk = load_bulk([triples], names, launcher)
    print(f"bulk: {bulk.seconds:.1f} s {bulk.phases}")
    results.append(("bulk load end to end, s", f"{bulk.seconds:.1f}"))
    for phase, seconds in bulk.phases.items():
        results.append((f"  bulk: {phase}, s", f"{seconds:.1f}"))

    driver = open_driver(neo4j)
    tools = GraphTools.from_settings(driver, neo4j)
    rng = random.Random(args.seed)
    drugs = [
        r["id"]
        for r in driver.execute_query(
            "MATCH (c:Compound) WHERE COUNT { (c)--() } > 0 RETURN c.id AS id"
        ).records
    ]
    diseases = [
        r["id"]
        for r in driver.execute_query(
            "MATCH (d:Disease) WHERE COUNT { (d)--() } > 0 RETURN d.id AS id"
        ).records
    ]
    pairs = [(rng.choice(drugs), rng.choice(diseases)) for _ in range(args.samples)]
    treated = driver.execute_query(
        "MATCH (c:Compound)-[:TREATS]->(d:Disease) RETURN c.id AS c, d.id AS d LIMIT 1000"
    ).records
    pairs[: len(pairs) // 2] = [(r["c"], r["d"]) for r in rng.sample(treated, len(pairs) // 2)]
    calls: dict[str, Callable[[str, str], object]] = {
        "resolve_entity": lambda c, d: tools.resolve_entity(c.split("::")[1]),
        "drug_profile": lambda c, d: tools.drug_profile(c),
        "disease_profile": lambda c, d: tools.disease_profile(d),
        "direct_edges": lambda c, d: tools.direct_edges(c, d),
        "mechanism_paths": lambda c, d: tools.mechanism_paths(c, d),
        "candidate_drugs": lambda c, d: tools.candidate_drugs(d),
        "similar_drugs": lambda c, d: tools.similar_drugs(c),
        "run_cypher": lambda c, d: tools.run_cypher(
            "MATCH (c:Compound {id: $c})-[:TARGETS]->(g:Gene) RETURN g.name LIMIT 20", {"c": c}
        ),
    }
    for name, call in calls.items():
        times: list[float] = []
        for drug, disease in pairs:
            times.extend(time_calls(partial(call, drug, disease), 3))
        p50, p95 = p50_p95(times)
        print(f"{name}: p50 {p50:.1f} ms, p95 {p95:.1f} ms over {len(times)} calls")
        results.append((f"{name} p50 / p95, ms", f"{p50:.1f} / {p95:.1f}"))
    evidence_rows = time_evidence(tools, pairs, drugs, default_limits(), args.seed)
    driver.close()
    return results, evidence_rows


def main() -> int:
    """Run the benchmark and print a results table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--triples", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", type=int, default=30, help="entities sampled per tool")
    parser.add_argument("--skip-online", action="store_true")
    parser.add_argument("--batch-size", type=int, default=20_000)
    args = parser.parse_args()

    base = KedrecSettings()
    neo4j = Neo4jSettings(
        uri="bolt://127.0.0.1:7692",
        bolt_port=7692,
        http_port=7479,
        home=base.cache_dir / "neo4j" / "bench-home",
        heap="4g",
        pagecache="4g",
        use_docker=False,
    )
    settings = base.model_copy(update={"neo4j": neo4j})
    print(f"machine: {json.dumps(machine_info())}")
    print(f"loadavg before: {loadavg()}")
    triples = ensure_triples(args.triples, base.cache_dir, args.seed)
    print(f"input: {triples} ({triples.stat().st_size / 1e6:.0f} MB)")
    names = load_name_index(base.names_dir)
    launcher = Neo4jLauncher(settings)
    launcher.stop()
    if neo4j.home and neo4j.home.exists():
        shutil.rmtree(neo4j.home)
    try:
        results, evidence_rows = run_bench(args, neo4j, launcher, triples, names)
    finally:
        launcher.stop()
    print(f"loadavg after: {loadavg()}")
    print("\n| measure | value |\n|---|---|")
    for measure, value in results:
        print(f"| {measure} | {value} |")
    print("\n| evidence | standalone p50 / p95, ms | in bundle p50 / p95, ms |\n|---|---|---|")
    for measure, standalone, in_bundle in evidence_rows:
        print(f"| {measure} | {standalone} | {in_bundle} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
