"""The bulk loader: import CSVs -> neo4j-admin -> a restarted server, on a throwaway instance."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from graph_store.bulk_import import load_bulk, write_import_csvs
from graph_store.connection import open_driver
from graph_store.graph_meta import read_graph_meta
from graph_store.launcher import Neo4jLauncher
from graph_store.stats import check_counts, graph_counts
from graph_store.tools import GraphTools

pytestmark = pytest.mark.neo4j


def test_import_csvs_have_neo4j_admin_headers(tmp_path: Path, slice_files, names) -> None:  # type: ignore[no-untyped-def]
    plan, nodes_csv, rels_csv = write_import_csvs(slice_files, names, tmp_path)
    with nodes_csv.open() as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:2] == ["id:ID", ":LABEL"] and len(rows) - 1 == len(plan.entities)
    metformin = next(row for row in rows if row[0] == "Compound::DB00331")
    assert metformin[1] == "Entity|Compound" and metformin[3] == "Metformin"
    with rels_csv.open() as handle:
        assert sum(1 for _ in handle) - 1 == plan.report.triples == 58_725


def test_bulk_load_into_a_second_instance(  # type: ignore[no-untyped-def]
    tmp_path: Path, settings, slice_files, names, target_details
) -> None:  # type: ignore[no-untyped-def]
    launcher = Neo4jLauncher(settings, home=tmp_path / "bulk-home", bolt_port=7691, http_port=7478)
    try:
        result = load_bulk(slice_files, names, launcher, details=target_details)
        assert set(result.phases) == {
            "write CSVs",
            "neo4j-admin import",
            "restart",
            "constraints and indexes",
        }
        neo4j = settings.neo4j.model_copy(update={"uri": launcher.bolt_url})
        driver = open_driver(neo4j)
        try:
            labels, rel_types = graph_counts(driver, neo4j.database)
            checks = check_counts(result.plan, labels, rel_types)
            assert all(check.ok for check in checks), [c for c in checks if not c.ok]
            meta = read_graph_meta(driver, neo4j.database)
            assert meta is not None and meta["loader"] == "bulk"
            records, _, _ = driver.execute_query(
                "CALL db.index.fulltext.queryNodes('entity_names', 'metformin') "
                "YIELD node RETURN node.id AS id LIMIT 1"
            )
            assert records[0]["id"] == "Compound::DB00331"
            edges, _, _ = driver.execute_query(
                "MATCH (:Compound {id: 'Compound::DB00331'})-[r]->(x) "
                "RETURN x.id AS x, r.actions AS actions, r.pmids AS pmids"
            )
            by_target = {edge["x"]: edge for edge in edges}
            assert by_target["Gene::5564"]["actions"] == ["inducer", "activator"]
            assert "12890675" in by_target["Gene::5564"]["pmids"]
            assert by_target["Disease::DOID:9352"]["pmids"] is None
            unnamed = next(e for e in sorted(result.plan.entities) if names.get(e) is None)
            match = GraphTools(driver).resolve_entity(unnamed)  # no synonyms stored
            assert match[0].id == unnamed and match[0].synonyms == []
        finally:
            driver.close()
    finally:
        launcher.stop()
