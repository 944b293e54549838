"""Bulk loader: DRKG triples -> import CSVs -> ``neo4j-admin database import full``.

The fastest way to build the graph (the full DRKG in about a minute on 2 cores), for the local
server the launcher manages: the server is stopped, the database is replaced by the import,
then the server is restarted and constraints, indexes and the graph's meta record are created.
For a docker or remote Neo4j use the online loader instead.
"""

from __future__ import annotations

import csv
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.progress import Progress

from graph_store.connection import open_driver
from graph_store.drkg_format import Triple
from graph_store.drugbank_details import TargetDetailIndex
from graph_store.graph_meta import write_graph_meta
from graph_store.launcher import Neo4jLauncher
from graph_store.load_plan import LoadPlan, build_plan
from graph_store.names import NameIndex
from graph_store.online_load import ensure_schema
from graph_store.schema import ENTITY_LABEL
from kedrec.errors import GraphLoadError

logger = logging.getLogger(__name__)

ARRAY_DELIMITER = "|"
NODE_HEADER = (
    "id:ID",
    ":LABEL",
    "kind",
    "name",
    "synonyms:string[]",
    "synonyms_text",
    "name_source",
)
RELATIONSHIP_HEADER = (
    ":START_ID",
    ":END_ID",
    ":TYPE",
    "relation",
    "source",
    "known_action",
    "uniprot:string[]",
    "actions:string[]",
    "pmids:string[]",
)


@dataclass(slots=True)
class BulkLoadResult:
    """What a bulk load did and how long each phase took (seconds)."""

    plan: LoadPlan
    nodes: int
    relationships: int
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        """End-to-end time."""
        return sum(self.phases.values())


def write_import_csvs(
    files: Sequence[Path],
    names: NameIndex,
    out_dir: Path,
    details: TargetDetailIndex | None = None,
) -> tuple[LoadPlan, Path, Path]:
    """Write nodes.csv and relationships.csv for neo4j-admin in one pass over the triples."""
    out_dir.mkdir(parents=True, exist_ok=True)
    nodes_csv = out_dir / "nodes.csv"
    rels_csv = out_dir / "relationships.csv"
    with rels_csv.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(RELATIONSHIP_HEADER)
        write = writer.writerow

        def sink(triple: Triple, rel_type: str) -> None:
            relation = triple.relation
            row = [triple.head, triple.tail, rel_type, relation.full, relation.source]
            found = details.lookup(triple) if details else None
            if found is not None:
                row.append(found.known_action)
                for values in (found.uniprot, found.actions, found.pmids):
                    row.append(ARRAY_DELIMITER.join(values))
            else:
                row.extend(("", "", "", ""))
            write(row)

        side_inputs = [details.path] if details else []
        plan = build_plan(files, sink=sink, also_fingerprint=side_inputs)
    with nodes_csv.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(NODE_HEADER)
        for record in plan.entity_records(names):
            synonyms = [s.replace(ARRAY_DELIMITER, "/") for s in record.synonyms]
            writer.writerow(
                (
                    record.id,
                    f"{ENTITY_LABEL}{ARRAY_DELIMITER}{record.label}",  # labels use it too
                    record.kind,
                    record.name,
                    ARRAY_DELIMITER.join(synonyms),
                    " | ".join(record.synonyms),
                    record.name_source,
                )
            )
    return plan, nodes_csv, rels_csv


def load_bulk(
    files: Sequence[Path],
    names: NameIndex,
    launcher: Neo4jLauncher,
    *,
    progress: Progress | None = None,
    details: TargetDetailIndex | None = None,
) -> BulkLoadResult:
    """Replace the local server's database with the given triples; restart the server.

    ``details`` adds DrugBank's actions and PubMed IDs to the matching DrugBank edges.
    """
    if launcher.use_docker:
        raise GraphLoadError(
            "the bulk loader needs the Maven-launched Neo4j (neo4j-admin on this machine); "
            "for docker or remote servers use `kedrec graph load --online`"
        )
    phases: dict[str, float] = {}
    task = progress.add_task("bulk load", total=4) if progress else None

    def phase(name: str, started: float) -> None:
        phases[name] = time.perf_counter() - started
        if progress and task is not None:
            progress.update(task, advance=1, description=f"bulk load: {name} done")

    started = time.perf_counter()
    import_dir = launcher.home / "import" / "kedrec"
    plan, nodes_csv, rels_csv = write_import_csvs(files, names, import_dir, details)
    phase("write CSVs", started)
    if plan.report.triples == 0:
        raise GraphLoadError(f"no well-formed triples in {', '.join(map(str, files))}")

    started = time.perf_counter()
    launcher.stop()
    launcher.run_admin(
        [
            "database",
            "import",
            "full",
            f"--nodes={nodes_csv}",
            f"--relationships={rels_csv}",
            "--overwrite-destination=true",
            "--id-type=string",
            f"--array-delimiter={ARRAY_DELIMITER}",
            "--threads=2",
            "--ignore-empty-strings=true",
            "--report-file=" + str(import_dir / "import.report"),
            launcher.settings.neo4j.database,
        ],
        heap=launcher.settings.neo4j.heap,
    )
    phase("neo4j-admin import", started)

    started = time.perf_counter()
    launcher.start()
    phase("restart", started)

    started = time.perf_counter()
    driver = open_driver(launcher.settings.neo4j.model_copy(update={"uri": launcher.bolt_url}))
    try:
        database = launcher.settings.neo4j.database
        ensure_schema(driver, database)
        write_graph_meta(driver, database, plan, loader="bulk")
    finally:
        driver.close()
    phase("constraints and indexes", started)
    logger.info("bulk load: %s in %.1f s", plan.report.summary(), sum(phases.values()))
    return BulkLoadResult(plan, len(plan.entities), plan.report.triples, phases)
