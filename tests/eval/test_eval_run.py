"""``kedrec eval run`` / ``grid`` on real sets, the real Neo4j slice and a real LanceDB index.

The model predictors answer in plan mode with the scripted chat model (the only fake): the
evidence bundles, masking, citation checks, records and metrics are the real ones.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import functools
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from agent.plan import run_plan
from eval.grid import GridConfig, run_grid, slug
from eval.predictions import read_predictions
from eval.predictors import (
    LiteraturePredictor,
    ModelPredictor,
    RandomPredictor,
    make_predictor,
    treatment_mentions,
)
from eval.report import F1_PLOT, REPORT_FILE, ROUGE_PLOT, write_report
from eval.run import EvalConfig, run_eval
from graph_store.tools import GraphTools
from kedrec.errors import ConfigError
from kedrec.settings import KedrecSettings
from tasks.task_sets import TaskSet, read_task_sets, write_task_sets
from tests.support.scripted_model import ScriptedChatModel, turn

REAL_SETS = Path(__file__).parents[1] / "distill" / "real_sets.jsonl"


def layout(choice: str, rationale: str, *citations: str) -> str:
    return "\n".join(
        [
            f"Choice: {choice}",
            "Mechanism: it acts on genes the disease involves.",
            "Clinical: curated indications are hidden for this set.",
            "Literature: see the passages.",
            "Safety: the usual warnings apply.",
            f"Comparison: {choice} is better supported.",
            f"Rationale: {rationale}",
            "Citations: " + ", ".join(citations),
        ]
    )


class FirstOrLabel:
    """A scripted model per set: the label's name (an oracle) or the first candidate's."""

    def __init__(self, oracle: bool, rationale: str) -> None:
        self.oracle, self.rationale, self.calls = oracle, rationale, 0

    def __call__(self, task_set: TaskSet, **kwargs: Any) -> Any:
        self.calls += 1
        chosen = task_set.answer if self.oracle else task_set.candidates[0]
        reply = layout(chosen.name, self.rationale, chosen.id, task_set.disease.id, "PMID:1")
        model = ScriptedChatModel(script=[turn(content=reply)])
        return run_plan(task_set, model=model, **kwargs)


@pytest.fixture(scope="module")
def five_sets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sets = list(read_task_sets(REAL_SETS))[:5]
    path = tmp_path_factory.mktemp("eval-sets") / "five.jsonl"
    write_task_sets(sets, path)
    return path


def scripted(spec: str, build: Path, graph_tools: GraphTools) -> Any:
    if spec.startswith("teacher:"):
        runner = FirstOrLabel(True, "the evidence links the drug to the disease genes")
        return ModelPredictor(
            spec, "teacher", "scripted-teacher", run=runner, graph_tools=graph_tools
        )
    if spec.startswith("base:"):
        runner = FirstOrLabel(False, "the drug links to the disease genes")
        return ModelPredictor(spec, "base", "scripted-base", run=runner, graph_tools=graph_tools)
    if spec == "literature":
        return LiteraturePredictor(spec, graph_tools=graph_tools)
    return make_predictor(spec, build_dir=build)


def test_model_predictor_writes_predictions_and_a_reproducible_summary(
    graph_tools: GraphTools, five_sets: Path, tmp_path: Path, settings: KedrecSettings
) -> None:
    runner = FirstOrLabel(False, "because")
    predictor = ModelPredictor(
        "base:scripted", "base", "scripted-base", run=runner, graph_tools=graph_tools
    )
    config = EvalConfig(predictor="base:scripted", sets=str(five_sets), source="none")
    summary = run_eval(config, tmp_path, predictor=predictor, references={}, settings=settings)

    sets = list(read_task_sets(five_sets))
    predictions = list(read_predictions(tmp_path / "predictions.jsonl"))
    assert [p.set_id for p in predictions] == [s.set_id for s in sets]
    assert all(p.predicted == 0 for p in predictions)  # always the first candidate
    expected_accuracy = sum(s.label == 0 for s in sets) / len(sets)
    assert summary["metrics"]["accuracy"]["value"] == pytest.approx(expected_accuracy)
    low, high = summary["metrics"]["accuracy"]["ci95"]
    assert low is not None and high is not None and low <= expected_accuracy <= high
    # the invented PMID:1 is removed by the citation check: precision 2 of 3 on every set
    assert summary["metrics"]["citation_precision"]["value"] == pytest.approx(2 / 3)
    # everything needed to reproduce it
    assert summary["config"] == json.loads(json.dumps(asdict(config)))
    provenance = summary["provenance"]
    for key in (
        "git_commit",
        "created_at",
        "graph_version",
        "literature_index",
        "evidence_limits",
        "bundle_version",
        "prompt_version",
        "task_sets_build",
    ):
        assert key in provenance, key
    assert provenance["graph_version"] and "error" not in provenance["graph_version"]
    assert len(summary["sets_sha256"]) == 64 and summary["n_sets"] == 5
    assert summary["predictor"]["collection"] == {"run": 5, "resumed": 0, "failed": 0}
    assert summary["throughput"]["sets_per_second"] > 0

    # resumed: a second run reads the records and runs no set again
    again = run_eval(config, tmp_path, predictor=predictor, references={})
    assert runner.calls == 5 and again["predictor"]["collection"]["resumed"] == 5
    assert again["metrics"]["accuracy"]["value"] == summary["metrics"]["accuracy"]["value"]


def test_masking_is_the_collectors_every_record_hides_the_sets_pairs(
    graph_tools: GraphTools, five_sets: Path, tmp_path: Path
) -> None:
    runner = FirstOrLabel(True, "because")
    predictor = ModelPredictor(
        "teacher:scripted", "teacher", "scripted-teacher", run=runner, graph_tools=graph_tools
    )
    config = EvalConfig(predictor="teacher:scripted", sets=str(five_sets), source="none")
    run_eval(config, tmp_path, predictor=predictor, references={})
    sets = {s.set_id: s for s in read_task_sets(five_sets)}
    for line in (tmp_path / "records.jsonl").read_text().splitlines():
        record = json.loads(line)
        hidden = {tuple(p) for p in record["evidence"]["hidden_pairs"]}
        assert {tuple(p) for p in sets[record["set_id"]].hidden_pairs} <= hidden
        assert record["context"]["rationalize"] is False  # nobody is told the label
        for drug, disease in sets[record["set_id"]].hidden_pairs:
            assert f"{drug} treats {disease}" not in record["evidence_text"]


def test_grid_writes_tables_and_plots_and_reuses_finished_cells(
    graph_tools: GraphTools, five_sets: Path, tmp_path: Path, literature_index: Path
) -> None:
    config = GridConfig(
        predictors=["teacher:scripted", "base:scripted", "literature", "random:3"],
        benchmarks={"five": str(five_sets)},
        sources=["none", "both"],
        bootstrap_resamples=200,
    )
    factory = functools.partial(scripted, graph_tools=graph_tools)
    lines: list[str] = []
    grid = run_grid(
        config, tmp_path, predictor_factory=lambda s, b: factory(s, b), progress=lines.append
    )
    paths = write_report(grid, tmp_path)

    assert len(grid["cells"]) == 8 and all("ran" in line or "reused" in line for line in lines)
    report = (tmp_path / REPORT_FILE).read_text()
    assert "## Table 1: drug selection" in report and "## Table 2: rationale ROUGE" in report
    assert "| teacher:scripted |" in report and "| random:3 † |" in report
    for plot in (F1_PLOT, ROUGE_PLOT):
        assert (tmp_path / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in paths] == [REPORT_FILE, F1_PLOT, ROUGE_PLOT]
    by = {(c["predictor"], c["source"]): c["summary"] for c in grid["cells"]}
    assert by[("teacher:scripted", "both")]["metrics"]["accuracy"]["value"] == 1.0  # oracle
    # ROUGE of the base against the teacher's rationales: both runs are on the same sets
    rouge = by[("base:scripted", "none")]["metrics"]["rouge1"]["value"]
    assert rouge is not None and 0.3 < rouge < 1.0
    assert by[("teacher:scripted", "none")]["metrics"]["rouge1"]["value"] is None
    # random does not read literature: one run (source none) fills both columns
    assert by[("random:3", "both")] == by[("random:3", "none")]
    assert (tmp_path / "five" / "random-3" / "none" / "summary.json").is_file()
    assert not (tmp_path / "five" / "random-3" / "both").exists()
    # the literature heuristic abstains without literature and reads it with it
    assert by[("literature", "none")]["metrics"]["abstention_rate"]["value"] == 1.0

    lines.clear()
    again = run_grid(
        config, tmp_path, predictor_factory=lambda s, b: factory(s, b), progress=lines.append
    )
    assert all("reused" in line for line in lines) and len(again["cells"]) == 8


def test_base_and_teacher_of_one_model_share_one_run(
    graph_tools: GraphTools, five_sets: Path, tmp_path: Path
) -> None:
    # base:X and teacher:X are one plan-mode answer by X: the grid generates once
    runner = FirstOrLabel(False, "the drug links to the disease genes")

    def factory(spec: str, build: Path) -> Any:
        kind = spec.partition(":")[0]
        return ModelPredictor(spec, kind, "same-model", run=runner, graph_tools=graph_tools)

    config = GridConfig(
        predictors=["base:same", "teacher:same", "agent:same"],
        benchmarks={"five": str(five_sets)},
        sources=["none"],
        bootstrap_resamples=50,
        compare=[("agent:same", "base:same")],
    )
    lines: list[str] = []
    grid = run_grid(config, tmp_path, predictor_factory=factory, progress=lines.append)
    # teacher first (the ROUGE reference), base from its records; agent mode is another run
    assert runner.calls == 10, "teacher and agent generate; the base reuses the teacher's"
    by = {c["predictor"]: c for c in grid["cells"]}
    assert by["base:same"]["same_records_as"] == "teacher:same"
    assert by["teacher:same"]["same_records_as"] is None
    assert by["agent:same"]["same_records_as"] is None
    base, teacher = (by[p]["summary"] for p in ("base:same", "teacher:same"))
    assert base["metrics"]["accuracy"] == teacher["metrics"]["accuracy"]
    assert base["predictor"]["collection"] == {"run": 0, "resumed": 5, "failed": 0}
    assert base["metrics"]["rouge1"]["value"] == pytest.approx(1.0), "its own ROUGE vs teacher"
    assert "records of teacher:same" in " ".join(lines)
    write_report(grid, tmp_path)
    report = (tmp_path / REPORT_FILE).read_text()
    assert (
        "| base:same ‡ |" in report
        and "‡ base:same: the same plan-mode run as teacher:same" in (report)
    )


def test_treatment_mentions_need_the_disease_and_a_treatment_word_in_one_sentence() -> None:
    passages = [
        "Metformin is first-line therapy for type 2 diabetes mellitus.",
        "Type 2 diabetes mellitus is common. Metformin is cheap.",  # no treatment word
        "We treated patients with asthma.",  # another disease
        "In a randomized trial in TYPE 2 DIABETES MELLITUS, HbA1c fell.",
    ]
    assert treatment_mentions(passages, ["type 2 diabetes mellitus"]) == 2
    assert treatment_mentions(passages, ["T2"]) == 0  # too short a name never matches


def test_random_is_seeded_per_set_and_specs_fail_in_one_line(tmp_path: Path) -> None:
    sets = list(read_task_sets(REAL_SETS))
    a = RandomPredictor("random:1", 1).predict(sets, source="none", out_dir=tmp_path, references={})
    b = RandomPredictor("random:1", 1).predict(sets, source="both", out_dir=tmp_path, references={})
    assert [p.predicted for p in a.predictions] == [p.predicted for p in b.predictions]
    for bad in ("oracle", "random:x", "gnn:other", "student:"):
        with pytest.raises(ConfigError) as error:
            make_predictor(bad, build_dir=tmp_path)
        assert "\n" not in str(error.value)
    assert (
        slug("student:/tmp/runs/s1") == "student-s1"
        and slug("base:local:smollm2") == "base-local-smollm2"
    )


def test_a_subset_of_sets_reads_the_build_it_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kedrec.settings import get_settings
    from tasks.build import build_folder_of

    build, subset = tmp_path / "build", tmp_path / "picked"
    build.mkdir(), subset.mkdir()
    (build / "manifest.json").write_text("{}\n")
    other = tmp_path / "other-build"
    other.mkdir()
    (other / "manifest.json").write_text("{}\n")
    monkeypatch.setenv("KEDREC_TASKS_SETS_DIR", str(build))
    get_settings.cache_clear()
    try:
        # a build's own files: each keeps its folder
        assert build_folder_of(build / "test.jsonl") == build
        assert build_folder_of(other / "val.jsonl") == other
        # picked sets (kedrec demo's test.jsonl) are no build: the settings' build
        assert build_folder_of(subset / "test.jsonl") == build
    finally:
        get_settings.cache_clear()


def test_choice_only_scores_selection_alone_from_any_record(
    graph_tools: GraphTools, five_sets: Path, tmp_path: Path, settings: KedrecSettings
) -> None:
    """``--choice-only`` keeps the choices (here resumed from whole answers) and leaves the
    rationale and citation metrics empty rather than scoring absent text as zero.
    """
    runner = FirstOrLabel(False, "because the drug links to the disease genes")
    predictor = ModelPredictor(
        "base:local:tiny", "base", "local:tiny", run=runner, graph_tools=graph_tools
    )
    full_config = EvalConfig(predictor="base:local:tiny", sets=str(five_sets), source="none")
    references = {
        s.set_id: "the drug links to the disease genes" for s in read_task_sets(five_sets)
    }
    full = run_eval(
        full_config, tmp_path, predictor=predictor, references=references, settings=settings
    )
    assert full["metrics"]["rouge1"]["value"] is not None
    assert full["metrics"]["citation_precision"]["value"] is not None

    choice_config = EvalConfig(
        predictor="base:local:tiny", sets=str(five_sets), source="none", choice_only=True
    )
    predictor.choice_only = True
    chosen = run_eval(
        choice_config, tmp_path, predictor=predictor, references=references, settings=settings
    )
    assert runner.calls == 5, "the whole answers' choices are reused"
    assert chosen["config"]["choice_only"] is True
    for metric in ("accuracy", "macro_f1", "abstention_rate"):
        assert chosen["metrics"][metric]["value"] == full["metrics"][metric]["value"], metric
    for metric in ("rouge1", "rougeL", "citation_precision", "citation_support"):
        assert chosen["metrics"][metric]["value"] is None, metric
    assert all(
        not p.rationale and not p.cited_ids
        for p in read_predictions(tmp_path / "predictions.jsonl")
    )
    assert make_predictor("base:local:x", build_dir=tmp_path, choice_only=True).choice_only  # type: ignore[attr-defined]


def test_a_sample_is_seeded_in_file_order_and_refuses_zero(five_sets: Path) -> None:
    from eval.run import load_sets

    every = [s.set_id for s in load_sets(five_sets, None)]
    drawn = [s.set_id for s in load_sets(five_sets, None, sample=3, sample_seed=7)]
    assert drawn == [s.set_id for s in load_sets(five_sets, None, sample=3, sample_seed=7)]
    assert len(drawn) == 3 and drawn == [i for i in every if i in drawn], "file order"
    others = {tuple(s.set_id for s in load_sets(five_sets, None, 3, seed)) for seed in range(8)}
    assert len(others) > 1, "the seed changes the draw"
    assert [s.set_id for s in load_sets(five_sets, 4, sample=9)] == every[:4]
    with pytest.raises(ConfigError, match="--sample"):
        load_sets(five_sets, None, sample=0)
