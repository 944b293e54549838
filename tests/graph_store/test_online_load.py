"""The online loader against the real Neo4j: counts, names, idempotence, crash and resume."""

from __future__ import annotations

from pathlib import Path

import pytest

import graph_store.online_load as online_load
from graph_store.graph_meta import clear_graph, read_graph_meta
from graph_store.load_plan import build_plan
from graph_store.stats import check_counts, graph_counts

pytestmark = pytest.mark.neo4j


def test_slice_counts_match_input_files(driver, settings, loaded_graph) -> None:  # type: ignore[no-untyped-def]
    labels, rel_types = graph_counts(driver, settings.neo4j.database)
    checks = check_counts(loaded_graph, labels, rel_types)
    assert checks and all(check.ok for check in checks), [c for c in checks if not c.ok]
    assert labels["Entity"] == 20_504
    assert rel_types["TREATS"] == 755 + 7_111  # Hetionet CtD + DrugBank treats
    assert rel_types["PALLIATES"] == 390


def test_nodes_carry_names_labels_and_provenance(driver, loaded_graph) -> None:  # type: ignore[no-untyped-def]
    records, _, _ = driver.execute_query(
        "MATCH (c:Entity {id: 'Compound::DB00331'})-[r:TARGETS]->(g:Gene {id: 'Gene::5564'}) "
        "RETURN c.name AS drug, labels(c) AS labels, g.name AS gene, r.relation AS relation, "
        "r.source AS source, r.actions AS actions, r.pmids AS pmids, r.known_action AS known"
    )
    assert len(records) == 1
    row = records[0]
    assert row["drug"] == "Metformin" and set(row["labels"]) == {"Entity", "Compound"}
    assert row["gene"] == "PRKAB1"
    assert (row["relation"], row["source"]) == ("DRUGBANK::target::Compound:Gene", "DRUGBANK")
    # DrugBank's details for this pair: action types, known action, supporting PubMed IDs
    assert row["actions"] == ["inducer", "activator"] and row["known"] == "yes"
    assert "12890675" in row["pmids"] and len(row["pmids"]) == 8


def test_reload_is_idempotent_and_a_crash_resumes_without_loss(  # type: ignore[no-untyped-def]
    driver, settings, slice_files: list[Path], names, target_details, monkeypatch
) -> None:
    database = settings.neo4j.database
    plan = build_plan(slice_files, also_fingerprint=[target_details.path])
    clear_graph(driver, database)
    real_write = online_load._write_batch
    calls = {"n": 0}

    def crash_on_third_batch(tx, groups, key):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("simulated crash mid-load")
        real_write(tx, groups, key)

    monkeypatch.setattr(online_load, "_write_batch", crash_on_third_batch)
    with pytest.raises(RuntimeError, match="simulated crash"):
        online_load.load_online(
            driver, database, plan, names, batch_size=10_000, details=target_details
        )
    _, partial = graph_counts(driver, database)
    assert sum(partial.values()) == 20_000  # two committed batches, the third rolled back
    monkeypatch.setattr(online_load, "_write_batch", real_write)

    resumed = online_load.load_online(
        driver, database, plan, names, batch_size=10_000, details=target_details
    )
    assert resumed.batches_skipped == 2
    assert resumed.relationships_written == plan.report.triples - 20_000
    again = online_load.load_online(
        driver, database, plan, names, batch_size=10_000, details=target_details
    )
    assert again.relationships_written == 0 and again.batches_skipped == 6
    labels, rel_types = graph_counts(driver, database)
    assert all(check.ok for check in check_counts(plan, labels, rel_types))
    meta = read_graph_meta(driver, database)
    assert meta is not None and meta["fingerprint"] == plan.fingerprint
    assert meta["triples"] == 58_725 and meta["loader"] == "online"
