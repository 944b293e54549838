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
* ``encoder``: the package's sentence-transformers encoder against the NumPy BERT encoder it
  replaced (kept below, only here), on the same real chunks as the index embeds them
  (``--encoder-passages``, title + passage, 128 word pieces): passages/s by wall clock and per
  CPU second (fairer on a shared machine), load seconds, cosine and score drift between the two.
  ``--parts encoder`` runs it alone (no index needed).
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


class NumpyMiniLM:
    """The NumPy BERT encoder ``literature.embedding`` used before sentence-transformers.

    Same maths as before (fused QKV, tanh GELU, mean pooling, L2 norm); kept only to measure
    the replacement against it.
    """

    def __init__(self, model_path: Path, max_seq_length: int) -> None:
        """Read ``model.safetensors``, ``tokenizer.json`` and ``config.json`` of a BERT folder."""
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = json.loads((model_path / "config.json").read_text(encoding="utf-8"))
        self.heads = int(config["num_attention_heads"])
        self.hidden = int(config["hidden_size"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        w = {
            k.removeprefix("bert."): v
            for k, v in load_file(str(model_path / "model.safetensors")).items()
        }
        self.w = w
        self.layers = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."

            def t(name: str, p: str = p) -> np.ndarray:
                return np.ascontiguousarray(w[p + name + ".weight"].T)

            def b(name: str, p: str = p) -> np.ndarray:
                return w[p + name + ".bias"]

            qkv = ("attention.self.query", "attention.self.key", "attention.self.value")
            self.layers.append(
                (
                    np.concatenate([t(n) for n in qkv], axis=1),
                    np.concatenate([b(n) for n in qkv]),
                    t("attention.output.dense"),
                    b("attention.output.dense"),
                    w[p + "attention.output.LayerNorm.weight"],
                    w[p + "attention.output.LayerNorm.bias"],
                    t("intermediate.dense"),
                    b("intermediate.dense"),
                    t("output.dense"),
                    b("output.dense"),
                    w[p + "output.LayerNorm.weight"],
                    w[p + "output.LayerNorm.bias"],
                )
            )
        self.tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=max_seq_length)
        self.tokenizer.no_padding()

    def _norm(self, x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
        centred = x - x.mean(axis=-1, keepdims=True)
        var = np.mean(centred * centred, axis=-1, keepdims=True)
        return centred / np.sqrt(var + self.eps) * weight + bias

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Embed texts (sorted by length, batched) into unit float32 vectors."""
        ids = [e.ids for e in self.tokenizer.encode_batch(list(texts))]
        order = np.argsort([len(x) for x in ids], kind="stable")
        out = np.zeros((len(texts), self.hidden), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            picked = order[start : start + batch_size]
            out[picked] = self._forward([ids[i] for i in picked])
        return out

    def _forward(self, batch: list[list[int]]) -> np.ndarray:
        w, heads = self.w, self.heads
        n, length, head_dim = len(batch), max(len(x) for x in batch), self.hidden // heads
        input_ids = np.zeros((n, length), dtype=np.int64)
        mask = np.zeros((n, length), dtype=np.float32)
        for row, ids in enumerate(batch):
            input_ids[row, : len(ids)] = ids
            mask[row, : len(ids)] = 1.0
        x = (
            w["embeddings.word_embeddings.weight"][input_ids]
            + w["embeddings.position_embeddings.weight"][:length][None, :, :]
            + w["embeddings.token_type_embeddings.weight"][0][None, None, :]
        )
        x = self._norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        scale = np.float32(1.0 / np.sqrt(head_dim))
        for qkv_w, qkv_b, o_w, o_b, l1w, l1b, i_w, i_b, d_w, d_b, l2w, l2b in self.layers:
            qkv = (x @ qkv_w + qkv_b).reshape(n, length, 3, heads, head_dim)
            q, k, v = qkv.transpose(2, 0, 3, 1, 4)
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(n, length, self.hidden)
            x = self._norm(context @ o_w + o_b + x, l1w, l1b)
            inter = x @ i_w + i_b
            inner = np.float32(0.7978845608028654) * (
                inter + np.float32(0.044715) * inter * inter * inter
            )
            inter = inter * np.float32(0.5) * (np.float32(1.0) + np.tanh(inner))
            x = self._norm(inter @ d_w + d_b + x, l2w, l2b)
        pooled = (x * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1), 1.0)[:, None]
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


def encoder_passages(n: int) -> list[str]:
    """Return ``n`` real chunks (title + passage, as ingest embeds them) from a shuffled corpus."""
    from literature.documents import chunk_document

    settings = get_settings()
    lit = settings.literature
    corpus = lit.corpus_dir or settings.data_dir / "literature" / "corpus"
    docs = [item.document for item in iter_corpus(corpus) if item.document is not None]
    random.Random(7).shuffle(docs)
    texts: list[str] = []
    for doc in docs:
        if not doc.title.strip() or not doc.text.strip():
            continue
        texts.extend(
            chunk.content(doc.title)
            for chunk in chunk_document(doc, lit.chunk_words, lit.chunk_overlap)
        )
        if len(texts) >= n:
            break
    return texts[:n]


def bench_encoder(n_passages: int, repeats: int, block: int = 50) -> dict[str, Any]:
    """Old NumPy encoder vs the sentence-transformers one: speed and agreement on real chunks."""
    from literature.embedding import get_embedder, resolve_model_path, torch_threads

    settings = get_settings()
    lit = settings.literature
    texts = encoder_passages(n_passages)
    started = time.perf_counter()
    new = get_embedder(lit.embedding_model, lit.embedding_max_tokens)
    load_new = time.perf_counter() - started
    started = time.perf_counter()
    old = NumpyMiniLM(resolve_model_path(lit.embedding_model), new.max_seq_length)
    load_old = time.perf_counter() - started
    encoders = {"numpy": old.encode, "sentence_transformers": new.encode}
    for encode in encoders.values():
        encode(texts[:block])  # warm up
    # Timing: blocks of ``block`` passages, the two encoders alternating block by block, so on
    # a shared machine both see the same load; per encoder the total over all repeats, and the
    # sum of each block's best time (the least disturbed estimate). Vectors: the last repeat's.
    blocks = [texts[i : i + block] for i in range(0, len(texts), block)]
    wall = {name: np.zeros((repeats, len(blocks))) for name in encoders}
    cpu = {name: np.zeros((repeats, len(blocks))) for name in encoders}
    parts: dict[str, list[np.ndarray]] = {name: [] for name in encoders}
    for r in range(repeats):
        parts = {name: [] for name in encoders}
        for j, chunk in enumerate(blocks):
            for name, encode in encoders.items():
                started, cpu_started = time.perf_counter(), time.process_time()
                parts[name].append(encode(chunk))
                wall[name][r, j] = time.perf_counter() - started
                cpu[name][r, j] = time.process_time() - cpu_started
    a, b = np.concatenate(parts["numpy"]), np.concatenate(parts["sentence_transformers"])
    cosine = (a * b).sum(axis=1)
    score_drift = np.abs(a @ a.T - b @ b.T)
    result: dict[str, Any] = {
        "passages": len(texts),
        "mean_tokens": round(
            statistics.fmean(min(new.token_count(t), new.max_seq_length) for t in texts), 1
        ),
        "torch_threads": torch_threads(),
        "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
        "repeats": repeats,
        "block": block,
        "load_seconds": {"numpy": round(load_old, 2), "sentence_transformers": round(load_new, 2)},
    }
    timed = repeats * len(texts)
    for name in encoders:
        result[name] = {
            "passages_per_s": round(timed / wall[name].sum(), 1),
            "passages_per_s_best_blocks": round(len(texts) / wall[name].min(axis=0).sum(), 1),
            "passages_per_cpu_s": round(timed / cpu[name].sum(), 1),
        }
    speed = {
        key: round(result["sentence_transformers"][key] / result["numpy"][key], 2)
        for key in result["numpy"]
    }
    result["speedup_st_over_numpy"] = speed
    result["cosine_min"] = round(float(cosine.min()), 7)
    result["cosine_mean"] = round(float(cosine.mean()), 7)
    result["max_abs_component_diff"] = float(np.abs(a - b).max())
    result["max_abs_score_diff"] = float(score_drift.max())
    result["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    return result


def main() -> None:
    """Run the selected parts and print machine info and results as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="ingest,real", help="ingest,real,scale,encoder")
    parser.add_argument("--sample-docs", type=int, default=200, help="ingest sample size")
    parser.add_argument("--max-pairs", type=int, default=None, help="limit DM pairs")
    parser.add_argument("--scale-chunks", type=int, default=0, help="synthetic chunks (0: skip)")
    parser.add_argument("--scale-queries", type=int, default=100)
    parser.add_argument("--encoder-passages", type=int, default=512, help="encoder part")
    parser.add_argument("--encoder-repeats", type=int, default=2, help="encoder part")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    out: dict[str, Any] = {"machine": machine()}
    print(json.dumps(out["machine"], indent=2), flush=True)
    if "encoder" in parts:
        out["encoder"] = bench_encoder(args.encoder_passages, args.encoder_repeats)
        print(json.dumps({"encoder": out["encoder"]}, indent=2), flush=True)
    index = LiteratureIndex.from_settings()
    if index.exists() and parts & {"ingest", "real"}:
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
