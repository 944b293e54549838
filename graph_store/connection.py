"""Opening a Neo4j driver from settings, with an error that says how to fix a dead server."""

from __future__ import annotations

from neo4j import Driver, GraphDatabase
from neo4j.exceptions import AuthError, ServiceUnavailable

from kedrec.errors import Neo4jServerError
from kedrec.settings import Neo4jSettings


def open_driver(settings: Neo4jSettings, *, verify: bool = True) -> Driver:
    """Return a driver for ``settings.uri``; fail with one line when it cannot be reached."""
    driver = GraphDatabase.driver(
        settings.uri,
        auth=(settings.user, settings.password.get_secret_value()),
        connection_timeout=5.0,
        notifications_min_severity="OFF",
    )
    if verify:
        try:
            driver.verify_connectivity()
        except ServiceUnavailable as error:
            driver.close()
            raise Neo4jServerError(
                f"Neo4j at {settings.uri} is not reachable: start it with `kedrec neo4j start` "
                "or set NEO4J_URI"
            ) from error
        except AuthError as error:
            driver.close()
            raise Neo4jServerError(
                f"Neo4j at {settings.uri} refused the credentials of user {settings.user!r}: "
                "set NEO4J_USER / NEO4J_PASSWORD"
            ) from error
    return driver
