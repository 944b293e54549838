"""Counts per label and relationship type in Neo4j, checked against the input files."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from neo4j import READ_ACCESS, Driver

from graph_store.load_plan import LoadPlan
from graph_store.schema import ENTITY_LABEL, META_LABEL, quote_name


@dataclass(frozen=True, slots=True)
class CountCheck:
    """One expected-vs-actual line of ``kedrec graph stats``."""

    kind: str
    name: str
    expected: int | None
    actual: int

    @property
    def ok(self) -> bool:
        """True when the graph holds what the input files say (or nothing was expected)."""
        return self.expected is None or self.expected == self.actual


def graph_counts(driver: Driver, database: str) -> tuple[Counter[str], Counter[str]]:
    """Return (nodes per label, relationships per type), from Neo4j's count store."""
    labels: Counter[str] = Counter()
    rel_types: Counter[str] = Counter()
    with driver.session(database=database, default_access_mode=READ_ACCESS) as session:
        for record in session.run("CALL db.labels() YIELD label RETURN label"):
            label = record["label"]
            if label == META_LABEL:
                continue
            query = f"MATCH (n:{quote_name(label)}) RETURN count(n) AS n"
            labels[label] = session.run(query).single(strict=True)["n"]
        for record in session.run(
            "CALL db.relationshipTypes() YIELD relationshipType RETURN relationshipType"
        ):
            rel_type = record["relationshipType"]
            query = f"MATCH ()-[r:{quote_name(rel_type)}]->() RETURN count(r) AS n"
            rel_types[rel_type] = session.run(query).single(strict=True)["n"]
    return labels, rel_types


def check_counts(
    plan: LoadPlan | None, labels: Counter[str], rel_types: Counter[str]
) -> list[CountCheck]:
    """Compare Neo4j's counts with the plan's (all expected values None without a plan)."""
    checks: list[CountCheck] = []
    expected_labels = plan.label_counts if plan else Counter()
    if plan:
        expected_labels[ENTITY_LABEL] = len(plan.entities)
    for label in sorted(set(labels) | set(expected_labels)):
        expected = expected_labels.get(label, 0) if plan else None
        checks.append(CountCheck("label", label, expected, labels.get(label, 0)))
    expected_rels = plan.relationship_counts if plan else Counter()
    for rel_type in sorted(set(rel_types) | set(expected_rels)):
        expected = expected_rels.get(rel_type, 0) if plan else None
        checks.append(CountCheck("relationship", rel_type, expected, rel_types.get(rel_type, 0)))
    return checks
