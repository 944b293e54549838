"""Fixtures of the distillation tests: real sets, real plan-mode records, a tiny LLaMA.

Trajectory records are made the way ``kedrec teacher collect`` makes them: the real evidence
bundle of a real task set on the test Neo4j (real DRKG slice), plan mode with the scripted
chat model (the only fake), then :func:`agent.trajectory.build_record`. The sets in
``real_sets.jsonl`` were copied from a real ``kedrec sets build`` (4 train, 2 val, 1 test).
The tiny model is a 2-layer LLaMA (hidden 64) with SmolLM2's tokenizer and chat template,
written to a temporary folder: no hub.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.context import AgentContext
from agent.plan import run_plan
from agent.trajectory import TrajectoryRecord, build_record, record_line
from evidence.bundle import EvidenceBundle, build_evidence_bundle, render_bundle
from graph_store.tools import GraphTools
from tasks.task_sets import TaskSet, write_task_sets
from tests.support.scripted_model import ScriptedChatModel, turn

SETS_FILE = Path(__file__).with_name("real_sets.jsonl")


def context(**overrides: object) -> AgentContext:
    values: dict[str, object] = {"mode": "plan", "literature_source": "none"}
    values.update(overrides)
    return AgentContext(**values)  # type: ignore[arg-type]


def layout_reply(choice: str, *citations: str) -> str:
    """A teacher answer in the plan layout."""
    return "\n".join(
        [
            f"Choice: {choice}",
            "Mechanism: it acts on genes the disease involves.",
            "Clinical: curated indications are hidden for this set.",
            "Literature: none shown.",
            "Safety: the usual warnings apply.",
            f"Comparison: {choice} is better supported than the other candidate.",
            f"Rationale: the evidence links {choice} to the disease.",
            "Citations: " + ", ".join(citations),
        ]
    )


@pytest.fixture(scope="session")
def real_sets() -> dict[str, list[TaskSet]]:
    sets: dict[str, list[TaskSet]] = {"train": [], "val": [], "test": []}
    for line in SETS_FILE.read_text().splitlines():
        task_set = TaskSet.model_validate(json.loads(line))
        sets[task_set.split].append(task_set)
    return sets


@pytest.fixture(scope="session")
def sets_dir(tmp_path_factory: pytest.TempPathFactory, real_sets: dict[str, list[TaskSet]]) -> Path:
    """A task-set build folder holding the real sets (train, val, test)."""
    folder = tmp_path_factory.mktemp("sets")
    for split, sets in real_sets.items():
        write_task_sets(sets, folder / f"{split}.jsonl")
    return folder


@pytest.fixture(scope="session")
def bundles(
    graph_tools: GraphTools, real_sets: dict[str, list[TaskSet]]
) -> dict[str, EvidenceBundle]:
    """The real evidence bundle of every real set (literature off: deterministic, fast)."""
    return {
        task_set.set_id: build_evidence_bundle(task_set, graph_tools, literature_source="none")
        for sets in real_sets.values()
        for task_set in sets
    }


RecordFactory = Callable[..., TrajectoryRecord]


@pytest.fixture(scope="session")
def make_record(graph_tools: GraphTools, bundles: dict[str, EvidenceBundle]) -> RecordFactory:
    """Run plan mode on a set with a scripted reply and build its trajectory record.

    ``choice`` is a candidate's name (default the label's); ``citations`` default to the
    chosen drug's and the disease's IDs (both shown in the bundle); ``reply=None`` makes a
    run that fails; ``evidence=False`` records no bundle.
    """

    def make(
        task_set: TaskSet,
        choice: str | None = None,
        *citations: str,
        reply: str | None = "",
        rationalize: bool = False,
        evidence: bool = True,
        label_known: bool = True,
    ) -> TrajectoryRecord:
        name = choice or task_set.answer.name
        chosen = next((c for c in task_set.candidates if c.name == name), task_set.answer)
        cited = citations or (chosen.id, task_set.disease.id)
        ctx = context(rationalize=rationalize, max_answer_retries=0)
        if reply is None:
            model = ScriptedChatModel(script=[], then=turn(content="no idea"))
        else:
            model = ScriptedChatModel(script=[turn(content=reply or layout_reply(name, *cited))])
        bundle = bundles.get(task_set.set_id) or build_evidence_bundle(
            task_set, graph_tools, literature_source="none"
        )
        run = run_plan(task_set, context=ctx, graph_tools=graph_tools, model=model, bundle=bundle)
        return build_record(
            task_set,
            run,
            context=ctx,
            evidence=bundle if evidence else None,
            evidence_text=render_bundle(bundle) if evidence else None,
            label_known=label_known,
        )

    return make


def write_records(records: list[TrajectoryRecord], path: Path) -> Path:
    """Write records as ``kedrec teacher collect`` does (scrubbed JSON lines)."""
    path.write_bytes(b"".join(record_line(record) for record in records))
    return path


@pytest.fixture(scope="session")
def good_records(
    make_record: RecordFactory, real_sets: dict[str, list[TaskSet]]
) -> list[TrajectoryRecord]:
    """One usable record per train and val set (the label chosen, citations verified)."""
    return [make_record(ts) for split in ("train", "val") for ts in real_sets[split]]


@pytest.fixture(scope="session")
def trajectory_file(
    tmp_path_factory: pytest.TempPathFactory, good_records: list[TrajectoryRecord]
) -> Path:
    return write_records(good_records, tmp_path_factory.mktemp("traj") / "trajectories.jsonl")


@pytest.fixture(scope="session")
def smollm2_tokenizer():  # type: ignore[no-untyped-def]
    from transformers import AutoTokenizer

    from kedrec.settings import get_settings
    from llm.local_model import ensure_smollm2

    return AutoTokenizer.from_pretrained(ensure_smollm2(get_settings().cache_dir))


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory, smollm2_tokenizer) -> Path:  # type: ignore[no-untyped-def]
    """A 2-layer LLaMA (hidden 64) with SmolLM2's tokenizer, saved as an HF folder."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = smollm2_tokenizer
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=8192,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder
