"""Proof that no evaluated label leaks through a graph tool or the embeddings.

For every hidden (drug, disease) pair of the checked sets, each graph tool is called with the
set's hidden pairs, exactly as the agent and the student will call them, and its result is
searched for the pair's direct edge. Free-form Cypher probes that would read the edge must be
refused. The embeddings must have been trained with every such pair held out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from graph_store.masking import COMPOUND_DISEASE_TYPES, HiddenPairs
from graph_store.tools import GraphTools
from tasks.disease_groups import DiseaseGroups
from tasks.relevance import CompoundDiseaseEdges
from tasks.task_sets import TaskSet

CYPHER_PROBES = (
    "MATCH (c:Entity {id: $drug})-[r]-(d:Entity {id: $disease}) RETURN type(r) AS t",
    "MATCH (c:Entity {id: $drug})-[r:TREATS|PALLIATES]->(d) RETURN d.id AS d",
    "MATCH p = (c:Entity {id: $drug})-[*1..2]-(d:Entity {id: $disease}) RETURN p LIMIT 5",
    "MATCH (c:Entity {id: $drug}) RETURN COUNT { (c)-[:TREATS]->(:Disease {id: $disease}) } AS n",
)
"""Queries that would reveal a hidden edge; all must be refused under masking."""

CHECKED_TOOLS = (
    "direct_edges",
    "candidate_drugs",
    "drug_profile",
    "mechanism_paths",
    "disease_profile",
    "similar_drugs",
)


@dataclass(frozen=True, slots=True)
class LeakageFinding:
    """A tool result that exposed a hidden pair."""

    set_id: str
    drug: str
    disease: str
    tool: str
    detail: str


@dataclass(slots=True)
class LeakageReport:
    """What was checked and every leak found (empty = no leakage)."""

    sets: int = 0
    pairs: int = 0
    tool_calls: Counter[str] = field(default_factory=Counter)
    findings: list[LeakageFinding] = field(default_factory=list)
    embedding_pairs_missing: list[tuple[str, str]] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """True when nothing leaked."""
        return not self.findings and not self.embedding_pairs_missing

    def as_dict(self) -> dict[str, Any]:
        """JSON-able summary."""
        return {
            "sets": self.sets,
            "pairs": self.pairs,
            "tool_calls": dict(self.tool_calls),
            "findings": [finding.__dict__ for finding in self.findings[:50]],
            "n_findings": len(self.findings),
            "embedding_pairs_missing": self.embedding_pairs_missing[:50],
            "clean": self.clean,
        }


def _compound_disease_edges(items: Iterable[Any]) -> list[str]:
    return [f"{item}" for item in items if getattr(item, "type", None) in COMPOUND_DISEASE_TYPES]


def check_pair(
    tools: GraphTools, task_set: TaskSet, drug: str, disease: str
) -> list[LeakageFinding]:
    """Call every tool for one hidden pair; return what exposed it."""
    findings: list[LeakageFinding] = []

    def leak(tool: str, detail: str) -> None:
        findings.append(LeakageFinding(task_set.set_id, drug, disease, tool, detail))

    if tools.direct_edges(drug, disease):
        leak("direct_edges", "returned a direct edge")
    if drug in {c.id for c in tools.candidate_drugs(disease, limit=10_000)}:
        leak("candidate_drugs", "listed the hidden drug")
    profile = tools.drug_profile(drug, limit=10_000)
    if disease in {indication.id for indication in profile.indications}:
        leak("drug_profile", "listed the hidden disease as an indication")
    paths = tools.mechanism_paths(drug, disease, limit=200)
    for shared in paths.shared_genes:
        bad = _compound_disease_edges([*shared.drug_edges, *shared.disease_edges])
        if bad:
            leak("mechanism_paths", f"path uses {bad[0]}")
    for path in paths.gene_gene_paths:
        bad = _compound_disease_edges([path.drug_edge, path.gene_edge, path.disease_edge])
        if bad:
            leak("mechanism_paths", f"path uses {bad[0]}")
    if drug in tools.disease_profile(disease, limit=10_000).model_dump_json():
        leak("disease_profile", "mentions the hidden drug")
    if disease in str([s.model_dump() for s in tools.similar_drugs(drug, limit=100)]):
        leak("similar_drugs", "mentions the hidden disease")
    for probe in CYPHER_PROBES:
        result = tools.run_cypher(probe, {"drug": drug, "disease": disease})
        if result.ok:
            leak("run_cypher", f"probe not refused: {probe}")
    return findings


def check_tools(
    tools: GraphTools,
    sets: Iterable[TaskSet],
    report: LeakageReport,
    groups: DiseaseGroups | None = None,
) -> None:
    """Check every hidden pair through the tools, masked with its set's pairs as in an evaluation.

    A pair shared by several sets (benchmarks pair one drug with many others) is checked once:
    whether it leaks does not depend on the other pair hidden beside it.
    """
    seen: set[tuple[str, str]] = set()
    for task_set in sets:
        report.sets += 1
        if groups is not None:
            report.findings.extend(_uncovered_equivalents(task_set, groups))
        masked = tools.with_hidden(HiddenPairs.of(task_set.hidden_pairs))
        for drug, disease in task_set.hidden_pairs:
            if (drug, disease) in seen:
                continue
            seen.add((drug, disease))
            report.pairs += 1
            report.findings.extend(check_pair(masked, task_set, drug, disease))
            for tool in CHECKED_TOOLS:
                report.tool_calls[tool] += 1
            report.tool_calls["run_cypher"] += len(CYPHER_PROBES)


def _uncovered_equivalents(task_set: TaskSet, groups: DiseaseGroups) -> list[LeakageFinding]:
    """A label is hidden only if it is hidden under every ID of the disease (DOID and MeSH)."""
    hidden = {tuple(pair) for pair in task_set.hidden_pairs}
    return [
        LeakageFinding(
            task_set.set_id,
            candidate.id,
            disease,
            "hidden_pairs",
            "equivalent disease ID not hidden",
        )
        for candidate in task_set.candidates
        for disease in sorted(groups.group_of(task_set.disease.id))
        if (candidate.id, disease) not in hidden
    ]


def check_embeddings(
    held_out: set[tuple[str, str]],
    edges: CompoundDiseaseEdges,
    sets: Iterable[TaskSet],
    report: LeakageReport,
) -> None:
    """Every evaluated pair with an edge in the graph must have been held out of training."""
    for task_set in sets:
        if task_set.split == "train":
            continue
        for drug, disease in task_set.hidden_pairs:
            if edges.related(drug, disease) and (drug, disease) not in held_out:
                report.embedding_pairs_missing.append((drug, disease))
