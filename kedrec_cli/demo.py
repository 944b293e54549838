"""``kedrec demo``: the whole loop on the embedded default, one resumable step at a time.

Neo4j + the DRKG slice → task sets → the literature the demo's sets need → the plan-mode
teacher on N train (and V val) sets, and the bundles and labels of S further train sets
(selection-only examples) → a short LoRA student → ``eval grid`` on M test sets →
the report. Every step is a ``kedrec`` command run in its own process (its own progress, its
memory returned when it ends), so the demo is exactly what a user would type, and each step
resumes the way that command does. A step that finished is recorded in ``OUT/demo.json`` with
its seconds and skipped on the next run; sizes are flags, so the same command scales up.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kedrec.console import console
from kedrec.errors import ConfigError
from kedrec.settings import KedrecSettings

STATE_FILE = "demo.json"
Runner = Callable[[Sequence[str]], int]
"""Runs one ``kedrec`` argument list and returns its exit status."""


@dataclass
class DemoConfig:
    """How big the demo is; every size is a flag of ``kedrec demo``."""

    train_sets: int = 8
    """Train sets the teacher answers (one per disease; 0: every train set)."""
    val_sets: int = 4
    """Val sets the teacher answers, the student's validation examples (0: none)."""
    selection_sets: int = 0
    """Further train sets (one per further disease) recorded choice-only: their bundle and
    label become selection-only examples of the student, with no model call."""
    test_sets: int = 6
    """Test sets of the grid (0: every test set)."""
    sources: list[str] = field(default_factory=lambda: ["none", "both"])
    """Literature sources of the grid (the evidence ablation needs at least two)."""
    model: str = "local:smollm2"
    """The teacher: local:smollm2, local:<HF folder> or openai:<model>."""
    base: str = "local:smollm2"
    """The student's base model (local:smollm2 or local:<HF LLaMA folder>)."""
    epochs: float = 1.0
    """Student training epochs."""
    resamples: int = 1000
    """Bootstrap resamples of the report's intervals."""
    max_tokens: int = 192
    """Tokens per answer of the teacher, base and student (``KEDREC_AGENT_MAX_TOKENS`` of every
    step): the agent default of 1,024 lets a 135M model ramble for a minute per set."""

    def predictors(self, student_dir: Path) -> list[str]:
        """The grid's rows: the student, its undistilled base, the teacher and the baselines."""
        return [
            f"student:{student_dir}",
            f"base:{self.base}",
            f"teacher:{self.model}",
            "gnn",
            "literature",
            "random",
        ]


def kedrec_command(args: Sequence[str]) -> int:
    """Run ``kedrec ARGS`` in a child process with this interpreter (the installed CLI)."""
    return subprocess.call([sys.executable, "-m", "kedrec_cli.main", *args])


def first_per_disease(path: Path, n: int) -> list[Any]:
    """The first set of each of the first ``n`` diseases of a split file (0: every set)."""
    from tasks.task_sets import read_task_sets

    sets = list(read_task_sets(path))
    if n == 0:
        return sets
    chosen, seen = [], set()
    for task_set in sets:
        if task_set.disease.id not in seen:
            seen.add(task_set.disease.id)
            chosen.append(task_set)
        if len(chosen) == n:
            break
    return chosen


class Demo:
    """The steps of the loop over one output folder; :meth:`run` does the ones not done."""

    def __init__(
        self,
        config: DemoConfig,
        out_dir: Path,
        settings: KedrecSettings,
        runner: Runner = kedrec_command,
    ) -> None:
        self.config, self.out, self.settings, self.runner = config, out_dir, settings, runner
        self.state_path = out_dir / STATE_FILE
        self.state: dict[str, Any] = (
            json.loads(self.state_path.read_text()) if self.state_path.is_file() else {}
        )
        if self.state.get("config", asdict(config)) != asdict(config):
            raise ConfigError(
                f"{out_dir} holds a demo of other sizes ({self.state['config']}): "
                "pass the same flags, or another --out"
            )

    # -- paths -----------------------------------------------------------------------------------
    @property
    def sets_dir(self) -> Path:
        """The task-set build the demo reads (the settings' one)."""
        return self.settings.task_sets_dir

    @property
    def student_dir(self) -> Path:
        """The demo's student folder."""
        return self.out / "student"

    @property
    def grid_dir(self) -> Path:
        """The grid's folder (report.md and the plots)."""
        return self.out / "grid"

    # -- steps -----------------------------------------------------------------------------------
    def steps(self) -> list[tuple[str, str, Callable[[], None]]]:
        """(name, what it does, action) in order."""
        return [
            ("neo4j", "start the local Neo4j 5.26 (built from Maven Central)", self._neo4j),
            ("graph", "bulk-load the real DRKG slice (skipped if loaded)", self._graph),
            ("sets", "build leakage-free task sets (skipped if built)", self._sets),
            ("pick", "choose the demo's train, val and test sets", self._pick),
            ("literature", "index the documents naming the demo's drugs", self._literature),
            ("teacher", "plan-mode teacher on the train and val sets", self._teacher),
            ("student", "LoRA student on the teacher's trajectories", self._student),
            ("grid", "eval grid on the test sets: Tables 1-2, plots", self._grid),
        ]

    def run(self) -> Path:
        """Run every step not yet done; return the report's path."""
        self.out.mkdir(parents=True, exist_ok=True)
        os.environ["KEDREC_AGENT_MAX_TOKENS"] = str(self.config.max_tokens)  # the steps inherit it
        self.state.setdefault("config", asdict(self.config))
        done: dict[str, float] = self.state.setdefault("done", {})
        steps = self.steps()
        started = time.perf_counter()
        for number, (name, what, action) in enumerate(steps, 1):
            header = f"[bold][{number}/{len(steps)}] {name}[/bold]: {what}"
            if name in done and name != "neo4j":
                console.print(f"{header} — done before ({done[name]:.0f} s), skipped")
                continue
            console.print(header)
            step_started = time.perf_counter()
            action()
            done[name] = round(time.perf_counter() - step_started, 1)
            self._save()
            console.print(f"[green]✓[/green] {name} in {done[name]:.0f} s")
        self.state["last_run_seconds"] = round(time.perf_counter() - started, 1)
        self._save()
        return self.grid_dir / "report.md"

    def _save(self) -> None:
        self.state_path.write_text(json.dumps(self.state, indent=2) + "\n")

    def _kedrec(self, *args: str) -> None:
        status = self.runner(args)
        if status != 0:
            raise ConfigError(
                f"`kedrec {' '.join(args)}` failed (exit {status}); fix what it printed and "
                "run `kedrec demo` again with the same flags: finished steps are kept"
            )

    def _neo4j(self) -> None:
        self._kedrec("neo4j", "start")

    def _graph(self) -> None:
        from graph_store.connection import open_driver
        from graph_store.graph_meta import read_graph_meta
        from graph_store.load_plan import resolve_inputs

        driver = open_driver(self.settings.neo4j)
        try:
            meta = read_graph_meta(driver, self.settings.neo4j.database)
        finally:
            driver.close()
        wanted = sorted(p.name for p in resolve_inputs([], self.settings.kg_slice_dir))
        if meta and sorted(meta.get("files", [])) == wanted:
            console.print(f"graph loaded {meta.get('loaded_at')} from {', '.join(wanted)}")
            return
        self._kedrec("graph", "load")

    def _sets(self) -> None:
        if (self.sets_dir / "manifest.json").is_file():
            console.print(f"task sets already built in {self.sets_dir}")
            return
        self._kedrec("sets", "build")

    def _pick(self) -> None:
        from tasks.task_sets import write_task_sets

        folder = self.out / "sets"
        folder.mkdir(exist_ok=True)
        train, wanted = self.sets_dir / "train.jsonl", self.config.train_sets
        teacher = first_per_disease(train, wanted)
        selection = []
        if self.config.selection_sets and wanted:  # train_sets 0 already takes every set
            selection = first_per_disease(train, wanted + self.config.selection_sets)[wanted:]
        if self.config.val_sets:
            teacher += first_per_disease(self.sets_dir / "val.jsonl", self.config.val_sets)
        test = first_per_disease(self.sets_dir / "test.jsonl", self.config.test_sets)
        write_task_sets(teacher, folder / "teacher.jsonl")
        write_task_sets(selection, folder / "selection.jsonl")
        write_task_sets(test, folder / "test.jsonl")
        drugs = sorted({c.id for s in [*teacher, *selection, *test] for c in s.candidates})
        (self.out / "focus_drugs.txt").write_text("\n".join(drugs) + "\n")
        console.print(
            f"{len(teacher)} teacher sets ({self.config.val_sets} val), {len(selection)} "
            f"selection-only sets, {len(test)} test sets, {len(drugs)} drugs"
        )

    def _literature(self) -> None:
        """Documents naming the demo's drugs; with the full index present nothing is added."""
        focus = self.out / "focus_drugs.txt"
        self.state["focus_sha256"] = hashlib.sha256(focus.read_bytes()).hexdigest()
        self._kedrec("lit", "ingest", "--focus-drugs", f"@{focus}")

    def _teacher(self) -> None:
        self._collect("teacher", "trajectories", self.config.model, "--retry-failed")
        if self._has_selection_sets():
            # told the label and stopped after it: the model is never called, so the local
            # base serves (choice-only needs an in-process model, whatever the teacher is)
            self._collect("selection", "selection_trajectories", self.config.base, "--choice-only")

    def _collect(self, sets: str, records: str, model: str, *extra: str) -> None:
        self._kedrec(
            "teacher", "collect",
            "--sets", str(self.out / "sets" / f"{sets}.jsonl"),
            "--out", str(self.out / f"{records}.jsonl"),
            "--model", model,
            "--rationalize",
            *extra,
        )  # fmt: skip

    def _has_selection_sets(self) -> bool:
        path = self.out / "sets" / "selection.jsonl"
        return path.is_file() and path.stat().st_size > 0

    def _student(self) -> None:
        selection = ["--trajectories", str(self.out / "selection_trajectories.jsonl")]
        self._kedrec(
            "distill", "train",
            "--trajectories", str(self.out / "trajectories.jsonl"),
            *(selection if self._has_selection_sets() else []),
            "--out", str(self.student_dir),
            "--base", self.config.base,
            "--epochs", str(self.config.epochs),
            "--resume",
        )  # fmt: skip

    def _grid(self) -> None:
        args = ["eval", "grid", "--sets", f"test={self.out / 'sets' / 'test.jsonl'}"]
        for predictor in self.config.predictors(self.student_dir):
            args += ["--predictor", predictor]
        for source in self.config.sources:
            args += ["--source", source]
        args += ["--out", str(self.grid_dir), "--resamples", str(self.config.resamples)]
        args += ["--build", str(self.sets_dir)]  # the gnn row's embeddings
        self._kedrec(*args)
