"""The graph's identity card: which files were loaded, by which loader, with what counts.

Stored as ``(:KedrecMeta {key: 'graph'})`` so trajectories and evaluations can record the
graph version they ran against, and ``kedrec graph stats`` can show it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from neo4j import Driver

from graph_store.load_plan import LoadPlan
from graph_store.schema import META_LABEL

GRAPH_META_KEY = "graph"


def write_graph_meta(driver: Driver, database: str, plan: LoadPlan, *, loader: str) -> None:
    """Record the loaded input's fingerprint, files and expected counts."""
    with driver.session(database=database) as session:
        session.run(
            f"MERGE (m:{META_LABEL} {{key: $key}}) SET m += $props",
            key=GRAPH_META_KEY,
            props={
                "fingerprint": plan.fingerprint,
                "files": [path.name for path in plan.files],
                "triples": plan.report.triples,
                "malformed_lines": plan.report.malformed,
                "entities": len(plan.entities),
                "relationship_counts": json.dumps(dict(plan.relationship_counts)),
                "loader": loader,
                "loaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
            },
        ).consume()


def read_graph_meta(driver: Driver, database: str) -> dict[str, Any] | None:
    """Return the graph's meta record, or None when nothing was loaded by KEDRec."""
    with driver.session(database=database) as session:
        record = session.run(
            f"MATCH (m:{META_LABEL} {{key: $key}}) RETURN properties(m) AS props",
            key=GRAPH_META_KEY,
        ).single()
    return dict(record["props"]) if record else None


def clear_graph(driver: Driver, database: str) -> None:
    """Delete every node and relationship in batches (for tests and ``graph load --replace``)."""
    with driver.session(database=database) as session:
        session.run(
            "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"
        ).consume()
