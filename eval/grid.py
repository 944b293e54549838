"""``kedrec eval grid``: predictors × literature sources × benchmarks, then one report.

Each cell is one :func:`eval.run.run_eval` in ``OUT/<benchmark>/<predictor>/<source>/``. A cell
whose ``summary.json`` was written for the same config is reused, and model predictors resume
their records, so an interrupted grid continues where it stopped. A predictor that does not
read literature (``gnn``, ``random``) runs once per benchmark (source ``none``) and fills every
source column. Rationale references (ROUGE) come from ``--reference`` or, without it, from the
grid's teacher at the same benchmark and source, which runs first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eval.predictions import read_predictions, reference_rationales
from eval.predictors import RECORDS_FILE, Predictor, make_predictor
from eval.run import PREDICTIONS_FILE, SOURCES, SUMMARY_FILE, EvalConfig, run_eval
from kedrec.settings import LiteratureSource
from tasks.build import build_folder_of

GRID_FILE = "grid.json"


def slug(text: str) -> str:
    """A folder name for a predictor spec or benchmark (``student:/x/y`` → ``student-y``)."""
    kind, _, rest = text.partition(":")
    tail = Path(rest).name if "/" in rest else rest
    name = f"{kind}-{tail}" if tail else kind
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "x"


@dataclass
class GridConfig:
    """The grid: which predictors on which benchmarks with which sources."""

    predictors: list[str]
    benchmarks: dict[str, str]
    """Benchmark name → task-set file."""
    sources: list[LiteratureSource] = field(default_factory=lambda: list(SOURCES))
    limit: int | None = None
    reference: str | None = None
    bootstrap_resamples: int = 1000
    compare: list[tuple[str, str]] = field(default_factory=list)
    """Predictor pairs for the paired McNemar test (default: student vs each other one)."""
    choice_only: bool = False
    """Model predictors stop after the choice: Table 1 only (no rationales, no ROUGE)."""
    sample: int | None = None
    """A seeded random subset of this many sets of each benchmark (see ``EvalConfig``)."""
    sample_seed: int = 0


def _cell_done(out_dir: Path, config: EvalConfig) -> dict[str, Any] | None:
    """The cell's summary when it was written for this very config, else None."""
    path = out_dir / SUMMARY_FILE
    if not path.is_file() or not (out_dir / PREDICTIONS_FILE).is_file():
        return None
    summary = json.loads(path.read_text())
    return summary if summary.get("config") == asdict(config) else None


def run_grid(
    config: GridConfig,
    out_dir: Path,
    *,
    predictor_factory: Callable[[str, Path], Predictor] | None = None,
    build_dir: Path | None = None,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run every cell (reusing finished ones) and write ``grid.json``; return it.

    Args:
        config: The grid.
        out_dir: The grid's folder.
        predictor_factory: ``(spec, build_dir) -> Predictor`` (tests inject scripted ones).
        build_dir: The task sets' build folder (GNN); default
            :func:`tasks.build.build_folder_of` each benchmark file.
        progress: Where a line per cell goes.
    """
    factory = predictor_factory or (
        lambda spec, build: make_predictor(spec, build_dir=build, choice_only=config.choice_only)
    )
    teacher = next((p for p in config.predictors if p.startswith("teacher:")), None)
    ordered = ([teacher] if teacher else []) + [p for p in config.predictors if p != teacher]
    fixed_references = reference_rationales(Path(config.reference)) if config.reference else None
    cells: list[dict[str, Any]] = []
    runs: dict[tuple[Any, ...], tuple[str, Path]] = {}  # same run key → the first cell
    total = len(config.benchmarks) * len(ordered) * len(config.sources)
    done = 0
    for benchmark, sets_file in config.benchmarks.items():
        build = build_dir or build_folder_of(Path(sets_file))
        predictors = {spec: factory(spec, build) for spec in ordered}
        for spec in ordered:
            predictor = predictors[spec]
            for source in config.sources:
                done += 1
                run_source: LiteratureSource = source if predictor.uses_literature else "none"
                cell_dir = out_dir / slug(benchmark) / slug(spec) / run_source
                references = fixed_references
                if references is None:
                    references = {}
                    if teacher and spec != teacher:
                        teacher_file = out_dir / slug(benchmark) / slug(teacher) / source
                        if (teacher_file / PREDICTIONS_FILE).is_file():
                            references = {
                                p.set_id: p.rationale
                                for p in read_predictions(teacher_file / PREDICTIONS_FILE)
                                if p.answered and p.rationale
                            }
                eval_config = EvalConfig(
                    predictor=spec,
                    sets=str(sets_file),
                    source=run_source,
                    limit=config.limit,
                    bootstrap_resamples=config.bootstrap_resamples,
                    choice_only=config.choice_only,
                    sample=config.sample,
                    sample_seed=config.sample_seed,
                    reference=config.reference
                    or (f"grid teacher {teacher}" if teacher and spec != teacher else None),
                )
                summary = _cell_done(cell_dir, eval_config)
                state = "reused"
                twin = _share_records(predictor, (benchmark, run_source), runs, cell_dir)
                if summary is None:
                    summary = run_eval(
                        eval_config, cell_dir, predictor=predictor, references=references
                    )
                    state = "ran" if twin is None else f"records of {twin}"
                f1 = summary["metrics"]["macro_f1"]["value"]
                progress(
                    f"[{done}/{total}] {benchmark} {spec} {source}: {state}, "
                    f"macro F1 {f1 if f1 is None else round(f1, 3)}"
                )
                cells.append(
                    {
                        "benchmark": benchmark,
                        "predictor": spec,
                        "source": source,
                        "run_source": run_source,
                        "dir": str(cell_dir),
                        "summary": summary,
                        "same_records_as": twin,
                    }
                )
    grid = {
        "config": asdict(config),
        "cells": cells,
        "comparisons": comparisons(cells, config.compare or default_pairs(config.predictors)),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / GRID_FILE).write_text(json.dumps(grid, indent=2) + "\n")
    return grid


def _share_records(
    predictor: Predictor,
    where: tuple[str, str],
    runs: dict[tuple[Any, ...], tuple[str, Path]],
    cell_dir: Path,
) -> str | None:
    """Seed a cell with the records of an earlier cell of the same run (see ``run_key``).

    ``base:X`` next to ``teacher:X`` would repeat every generation of the same model on the
    same prompts; the collector resumes from the copied records instead, so the cell's
    metrics are its own (its ROUGE against the teacher included) and its latency is the
    records' own. Returns the spec whose records were used, if any.
    """
    import shutil

    key = getattr(predictor, "run_key", None)
    if key is None:
        return None
    first = runs.setdefault((*where, *key), (predictor.spec, cell_dir))
    if first[1] == cell_dir:
        return None
    source_records, records = first[1] / RECORDS_FILE, cell_dir / RECORDS_FILE
    if source_records.is_file() and not records.exists():
        cell_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source_records, records)
    return first[0]


def default_pairs(predictors: Sequence[str]) -> list[tuple[str, str]]:
    """The student against every other predictor (none when there is no student)."""
    students = [p for p in predictors if p.startswith("student:")]
    return [(s, p) for s in students for p in predictors if p != s]


def comparisons(
    cells: list[dict[str, Any]], pairs: Sequence[tuple[str, str]]
) -> list[dict[str, Any]]:
    """Paired McNemar tests per benchmark and source between the given predictor pairs."""
    from eval.stats import mcnemar

    by_key = {(c["benchmark"], c["predictor"], c["source"]): c for c in cells}
    results = []
    for benchmark, _, source in sorted({(c["benchmark"], "", c["source"]) for c in cells}):
        for a, b in pairs:
            cell_a, cell_b = by_key.get((benchmark, a, source)), by_key.get((benchmark, b, source))
            if cell_a is None or cell_b is None:
                continue
            test = mcnemar(
                list(read_predictions(Path(cell_a["dir"]) / PREDICTIONS_FILE)),
                list(read_predictions(Path(cell_b["dir"]) / PREDICTIONS_FILE)),
            )
            results.append(
                # predictor names apart from the test's own b and c (the discordant counts)
                {"benchmark": benchmark, "source": source, "predictor_a": a, "predictor_b": b}
                | asdict(test)
            )
    return results
