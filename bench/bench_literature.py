"""Literature benchmarks: ingest throughput, index size, query latency, retrieval quality.

Run (after ``kedrec lit ingest`` built the real index)::

    .venv/bin/python bench/bench_literature.py                       # all but the 1M scale test
    .venv/bin/python bench/bench_literature.py --scale-chunks 1000000  # + synthetic 1M chunks

Parts:

* ``ingest``: embeds and indexes a fresh sample of the real corpus into a temporary index
  (docs/s, chunks/s) and reports the last full ingest recorded in the index manifest.
* ``latency``: two-step retrieval (BM25 top-80 + embedding filter) for PharmacotherapyDB DM
  pairs on the real index; p50/p95 (target p95 <= 100 ms).
* ``quality``: over the DM pairs that have a co-mentioning document in the corpus, the share
  with such a document in the top 10 (co-mention: the coverage file's example IDs, or the
  document naming the drug and the disease, synonyms included, case-insensitively).
* ``scale``: a synthetic table of N chunks (real corpus vocabulary, random unit vectors), FTS
  index, then the same two-step query path; p50/p95 (target p95 <= 250 ms at 1M chunks).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import machine_info

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np

from kedrec.settings import get_settings
from literature.corpus import iter_corpus
from literature.documents import coverage_doc_id
from literature.index import LiteratureIndex
from literature.retrieval import rerank, retrieve_pair

COVERAGE = "benchmarks/pharmacotherapydb/coverage/pharmacotherapydb_dm_pair_doc_hits.tsv"


def machine() -> dict[str, Any]:
    """Return CPU, core count, memory, Python and platform."""
    return machine_info(blas_threads=os.environ.get("OPENBLAS_NUM_THREADS", "default"))


def pct(values: list[float], q: float) -> float:
    """Return the q-th percentile (0-100) in the same unit."""
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def dm_pairs() -> list[dict[str, Any]]:
    """Read the PharmacotherapyDB DM pairs with their example co-mentioning documents."""
    path = get_settings().data_dir / COVERAGE
    pairs = []
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            examples = {coverage_doc_id(x) for x in row["example_doc_ids_lenient"].split(",") if x}
            pairs.append({**row, "examples": examples, "n_docs": int(row["n_docs_lenient"])})
    return pairs


def bench_ingest(sample_docs: int) -> dict[str, Any]:
    """Embed and index a sample of the real corpus into a temporary index."""
    from literature.drugs import load_drug_matcher

    settings = get_settings()
    corpus = settings.literature.corpus_dir or settings.data_dir / "literature" / "corpus"
    items = list(iter_corpus(corpus))
    random.Random(7).shuffle(items)
    matcher = load_drug_matcher(settings.names_dir)
    with tempfile.TemporaryDirectory() as tmp:
        index = LiteratureIndex(Path(tmp))
        started = time.perf_counter()
        report = index.ingest(items, matcher.find, max_docs=sample_docs)
        seconds = time.perf_counter() - started
    return {
        "sample_docs": report.added_docs,
        "sample_chunks": report.added_chunks,
        "seconds": round(seconds, 1),
        "embed_seconds": round(report.embed_seconds, 1),
        "docs_per_s": round(report.added_docs / seconds, 2),
        "chunks_per_s": round(report.added_chunks / seconds, 2),
    }


def _names(index: Any, entity_id: str, fallback: str) -> tuple[str, tuple[str, ...]]:
    found = index.get(entity_id)
    return (found.name, found.synonyms) if found else (fallback, ())


def _mentions(text: str, names: list[str]) -> bool:
    return any(
        re.search(rf"(?<![a-z0-9]){re.escape(n.lower())}(?![a-z0-9])", text) for n in names if n
    )


def bench_real(index: LiteratureIndex, max_pairs: int | None) -> dict[str, Any]:
    """Latency and quality of the two-step retrieval over PharmacotherapyDB DM pairs."""
    from graph_store.names import load_name_index

    settings = get_settings()
    names = load_name_index(settings.names_dir)
    corpus = settings.literature.corpus_dir or settings.data_dir / "literature" / "corpus"
    texts = {
        item.document.doc_id: f"{item.document.title}\n{item.document.text}".lower()
        for item in iter_corpus(corpus)
        if item.document is not None
    }
    pairs = dm_pairs()
    if max_pairs:
        pairs = pairs[:max_pairs]
    retrieve_pair("asthma", "Montelukast", index=index)  # load the model, warm caches
    latencies: list[float] = []
    with_doc = hits = hits_strict = 0
    misses: list[str] = []
    for pair in pairs:
        disease, disease_syn = _names(names, f"Disease::{pair['doid_id']}", pair["disease"])
        drug, drug_syn = _names(names, f"Compound::{pair['drugbank_id']}", pair["drug"])
        started = time.perf_counter()
        result = retrieve_pair(
            disease,
            drug,
            "both",
            disease_synonyms=disease_syn,
            drug_synonyms=drug_syn,
            index=index,
            top_n=10,
        )
        latencies.append((time.perf_counter() - started) * 1000)
        if pair["n_docs"] == 0:
            continue
        with_doc += 1
        top = [p.doc_id for p in result.passages]
        strict = bool(set(top) & pair["examples"])
        drug_names = [drug, *drug_syn]
        disease_names = [disease, *disease_syn]
        lenient = strict or any(
            _mentions(texts.get(d, ""), drug_names) and _mentions(texts.get(d, ""), disease_names)
            for d in top
        )
        hits_strict += strict
        hits += lenient
        if not lenient:
            misses.append(f"{pair['drug']} / {pair['disease']}")
    return {
        "pairs_queried": len(pairs),
        "latency_ms_p50": round(pct(latencies, 50), 1),
        "latency_ms_p95": round(pct(latencies, 95), 1),
        "latency_ms_mean": round(statistics.fmean(latencies), 1),
        "pairs_with_co_mentioning_doc": with_doc,
        "top10_hit_share": round(hits / with_doc, 3) if with_doc else None,
        "top10_hit_share_coverage_ids_only": round(hits_strict / with_doc, 3) if with_doc else None,
        "example_misses": misses[:10],
    }


def bench_scale(n_chunks: int, queries: int) -> dict[str, Any]:
    """Synthetic N-chunk table (real vocabulary, random vectors): build time and latency."""
    import lancedb
    import pyarrow as pa
    from lancedb.index import FTS

    settings = get_settings()
    corpus = settings.literature.corpus_dir or settings.data_dir / "literature" / "corpus"
    words: list[str] = []
    for item in iter_corpus(corpus):
        if item.document is not None and len(words) < 2_000_000:
            words.extend(item.document.text.lower().split())
    vocab = np.asarray(words)
    rng = np.random.default_rng(7)
    probe = LiteratureIndex(Path("/nonexistent"))
    schema = probe._schema()
    dim = probe.identity["dimension"]
    result: dict[str, Any] = {"chunks": n_chunks}
    with tempfile.TemporaryDirectory() as tmp:
        db = lancedb.connect(tmp)
        table = db.create_table("synthetic", schema=schema)
        started = time.perf_counter()
        batch = 50_000
        for first in range(0, n_chunks, batch):
            n = min(batch, n_chunks - first)
            picks = vocab[rng.integers(0, len(vocab), size=(n, 100))]
            content = [" ".join(row) for row in picks]
            vectors = rng.standard_normal((n, dim), dtype=np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            ids = [f"SYN:{first + i}" for i in range(n)]
            cols: dict[str, Any] = {
                "chunk_id": ids,
                "doc_id": ids,
                "source": ["CT" if i % 3 == 0 else "PMC" for i in range(n)],
                "collection": ["synthetic"] * n,
                "title": [c[:60] for c in content],
                "passage": [""] * n,
                "content": content,
                "chunk_index": [0] * n,
                "start": [0] * n,
                "end": [len(c) for c in content],
                "year": [2020] * n,
                "licence": [None] * n,
                "pmid": [None] * n,
                "pmcid": [None] * n,
                "nct_id": [None] * n,
                "drugs": [[] for _ in range(n)],
                "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), dim),
            }
            table.add(pa.table(cols, schema=schema))
        result["load_seconds"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        table.create_index("content", config=FTS(), replace=True)
        result["fts_build_seconds"] = round(time.perf_counter() - started, 1)
        result["size_bytes"] = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())

        class _Probe:
            def embedder(self) -> Any:
                return LiteratureIndex.from_settings().embedder()

        latencies = []
        pairs = dm_pairs()
        for pair in pairs[: queries + 1]:
            query = f"{pair['drug']} {pair['disease']}".lower()
            started = time.perf_counter()
            rows = (
                table.search(query, query_type="fts", fts_columns="content")
                .where("source = 'CT'", prefilter=True)
                .limit(80)
                .to_list()
            )
            rerank(_Probe(), rows, f"{pair['drug']} for {pair['disease']}", 10)  # type: ignore[arg-type]
            latencies.append((time.perf_counter() - started) * 1000)
        latencies = latencies[1:]  # first query loads the model
        result["latency_ms_p50"] = round(pct(latencies, 50), 1)
        result["latency_ms_p95"] = round(pct(latencies, 95), 1)
    return result


def main() -> None:
    """Run the selected parts and print machine info and results as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="ingest,real", help="ingest,real,scale")
    parser.add_argument("--sample-docs", type=int, default=200, help="ingest sample size")
    parser.add_argument("--max-pairs", type=int, default=None, help="limit DM pairs")
    parser.add_argument("--scale-chunks", type=int, default=0, help="synthetic chunks (0: skip)")
    parser.add_argument("--scale-queries", type=int, default=100)
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    out: dict[str, Any] = {"machine": machine()}
    print(json.dumps(out["machine"], indent=2), flush=True)
    index = LiteratureIndex.from_settings()
    if index.exists():
        stats = index.stats()
        last = stats.pop("last_ingest") or {}
        out["index"] = {
            **{k: stats[k] for k in ("table", "documents", "chunks", "size_bytes")},
            "documents_by_source": stats["documents_by_source"],
            "last_ingest_seconds": last.get("seconds"),
        }
        print(json.dumps({"index": out["index"]}, indent=2), flush=True)
    if "ingest" in parts:
        out["ingest"] = bench_ingest(args.sample_docs)
        print(json.dumps({"ingest": out["ingest"]}, indent=2), flush=True)
    if "real" in parts and index.exists():
        out["real"] = bench_real(index, args.max_pairs)
        print(json.dumps({"real": out["real"]}, indent=2), flush=True)
    if "scale" in parts or args.scale_chunks:
        out["scale"] = bench_scale(args.scale_chunks or 1_000_000, args.scale_queries)
        print(json.dumps({"scale": out["scale"]}, indent=2), flush=True)


if __name__ == "__main__":
    main()
