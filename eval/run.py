"""``kedrec eval run``: one predictor on one task-set file with one literature source.

Writes ``predictions.jsonl`` (one :class:`~eval.metrics.SetPrediction` per set) and
``summary.json``: every registry metric with its 95% bootstrap interval, throughput, and what
is needed to reproduce the numbers (predictor and its model hashes, sets file and digest,
source, seeds, evidence limits and bundle version, prompt version, graph and index versions,
git commit, date). Model predictors also keep their trajectory records (resumable: a run cut
short continues where it stopped).
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from eval.metrics import SetPrediction
from eval.predictions import reference_rationales, write_predictions
from eval.predictors import Predictor, make_predictor
from eval.registry import METRICS
from eval.stats import bootstrap_ci
from kedrec.errors import ConfigError
from kedrec.settings import LiteratureSource
from tasks.build import build_folder_of
from tasks.task_sets import TaskSet, read_task_sets

SUMMARY_FILE = "summary.json"
PREDICTIONS_FILE = "predictions.jsonl"
BOOTSTRAP_RESAMPLES = 1000
SOURCES: tuple[LiteratureSource, ...] = ("none", "ct", "pmc", "both")


@dataclass(frozen=True, slots=True)
class EvalConfig:
    """What one evaluation run was asked to do."""

    predictor: str
    sets: str
    source: LiteratureSource
    limit: int | None = None
    bootstrap_resamples: int = BOOTSTRAP_RESAMPLES
    bootstrap_seed: int = 0
    reference: str | None = None
    choice_only: bool = False
    """Model predictors stop after the choice: selection metrics only."""
    sample: int | None = None
    """A seeded random subset of this many sets (after ``limit``), in file order: an
    unbiased estimate on a benchmark too big to run whole."""
    sample_seed: int = 0


def metric_table(
    predictions: list[SetPrediction], resamples: int, seed: int
) -> dict[str, dict[str, Any]]:
    """Every registry metric: estimate, 95% bootstrap interval, direction, aggregation."""
    table = {}
    for name, metric in METRICS.items():
        interval = bootstrap_ci(predictions, metric, n=resamples, seed=seed)
        table[name] = {
            "value": interval.estimate,
            "ci95": [interval.low, interval.high],
            "direction": metric.direction,
            "aggregation": metric.aggregation,
        }
    return table


def _sha256(path: Path) -> str:
    from kedrec.download import file_digest

    return file_digest(path)


def provenance(sets_path: Path, settings: Any = None) -> dict[str, Any]:
    """Graph and index versions, evidence limits, prompt version, code version and date
    (``settings``: whose Neo4j and index; default the process's).
    """
    from agent.prompts import PROMPT_VERSION
    from agent.trajectory import graph_version, literature_version
    from evidence.bundle import bundle_version
    from evidence.limits import default_limits
    from kedrec.provenance import run_metadata
    from kedrec.settings import get_settings

    settings = settings or get_settings()
    graph: dict[str, Any] | None
    try:
        from graph_store.connection import open_driver

        driver = open_driver(settings.neo4j)
        try:
            graph = graph_version(driver, settings.neo4j.database)
        finally:
            driver.close()
    except Exception as error:  # a baseline needs no graph; say why the version is missing
        graph = {"error": f"{type(error).__name__}: {error}"}
    limits = default_limits()
    manifest = sets_path.parent / "manifest.json"
    build = json.loads(manifest.read_text()) if manifest.is_file() else {}
    return {
        **run_metadata(),
        "graph_version": graph,
        "literature_index": literature_version(settings),
        "evidence_limits": limits.model_dump(mode="json"),
        "bundle_version": bundle_version(limits),
        "prompt_version": PROMPT_VERSION,
        "task_sets_build": {
            "embeddings_version": build.get("embeddings_version"),
            "graph_fingerprint": build.get("graph_fingerprint"),
            "seed": (build.get("sampling") or {}).get("seed"),
            "git_commit": build.get("git_commit"),
        },
    }


def load_sets(
    path: Path, limit: int | None, sample: int | None = None, sample_seed: int = 0
) -> list[TaskSet]:
    """The sets of a file: the first ``limit``, then ``sample`` of them drawn with
    ``sample_seed`` (kept in file order; all when there are no more). No sets is an error
    naming the file.
    """
    sets = list(read_task_sets(path))
    sets = sets[:limit] if limit else sets
    if sample is not None and sample < 1:
        raise ConfigError(f"--sample must be at least 1, not {sample}")
    if sample is not None and sample < len(sets):
        chosen = sorted(random.Random(sample_seed).sample(range(len(sets)), sample))
        sets = [sets[i] for i in chosen]
    if not sets:
        raise ConfigError(f"{path} holds no task sets: build them with `kedrec sets build`")
    return sets


def run_eval(
    config: EvalConfig,
    out_dir: Path,
    *,
    predictor: Predictor | None = None,
    build_dir: Path | None = None,
    references: dict[str, str] | None = None,
    settings: Any = None,
) -> dict[str, Any]:
    """Score a predictor on a task-set file; write predictions and the summary.

    Args:
        config: Predictor spec, sets file, source, limit, bootstrap settings, reference file.
        out_dir: Output folder (``predictions.jsonl``, ``summary.json``, the records).
        predictor: A ready predictor (tests inject scripted ones); default from the spec.
        build_dir: The task sets' build folder (GNN embeddings); default
            :func:`tasks.build.build_folder_of` the sets file.
        references: Reference rationales by set ID; default: read from ``config.reference``.
        settings: Whose Neo4j and index the provenance records; default the process's.

    Returns:
        The summary (also written to ``out_dir/summary.json``).
    """
    sets_path = Path(config.sets)
    if config.source not in SOURCES:
        raise ConfigError(f"--source must be one of {', '.join(SOURCES)}, not {config.source!r}")
    sets = load_sets(sets_path, config.limit, config.sample, config.sample_seed)
    predictor = predictor or make_predictor(
        config.predictor,
        build_dir=build_dir or build_folder_of(sets_path),
        choice_only=config.choice_only,
    )
    if references is None:
        references = reference_rationales(Path(config.reference) if config.reference else None)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    result = predictor.predict(sets, source=config.source, out_dir=out_dir, references=references)
    wall = time.perf_counter() - started
    write_predictions(result.predictions, out_dir / PREDICTIONS_FILE)
    n = len(result.predictions)
    summary = {
        "config": asdict(config),
        "sets_sha256": _sha256(sets_path),
        "n_sets": n,
        "labels": {
            "0": sum(p.label == 0 for p in result.predictions),
            "1": sum(p.label == 1 for p in result.predictions),
        },
        "predictor": {
            "spec": predictor.spec,
            "uses_literature": predictor.uses_literature,
            **result.info,
        },
        "throughput": {
            "predict_seconds": round(result.seconds, 3),
            "sets_per_second": round(n / result.seconds, 4) if result.seconds > 0 else None,
            "wall_seconds_this_run": round(wall, 3),
        },
        "metrics": metric_table(
            result.predictions, config.bootstrap_resamples, config.bootstrap_seed
        ),
        "provenance": provenance(sets_path, settings),
    }
    (out_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    return summary
