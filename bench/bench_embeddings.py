"""Benchmark: knowledge-graph embeddings on the real DRKG slice and on a DRKG-scale graph.

Usage (about 15 minutes on 2 cores)::

    .venv/bin/python bench/bench_embeddings.py                    # slice + synthetic DRKG
    .venv/bin/python bench/bench_embeddings.py --skip-synthetic   # slice only (~5 min)
    .venv/bin/python bench/bench_embeddings.py --triples drkg.tsv # the real DRKG once fetched

Slice: each model trains with the same budget (``--dim``, at most ``--epochs`` epochs, early
stopping with patience 5) and reports seconds per epoch, the untrained model's and the best
filtered validation MRR / Hits@10 (2,000 validation triples, head and tail queries, ranked
against the entities of the true entity's type).

DRKG scale (``/tmp/drkg_synth/drkg.tsv``, generated with ``bench/synthetic_drkg.py`` when
missing): in a child process, so peak memory is its own, it times data preparation, a fixed
number of training steps with dense Adam and with SparseAdam (extrapolated to a full epoch), one
validation pass, and, when it fits ``--full-epoch-max-s``, one real epoch with checkpoint.
Results go to ``bench/out/bench_embeddings.json``; tables are printed as markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import machine_info

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kge.pipeline import KGEConfig, default_files, train_embeddings

SYNTHETIC = Path("/tmp/drkg_synth/drkg.tsv")
BUDGET_S = 30 * 60


def machine() -> dict[str, Any]:
    """CPU, cores, memory, load and library versions: where the timings come from."""
    import numpy
    import torch
    import torch_geometric

    return machine_info(
        torch=torch.__version__,
        torch_geometric=torch_geometric.__version__,
        numpy=numpy.__version__,
    )


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (ru_maxrss is KiB on Linux)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def current_rss_mib() -> float:
    """Resident memory now (from /proc; the peak is :func:`peak_rss_mib`)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


# --------------------------------------------------------------------------- real slice


def bench_slice(models: list[str], dim: int, epochs: int, threads: int) -> list[dict[str, Any]]:
    """Train each model on the real slice with the same budget; one result row per model."""
    files = default_files()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-emb-") as root:
        for model in models:
            config = KGEConfig(
                model=model, dim=dim, epochs=epochs, patience=5, val_max=2000, num_threads=threads
            )
            started = time.perf_counter()
            emb = train_embeddings(files, None, config, root=Path(root))
            total = time.perf_counter() - started
            meta = emb.meta
            best, untrained = meta["metrics"]["best"], meta["metrics"]["untrained"]
            evals = [r["eval_seconds"] for r in meta["history"] if "val_mrr" in r]
            rows.append(
                {
                    "model": model,
                    "dim": dim,
                    "epochs_run": meta["training"]["epochs_run"],
                    "best_epoch": meta["metrics"]["best_epoch"],
                    "train_s_per_epoch": meta["training"]["seconds_per_epoch"],
                    "eval_s": round(sum(evals) / len(evals), 2),
                    "total_s": round(total, 1),
                    "untrained_mrr": round(untrained["mrr"], 4),
                    "mrr": round(best["mrr"], 4),
                    "mrr_raw": round(best["mrr_raw"], 4),
                    "hits_at_1": round(best["hits_at_1"], 3),
                    "hits_at_10": round(best["hits_at_10"], 3),
                    "peak_rss_mib": peak_rss_mib(),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    return rows


# --------------------------------------------------------------------------- DRKG scale


def synthetic_worker(
    triples: Path, dim: int, batch_size: int, steps: int, threads: int, full_epoch_max_s: float
) -> dict[str, Any]:
    """Prepare the DRKG-scale graph, time steps of both optimizers, one eval, maybe one epoch."""
    import torch

    from graph_store.masking import HiddenPairs
    from kge.data import prepare_triples
    from kge.train import build_model, evaluate, fit, make_optimizer, torch_session

    out: dict[str, Any] = {"triples_file": str(triples), "dim": dim, "batch_size": batch_size}
    out["rss_after_torch_import_mib"] = current_rss_mib()
    started = time.perf_counter()
    data = prepare_triples([triples], HiddenPairs(), val_fraction=0.05, val_max=2000, seed=0)
    out["prepare_s"] = round(time.perf_counter() - started, 1)
    out["rss_after_prepare_mib"] = current_rss_mib()
    out.update({k: v for k, v in data.stats.items() if k != "val_eval_triples"})
    heads, rels, tails = (torch.from_numpy(data.train[:, i].copy()) for i in range(3))
    batches = -(-len(data.train) // batch_size)
    out["batches_per_epoch"] = batches

    for optimizer in ("adam", "sparse_adam"):
        config = KGEConfig(dim=dim, batch_size=batch_size, optimizer=optimizer, num_threads=threads)
        with torch_session(config):
            torch.manual_seed(0)
            model = build_model(config, data.num_entities, data.num_relations)
            opt = make_optimizer(model, config)
            loader = model.loader(heads, rels, tails, batch_size=batch_size, shuffle=True)
            times = []
            for step, (h, r, t) in enumerate(loader):
                if step == steps + 3:
                    break
                tick = time.perf_counter()
                opt.zero_grad()
                model.loss(h, r, t).backward()
                opt.step()
                if step >= 3:  # warm-up steps excluded
                    times.append(time.perf_counter() - tick)
            per_step = sum(times) / len(times)
            out[optimizer] = {
                "s_per_step": round(per_step, 4),
                "steps_timed": len(times),
                "epoch_s_extrapolated": round(per_step * batches, 1),
                "rss_mib": current_rss_mib(),
            }
            if optimizer == "sparse_adam":
                tick = time.perf_counter()
                metrics = evaluate(model, config, data)
                out["eval_s"] = round(time.perf_counter() - tick, 1)
                out["eval_queries"] = metrics.queries if metrics else 0
            del model, opt
        print(json.dumps({optimizer: out[optimizer]}), file=sys.stderr, flush=True)

    best = min(("adam", "sparse_adam"), key=lambda name: out[name]["epoch_s_extrapolated"])
    estimate = out[best]["epoch_s_extrapolated"]
    if estimate <= full_epoch_max_s:
        config = KGEConfig(
            dim=dim, batch_size=batch_size, optimizer=best, epochs=1, num_threads=threads
        )
        with tempfile.TemporaryDirectory(prefix="bench-emb-drkg-") as directory:
            tick = time.perf_counter()
            result = fit(data, config, Path(directory), "bench", show_progress=False)
            row = result.history[-1]
            out["full_epoch"] = {
                "optimizer": best,
                "train_s": row["train_seconds"],
                "eval_s": row["eval_seconds"],
                "wall_s_with_untrained_eval_and_checkpoint": round(time.perf_counter() - tick, 1),
                "val_mrr_after_1_epoch": round(row["val_mrr"], 4),
                "untrained_val_mrr": round(result.untrained["mrr"], 4)
                if result.untrained
                else None,
                "checkpoint_mib": round(
                    (Path(directory) / "checkpoint.pt").stat().st_size / 2**20, 1
                ),
            }
    epoch_s = out.get("full_epoch", {}).get("train_s", estimate) + out["eval_s"]
    out["feasible_in_30_min"] = {
        "optimizer": best,
        "epoch_plus_eval_s": round(epoch_s, 1),
        "epochs": int(max(0.0, BUDGET_S - out["prepare_s"]) // epoch_s),
    }
    out["peak_rss_mib"] = peak_rss_mib()
    return out


def bench_synthetic(args: argparse.Namespace) -> dict[str, Any]:
    """Run :func:`synthetic_worker` in a child process (its own peak memory)."""
    triples = args.triples or SYNTHETIC
    if not triples.is_file():
        if args.triples:
            raise SystemExit(f"{triples} does not exist")
        subprocess.run(
            [
                sys.executable,
                str(Path(__file__).parent / "synthetic_drkg.py"),
                "--out",
                str(triples),
                "--seed",
                "0",
            ],
            check=True,
        )
    command = [
        sys.executable,
        __file__,
        "--worker",
        "--triples",
        str(triples),
        "--dim",
        str(args.dim),
        "--batch-size",
        str(args.batch_size),
        "--steps",
        str(args.steps),
        "--threads",
        str(args.threads),
        "--full-epoch-max-s",
        str(args.full_epoch_max_s),
    ]
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# --------------------------------------------------------------------------- report


def markdown(slice_rows: list[dict[str, Any]], synthetic: dict[str, Any] | None) -> str:
    """The tables for bench/RESULTS.md."""
    lines = []
    if slice_rows:
        lines += [
            "| model | dim | epochs (best) | train s/epoch | eval s | untrained MRR | "
            "val MRR (filt.) | raw MRR | Hits@1 | Hits@10 |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in slice_rows:
            lines.append(
                f"| {r['model']} | {r['dim']} | {r['epochs_run']} ({r['best_epoch']}) | "
                f"{r['train_s_per_epoch']} | {r['eval_s']} | {r['untrained_mrr']} | {r['mrr']} | "
                f"{r['mrr_raw']} | {r['hits_at_1']} | {r['hits_at_10']} |"
            )
    if synthetic:
        s = synthetic
        lines += [
            "",
            "| DRKG-scale (complex) | value |",
            "|---|---|",
            f"| graph | {s['entities']:,} entities, {s['relations']} relations, "
            f"{s['train_triples']:,} train triples |",
            f"| prepare (parse, index, split) | {s['prepare_s']} s, RSS "
            f"{s['rss_after_torch_import_mib']} → {s['rss_after_prepare_mib']} MiB |",
            f"| adam (dense) | {s['adam']['s_per_step']} s/step → "
            f"~{s['adam']['epoch_s_extrapolated']} s/epoch (extrapolated) |",
            f"| sparse_adam | {s['sparse_adam']['s_per_step']} s/step → "
            f"~{s['sparse_adam']['epoch_s_extrapolated']} s/epoch (extrapolated) |",
            f"| validation ({s['eval_queries']} queries) | {s['eval_s']} s |",
        ]
        if "full_epoch" in s:
            f = s["full_epoch"]
            lines.append(
                f"| 1 real epoch ({f['optimizer']}) | {f['train_s']} s train, {f['eval_s']} s "
                f"eval, val MRR {f['untrained_val_mrr']} → {f['val_mrr_after_1_epoch']}, "
                f"checkpoint {f['checkpoint_mib']} MiB |"
            )
        feasible = s["feasible_in_30_min"]
        lines += [
            f"| peak RSS | {s['peak_rss_mib']} MiB |",
            f"| feasible in 30 min | {feasible['epochs']} epochs ({feasible['optimizer']}, "
            f"{feasible['epoch_plus_eval_s']} s per epoch + eval, after prepare) |",
        ]
    return "\n".join(lines)


def main() -> int:
    """Parse arguments, run the sections, print machine info and markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="complex,distmult,rotate,transe")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=30, help="slice: max epochs per model")
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=40, help="DRKG scale: timed steps")
    parser.add_argument("--full-epoch-max-s", type=float, default=600.0)
    parser.add_argument("--triples", type=Path, default=None, help="DRKG-scale triple file")
    parser.add_argument("--skip-slice", action="store_true")
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "out")
    args = parser.parse_args()

    if args.worker:
        result = synthetic_worker(
            args.triples,
            args.dim,
            args.batch_size,
            args.steps,
            args.threads,
            args.full_epoch_max_s,
        )
        print(json.dumps(result))
        return 0

    info = machine()
    print("machine:", json.dumps(info), flush=True)
    slice_rows = (
        []
        if args.skip_slice
        else bench_slice(args.models.split(","), args.dim, args.epochs, args.threads)
    )
    synthetic = None if args.skip_synthetic else bench_synthetic(args)
    args.out.mkdir(parents=True, exist_ok=True)
    report = {"machine": info, "slice": slice_rows, "synthetic": synthetic}
    (args.out / "bench_embeddings.json").write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(slice_rows, synthetic))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
