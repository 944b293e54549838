"""Online loader: batched ``UNWIND`` over Bolt into any running Neo4j (local, docker, remote).

Idempotent and resumable: nodes are MERGEd on their unique ``id``; relationships are CREATEd
in batches, and each batch writes a ledger node (``:KedrecMeta {key: 'batch:<fp>:<n>'}``) in the
same transaction. A re-run, or a run after a crash, skips the batches whose ledger exists, so no
edge is written twice and none is lost.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from neo4j import Driver, ManagedTransaction
from rich.progress import Progress

from graph_store.drugbank_details import TargetDetailIndex
from graph_store.graph_meta import write_graph_meta
from graph_store.load_plan import EntityRecord, LoadPlan
from graph_store.names import NameIndex
from graph_store.schema import (
    ENTITY_LABEL,
    META_LABEL,
    SCHEMA_STATEMENTS,
    quote_name,
    relationship_type,
)

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 20_000


@dataclass(frozen=True, slots=True)
class OnlineLoadResult:
    """What an online load did."""

    nodes: int
    relationships_written: int
    batches_skipped: int
    seconds: float

    @property
    def edges_per_second(self) -> float:
        """Relationship write throughput."""
        return self.relationships_written / self.seconds if self.seconds else 0.0


def ensure_schema(driver: Driver, database: str) -> None:
    """Create constraints and indexes (idempotent) and wait until they are online."""
    with driver.session(database=database) as session:
        for statement in SCHEMA_STATEMENTS:
            session.run(statement).consume()
        session.run("CALL db.awaitIndexes(600)").consume()


def _merge_nodes(tx: ManagedTransaction, label: str, rows: list[dict[str, object]]) -> None:
    tx.run(
        f"UNWIND $rows AS row MERGE (n:{ENTITY_LABEL} {{id: row.id}}) "
        f"SET n:{quote_name(label)}, n += row",
        rows=rows,
    ).consume()


def load_nodes(
    driver: Driver,
    database: str,
    records: Iterable[EntityRecord],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
    total: int | None = None,
) -> int:
    """MERGE every entity with its labels and names; return the number written."""
    task = progress.add_task("nodes", total=total) if progress else None
    pending: dict[str, list[dict[str, object]]] = defaultdict(list)
    written = 0

    def flush(label: str) -> None:
        nonlocal written
        rows = pending.pop(label)
        with driver.session(database=database) as session:
            session.execute_write(_merge_nodes, label, rows)
        written += len(rows)
        if progress and task is not None:
            progress.advance(task, len(rows))

    for record in records:
        pending[record.label].append(record.properties)
        if len(pending[record.label]) >= batch_size:
            flush(record.label)
    for label in list(pending):
        flush(label)
    return written


GroupKey = tuple[str, str, str, bool]
"""(relationship type, DRKG relation, source, has extra properties): one UNWIND per group."""


def _write_batch(
    tx: ManagedTransaction,
    groups: dict[GroupKey, list[list[object]]],
    ledger_key: str,
) -> None:
    for (rel_type, relation, source, with_props), rows in groups.items():
        extra = " SET r += row[2]" if with_props else ""
        tx.run(
            f"UNWIND $rows AS row "
            f"MATCH (h:{ENTITY_LABEL} {{id: row[0]}}) MATCH (t:{ENTITY_LABEL} {{id: row[1]}}) "
            f"CREATE (h)-[r:{quote_name(rel_type)} {{relation: $relation, source: $source}}]->(t)"
            + extra,
            rows=rows,
            relation=relation,
            source=source,
        ).consume()
    tx.run(f"CREATE (:{META_LABEL} {{key: $key}})", key=ledger_key).consume()


def _done_batches(driver: Driver, database: str, prefix: str) -> set[str]:
    with driver.session(database=database) as session:
        result = session.run(
            f"MATCH (m:{META_LABEL}) WHERE m.key STARTS WITH $prefix RETURN m.key AS key",
            prefix=prefix,
        )
        return {record["key"] for record in result}


def load_online(
    driver: Driver,
    database: str,
    plan: LoadPlan,
    names: NameIndex,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
    details: TargetDetailIndex | None = None,
) -> OnlineLoadResult:
    """Load the plan's triples into a running Neo4j; safe to re-run after a crash.

    ``details`` adds DrugBank's actions and PubMed IDs to the matching DrugBank edges.
    """
    started = time.perf_counter()
    ensure_schema(driver, database)
    nodes = load_nodes(
        driver,
        database,
        plan.entity_records(names),
        batch_size=batch_size,
        progress=progress,
        total=len(plan.entities),
    )
    prefix = f"batch:{plan.fingerprint}:{batch_size}:"
    done = _done_batches(driver, database, prefix)
    task = progress.add_task("relationships", total=plan.report.triples) if progress else None
    written = skipped = 0
    batch: list[tuple[GroupKey, list[object]]] = []
    batch_index = 0
    rel_types: dict[str, str] = {}

    def flush() -> None:
        nonlocal written, skipped, batch_index, batch
        key = f"{prefix}{batch_index}"
        if key in done:
            skipped += 1
        else:
            groups: dict[GroupKey, list[list[object]]] = defaultdict(list)
            for group, row in batch:
                groups[group].append(row)
            with driver.session(database=database) as session:
                session.execute_write(_write_batch, groups, key)
            written += len(batch)
        if progress and task is not None:
            progress.advance(task, len(batch))
        batch_index += 1
        batch = []

    for triple in plan.iter_triples():
        relation = triple.relation
        rel_type = rel_types.get(relation.full)
        if rel_type is None:
            rel_type = rel_types[relation.full] = relationship_type(relation)
        props = details.properties(triple) if details else None
        row: list[object] = (
            [triple.head, triple.tail, props] if props else [triple.head, triple.tail]
        )
        batch.append(((rel_type, relation.full, relation.source, bool(props)), row))
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    elapsed = time.perf_counter() - started
    write_graph_meta(driver, database, plan, loader="online")
    logger.info("online load: %d nodes, %d edges in %.1f s", nodes, written, elapsed)
    return OnlineLoadResult(nodes, written, skipped, elapsed)
