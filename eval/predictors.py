"""The predictors ``kedrec eval`` scores, behind one protocol, each masked the same way.

A predictor spec names one:

=====================  ==========================================================================
``student:DIR``        the distilled student (``kedrec distill train --out DIR``), student graph
``base:MODEL``         the undistilled base (``local:smollm2``, an HF folder …) in the same graph
``teacher:MODEL``      the plan-mode teacher (fixed evidence steps, one answer)
``agent:MODEL``        the teacher in agent mode (the ReAct loop over the tools)
``gnn``                higher KGE treatment score wins: independent embeddings (other seed, same
                       held-out pairs); ``gnn:sampler`` scores with the embeddings that chose
                       the hard negatives (adversarial by construction)
``literature``         transparent heuristic: the candidate with more retrieved passages naming
                       the disease in a treatment context
``random[:SEED]``      a seeded coin per set
=====================  ==========================================================================

Model predictors run through the teacher's collector (:func:`agent.collect.collect`): the set's
evidence bundle on tools masked with its hidden pairs, one plan-mode answer (or the agent loop),
the citation check, one resumable JSONL record per set. ``literature`` reads the same masked
bundle. Nobody is told the label (``rationalize`` is off for every predictor).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from eval.metrics import SetPrediction
from eval.predictions import literature_ids, record_prediction
from kedrec.errors import ConfigError
from kedrec.settings import LiteratureSource
from tasks.task_sets import TaskSet

RECORDS_FILE = "records.jsonl"
"""A model predictor's collected records (one per set, resumable) in its output folder."""

MODEL_KINDS = ("student", "base", "teacher", "agent")
"""Predictors that answer with a language model (their records are trajectories)."""

TREATMENT_CONTEXT = re.compile(
    r"\b(treat\w*|therap\w*|efficac\w*|effective\w*|trial\w*|randomi[sz]ed|patients with|"
    r"management of|improv\w*|remission|respon\w*|indicat\w*|prescri\w*|benefit\w*)\b",
    re.IGNORECASE,
)
"""Words that put a passage naming the disease in a treatment context (the heuristic)."""


@dataclass
class PredictorRun:
    """What a predictor produced on a list of sets."""

    predictions: list[SetPrediction]
    seconds: float
    """Time spent predicting (a model predictor: the sum of its records' wall times)."""
    info: dict[str, Any] = field(default_factory=dict)
    """Provenance: model hashes, embeddings version, records file, collection report."""


class Predictor(Protocol):
    """One way of answering task sets."""

    spec: str
    uses_literature: bool
    """False: the literature source does not change its answers (one grid column)."""

    def predict(
        self,
        sets: list[TaskSet],
        *,
        source: LiteratureSource,
        out_dir: Path,
        references: dict[str, str],
    ) -> PredictorRun:
        """Answer ``sets`` with ``source`` literature, writing work files under ``out_dir``."""
        ...


# -- language-model predictors ------------------------------------------------------------------


def model_hashes(model: str) -> dict[str, Any]:
    """What identifies the weights of a model string: the student's record, a file digest."""
    from kedrec.download import file_digest

    provider, _, name = model.partition(":")
    provider = provider.strip().lower()
    if provider == "student":
        from llm.student import read_student_info

        folder = Path(name).expanduser()
        info = read_student_info(folder)
        adapter = sorted((folder / "adapter").glob("*.safetensors"))
        return {
            "base_model": info.get("base_model"),
            "adapter_sha256": {p.name: file_digest(p) for p in adapter},
        }
    if provider == "local" and name.strip().lower() == "smollm2":
        from llm.local_model import smollm2_gguf_path

        gguf = smollm2_gguf_path()
        return {"gguf": gguf.name, "gguf_sha256": file_digest(gguf)}
    if provider == "local" or Path(model).expanduser().is_dir():
        folder = Path(name if provider == "local" else model).expanduser()
        return {
            "folder": str(folder),
            "weights_sha256": {
                p.name: file_digest(p) for p in sorted(folder.glob("*.safetensors"))
            },
        }
    return {"model": model, "note": "served by an API: no weights to hash"}


@dataclass
class ModelPredictor:
    """A student, base or teacher answering through the collector (resumable records)."""

    spec: str
    kind: str
    model: str
    uses_literature: bool = True
    run: Callable[..., Any] | None = None
    """The runner (default ``agent.run.run_set``); tests inject a scripted one."""
    concurrency: int = 1
    graph_tools: Any = None
    """Unmasked graph tools to share (the tests pass their server's); None: from the settings."""
    choice_only: bool = False
    """Stop after the choice (``AgentContext.choice_only``): selection metrics only, the
    rationale, citations and ROUGE of its predictions are left empty."""

    @property
    def run_key(self) -> tuple[str, str]:
        """Predictors with the same key write the same records: ``base:X`` and ``teacher:X``
        are both one plan-mode answer by X (the paper's base and teacher differ only in X).
        """
        mode = self.kind if self.kind in ("agent", "student") else "plan"
        return mode, self.model

    def context(self, source: LiteratureSource) -> Any:
        """The run-time context: the model, the mode, the source; never rationalized."""
        from agent.context import AgentContext

        context = copy.copy(AgentContext())  # fields set after: a flag beats KEDREC_AGENT_*
        context.model = self.model
        context.mode = "agent" if self.kind == "agent" else "plan"
        context.rationalize = False
        context.literature_source = source
        context.choice_only = self.choice_only
        return context

    def predict(
        self,
        sets: list[TaskSet],
        *,
        source: LiteratureSource,
        out_dir: Path,
        references: dict[str, str],
    ) -> PredictorRun:
        """Collect one record per set into ``out_dir/records.jsonl`` (resumed), then score."""
        from agent.collect import collect, latest_records
        from tasks.task_sets import write_task_sets

        if self.kind == "student":
            from distill.predict_cli import version_warnings

            warnings = version_warnings(Path(self.model.partition(":")[2]).expanduser())
        else:
            warnings = []
        out_dir.mkdir(parents=True, exist_ok=True)
        sets_file = out_dir / "sets.jsonl"
        write_task_sets(sets, sets_file)
        records_file = out_dir / RECORDS_FILE
        report = collect(
            sets_file,
            records_file,
            context=self.context(source),
            run=self.run,
            concurrency=self.concurrency,
            retry_failed=True,
            graph_tools=self.graph_tools,
        )
        latest = latest_records(records_file)
        predictions = []
        seconds = 0.0
        for task_set in sets:
            record = latest[task_set.set_id]
            seconds += float(record.get("wall_seconds") or 0.0)
            prediction = record_prediction(record, task_set, references.get(task_set.set_id))
            predictions.append(choice_of(prediction) if self.choice_only else prediction)
        return PredictorRun(
            predictions,
            seconds,
            {
                "records": str(records_file),
                "model": self.model,
                "model_hashes": model_hashes(self.model),
                "warnings": warnings,
                "collection": {
                    "run": report.attempted,
                    "resumed": report.already_done,
                    "failed": report.failed,
                },
                "prompt_version": self.context(source).prompt_version,
            },
        )


def choice_of(prediction: SetPrediction) -> SetPrediction:
    """Only the choice of a prediction: a choice-only evaluation scores selection alone,
    even where a resumed record also holds a rationale and citations.
    """
    return prediction.model_copy(
        update={
            "rationale": "",
            "reference_rationale": None,
            "cited_ids": (),
            "verified_ids": (),
            "cited_passages": None,
        }
    )


# -- baselines ----------------------------------------------------------------------------------


def _sigmoid(x: float) -> float:
    import math

    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, x))))


@dataclass
class GNNPredictor:
    """The paper's GNN baseline: the candidate with the higher KGE treatment score.

    ``independent`` (the default) trains embeddings with another seed on the same held-out
    pairs, so the baseline is not the model whose own top-K chose the negatives.
    """

    spec: str
    build_dir: Path
    independent: bool = True
    uses_literature: bool = False
    _embeddings: Any = None

    def embeddings(self) -> Any:
        """The build's embeddings (or independent ones), loaded or trained once."""
        if self._embeddings is None:
            import json

            from kge.pipeline import KGEConfig, TrainedEmbeddings, embeddings_dir, train_embeddings
            from tasks.build import HELD_OUT_FILE, MANIFEST_FILE, read_pairs

            manifest_path = self.build_dir / MANIFEST_FILE
            if not manifest_path.is_file():
                raise ConfigError(
                    f"{manifest_path} missing: the gnn predictor needs the task sets' build "
                    "folder (`kedrec sets build`): pass --build DIR"
                )
            manifest = json.loads(manifest_path.read_text())
            inputs = [Path(p) for p in manifest["inputs"]]
            held_out = read_pairs(self.build_dir / HELD_OUT_FILE)
            config = KGEConfig.model_validate(manifest["kge"])
            if self.independent:
                config = config.model_copy(update={"seed": config.seed + 1})
                self._embeddings = train_embeddings(inputs, held_out, config)
            else:
                self._embeddings = TrainedEmbeddings.load(embeddings_dir(inputs, held_out, config))
        return self._embeddings

    def predict(
        self,
        sets: list[TaskSet],
        *,
        source: LiteratureSource,
        out_dir: Path,
        references: dict[str, str],
    ) -> PredictorRun:
        """Score both candidates with the treatment relations; unknown entities abstain."""
        from eval.gnn_baseline import treatment_score

        embeddings = self.embeddings()
        started = time.perf_counter()
        predictions = []
        for task_set in sets:
            ids = [c.id for c in task_set.candidates]
            known = embeddings.entity_index
            predicted = confidence = None
            if task_set.disease.id in known and all(c in known for c in ids):
                scores = treatment_score(embeddings, ids, task_set.disease.id)
                predicted = int(scores.argmax())
                confidence = _sigmoid(float(abs(scores[0] - scores[1])))
            predictions.append(
                SetPrediction(
                    set_id=task_set.set_id,
                    label=task_set.label,
                    predicted=predicted,
                    confidence=confidence,
                    reference_rationale=references.get(task_set.set_id),
                )
            )
        return PredictorRun(
            predictions,
            time.perf_counter() - started,
            {
                "embeddings_version": embeddings.version,
                "embeddings": "independent" if self.independent else "sampler's",
            },
        )


def treatment_mentions(passages: Iterable[str], disease_names: Iterable[str]) -> int:
    """How many passages name the disease in a sentence with a treatment word."""
    patterns = [
        re.compile(rf"(?<!\w){re.escape(name.strip())}(?!\w)", re.IGNORECASE)
        for name in disease_names
        if len(name.strip()) >= 3
    ]
    count = 0
    for passage in passages:
        sentences = re.split(r"(?<=[.!?;])\s+", passage)
        if any(
            TREATMENT_CONTEXT.search(s) and any(p.search(s) for p in patterns) for s in sentences
        ):
            count += 1
    return count


@dataclass
class LiteraturePredictor:
    """Transparent heuristic: more passages naming the disease in a treatment context wins.

    It reads the set's literature steps of the same masked evidence bundle the models read;
    a tie (no literature, source ``none``) abstains.
    """

    spec: str
    uses_literature: bool = True
    graph_tools: Any = None
    literature_index: Any = None

    def predict(
        self,
        sets: list[TaskSet],
        *,
        source: LiteratureSource,
        out_dir: Path,
        references: dict[str, str],
    ) -> PredictorRun:
        """Build each set's bundle, count treatment mentions per candidate, pick the larger."""
        from evidence.bundle import build_evidence_bundle

        tools, driver = self.graph_tools, None
        if tools is None:
            from graph_store.connection import open_driver
            from graph_store.tools import GraphTools
            from kedrec.settings import get_settings

            settings = get_settings()
            driver = open_driver(settings.neo4j)
            tools = GraphTools.from_settings(driver, settings.neo4j)
        started = time.perf_counter()
        predictions = []
        try:
            for task_set in sets:
                bundle = build_evidence_bundle(
                    task_set,
                    tools,
                    literature_source=source,
                    literature_index=self.literature_index,
                )
                names = [task_set.disease.name]
                with contextlib.suppress(Exception):  # synonyms help; they are not required
                    names.extend(tools.resolve_one(task_set.disease.id, "Disease").synonyms)
                counts = [0, 0]
                cited: list[str] = []
                for step in bundle.steps:
                    if step.tool != "search_literature" or not step.ok or step.skipped:
                        continue
                    passages = (step.result or {}).get("passages") or []
                    counts[step.candidate or 0] += treatment_mentions(
                        (f"{p.get('title', '')}. {p.get('passage', '')}" for p in passages), names
                    )
                    cited.extend(str(p.get("doc_id")) for p in passages if p.get("doc_id"))
                predicted = None if counts[0] == counts[1] else int(counts[1] > counts[0])
                predictions.append(
                    SetPrediction(
                        set_id=task_set.set_id,
                        label=task_set.label,
                        predicted=predicted,
                        confidence=None
                        if predicted is None
                        else (max(counts) + 1) / (sum(counts) + 2),
                        rationale=f"treatment-context passages: {counts[0]} vs {counts[1]}",
                        reference_rationale=references.get(task_set.set_id),
                        cited_ids=literature_ids(cited),
                        verified_ids=literature_ids(cited),
                    )
                )
        finally:
            if driver is not None:
                driver.close()
        return PredictorRun(predictions, time.perf_counter() - started, {"rule": "treatment"})


@dataclass
class RandomPredictor:
    """A seeded coin per set (the same set and seed always get the same side)."""

    spec: str
    seed: int = 0
    uses_literature: bool = False

    def predict(
        self,
        sets: list[TaskSet],
        *,
        source: LiteratureSource,
        out_dir: Path,
        references: dict[str, str],
    ) -> PredictorRun:
        """Pick a side per set from a hash of (seed, set ID)."""
        started = time.perf_counter()
        predictions = [
            SetPrediction(
                set_id=s.set_id,
                label=s.label,
                predicted=hashlib.sha256(f"{self.seed}|{s.set_id}".encode()).digest()[0] % 2,
                confidence=0.5,
                reference_rationale=references.get(s.set_id),
            )
            for s in sets
        ]
        return PredictorRun(predictions, time.perf_counter() - started, {"seed": self.seed})


def make_predictor(spec: str, *, build_dir: Path, choice_only: bool = False) -> Predictor:
    """The predictor a spec names (see the module docstring); ``choice_only`` stops model
    predictors after the choice (baselines write no rationale anyway).

    Raises:
        ConfigError: An unknown or incomplete spec (the message lists the known ones).
    """
    kind, _, arg = spec.strip().partition(":")
    kind = kind.lower()
    if kind in MODEL_KINDS:
        if kind == "student":
            from distill.student import student_dir_of

            student_dir_of(spec)  # a one-line error when the folder is not named
            return ModelPredictor(spec, kind, spec.strip(), choice_only=choice_only)
        model = arg.strip() or "local:smollm2"
        return ModelPredictor(spec, kind, model, choice_only=choice_only)
    if kind == "gnn":
        if arg not in ("", "independent", "sampler"):
            raise ConfigError(f"predictor {spec!r}: use gnn, gnn:independent or gnn:sampler")
        return GNNPredictor(spec, build_dir, independent=arg != "sampler")
    if kind == "literature":
        return LiteraturePredictor(spec)
    if kind == "random":
        try:
            return RandomPredictor(spec, int(arg or 0))
        except ValueError:
            raise ConfigError(f"predictor {spec!r}: the seed must be an integer") from None
    raise ConfigError(
        f"unknown predictor {spec!r}: use student:DIR, base:MODEL, teacher:MODEL, agent:MODEL, "
        "gnn[:sampler], literature or random[:SEED]"
    )
