"""run_cypher refuses every write, schema, admin and file-access attempt before it runs."""

from __future__ import annotations

import pytest

from graph_store.cypher_guard import count_statements, strip_strings_and_comments
from graph_store.stats import graph_counts
from graph_store.tools import GraphTools

pytestmark = pytest.mark.neo4j

REFUSED = [
    "CREATE (n:Entity {id: 'x'}) RETURN n",
    "create (n:Hack) return n",
    "MERGE (n:Entity {id: 'Compound::DB00331'}) RETURN n",
    "MATCH (n:Compound {id: 'Compound::DB00331'}) SET n.name = 'x' RETURN n",
    "MATCH (n:Compound {id: 'Compound::DB00331'}) SET n:Hacked",
    "MATCH (n:Compound {id: 'Compound::DB00331'}) REMOVE n.name",
    "MATCH (n:Compound {id: 'Compound::DB00331'}) REMOVE n:Compound",
    "MATCH (n:Compound {id: 'Compound::DB00331'}) DETACH DELETE n",
    "MATCH ()-[r:TREATS]->() DELETE r",
    "MATCH (n) DETACH DELETE n",
    "DROP INDEX entity_names",
    "DROP CONSTRAINT entity_id",
    "CREATE INDEX hack FOR (n:Gene) ON (n.name)",
    "CREATE CONSTRAINT hack FOR (n:Gene) REQUIRE n.name IS UNIQUE",
    "CREATE USER hacker SET PASSWORD 'password123'",
    "SHOW USERS",
    "SHOW DATABASES",
    "STOP DATABASE neo4j",
    "LOAD CSV FROM 'file:///etc/passwd' AS line RETURN line",
    "LOAD CSV WITH HEADERS FROM 'http://127.0.0.1:9/x.csv' AS row RETURN row",
    "CALL apoc.periodic.iterate('MATCH (n) RETURN n', 'DETACH DELETE n', {batchSize: 100})",
    "CALL apoc.create.node(['Hack'], {}) YIELD node RETURN node",
    "CALL apoc.cypher.runWrite('CREATE (n:Hack)', {}) YIELD value RETURN value",
    "CALL apoc.load.json('file:///etc/hosts') YIELD value RETURN value",
    "CALL apoc.export.csv.all('/tmp/dump.csv', {})",
    "CALL apoc.util.sleep(100000)",
    "CALL dbms.listConfig()",
    "CALL dbms.components()",
    "CALL db.createLabel('Hack')",
    "CALL db.clearQueryCaches()",
    "MATCH (n:Gene) CALL (n) { SET n.hacked = true } RETURN count(*)",
    "MATCH (n:Gene) WITH n LIMIT 1 CALL (n) { DETACH DELETE n } IN TRANSACTIONS RETURN 1",
    "MATCH (n) RETURN n LIMIT 1; MATCH (m) DETACH DELETE m",
    "MATCH (n) RETURN count(n);CREATE (x:Hack)",
    "/* harmless */ MATCH (n) /* still */ DETACH /* sneaky */ DELETE n",
    "MATCH (n) // comment\nWITH n LIMIT 1 cReAtE (m:Hack)-[:X]->(n)",
    "FOREACH (i IN range(1, 3) | CREATE (:Hack {i: i}))",
    "UNWIND range(1, 3) AS i MERGE (:Hack {i: i})",
    "",
    "   ",
]


@pytest.fixture(scope="module")
def tools(driver, settings, loaded_graph) -> GraphTools:  # type: ignore[no-untyped-def]
    return GraphTools.from_settings(driver, settings.neo4j)


def test_refuses_at_least_30_distinct_attempts_and_changes_nothing(  # type: ignore[no-untyped-def]
    tools: GraphTools, driver, settings
) -> None:
    before = graph_counts(driver, settings.neo4j.database)
    assert len(set(REFUSED)) >= 30
    for query in REFUSED:
        result = tools.run_cypher(query)
        assert result.error is not None, f"not refused: {query!r}"
        assert result.rows == [], query
        assert "Traceback" not in result.error and "\n" not in result.error
    assert graph_counts(driver, settings.neo4j.database) == before
    records, _, _ = driver.execute_query("MATCH (n:Hack) RETURN count(n) AS n")
    assert records[0]["n"] == 0
    schema, _, _ = driver.execute_query("SHOW INDEXES YIELD name RETURN collect(name) AS names")
    assert "entity_names" in schema[0]["names"] and "hack" not in schema[0]["names"]


def test_error_texts_say_how_to_repair(tools: GraphTools) -> None:
    assert "read-only" in (tools.run_cypher("CREATE (n:Hack)").error or "")
    assert "LOAD CSV" in (tools.run_cypher("LOAD CSV FROM 'file:///x' AS l RETURN l").error or "")
    assert "one statement" in (tools.run_cypher("RETURN 1; RETURN 2").error or "")
    syntax = tools.run_cypher("MATCH (n:Compound RETURN n")
    assert syntax.error and "SyntaxError" in syntax.error


def test_read_queries_run_with_row_cap(tools: GraphTools) -> None:
    capped = tools.with_hidden(tools.hidden)
    capped.max_rows = 5
    result = capped.run_cypher("MATCH (g:Gene) RETURN g.name AS gene")
    assert result.ok and len(result.rows) == 5 and result.truncated
    listed = tools.run_cypher("CALL db.labels() YIELD label RETURN label ORDER BY label")
    assert {"Compound", "Disease", "Gene"} <= {row["label"] for row in listed.rows}
    semicolon_in_string = tools.run_cypher("RETURN 'a;b' AS s")
    assert semicolon_in_string.ok and semicolon_in_string.rows == [{"s": "a;b"}]


def test_runaway_query_stops_at_timeout(tools: GraphTools) -> None:
    slow = tools.with_hidden(tools.hidden)
    slow.query_timeout_s = 1.0
    result = slow.run_cypher(
        "MATCH (a:Gene), (b:Gene) WHERE a.name + b.name = 'no such pair' RETURN count(*)"
    )
    assert result.error is not None and "timeout" in result.error
    assert result.elapsed_ms < 10_000


def test_statement_counting_ignores_strings_and_comments() -> None:
    assert count_statements("RETURN ';' // ; \n") == 1
    assert count_statements("RETURN 1; RETURN 2") == 2
    assert count_statements("RETURN 1;") == 1
    assert "x" not in strip_strings_and_comments("RETURN 'x' /* x */")


def test_stopped_neo4j_gives_a_clear_error(settings) -> None:  # type: ignore[no-untyped-def]
    from graph_store.connection import open_driver
    from kedrec.errors import Neo4jServerError

    dead = settings.neo4j.model_copy(update={"uri": "bolt://127.0.0.1:1"})
    with pytest.raises(Neo4jServerError, match="kedrec neo4j start"):
        open_driver(dead)
