"""The evidence bundle: a fixed sequence of tool calls for a task set, and its text rendering.

The teacher explores freely; the distilled student cannot. It gets exactly what this module
produces: the outputs of :data:`EVIDENCE_STEPS` for the disease and both candidates, run on
tools masked with the set's hidden pairs, rendered by :func:`render_bundle` into one compact,
deterministic text (same graph + same set + same index → byte-identical text). Trajectories
store the bundle beside the teacher's answer, so each training pair is (bundle, answer).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, Field

from tasks.task_sets import TaskSet
from graph_store.masking import HiddenPairs
from graph_store.tools import GraphTools

EVIDENCE_STEPS: tuple[tuple[str, str], ...] = (
    ("disease_profile", "disease"),
    ("drug_profile", "candidate"),
    ("direct_edges", "candidate"),
    ("mechanism_paths", "candidate"),
    ("search_literature", "candidate"),
)
"""The fixed order: ``disease_profile(d)``, then for each candidate ``c`` in set order:
``drug_profile(c)``, ``direct_edges(c, d)`` (empty for label pairs: they are hidden),
``mechanism_paths(c, d)`` and ``search_literature(d, c, source)`` (skipped when the
literature source is ``none``). Changing it changes what every student was trained on."""

BUNDLE_VERSION = "evidence-v1"
"""Recorded with every bundle; bump when the steps, limits or rendering change."""


class EvidenceLimits(BaseModel):
    """How much each step may return (part of the bundle's identity)."""

    profile_limit: int = Field(15, ge=1, description="Genes/side effects per profile query.")
    mechanism_limit: int = Field(10, ge=1, description="Shared genes and gene–gene paths.")
    literature_top_n: int = Field(5, ge=1, description="Passages per (disease, drug) pair.")
    snippet_chars: int = Field(240, ge=40, description="Characters kept per passage snippet.")


class EvidenceStep(BaseModel):
    """One tool call of the bundle: what was asked, what came back, how long it took."""

    index: int
    tool: str
    arguments: dict[str, Any]
    candidate: int | None = Field(None, description="Candidate position (0/1); None: disease.")
    ok: bool
    skipped: bool = False
    result: Any = Field(None, description="The tool's result as JSON (model_dump).")
    error: str | None = None
    latency_ms: float = 0.0


class EvidenceBundle(BaseModel):
    """The evidence for one task set, in :data:`EVIDENCE_STEPS` order."""

    version: str = BUNDLE_VERSION
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


def masked_tools(graph_tools: GraphTools, task_set: TaskSet) -> GraphTools:
    """Return tools hiding the set's label pairs (plus any the tools already hide)."""
    wanted = HiddenPairs.of(task_set.hidden_pairs).pairs
    if wanted <= graph_tools.hidden.pairs:
        return graph_tools
    return graph_tools.with_hidden(HiddenPairs(graph_tools.hidden.pairs | wanted))


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_dump(item) for item in value]
    return value


def _call(
    steps: list[EvidenceStep],
    tool: str,
    arguments: dict[str, Any],
    candidate: int | None,
    fn: Callable[[], Any],
) -> Any:
    started = time.perf_counter()
    try:
        result = fn()
    except Exception as error:  # a failed tool is evidence too: recorded, never fatal
        steps.append(
            EvidenceStep(
                index=len(steps),
                tool=tool,
                arguments=arguments,
                candidate=candidate,
                ok=False,
                error=f"{type(error).__name__}: {error}",
                latency_ms=round((time.perf_counter() - started) * 1000, 1),
            )
        )
        return None
    steps.append(
        EvidenceStep(
            index=len(steps),
            tool=tool,
            arguments=arguments,
            candidate=candidate,
            ok=True,
            result=_dump(result),
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
        )
    )
    return result


def build_evidence_bundle(
    task_set: TaskSet,
    graph_tools: GraphTools,
    *,
    literature_source: str = "both",
    limits: EvidenceLimits | None = None,
    literature_index: Any = None,
) -> EvidenceBundle:
    """Run :data:`EVIDENCE_STEPS` for a task set and collect every output.

    Args:
        task_set: The set (disease and two candidates, by DRKG ID).
        graph_tools: Graph tools; the set's hidden pairs are added if they are not hidden yet.
        literature_source: ``ct``, ``pmc``, ``both`` or ``none`` (literature steps skipped).
        limits: Per-step limits; the defaults when None.
        literature_index: A ``LiteratureIndex``; the settings' index when None.

    Returns:
        The bundle; a failing step is recorded with ``ok=False`` and its error.
    """
    from literature.retrieval import retrieve_pair

    limits = limits or EvidenceLimits()
    tools = masked_tools(graph_tools, task_set)
    disease = task_set.disease.id
    steps: list[EvidenceStep] = []
    profile = _call(
        steps,
        "disease_profile",
        {"disease": disease, "limit": limits.profile_limit},
        None,
        lambda: tools.disease_profile(disease, limit=limits.profile_limit),
    )
    disease_name = profile.name if profile else task_set.disease.name
    disease_synonyms = list(profile.synonyms) if profile else []
    for position, candidate in enumerate(task_set.candidates):
        drug = candidate.id
        drug_profile = _call(
            steps,
            "drug_profile",
            {"drug": drug, "limit": limits.profile_limit},
            position,
            lambda drug=drug: tools.drug_profile(drug, limit=limits.profile_limit),
        )
        _call(
            steps,
            "direct_edges",
            {"drug": drug, "disease": disease},
            position,
            lambda drug=drug: tools.direct_edges(drug, disease),
        )
        _call(
            steps,
            "mechanism_paths",
            {"drug": drug, "disease": disease, "limit": limits.mechanism_limit},
            position,
            lambda drug=drug: tools.mechanism_paths(drug, disease, limit=limits.mechanism_limit),
        )
        arguments = {"disease": disease, "drug": drug, "source": literature_source}
        if literature_source == "none":
            steps.append(
                EvidenceStep(
                    index=len(steps),
                    tool="search_literature",
                    arguments=arguments,
                    candidate=position,
                    ok=True,
                    skipped=True,
                )
            )
            continue
        drug_name = drug_profile.name if drug_profile else candidate.name
        drug_synonyms = list(drug_profile.synonyms) if drug_profile else []
        _call(
            steps,
            "search_literature",
            arguments,
            position,
            lambda name=drug_name, synonyms=drug_synonyms: retrieve_pair(
                disease_name,
                name,
                literature_source,
                disease_synonyms=disease_synonyms,
                drug_synonyms=synonyms,
                index=literature_index,
                top_n=limits.literature_top_n,
            ),
        )
    return EvidenceBundle(
        set_id=task_set.set_id,
        disease=disease,
        candidates=[c.id for c in task_set.candidates],
        literature_source=literature_source,
        limits=limits,
        hidden_pairs=sorted(tools.hidden.pairs),
        steps=steps,
    )


# -- rendering --------------------------------------------------------------------------------


def _clip(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _edge(edge: dict[str, Any]) -> str:
    return "/".join(str(x) for x in (edge.get("type"), edge.get("source")) if x)


def _refs(items: Sequence[dict[str, Any]]) -> str:
    ordered = sorted(items, key=lambda x: str(x.get("id")))
    return "; ".join(f"{x.get('name')} ({x.get('id')})" for x in ordered) or "none"


def _disease_lines(result: dict[str, Any], _: EvidenceLimits) -> list[str]:
    lines = [
        f"{result['name']} ({result['id']}); synonyms: "
        + (", ".join(result.get("synonyms") or []) or "none"),
        f"associated genes ({result.get('gene_count', 0)} in graph):",
    ]
    for gene in result.get("genes") or []:
        edges = ", ".join(sorted({_edge(e) for e in gene.get("edges") or []}))
        lines.append(f"- {gene['gene']} ({gene['gene_id']}) [{edges}]")
    lines.append("symptoms: " + _refs(result.get("symptoms") or []))
    lines.append("related diseases: " + _refs(result.get("related_diseases") or []))
    lines.append("anatomy: " + _refs(result.get("anatomy") or []))
    return lines


def _drug_lines(result: dict[str, Any], _: EvidenceLimits) -> list[str]:
    indications = sorted(result.get("indications") or [], key=lambda x: x["id"])
    lines = [
        f"{result['name']} ({result['id']}); synonyms: "
        + (", ".join((result.get("synonyms") or [])[:5]) or "none"),
        f"known indications (label pairs hidden): {len(indications)}",
        *(f"- {x['type']} {x['name']} ({x['id']}) [{x.get('source')}]" for x in indications),
        f"genes acted on: {len(result.get('genes') or [])}",
    ]
    for gene in result.get("genes") or []:
        extra = [gene.get("known_action") or "", ",".join(gene.get("actions") or [])]
        pmids = ",".join(f"PMID:{p}" for p in (gene.get("pmids") or [])[:3])
        detail = "; ".join(x for x in [*extra, pmids] if x)
        lines.append(
            f"- {gene['role']} {gene['gene']} ({gene['gene_id']}) [{gene.get('source')}]"
            + (f" {detail}" if detail else "")
        )
    lines.append("classes: " + _refs(result.get("classes") or []))
    lines.append("side effects: " + _refs(result.get("side_effects") or []))
    return lines


def _direct_lines(result: list[dict[str, Any]], _: EvidenceLimits) -> list[str]:
    if not result:
        return ["none (no direct edge, or the pair is hidden for evaluation)"]
    return [
        f"- {e['type']} {e.get('relation')} [{e.get('source')}] "
        f"{'drug→disease' if e.get('drug_is_head') else 'disease→drug'}"
        for e in result
    ]


def _mechanism_lines(result: dict[str, Any], _: EvidenceLimits) -> list[str]:
    lines = [f"shared genes (drug→gene←disease): {len(result.get('shared_genes') or [])}"]
    for gene in result.get("shared_genes") or []:
        drug_edges = ", ".join(sorted({_edge(e) for e in gene["drug_edges"]}))
        disease_edges = ", ".join(sorted({_edge(e) for e in gene["disease_edges"]}))
        lines.append(
            f"- {gene['gene']} ({gene['gene_id']}) drug[{drug_edges}] disease[{disease_edges}] "
            f"support {gene['support']:.2f}"
        )
    paths = result.get("gene_gene_paths") or []
    lines.append(f"gene–gene paths (drug→gene–gene–disease): {len(paths)}")
    for path in paths:
        lines.append(
            f"- {path['drug_gene']} ({path['drug_gene_id']}) -{_edge(path['gene_edge'])}- "
            f"{path['disease_gene']} ({path['disease_gene_id']}) [{_edge(path['drug_edge'])}; "
            f"{_edge(path['disease_edge'])}] support {path['support']:.2f}"
        )
    return lines


def _literature_lines(result: dict[str, Any], limits: EvidenceLimits) -> list[str]:
    passages = result.get("passages") or []
    lines = [
        f"- [{p['doc_id']} | {p['source']} | {p.get('year') or '?'}] "
        f"{_clip(p['title'], 120)} — {_clip(p['passage'], limits.snippet_chars)}"
        for p in passages
    ]
    note = f"; {result['note']}" if result.get("note") else ""
    lines.append(f"{len(passages)} passages of {result.get('candidates', 0)} BM25 hits{note}")
    return lines


_RENDERERS: dict[str, Callable[[Any, EvidenceLimits], list[str]]] = {
    "disease_profile": _disease_lines,
    "drug_profile": _drug_lines,
    "direct_edges": _direct_lines,
    "mechanism_paths": _mechanism_lines,
    "search_literature": _literature_lines,
}


LINE_CHARS = 400
"""No rendered line is longer than this (IDs come first, so clipping keeps them)."""


def _fit(lines: list[str], budget: int) -> list[str]:
    """Keep whole lines in order until the budget is spent; say how many were cut."""
    kept: list[str] = []
    used = 0
    for position, line in enumerate(lines):
        if kept and used + len(line) + 1 > budget:
            kept.append(f"… {len(lines) - position} more lines cut")
            break
        kept.append(line)
        used += len(line) + 1
    return kept


def _shares(needs: list[int], total: int) -> list[int]:
    """Split ``total`` between sections: small ones get what they need, the rest share
    what is left equally (water-filling; deterministic)."""
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


def render_bundle(bundle: EvidenceBundle, max_chars: int = 12_000) -> str:
    """Render the bundle as compact text the student reads (deterministic, bounded).

    Sections keep the step order. ``max_chars`` is split between them (short sections take
    what they need, long ones share the rest); within its share a section keeps whole lines
    in order, then a "… N more lines cut" marker. Latencies are left out, so the text
    depends only on the graph, the index, the limits and the set.
    """
    header = "\n".join(
        [
            f"# Evidence {bundle.version} for set {bundle.set_id}",
            f"disease: {bundle.disease}; candidates: "
            + ", ".join(f"{i + 1}. {c}" for i, c in enumerate(bundle.candidates)),
            f"literature source: {bundle.literature_source}; hidden label pairs: "
            f"{len(bundle.hidden_pairs)}",
        ]
    )
    titles = [_title(step) for step in bundle.steps]
    bodies: list[list[str]] = []
    for step in bundle.steps:
        if step.skipped:
            body = ["skipped (literature source: none)"]
        elif not step.ok:
            body = [f"error: {step.error}"]
        else:
            body = _RENDERERS[step.tool](step.result, bundle.limits)
        bodies.append([_clip(line, LINE_CHARS) for line in body])
    # every section keeps its title, first line and cut marker whatever the budget
    fixed = len(header) + sum(
        len(t) + 2 + len(b[0]) + 30 for t, b in zip(titles, bodies, strict=True)
    )
    needs = [sum(len(x) + 1 for x in body[1:]) for body in bodies]
    shares = _shares(needs, max(max_chars - fixed, 0))
    sections = [header]
    for title, body, share in zip(titles, bodies, shares, strict=True):
        sections.append("\n".join([title, body[0], *_fit(body[1:], share)]))
    return "\n\n".join(sections)
