"""Benchmark: LoRA training of the SmolLM2-135M student on CPU — s/step, tokens/s, peak RSS.

Usage::

    .venv/bin/python bench/bench_distill_train.py [--lengths 512,1024,full] [--steps 3]
        [--grad-accum 8] [--threads 2] [--n 24] [--bolt-port 7688]
        [--trajectories FILE] [--literature-source none] [--checkpointing]
        [--lora-dropout 0.05] [--precision fp32|bf16|auto] [--out-name distill_train.json]

Examples: with ``--trajectories`` the examples of that file; otherwise (no trajectories yet)
records are made the way ``kedrec teacher collect`` makes them: real train sets of the
settings' build, their real rendered evidence bundles (the Neo4j on ``--bolt-port``), plan
mode with a scripted answer in the layout (five one-to-two-sentence fields, a rationale and
the citations the bundle shows, ~200 tokens), then :func:`distill.data.build_examples`.

Lengths: ``full`` trains on the examples as they are (the prompt over a whole bundle, about
3,300 tokens with ``--literature-source none``). ``512`` and ``1024`` keep each example's
whole completion and the *last* prompt tokens that fit: only to time a step at that length
(a cut prompt is not what the student reads; ``build_examples`` drops such examples).

Each length trains in its own process (peak RSS is per process: ``ru_maxrss``), with the
defaults of :class:`distill.config.StudentConfig` (fp32, batch 1, every core) but
``--steps`` optimizer steps of ``--grad-accum`` examples, no evaluation. s/step and tokens/s
leave out the first step (warm-up). The epoch estimate is 1,000 examples at the measured
s/example, at the default 8 examples per step.
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
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import machine_info

OUT = Path(__file__).resolve().parent / "out"
EPOCH_EXAMPLES = 1000

FIELDS = {
    "Mechanism": "{drug} targets genes that the disease profile also lists, so a shared "
    "pathway links them ({drug_id}).",
    "Clinical": "Curated indications for {disease} are hidden in this set; the graph shows "
    "no trial for either candidate.",
    "Literature": "No passage is shown for this pair, so the literature gives no support "
    "either way.",
    "Safety": "Both drugs carry the usual warnings; none is specific to patients with {disease}.",
    "Comparison": "{drug} has more mechanistic support for {disease} than {other}, whose "
    "targets overlap less with the disease genes.",
}


def scripted_answer(task_set: Any) -> str:
    """A teacher answer in the plan layout, citing the chosen drug and the disease."""
    drug, other = task_set.answer, task_set.distractor
    values = {
        "drug": drug.name,
        "drug_id": drug.id,
        "other": other.name,
        "disease": task_set.disease.name,
    }
    lines = [f"Choice: {drug.name}"]
    lines += [f"{label}: {text.format(**values)}" for label, text in FIELDS.items()]
    lines.append(
        f"Rationale: {drug.name} ({drug.id}) shares targets and pathways with "
        f"{task_set.disease.name} ({task_set.disease.id}); the evidence for {other.name} is "
        "weaker, so it is the better supported choice."
    )
    lines.append(f"Citations: {drug.id}, {task_set.disease.id}")
    return "\n".join(lines)


def make_records(n: int, bolt_port: int | None, literature_source: str, path: Path) -> Path:
    """Records of ``n`` real train sets (+ a few val) with scripted plan-mode answers."""
    from agent.context import AgentContext
    from agent.plan import run_plan
    from agent.trajectory import build_record, record_line
    from evidence.bundle import build_evidence_bundle, render_bundle
    from graph_store.connection import open_driver
    from graph_store.tools import GraphTools
    from kedrec.settings import get_settings
    from tasks.task_sets import read_task_sets
    from tests.support.scripted_model import ScriptedChatModel, turn

    settings = get_settings()
    neo4j = settings.neo4j
    if bolt_port:
        neo4j = neo4j.model_copy(update={"uri": f"bolt://127.0.0.1:{bolt_port}"})
    driver = open_driver(neo4j)
    tools = GraphTools.from_settings(driver, neo4j)
    folder = settings.task_sets_dir
    seen: set[str] = set()
    sets = []
    for task_set in read_task_sets(folder / "train.jsonl"):  # one set per disease
        if task_set.disease.id not in seen:
            seen.add(task_set.disease.id)
            sets.append(task_set)
        if len(sets) >= n:
            break
    context = AgentContext(mode="plan", literature_source=literature_source)  # type: ignore[arg-type]
    lines = []
    try:
        for task_set in sets:
            bundle = build_evidence_bundle(task_set, tools, literature_source=literature_source)
            model = ScriptedChatModel(script=[turn(content=scripted_answer(task_set))])
            run = run_plan(task_set, context=context, graph_tools=tools, model=model, bundle=bundle)
            record = build_record(
                task_set, run, context=context, evidence=bundle, evidence_text=render_bundle(bundle)
            )
            lines.append(record_line(record))
    finally:
        driver.close()
    path.write_bytes(b"".join(lines))
    return path


def cut_to(example: Any, length: int) -> Any:
    """The example with its whole completion and the last prompt tokens that fit ``length``."""
    from dataclasses import replace

    drop = max(example.n_tokens - length, 0)
    if drop >= example.n_prompt:
        raise SystemExit(f"a completion of {example.n_tokens - example.n_prompt} tokens > {length}")
    return replace(
        example,
        input_ids=example.input_ids[drop:],
        labels=example.labels[drop:],
        weights=example.weights[drop:],
        n_prompt=example.n_prompt - drop,
    )


def child(args: argparse.Namespace) -> None:
    """Train at one length and print one JSON line of timings."""
    from dataclasses import replace

    import torch
    from transformers import AutoTokenizer, TrainerCallback

    from distill.config import StudentConfig
    from distill.data import build_examples
    from distill.train import resolve_base, train_examples
    from kedrec.settings import get_settings

    class StepTimes(TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []
            self.tokens: list[int] = []
            self.mark = time.perf_counter()

        def on_step_end(self, a, state, control, **kwargs):  # type: ignore[no-untyped-def]
            now = time.perf_counter()
            self.times.append(now - self.mark)
            self.tokens.append(state.num_input_tokens_seen)
            self.mark = now

    base = resolve_base("local:smollm2")
    tokenizer = AutoTokenizer.from_pretrained(base)
    data = build_examples(
        [Path(args.trajectories)],
        tokenizer,
        sets_dir=get_settings().task_sets_dir,
        max_length=8192,
        rationale_weight=1.0,
    )
    train = data.train
    if args.length != "full":
        train = [cut_to(example, int(args.length)) for example in train]
    needed = args.steps * args.grad_accum
    train = (train * (needed // max(len(train), 1) + 1))[:needed]
    data = replace(data, train=train, val=[])
    config = StudentConfig(
        max_steps=args.steps,
        grad_accum=args.grad_accum,
        threads=args.threads,
        max_length=8192,
        logging_steps=1,
        save_steps=10_000,
        eval_steps=10_000,
        gradient_checkpointing=args.checkpointing,
        lora_dropout=args.lora_dropout,
        precision=args.precision,
    )
    timer = StepTimes()
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        result = train_examples(
            data,
            Path(out) / "student",
            config,
            base_dir=base,
            tokenizer=tokenizer,
            sets_dir=get_settings().task_sets_dir,
            callbacks=[timer],
            printer=lambda line: print(line, file=sys.stderr),
        )
        wall = time.perf_counter() - started
    steady = timer.times[1:] or timer.times
    tokens = [b - a for a, b in zip([0, *timer.tokens[:-1]], timer.tokens, strict=True)][1:]
    s_per_step = sum(steady) / len(steady)
    s_per_example = s_per_step / args.grad_accum
    print(
        json.dumps(
            {
                "length": args.length,
                "checkpointing": args.checkpointing,
                "lora_dropout": args.lora_dropout,
                "precision": result.metrics.get("precision", args.precision),
                "tokens_per_example": round(sum(e.n_tokens for e in train) / len(train), 1),
                "completion_tokens": round(
                    sum(e.n_tokens - e.n_prompt for e in train) / len(train), 1
                ),
                "steps": len(timer.times),
                "grad_accum": args.grad_accum,
                "step_seconds": [round(t, 2) for t in timer.times],
                "s_per_step": round(s_per_step, 2),
                "s_per_example": round(s_per_example, 3),
                "tokens_per_s": round(sum(tokens) / sum(steady), 1) if tokens else None,
                "epoch_1000_min": round(EPOCH_EXAMPLES * s_per_example / 60, 1),
                "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                "wall_s": round(wall, 1),
                "torch_threads": torch.get_num_threads(),
                "train_loss": result.metrics["train_loss"],
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="512,1024,full")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--grad-accum", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n", type=int, default=24, help="Train sets to make records of.")
    parser.add_argument("--bolt-port", type=int, default=None)
    parser.add_argument("--literature-source", default="none")
    parser.add_argument("--trajectories", default=None)
    parser.add_argument("--checkpointing", action="store_true")
    parser.add_argument("--lora-dropout", type=float, default=0.05)
    parser.add_argument(
        "--precision",
        default="fp32",
        help="fp32 (the CPU default), bf16 (CPU autocast: fast on CPUs with AMX/AVX512-BF16) "
        "or auto.",
    )
    parser.add_argument("--out-name", default=None, help="Result file name under bench/out.")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--length", default="full", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    print(json.dumps(machine_info(torch_threads=args.threads)))
    OUT.mkdir(parents=True, exist_ok=True)
    trajectories = args.trajectories
    if trajectories is None:
        trajectories = str(
            make_records(
                args.n, args.bolt_port, args.literature_source, OUT / "distill_bench_records.jsonl"
            )
        )
        print(f"records: {args.n} real train sets, scripted answers -> {trajectories}")
    results = []
    for length in args.lengths.split(","):
        command = [
            sys.executable,
            __file__,
            "--child",
            "--length",
            length,
            "--trajectories",
            trajectories,
            "--steps",
            str(args.steps),
            "--grad-accum",
            str(args.grad_accum),
            "--threads",
            str(args.threads),
        ]
        if args.checkpointing:
            command.append("--checkpointing")
        command += ["--lora-dropout", str(args.lora_dropout), "--precision", args.precision]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode:
            print(done.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"length {length} failed")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        results.append(result)
        print(json.dumps(result))
    name = args.out_name or "distill_train.json"
    (OUT / name).write_text(json.dumps({"machine": machine_info(), "results": results}, indent=2))
    print(
        f"{'length':>7} {'tokens':>7} {'s/step':>7} {'s/ex':>6} {'tok/s':>6} "
        f"{'RSS MiB':>8} {'epoch(1k) min':>13}"
    )
    for r in results:
        print(
            f"{r['length']:>7} {r['tokens_per_example']:>7} {r['s_per_step']:>7} "
            f"{r['s_per_example']:>6} {r['tokens_per_s']:>6} {r['peak_rss_mib']:>8} "
            f"{r['epoch_1000_min']:>13}"
        )


if __name__ == "__main__":
    main()
