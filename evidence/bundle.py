"""The evidence bundle: the fixed evidence steps for a task set, and its text rendering.

The teacher in agent mode explores freely; the plan-mode teacher and the distilled student do
not. They read exactly what this module produces: the observations of
:data:`~evidence.steps.EVIDENCE_STEPS` for the disease and both candidates, on tools masked
with the set's hidden pairs (:func:`~evidence.masking.masked_tools`), rendered by
:func:`render_bundle` into one compact, deterministic text (same graph + same set + same index
→ byte-identical text). :func:`bundle_evidence` says which IDs and edges that text shows, so
an answer written from the bundle can be checked against it.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from pydantic import BaseModel, Field

from evidence import render, steps
from evidence.citations import ShownEvidence
from evidence.limits import EvidenceLimits, default_limits
from evidence.masking import masked_tools
from evidence.observation import EvidenceLine, Observation
from evidence.steps import EVIDENCE_STEPS
from graph_store.tools import GraphTools
from kedrec.settings import LiteratureSource
from tasks.task_sets import TaskSet


def bundle_version(limits: EvidenceLimits) -> str:
    """A hash of the steps, the limits and the rendering code: what the bundle's text is.

    Any change to the step order, a limit, or the code that renders or fits the text gives a
    new version, so every trajectory and student records which bundle it saw.
    """
    digest = hashlib.sha256()
    digest.update(json.dumps(EVIDENCE_STEPS).encode())
    digest.update(json.dumps(limits.model_dump(mode="json"), sort_keys=True).encode())
    digest.update(_code_digest())
    return f"evidence-{digest.hexdigest()[:12]}"


@functools.cache
def _code_digest() -> bytes:
    """The hash of the rendering and step code, read once per process (every bundle needs it)."""
    digest = hashlib.sha256()
    for module in (render, steps, sys.modules[__name__]):
        digest.update(inspect.getsource(module).encode())
    return digest.digest()


class EvidenceStep(BaseModel):
    """One step of the bundle: what was asked, what came back, how long it took."""

    index: int
    tool: str
    arguments: dict[str, Any]
    candidate: int | None = Field(None, description="Candidate position (0/1); None: disease.")
    ok: bool
    skipped: bool = False
    query: str | None = None
    lines: list[EvidenceLine] = Field(default_factory=list)
    result: Any = Field(None, description="The tool's result as JSON (model_dump).")
    error: str | None = None
    latency_ms: float = 0.0


class EvidenceBundle(BaseModel):
    """The evidence for one task set, in :data:`EVIDENCE_STEPS` order."""

    version: str
    set_id: str
    disease: str
    candidates: list[str]
    literature_source: str
    limits: EvidenceLimits
    hidden_pairs: list[tuple[str, str]]
    steps: list[EvidenceStep]

    @property
    def seconds(self) -> float:
        """Total tool time of the bundle."""
        return sum(step.latency_ms for step in self.steps) / 1000


def _run(
    steps_done: list[EvidenceStep],
    tool: str,
    arguments: dict[str, Any],
    candidate: int | None,
    fn: Callable[[], Observation],
) -> Observation | None:
    """Run one step; a failed step is evidence too: recorded with its error, never fatal."""
    started = time.perf_counter()
    try:
        observation = fn()
    except Exception as error:
        steps_done.append(
            EvidenceStep(
                index=len(steps_done),
                tool=tool,
                arguments=arguments,
                candidate=candidate,
                ok=False,
                error=f"{type(error).__name__}: {error}",
                latency_ms=round((time.perf_counter() - started) * 1000, 1),
            )
        )
        return None
    steps_done.append(
        EvidenceStep(
            index=len(steps_done),
            tool=tool,
            arguments=arguments,
            candidate=candidate,
            ok=True,
            query=observation.query,
            lines=observation.lines,
            result=observation.result,
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
        )
    )
    return observation


def build_evidence_bundle(
    task_set: TaskSet,
    graph_tools: GraphTools,
    *,
    literature_source: LiteratureSource = "both",
    limits: EvidenceLimits | None = None,
    literature_index: Any = None,
) -> EvidenceBundle:
    """Run :data:`EVIDENCE_STEPS` for a task set and collect every observation.

    Args:
        task_set: The set (disease and two candidates, by DRKG ID).
        graph_tools: Graph tools; the set's hidden pairs are added to those they hide.
        literature_source: ``ct``, ``pmc``, ``both`` or ``none`` (literature steps skipped).
        limits: Per-step limits; the settings' ``evidence`` limits when None.
        literature_index: A ``LiteratureIndex``; the settings' index when None.

    Returns:
        The bundle; a failing step is recorded with ``ok=False`` and its error.
    """
    limits = limits or default_limits()
    tools = masked_tools(graph_tools, task_set.hidden_pairs)
    disease = task_set.disease.id
    done: list[EvidenceStep] = []
    _run(
        done,
        "disease_profile",
        {"disease": disease},
        None,
        partial(steps.disease_profile, tools, disease, limits),
    )
    for position, candidate in enumerate(task_set.candidates):
        drug = candidate.id
        pair = {"drug": drug, "disease": disease}
        _run(
            done,
            "drug_profile",
            {"drug": drug},
            position,
            partial(steps.drug_profile, tools, drug, limits),
        )
        _run(
            done,
            "direct_edges",
            pair,
            position,
            partial(steps.direct_edges, tools, drug, disease, limits),
        )
        _run(
            done,
            "mechanism_paths",
            pair,
            position,
            partial(steps.mechanism_paths, tools, drug, disease, limits),
        )
        arguments = {"disease": disease, "drug": drug, "source": literature_source}
        if literature_source == "none":
            done.append(
                EvidenceStep(
                    index=len(done),
                    tool="search_literature",
                    arguments=arguments,
                    candidate=position,
                    ok=True,
                    skipped=True,
                )
            )
            continue
        _run(
            done,
            "search_literature",
            arguments,
            position,
            partial(
                steps.search_literature,
                tools,
                disease,
                drug,
                literature_source,
                limits,
                index=literature_index,
            ),
        )
    return EvidenceBundle(
        version=bundle_version(limits),
        set_id=task_set.set_id,
        disease=disease,
        candidates=[c.id for c in task_set.candidates],
        literature_source=literature_source,
        limits=limits,
        hidden_pairs=sorted(tools.hidden.pairs),
        steps=done,
    )


# -- rendering --------------------------------------------------------------------------------


def _fit(lines: list[EvidenceLine], budget: int) -> list[EvidenceLine]:
    """Keep whole lines in order until the budget is spent; say how many were cut."""
    kept: list[EvidenceLine] = []
    used = 0
    for position, line in enumerate(lines):
        if kept and used + len(line.text) + 1 > budget:
            kept.append(EvidenceLine(text=f"… {len(lines) - position} more lines cut"))
            break
        kept.append(line)
        used += len(line.text) + 1
    return kept


def _shares(needs: list[int], total: int) -> list[int]:
    """Split ``total`` between sections: small ones get what they need, the rest share
    what is left equally (water-filling; deterministic).
    """
    shares = [0] * len(needs)
    left = total
    pending = sorted(range(len(needs)), key=lambda i: (needs[i], i))
    while pending:
        fair = left // len(pending)
        i = pending.pop(0)
        shares[i] = min(needs[i], fair)
        left -= shares[i]
    return shares


def _title(step: EvidenceStep) -> str:
    args = ", ".join(
        str(v) for k, v in step.arguments.items() if k in {"disease", "drug", "source"}
    )
    who = "disease" if step.candidate is None else f"candidate {step.candidate + 1}"
    return f"## {step.index + 1}. {step.tool}({args}) — {who}"


def _body(step: EvidenceStep) -> list[EvidenceLine]:
    if step.skipped:
        return [EvidenceLine(text="skipped (literature source: none)")]
    if not step.ok:
        return [EvidenceLine(text=render.clip(f"error: {step.error}", render.LINE_CHARS))]
    return step.lines or [EvidenceLine(text="none")]


def _render_lines(bundle: EvidenceBundle, max_chars: int) -> list[list[EvidenceLine]]:
    """The bundle's sections as lines: a header, then per step its title and fitted body.

    ``max_chars`` is split between the steps (short sections take what they need, long ones
    share the rest); within its share a section keeps whole lines in order, then a
    "… N more lines cut" marker. Every section keeps its title and first line.
    """
    header = [
        EvidenceLine(text=f"# Evidence {bundle.version} for set {bundle.set_id}"),
        EvidenceLine(
            text=f"disease: {bundle.disease}; candidates: "
            + ", ".join(f"{i + 1}. {c}" for i, c in enumerate(bundle.candidates))
        ),
        EvidenceLine(
            text=f"literature source: {bundle.literature_source}; hidden label pairs: "
            f"{len(bundle.hidden_pairs)}"
        ),
    ]
    titles = [EvidenceLine(text=_title(step)) for step in bundle.steps]
    bodies = [_body(step) for step in bundle.steps]
    fixed = sum(len(x.text) + 1 for x in header) + sum(
        len(t.text) + 2 + len(b[0].text) + 30 for t, b in zip(titles, bodies, strict=True)
    )
    needs = [sum(len(x.text) + 1 for x in body[1:]) for body in bodies]
    shares = _shares(needs, max(max_chars - fixed, 0))
    sections = [header]
    for title, body, share in zip(titles, bodies, shares, strict=True):
        sections.append([title, body[0], *_fit(body[1:], share)])
    return sections


def render_bundle(bundle: EvidenceBundle, max_chars: int | None = None) -> str:
    """Render the bundle as the compact text the student reads (deterministic, bounded).

    Latencies are left out, so the text depends only on the graph, the index, the limits and
    the set. ``max_chars`` defaults to the bundle's ``limits.bundle_chars``.
    """
    budget = bundle.limits.bundle_chars if max_chars is None else max_chars
    sections = _render_lines(bundle, budget)
    return "\n\n".join("\n".join(line.text for line in section) for section in sections)


def bundle_evidence(bundle: EvidenceBundle, max_chars: int | None = None) -> ShownEvidence:
    """The IDs and edges the rendered bundle shows (cut lines excluded), for citation checks."""
    budget = bundle.limits.bundle_chars if max_chars is None else max_chars
    lines = [line for section in _render_lines(bundle, budget) for line in section]
    return ShownEvidence.of((line.text, line.edges) for line in lines)
