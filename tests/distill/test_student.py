"""The student: a LoRA folder loaded as a local chat model, answering in the plan graph.

A tiny random LLaMA (``tiny_base`` of ``tests/distill/conftest.py``: 2 layers, hidden 64,
SmolLM2's tokenizer and chat template) stands in for the base, with a LoRA adapter whose weights
are not zero (so applying it changes the logits): the same code paths as a real student, in
seconds; one student comes from the real trainer (``distill.train``). The runs use the real
test Neo4j.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import functools
import importlib.util
import json
import shutil
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from langchain_core.messages import messages_from_dict
from typer.testing import CliRunner

from agent.context import AgentContext
from agent.plan_answer import plan_messages
from agent.prompts import PROMPT_VERSION
from agent.records import INSUFFICIENT
from evidence.bundle import build_evidence_bundle, bundle_version, render_bundle
from evidence.limits import default_limits
from graph_store.tools import GraphTools
from kedrec.errors import ConfigError, KedrecError
from kedrec.settings import get_settings
from llm.chat_models import load_chat_model
from llm.choice import render_prompt
from llm.local_model import LocalChatModel, LocalModelError, ensure_smollm2, load_backend
from llm.student import (
    StudentChatModel,
    StudentModelError,
    check_base_weights,
    load_student_backend,
    read_student_info,
    student_base_folder,
)
from tasks.task_sets import TaskSet, write_task_sets
from tests.conftest import CARVEDILOL, METFORMIN

TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
    "special_tokens_map.json",
)
STEPS_PER_SET = Counter(
    {"disease_profile": 1, "drug_profile": 2, "direct_edges": 2, "mechanism_paths": 2}
)
"""The bundle's graph steps for a set of two candidates (literature off)."""


# -- a tiny student folder ----------------------------------------------------------------------


def _copy_tokenizer(source: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name in TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copy(source / name, target / name)


def _student_info(base: Path) -> dict[str, Any]:
    """student.json as distill.train writes it (the fields the loader and predict read)."""
    import hashlib

    weights = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in base.glob("*.safetensors")
    }
    return {
        "format": "kedrec-student",
        "format_version": 1,
        "base_model": {"spec": f"local:{base}", "folder": str(base), "weights_sha256": weights},
        "adapter": "adapter",
        "merged": None,
        "prompt": {"prompt_version": PROMPT_VERSION, "choice_prefix": "Choice: "},
        "records": {"bundle_versions": {bundle_version(default_limits()): 3}},
        "config": {"lora_r": 4},
        "training": {},
    }


def make_student(base: Path, folder: Path, *, merged: bool = False) -> Path:
    """A student folder: student.json, adapter/ (random LoRA weights), README, [merged/]."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    model = AutoModelForCausalLM.from_pretrained(base, local_files_only=True)
    lora = LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules=["q_proj", "v_proj"],
        task_type="CAUSAL_LM",
        init_lora_weights=False,  # non-zero B: the adapter changes the model
    )
    peft_model = get_peft_model(model, lora)
    folder.mkdir(parents=True, exist_ok=True)
    peft_model.save_pretrained(folder / "adapter")
    (folder / "student.json").write_text(json.dumps(_student_info(base), indent=2))
    (folder / "README.md").write_text("# tiny test student\n")
    if merged:
        peft_model.merge_and_unload().save_pretrained(folder / "merged")
        _copy_tokenizer(base, folder / "merged")
    return folder


@pytest.fixture(scope="module")
def student_dir(tiny_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_student(tiny_base, tmp_path_factory.mktemp("student") / "tiny")


def _logits(model: Any, ids: list[int]) -> Any:
    import torch

    with torch.inference_mode():
        return model(input_ids=torch.tensor([ids])).logits[0, -1].float()


def student_context(**overrides: Any) -> AgentContext:
    values: dict[str, Any] = {"literature_source": "none", "max_tokens": 48}
    values.update(overrides)
    return AgentContext(**values)


# -- loading ------------------------------------------------------------------------------------


def test_load_chat_model_student_is_a_local_model_with_the_adapter(
    student_dir: Path, tiny_base: Path
) -> None:
    import torch
    from peft import PeftModel

    model = load_chat_model(AgentContext(model=f"student:{student_dir}", max_tokens=32))
    assert isinstance(model, LocalChatModel) and isinstance(model, StudentChatModel)
    assert model.max_tokens == 32 and model.model_name == f"student:{student_dir.name}"
    backend = model.backend  # what plan mode's log-likelihood path reads
    # the adapter is merged into the base weights in memory (no LoRA layers left)
    assert not isinstance(backend.model, PeftModel) and not backend.model.training
    assert backend.tokenizer.chat_template
    assert load_student_backend(student_dir) is backend, "one backend per folder"
    ids = backend.tokenizer("Metformin lowers glucose.")["input_ids"]
    base = load_backend(tiny_base)
    assert not torch.allclose(_logits(backend.model, ids), _logits(base.model, ids)), (
        "the adapter is applied"
    )
    half = load_chat_model(
        AgentContext(model=f"student:{student_dir}", local_dtype="bfloat16")
    ).backend  # type: ignore[attr-defined]
    assert half is not backend and next(half.model.parameters()).dtype == torch.bfloat16
    assert torch.allclose(
        _logits(half.model, ids).float(), _logits(backend.model, ids), atol=0.1, rtol=0.05
    ), "the same student, rounded"


def test_merged_folder_is_preferred(tiny_base: Path, tmp_path: Path) -> None:
    import torch
    from peft import PeftModel

    folder = make_student(tiny_base, tmp_path / "with-merged", merged=True)
    adapter_backend = load_student_backend(make_student(tiny_base, tmp_path / "adapter-only"))
    (folder / "adapter" / "adapter_config.json").write_text("not json")  # never read
    backend = load_student_backend(folder)
    assert not isinstance(backend.model, PeftModel)
    assert backend is load_backend(folder / "merged")
    ids = backend.tokenizer("Carvedilol blocks beta receptors.")["input_ids"]
    assert torch.allclose(
        _logits(backend.model, ids), _logits(adapter_backend.model, ids), atol=1e-4
    ), "merged == base + adapter (same seed)"


def _break(folder: Path, how: str) -> None:
    if how == "no folder":
        shutil.rmtree(folder)
    elif how == "no student.json":
        (folder / "student.json").unlink()
    elif how == "student.json not JSON":
        (folder / "student.json").write_text("{broken")
    elif how == "no adapter":
        shutil.rmtree(folder / "adapter")
    elif how == "adapter config not JSON":
        (folder / "adapter" / "adapter_config.json").write_text("{")
    elif how == "adapter without weights":
        (folder / "adapter" / "adapter_model.safetensors").unlink()
    elif how == "incomplete merged":
        (folder / "merged").mkdir()
        (folder / "merged" / "config.json").write_text("{}")


@pytest.mark.parametrize(
    ("how", "says"),
    [
        ("no folder", "does not exist"),
        ("no student.json", "student.json is missing or not JSON"),
        ("student.json not JSON", "student.json is missing or not JSON"),
        ("no adapter", "has no adapter/ or merged/: train one with `kedrec distill train --out"),
        ("adapter config not JSON", "adapter_config.json is missing or not JSON"),
        ("adapter without weights", "has no adapter_model.safetensors"),
        ("incomplete merged", "is not an HF model folder"),
    ],
)
def test_malformed_student_folder_is_one_line_naming_the_fix(
    student_dir: Path, tmp_path: Path, how: str, says: str
) -> None:
    folder = tmp_path / "student"
    shutil.copytree(student_dir, folder)
    _break(folder, how)
    for attempt in (
        lambda: load_chat_model(AgentContext(model=f"student:{folder}")),
        lambda: load_student_backend(folder),
    ):
        with pytest.raises(StudentModelError) as caught:
            attempt()
        message = str(caught.value)
        assert says in message and "\n" not in message
        assert "kedrec distill train" in message or "delete it" in message
        assert isinstance(caught.value, LocalModelError | KedrecError)


def test_base_folder_from_either_student_json_layout(student_dir: Path, tmp_path: Path) -> None:
    info = read_student_info(student_dir)
    base = Path(info["base_model"]["folder"])
    assert student_base_folder(student_dir, info) == base
    flat = {"base_model": f"local:{base}", "base_folder": str(base), "base_sha256": "0" * 64}
    assert student_base_folder(student_dir, flat) == base
    gone = {"base_model": {"spec": "local:/nowhere", "folder": str(tmp_path / "gone")}}
    with pytest.raises(StudentModelError, match="not an HF model folder here"):
        student_base_folder(student_dir, gone)
    # local:smollm2 is rebuilt into the cache (here: already converted, so no work)
    cache = get_settings().cache_dir
    for smollm2 in (
        {"base_model": {"spec": "local:smollm2", "folder": str(tmp_path / "gone")}},
        {"base_model": "local:smollm2", "base_folder": str(tmp_path / "gone")},
    ):
        assert student_base_folder(student_dir, smollm2, cache) == ensure_smollm2(cache)


def test_changed_base_weights_are_reported(student_dir: Path) -> None:
    info = read_student_info(student_dir)
    base = Path(info["base_model"]["folder"])
    assert check_base_weights(base, info["base_model"]["weights_sha256"]) == []
    assert check_base_weights(base, {"model.safetensors": "0" * 64}) == ["model.safetensors"]
    assert check_base_weights(base, {"missing.safetensors": "0" * 64}) == ["missing.safetensors"]


def test_version_warnings_name_a_prompt_the_student_did_not_learn(
    student_dir: Path, tmp_path: Path
) -> None:
    from distill.predict_cli import version_warnings

    assert version_warnings(student_dir) == []
    folder = tmp_path / "old"
    shutil.copytree(student_dir, folder)
    info = json.loads((folder / "student.json").read_text())
    info["prompt"]["prompt_version"] = "prompt-old"
    info["records"]["bundle_versions"] = {"evidence-old": 1}
    (folder / "student.json").write_text(json.dumps(info))
    warnings = version_warnings(folder)
    assert len(warnings) == 2
    assert "prompt-old" in warnings[0] and PROMPT_VERSION in warnings[0]
    assert "evidence-old" in warnings[1] and "train again" in warnings[1]


# -- the student graph on the real graph --------------------------------------------------------


GRAPH_TOOLS_IN_STEPS = {"disease_profile", "drug_profile", "direct_edges", "mechanism_paths"}
GRAPH_TOOLS_IN_STEPS |= {"resolve_one", "resolve_entity"}  # a step resolving its names


@pytest.fixture()
def tool_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """Count the evidence steps run, and fail on any graph tool called outside them.

    Every public GraphTools method is spied on: the outermost call inside a step is recorded
    under ``in-step:<name>``, one outside any step under ``outside:<name>``.
    """
    import evidence.steps

    calls: Counter[str] = Counter()
    state = threading.local()

    def step_spy(name: str, original: Any) -> Any:
        def spy(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            state.step = name
            try:
                return original(*args, **kwargs)
            finally:
                state.step = None

        return spy

    def tool_spy(name: str, original: Any) -> Any:
        def spy(self: GraphTools, *args: Any, **kwargs: Any) -> Any:
            level = getattr(state, "level", 0)
            if level == 0:
                where = "in-step" if getattr(state, "step", None) else "outside"
                calls[f"{where}:{name}"] += 1
            state.level = level + 1
            try:
                return original(self, *args, **kwargs)
            finally:
                state.level = level

        return spy

    for name in ("disease_profile", "drug_profile", "direct_edges", "mechanism_paths"):
        monkeypatch.setattr(evidence.steps, name, step_spy(name, getattr(evidence.steps, name)))
    monkeypatch.setattr(
        evidence.steps,
        "search_literature",
        step_spy("search_literature", evidence.steps.search_literature),
    )
    for name, value in vars(GraphTools).items():
        if callable(value) and not name.startswith("_") and name != "with_hidden":
            monkeypatch.setattr(GraphTools, name, tool_spy(name, value))
    yield calls


def steps_only(calls: Counter[str]) -> Counter[str]:
    """The steps counted, after checking every graph tool call was inside one."""
    outside = {k: v for k, v in calls.items() if k.startswith("outside:")}
    assert outside == {}, f"graph tools called outside the fixed steps: {outside}"
    in_step = {k.split(":", 1)[1] for k in calls if k.startswith("in-step:")}
    assert in_step <= GRAPH_TOOLS_IN_STEPS, in_step
    return Counter({k: v for k, v in calls.items() if ":" not in k})


def test_run_student_answers_in_plan_mode_with_only_the_fixed_steps(
    student_dir: Path,
    graph_tools: GraphTools,
    task_set: TaskSet,
    tool_calls: Counter[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import llm.choice
    import llm.prefill
    from distill.student import run_student

    prompts: list[str] = []

    def recording(tokenizer: Any, messages: Any, prefix: str) -> str:
        text = render_prompt(tokenizer, messages, prefix)
        prompts.append(text)
        return text

    monkeypatch.setattr(llm.choice, "render_prompt", recording)
    monkeypatch.setattr(llm.prefill, "render_prompt", recording)
    # a context asking for the agent loop and the label: a student gets neither
    asked = student_context(mode="agent", rationalize=True)
    run = run_student(task_set, student_dir=student_dir, graph_tools=graph_tools, context=asked)

    assert run.status == "ok", run.failure_reason
    assert run.mode == "plan" and not run.rationalized and run.steps == 1
    assert run.tool_calls == []
    assert run.answer is not None
    assert run.answer.choice in {METFORMIN, CARVEDILOL, INSUFFICIENT}
    assert run.abstained == (run.answer.choice == INSUFFICIENT)
    if not run.abstained:
        assert run.choice_id == run.answer.choice
    assert run.choice_scores is not None and len(run.choice_scores.loglik) == 2
    assert [m["type"] for m in run.messages] == ["system", "human", "ai"]
    assert str(run.messages[2]["data"]["content"]).startswith("Choice: ")
    assert steps_only(tool_calls) == STEPS_PER_SET, "only the bundle's steps, once each"

    # the student read the plan prompt for this set, byte for byte, with no label in it
    tool_calls.clear()
    bundle = build_evidence_bundle(task_set, graph_tools, literature_source="none")
    backend = load_student_backend(student_dir)
    turns = [
        {"role": {"system": "system", "human": "user"}[m.type], "content": str(m.content)}
        for m in plan_messages(task_set, render_bundle(bundle), False)
    ]
    expected = render_prompt(backend.tokenizer, turns, "")
    assert prompts[0] == expected + "Choice: "  # the candidates' log-likelihoods
    assert prompts[-1].startswith(expected + "Choice: ")  # the chosen name prefilled, then fields
    sent = messages_from_dict(run.messages[:2])
    assert sent[1].content == turns[1]["content"]
    assert "relevant drug for this disease is" not in expected
    if importlib.util.find_spec("distill.prompting") is not None:  # the trainer's prompt
        from distill.prompting import student_prompt

        assert student_prompt(backend.tokenizer, task_set, render_bundle(bundle)) == expected


def test_choice_only_is_the_whole_answers_choice_and_nothing_after_it(
    student_dir: Path, graph_tools: GraphTools, task_set: TaskSet
) -> None:
    """The choice is scored before the rationale: stopping there changes no choice or score."""
    from distill.student import run_student

    bundle = build_evidence_bundle(task_set, graph_tools, literature_source="none")
    runs = {
        choice_only: run_student(
            task_set,
            student_dir=student_dir,
            graph_tools=graph_tools,
            context=student_context(choice_only=choice_only),
            bundle=bundle,
        )
        for choice_only in (False, True)
    }
    whole, choice = runs[False], runs[True]
    assert whole.status == choice.status == "ok", (whole.failure_reason, choice.failure_reason)
    assert choice.choice_id == whole.choice_id and choice.answer and whole.answer
    assert choice.answer.choice == whole.answer.choice
    assert choice.choice_scores is not None and whole.choice_scores is not None
    assert choice.choice_scores.loglik == pytest.approx(whole.choice_scores.loglik, abs=1e-4)
    assert whole.tokens.output_tokens > 0 and choice.tokens.output_tokens == 0
    assert str(choice.messages[-1]["data"]["content"]).count("\n") == 1  # "Choice: NAME\n"
    assert choice.answer.rationale == "" and choice.answer.citations == []
    assert choice.citation_check is not None and choice.citation_check.removed == []


def test_run_set_forces_plan_mode_for_a_student(
    student_dir: Path, graph_tools: GraphTools, task_set: TaskSet, tool_calls: Counter[str]
) -> None:
    from agent.run import run_set

    context = student_context(model=f"student:{student_dir}", mode="agent", rationalize=True)
    run = run_set(task_set, context=context, graph_tools=graph_tools)
    assert run.status == "ok", run.failure_reason
    assert run.mode == "plan" and not run.rationalized and run.tool_calls == []
    assert steps_only(tool_calls) == STEPS_PER_SET
    assert context.mode == "agent", "the caller's context is not changed"


def test_student_graph_is_the_plan_graph_and_served_lazily(
    student_dir: Path,
    graph_tools: GraphTools,
    task_set: TaskSet,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import distill.student
    from distill.student import build_student_graph
    from distill.student import student_context as forced

    compiled = build_student_graph(student_dir)
    nodes = {"__start__", "gather_evidence", "answer", "verify", "__end__"}
    assert set(compiled.get_graph().nodes) == nodes
    assert compiled.name == "KEDRec student"
    served = json.loads((Path(__file__).parents[2] / "langgraph.json").read_text())["graphs"]
    assert served["student"] == "./distill/student.py:graph"
    assert {"teacher", "chat", "plan"} <= set(served)
    # the module's graph is a compiled graph at import; the folder is read at the first answer
    graph = distill.student.graph
    assert set(graph.get_graph().nodes) == nodes and graph.name == "KEDRec student"
    bundle = build_evidence_bundle(task_set, graph_tools, literature_source="none")
    state = {"task_set": task_set, "bundle": bundle}
    context = forced(student_dir, student_context())
    monkeypatch.delenv("KEDREC_STUDENT_DIR", raising=False)
    failed = graph.invoke(state, context=context)
    assert failed.get("result") is None
    assert failed["failure_reason"].startswith("ConfigError: KEDREC_STUDENT_DIR is not set")
    monkeypatch.setenv("KEDREC_STUDENT_DIR", str(student_dir))
    answered = graph.invoke(state, context=context)
    assert answered["result"] is not None and answered["citation_check"] is not None
    assert answered["result"].choice_scores is not None


def test_chat_student_answers_recommend_turns_only(  # type: ignore[no-untyped-def]
    student_dir: Path, tmp_path: Path, test_neo4j_env: None, loaded_graph
) -> None:
    from agent.chat import build_chat_graph, chat_model, sqlite_checkpointer
    from tests.support.terminal import run_chat

    context = AgentContext(model=f"student:{student_dir}")
    with pytest.raises(ConfigError, match="tool-calling") as caught:
        chat_model(context)  # the tool loop (and langgraph dev's chat graph) refuses it
    assert "\n" not in str(caught.value) and "/recommend" in str(caught.value)

    def no_tool_loop(ctx: AgentContext) -> Any:
        raise AssertionError("a student never enters the chat's tool loop")

    saver = sqlite_checkpointer(tmp_path / "threads.sqlite")
    compiled = build_chat_graph(
        tools_factory=lambda ctx: [], model_factory=no_tool_loop, checkpointer=saver
    )
    out = run_chat(
        compiled,
        saver,
        context=context,
        thread_id="t-student",
        lines=[
            "What is metformin?",
            "/recommend type 2 diabetes mellitus | metformin | Galantamine",
        ],
    )
    assert "A student answers /recommend DISEASE | DRUG A | DRUG B only" in out
    assert "error" not in out.lower(), out
    messages = compiled.get_state({"configurable": {"thread_id": "t-student"}}).values["messages"]
    assert [m.type for m in messages] == ["human", "ai"], "the free question was not asked"
    answer = str(messages[1].content)
    first = answer.splitlines()[0]
    assert first.startswith(("Metformin (Compound::DB00331)", "Galantamine (Compound::DB00674)"))
    assert "for type 2 diabetes mellitus (Disease::DOID:9352), confidence" in first
    assert "Rationale:" in answer and "Verified citations:" in answer
    saver.conn.close()


# -- batch prediction and recommend -------------------------------------------------------------


@pytest.fixture()
def test_neo4j_env(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point get_settings() (and so the commands) at the test instance; short answers."""
    monkeypatch.setenv("NEO4J_URI", settings.neo4j.uri)
    monkeypatch.setenv("KEDREC_AGENT_MAX_TOKENS", "48")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_predict_command_writes_resumable_records(
    student_dir: Path, task_set: TaskSet, tmp_path: Path, test_neo4j_env: None, loaded_graph: Any
) -> None:
    from distill.predict_cli import predict_command

    sets = tmp_path / "sets.jsonl"
    other = task_set.model_copy(update={"set_id": "test-t2d-second"})
    write_task_sets([task_set, other], sets)
    out = tmp_path / "predictions.jsonl"
    app = typer.Typer()
    app.command("predict")(predict_command)
    app.command("noop")(lambda: None)  # a group, so "predict" is a sub-command
    args = ["predict", "--model", f"student:{student_dir}", "--sets", str(sets), "--out", str(out)]
    args += ["--limit", "1", "--literature-source", "none"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (line,) = out.read_text().splitlines()
    record = json.loads(line)
    assert record["set_id"] == task_set.set_id and record["status"] == "ok"
    assert record["mode"] == "plan" and record["model"] == f"student:{student_dir}"
    assert record["context"]["rationalize"] is False
    assert record["evidence"]["hidden_pairs"] == [[METFORMIN, task_set.disease.id]]
    assert record["evidence_text"] in record["messages"][1]["data"]["content"]
    assert record["correct"] in (True, False, None)
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["attempted"] == 1 and report["summary"]["ok"] == 1

    again = CliRunner().invoke(app, [*args[:-4], "--literature-source", "none"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.output.strip().splitlines()[-1])["already_done"] == 1
    assert len(out.read_text().splitlines()) == 2

    bad = CliRunner().invoke(app, ["predict", "--model", "local:smollm2", *args[3:]])
    assert isinstance(bad.exception, ConfigError) and "student:DIR" in str(bad.exception)


def test_recommend_with_a_student_runs_the_plan_graph(
    student_dir: Path, test_neo4j_env: None, loaded_graph: Any
) -> None:
    from agent.cli import recommend_command

    app = typer.Typer()
    app.command("recommend")(recommend_command)
    app.command("noop")(lambda: None)
    args = ["recommend", "--model", f"student:{student_dir}", "--mode", "agent"]
    args += ["--disease", "type 2 diabetes mellitus", "--candidates", "metformin", "carvedilol"]
    result = CliRunner().invoke(app, [*args, "--literature-source", "none", "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.output.strip().splitlines()[-1])
    assert record["mode"] == "plan" and record["status"] == "ok"
    assert record["tool_calls"] == [] and record["steps"] == 1


def test_collect_with_the_student_runner(
    student_dir: Path, graph_tools: GraphTools, task_set: TaskSet, tmp_path: Path
) -> None:
    """The predict command's composition, on injected tools: collect + run_student."""
    from agent.collect import collect
    from distill.student import run_student
    from distill.student import student_context as forced

    sets = tmp_path / "sets.jsonl"
    write_task_sets([task_set], sets)
    out = tmp_path / "out.jsonl"
    report = collect(
        sets,
        out,
        context=forced(student_dir, student_context()),
        run=functools.partial(run_student, student_dir=student_dir),
        progress=False,
        graph_tools=graph_tools,
    )
    assert report.ok == 1, report.failures
    record = json.loads(out.read_text())
    assert record["evidence_text"] in record["messages"][1]["data"]["content"]


def test_a_student_from_the_trainer_loads_and_answers(
    tiny_base: Path,
    trajectory_file: Path,
    sets_dir: Path,
    names: Any,
    graph_tools: GraphTools,
    task_set: TaskSet,
    tmp_path: Path,
) -> None:
    """What `kedrec distill train` writes is what `student:DIR` reads (adapter and merged)."""
    import torch
    from peft import PeftModel

    from distill.config import StudentConfig
    from distill.predict_cli import version_warnings
    from distill.student import run_student
    from distill.train import train_student

    config = StudentConfig(
        base_model=f"local:{tiny_base}",
        max_steps=1,
        grad_accum=1,
        warmup_steps=0,
        eval_steps=1,
        save_steps=1,
        logging_steps=1,
        max_length=8192,
        threads=2,
        merge=True,
    )
    out = tmp_path / "trained"
    train_student(
        [trajectory_file], out, config, sets_dir=sets_dir, printer=lambda _: None, names=names
    )
    assert version_warnings(out) == []
    merged = load_student_backend(out)
    assert not isinstance(merged.model, PeftModel), "merged/ is preferred"
    shutil.rmtree(out / "merged")
    adapter_only = tmp_path / "adapter-only"
    shutil.copytree(out, adapter_only)
    backend = load_student_backend(adapter_only)
    ids = backend.tokenizer("Metformin lowers glucose.")["input_ids"]
    assert torch.allclose(_logits(backend.model, ids), _logits(merged.model, ids), atol=1e-4), (
        "adapter/ merged in memory == the trainer's merged/"
    )
    run = run_student(
        task_set, student_dir=adapter_only, graph_tools=graph_tools, context=student_context()
    )
    assert run.status == "ok", run.failure_reason
    assert run.mode == "plan" and run.answer is not None
    assert run.answer.choice in {METFORMIN, CARVEDILOL, INSUFFICIENT}
