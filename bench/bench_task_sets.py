"""Benchmark: task-set sampling throughput (sets/s), separate from embedding training.

Usage::

    .venv/bin/python bench/bench_task_sets.py [--repeats 3]

It trains (or loads, when cached) the default ComplEx embeddings on the real slice with the build's
held-out pairs, then times the sampler alone over every disease of the split: scoring all drugs
for a disease (Eq. 2's top-K), relevance ranking and the cosine search for c_irr (Eq. 1).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import machine_info

from graph_store.load_plan import resolve_inputs
from graph_store.names import load_name_index
from kedrec.settings import get_settings
from kge.pipeline import KGEConfig, train_embeddings
from tasks.relevance import CompoundDiseaseEdges
from tasks.sampling import (
    SamplingConfig,
    TaskSampler,
    eligible_diseases,
    held_out_pairs,
    sample_task_sets,
    split_diseases,
)


def main() -> int:
    """Time sampling on the real slice and print a results table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--top-k", type=int, default=50)
    args = parser.parse_args()
    print(json.dumps({"machine": machine_info()}))
    settings = get_settings()
    files = resolve_inputs([], settings.kg_slice_dir)
    config = SamplingConfig(top_k=args.top_k)
    started = time.perf_counter()
    edges = CompoundDiseaseEdges.from_files(files)
    split = split_diseases(
        eligible_diseases(edges, config.min_relevance),
        seed=config.seed,
        val_fraction=config.val_fraction,
        test_fraction=config.test_fraction,
    )
    prepare_s = time.perf_counter() - started
    started = time.perf_counter()
    embeddings = train_embeddings(files, held_out_pairs(edges, split), KGEConfig(epochs=30))
    embed_s = time.perf_counter() - started
    sampler = TaskSampler(edges, embeddings, load_name_index(settings.names_dir), config)
    times = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        sets, _report = sample_task_sets(sampler, split)
        times.append(time.perf_counter() - started)
    best = min(times)
    print("\n| measure | value |\n|---|---|")
    print(f"| edges + split, s | {prepare_s:.2f} |")
    print(f"| embeddings (train or load), s | {embed_s:.1f} |")
    print(f"| drugs scored per disease | {len(sampler.drugs):,} |")
    print(f"| sets sampled | {len(sets):,} over {len(split):,} diseases |")
    print(f"| sampling, best of {args.repeats}, s | {best:.2f} |")
    print(f"| sampling throughput, sets/s | {len(sets) / best:,.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
