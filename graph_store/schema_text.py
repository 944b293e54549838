"""The live graph schema as text, for the agent's free-form Cypher tool description.

langchain-neo4j reads node properties, relationship properties and patterns through APOC
(``apoc.meta.data``), which the launcher installs; the agent's prompt cites this text so the
model writes Cypher against labels and types that exist.
"""

from __future__ import annotations

from kedrec.errors import Neo4jServerError
from kedrec.settings import Neo4jSettings


def graph_schema_text(settings: Neo4jSettings) -> str:
    """Return langchain-neo4j's schema summary of the configured database."""
    from langchain_neo4j import Neo4jGraph
    from neo4j.exceptions import Neo4jError

    try:
        graph = Neo4jGraph(
            url=settings.uri,
            username=settings.user,
            password=settings.password.get_secret_value(),
            database=settings.database,
            refresh_schema=True,
        )
    except (Neo4jError, ValueError) as error:
        raise Neo4jServerError(
            f"could not read the graph schema from {settings.uri} (is APOC installed? "
            "`kedrec neo4j start` installs it): {error}".splitlines()[0]
        ) from error
    try:
        return graph.get_schema
    finally:
        graph.close()
