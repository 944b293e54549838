"""Benchmark: load a DRKG-scale graph with both loaders, then time every graph tool.

Usage (about 15 minutes on 2 cores)::

    .venv/bin/python bench/bench_graph.py                    # synthetic DRKG, seed 0
    .venv/bin/python bench/bench_graph.py --triples drkg.tsv # the real DRKG once fetched

It runs its own Neo4j home (<cache_dir>/neo4j/bench-home, Bolt 7692) so the user's graph is
untouched: an online load into the empty database, then a bulk import over it, then tool
latencies (p50/p95 over sampled drugs and diseases) on the bulk-loaded graph.
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

from graph_store.bulk_import import load_bulk
from graph_store.connection import open_driver
from graph_store.launcher import Neo4jLauncher
from graph_store.load_plan import build_plan
from graph_store.names import load_name_index
from graph_store.online_load import load_online
from graph_store.tools import GraphTools
from kedrec.settings import KedrecSettings, Neo4jSettings


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
    triples = ensure_triples(args.triples, base.cache_dir, args.seed)
    print(f"input: {triples} ({triples.stat().st_size / 1e6:.0f} MB)")
    names = load_name_index(base.names_dir)
    launcher = Neo4jLauncher(settings)
    launcher.stop()
    if neo4j.home and neo4j.home.exists():
        shutil.rmtree(neo4j.home)
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
        p50, p95 = statistics.median(times), percentile(times, 0.95)
        print(f"{name}: p50 {p50:.1f} ms, p95 {p95:.1f} ms over {len(times)} calls")
        results.append((f"{name} p50 / p95, ms", f"{p50:.1f} / {p95:.1f}"))
    driver.close()
    launcher.stop()
    print("\n| measure | value |\n|---|---|")
    for measure, value in results:
        print(f"| {measure} | {value} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
