"""``kedrec demo``: the steps in order, the commands they run, resume, one-line failures.

The steps' commands have their own tests; here a recording runner stands in for the child
processes, over the real test Neo4j (the graph step must see the slice already loaded) and a
build folder of real task sets.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from kedrec.errors import ConfigError
from kedrec.settings import KedrecSettings
from kedrec_cli.demo import Demo, DemoConfig, first_per_disease
from tasks.task_sets import read_task_sets, write_task_sets

REAL_SETS = Path(__file__).parent / "distill" / "real_sets.jsonl"


class Recorder:
    """Records each ``kedrec`` argument list (and the answer-length setting it ran with)."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.max_tokens: list[str | None] = []
        self.fail_on = fail_on

    def __call__(self, args: Sequence[str]) -> int:
        self.calls.append(list(args))
        self.max_tokens.append(os.environ.get("KEDREC_AGENT_MAX_TOKENS"))
        return 3 if self.fail_on and args[0] == self.fail_on else 0


@pytest.fixture()
def demo_settings(settings: KedrecSettings, loaded_graph: object, tmp_path: Path) -> KedrecSettings:
    """Test settings whose task-set build is a folder of real sets, split by their split."""
    build = tmp_path / "task_sets"
    build.mkdir()
    sets = list(read_task_sets(REAL_SETS))
    for split in ("train", "val", "test"):
        write_task_sets([s for s in sets if s.split == split], build / f"{split}.jsonl")
    (build / "manifest.json").write_text("{}\n")
    tasks = settings.tasks.model_copy(update={"sets_dir": build})
    return settings.model_copy(update={"tasks": tasks})


def config() -> DemoConfig:
    return DemoConfig(train_sets=3, val_sets=1, test_sets=1, sources=["none", "both"], resamples=50)


def test_demo_runs_each_step_once_in_order_and_resumes(
    demo_settings: KedrecSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KEDREC_AGENT_MAX_TOKENS", raising=False)
    out = tmp_path / "demo"
    runner = Recorder()
    report = Demo(config(), out, demo_settings, runner).run()
    assert report == out / "grid" / "report.md"
    commands = [call[:2] for call in runner.calls]
    # the slice is loaded and the sets are built: those steps run no command
    assert commands == [
        ["neo4j", "start"],
        ["lit", "ingest"],
        ["teacher", "collect"],
        ["distill", "train"],
        ["eval", "grid"],
    ]
    assert set(runner.max_tokens) == {"192"}, "every step answers with the demo's length"

    teacher = list(read_task_sets(out / "sets" / "teacher.jsonl"))
    assert [s.split for s in teacher] == ["train"] * 3 + ["val"]
    assert len({s.disease.id for s in teacher if s.split == "train"}) == 3, "one set per disease"
    test = list(read_task_sets(out / "sets" / "test.jsonl"))
    assert [s.split for s in test] == ["test"]
    focus = (out / "focus_drugs.txt").read_text().split()
    assert focus == sorted({c.id for s in [*teacher, *test] for c in s.candidates})

    collect, train, grid = runner.calls[2], runner.calls[3], runner.calls[4]
    assert collect[collect.index("--sets") + 1] == str(out / "sets" / "teacher.jsonl")
    assert train.count("--trajectories") == 1, "no selection-only sets by default"
    assert "--rationalize" in collect and "--retry-failed" in collect
    assert train[train.index("--trajectories") + 1] == collect[collect.index("--out") + 1]
    assert "--resume" in train
    predictors = [grid[i + 1] for i, arg in enumerate(grid) if arg == "--predictor"]
    assert predictors == [
        f"student:{out / 'student'}",
        "base:local:smollm2",
        "teacher:local:smollm2",
        "gnn",
        "literature",
        "random",
    ]
    assert [grid[i + 1] for i, arg in enumerate(grid) if arg == "--source"] == ["none", "both"]
    # the picked test sets are no build: the gnn row reads the settings' one
    assert grid[grid.index("--build") + 1] == str(demo_settings.task_sets_dir)

    state = json.loads((out / "demo.json").read_text())
    assert list(state["done"]) == [
        "neo4j", "graph", "sets", "pick", "literature", "teacher", "student", "grid"
    ]  # fmt: skip

    # a second run starts Neo4j (it may have stopped) and skips every finished step
    again = Recorder()
    Demo(config(), out, demo_settings, again).run()
    assert again.calls == [["neo4j", "start"]]


def test_selection_sets_are_further_train_diseases_recorded_choice_only(
    demo_settings: KedrecSettings, tmp_path: Path
) -> None:
    out = tmp_path / "demo"
    sized = DemoConfig(
        train_sets=2,
        val_sets=0,
        selection_sets=5,
        test_sets=1,
        resamples=50,
        model="openai:gpt-4o-mini",
    )
    runner = Recorder()
    Demo(sized, out, demo_settings, runner).run()
    teacher = list(read_task_sets(out / "sets" / "teacher.jsonl"))
    selection = list(read_task_sets(out / "sets" / "selection.jsonl"))
    assert len(teacher) == 2 and len(selection) == 2, "the real build has 4 train diseases"
    assert {s.split for s in selection} == {"train"}
    assert not {s.disease.id for s in teacher} & {s.disease.id for s in selection}
    focus = set((out / "focus_drugs.txt").read_text().split())
    assert {c.id for s in selection for c in s.candidates} <= focus
    collects = [call for call in runner.calls if call[:2] == ["teacher", "collect"]]
    assert len(collects) == 2 and "--choice-only" not in collects[0]
    chosen = collects[1]
    assert chosen[chosen.index("--sets") + 1] == str(out / "sets" / "selection.jsonl")
    assert "--choice-only" in chosen and "--rationalize" in chosen
    assert chosen[chosen.index("--model") + 1] == "local:smollm2", "in-process, never called"
    assert collects[0][collects[0].index("--model") + 1] == "openai:gpt-4o-mini"
    train = next(call for call in runner.calls if call[:2] == ["distill", "train"])
    files = [train[i + 1] for i, arg in enumerate(train) if arg == "--trajectories"]
    assert files == [collects[0][collects[0].index("--out") + 1], chosen[chosen.index("--out") + 1]]


def test_a_failing_step_stops_with_one_line_and_keeps_what_finished(
    demo_settings: KedrecSettings, tmp_path: Path
) -> None:
    out = tmp_path / "demo"
    with pytest.raises(ConfigError) as error:
        Demo(config(), out, demo_settings, Recorder(fail_on="distill")).run()
    message = str(error.value)
    assert "\n" not in message and "`kedrec distill train" in message and "exit 3" in message
    done = json.loads((out / "demo.json").read_text())["done"]
    assert "teacher" in done and "student" not in done

    resumed = Recorder()
    Demo(config(), out, demo_settings, resumed).run()
    assert [call[:2] for call in resumed.calls] == [
        ["neo4j", "start"],
        ["distill", "train"],
        ["eval", "grid"],
    ]


def test_a_folder_of_other_sizes_is_refused(demo_settings: KedrecSettings, tmp_path: Path) -> None:
    out = tmp_path / "demo"
    Demo(config(), out, demo_settings, Recorder()).run()
    bigger = config()
    bigger.test_sets = 5
    with pytest.raises(ConfigError, match=r"other sizes.*another --out"):
        Demo(bigger, out, demo_settings, Recorder())


def test_first_per_disease_takes_one_set_per_disease(tmp_path: Path) -> None:
    sets = list(read_task_sets(REAL_SETS))
    doubled = tmp_path / "doubled.jsonl"
    copies = [s.model_copy(update={"set_id": s.set_id + "-b"}) for s in sets]
    write_task_sets([x for pair in zip(sets, copies, strict=True) for x in pair], doubled)
    chosen = first_per_disease(doubled, 3)
    assert [s.set_id for s in chosen] == [s.set_id for s in sets[:3]]
    assert len(first_per_disease(doubled, 0)) == 2 * len(sets)
