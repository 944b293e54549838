"""DRKG in Neo4j: the launcher, the DRKG parser and loaders, and read-only Cypher tools."""
