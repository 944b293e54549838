"""Free-form Cypher for the agent: read-only, bounded, and refused before it runs when unsafe.

Checks, in order, before anything executes:

1. one statement only (no ``;`` outside strings and comments);
2. ``EXPLAIN`` in a READ session: the server parses the query (so comments, casing and
   whitespace tricks cannot hide a clause) and reports its type; anything but ``r`` is refused;
3. the plan's operators: no ``LOAD CSV`` (file/URL access) and only allow-listed procedures
   (schema introspection and full-text search; never ``dbms.*`` or APOC I/O / write / cypher
   runners);
4. with hidden pairs, no operator may expand a Compound–Disease relationship type, an untyped
   relationship, or scan all relationships, so no hidden label edge can be reached.

The query then runs in a READ access-mode transaction with a timeout and a row cap. Errors come
back as text an agent can use to repair its query, never a stack trace.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Mapping
from typing import Any

from neo4j import READ_ACCESS, Driver, Query
from neo4j.exceptions import ClientError, Neo4jError, ServiceUnavailable
from neo4j.graph import Node, Path, Relationship
from pydantic import BaseModel, Field

from graph_store.masking import COMPOUND_DISEASE_TYPES, HiddenPairs

logger = logging.getLogger(__name__)

ALLOWED_PROCEDURES = (
    "db.labels",
    "db.relationshiptypes",
    "db.propertykeys",
    "db.schema.visualization",
    "db.schema.nodetypeproperties",
    "db.schema.reltypeproperties",
    "db.index.fulltext.querynodes",
    "apoc.meta.data",
    "apoc.meta.schema",
    "apoc.meta.stats",
)
"""Procedures free-form Cypher may call (lower case). Everything else is refused."""

_STRING_OR_COMMENT = re.compile(
    r"'(?:\\.|[^'\\])*'|\"(?:\\.|[^\"\\])*\"|`[^`]*`|//[^\n]*|/\*.*?\*/", re.DOTALL
)
_REL_PATTERN = re.compile(r"[-<]\s*\[([^\[\]]*)\]\s*[->]")
_REL_TYPES = re.compile(r":\s*!?([A-Za-z_`][\w`|:&!\s]*)")


class CypherResult(BaseModel):
    """Rows of a read-only query, or the reason it was refused or failed."""

    query: str
    columns: list[str] = Field(default_factory=list)
    rows: list[dict[str, Any]] = Field(default_factory=list)
    truncated: bool = False
    error: str | None = None
    elapsed_ms: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the query ran."""
        return self.error is None


def strip_strings_and_comments(query: str) -> str:
    """Blank out string literals, quoted names and comments, keeping the Cypher structure."""
    return _STRING_OR_COMMENT.sub(lambda m: " " if m.group(0).startswith("/") else "''", query)


def count_statements(query: str) -> int:
    """Count ``;``-separated non-empty statements outside strings and comments."""
    bare = strip_strings_and_comments(query)
    return sum(1 for part in bare.split(";") if part.strip())


def _plan_operators(plan: Mapping[str, Any] | None) -> Iterator[Mapping[str, Any]]:
    if not plan:
        return
    yield plan
    for child in plan.get("children", []):
        yield from _plan_operators(child)


def _operator_name(op: Mapping[str, Any]) -> str:
    return str(op.get("operatorType", "")).split("@")[0]


def _details(op: Mapping[str, Any]) -> str:
    return str(op.get("args", {}).get("Details", ""))


def _relationship_types_in(details: str) -> list[set[str] | None]:
    """Return, per relationship pattern in an operator's details, its types (None = untyped)."""
    found: list[set[str] | None] = []
    for inner in _REL_PATTERN.findall(details):
        match = _REL_TYPES.search(inner)
        if match is None:
            found.append(None)
            continue
        names = re.split(r"[|&:!\s]+", match.group(1))
        found.append({name.strip("`") for name in names if name.strip("`")})
    return found


def check_plan(plan: Mapping[str, Any] | None, hidden: HiddenPairs) -> str | None:
    """Return why a plan must not run, or None when it is safe."""
    for op in _plan_operators(plan):
        name = _operator_name(op)
        details = _details(op)
        if name.startswith("LoadCSV"):
            return "LOAD CSV reads files or URLs and is not allowed; query the graph instead"
        if name.startswith("ProcedureCall"):
            match = re.search(r"([A-Za-z_][\w.]*)\s*\(", details)
            proc = match.group(1).lower() if match else details.lower()
            if not proc.startswith(ALLOWED_PROCEDURES):
                return f"procedure {proc!r} is not allowed; allowed: " + ", ".join(
                    ALLOWED_PROCEDURES
                )
        if not hidden:
            continue
        if name.startswith(("AllRelationshipsScan", "UndirectedAllRelationshipsScan")):
            return _masked_refusal("it scans all relationships")
        for types in _relationship_types_in(details):
            if types is None:
                return _masked_refusal("it has an untyped relationship pattern")
            blocked = types & COMPOUND_DISEASE_TYPES
            if blocked:
                return _masked_refusal(f"it uses {', '.join(sorted(blocked))}")
    return None


def _masked_refusal(reason: str) -> str:
    return (
        f"refused under evaluation masking: {reason}. Name relationship types explicitly and avoid "
        f"Compound–Disease types ({', '.join(sorted(COMPOUND_DISEASE_TYPES))}); use the "
        "drug–disease tools for direct edges"
    )


def to_plain(value: Any) -> Any:
    """Turn driver values (nodes, relationships, paths) into compact JSON-able values."""
    if isinstance(value, Node):
        props = dict(value)
        return {
            "id": props.get("id"),
            "name": props.get("name"),
            "labels": sorted(value.labels),
        } | {k: v for k, v in props.items() if k not in {"id", "name", "synonyms_text"}}
    if isinstance(value, Relationship):
        start = value.start_node.get("id") if value.start_node else None
        end = value.end_node.get("id") if value.end_node else None
        return {"type": value.type, "start": start, "end": end} | dict(value)
    if isinstance(value, Path):
        return {
            "nodes": [to_plain(node) for node in value.nodes],
            "relationships": [to_plain(rel) for rel in value.relationships],
        }
    if isinstance(value, list):
        return [to_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: to_plain(item) for key, item in value.items()}
    if hasattr(value, "iso_format"):
        return value.iso_format()
    return value


def _error_text(error: Neo4jError) -> str:
    message = (error.message or str(error)).splitlines()[0]
    return f"{error.code}: {message}" if error.code else message


def run_read_only(
    driver: Driver,
    database: str,
    query: str,
    params: Mapping[str, Any] | None = None,
    *,
    hidden: HiddenPairs,
    timeout_s: float,
    max_rows: int,
) -> CypherResult:
    """Check, then run, one read-only Cypher query; see the module docstring."""
    params = dict(params or {})
    started = time.perf_counter()
    if not query.strip():
        return CypherResult(query=query, error="refused: the query is empty")
    if count_statements(query) > 1:
        return CypherResult(
            query=query, error="refused: send exactly one statement (remove the ';')"
        )
    try:
        with driver.session(database=database, default_access_mode=READ_ACCESS) as session:
            summary = session.run(Query("EXPLAIN " + query, timeout=timeout_s), params).consume()
            if summary.query_type != "r":
                return CypherResult(
                    query=query,
                    error=f"refused: only read-only queries are allowed (query type "
                    f"{summary.query_type!r}); remove CREATE/MERGE/SET/DELETE/REMOVE and "
                    "schema or admin commands",
                )
            refusal = check_plan(summary.plan, hidden)
            if refusal:
                return CypherResult(query=query, error=f"refused: {refusal}")
            return _execute(session, query, params, timeout_s, max_rows, started)
    except ServiceUnavailable as error:
        return CypherResult(
            query=query, error=f"Neo4j is not reachable ({error}); start it: kedrec neo4j start"
        )
    except ClientError as error:
        if "Timeout" in (error.code or "") or "terminated" in (error.message or "").lower():
            return CypherResult(
                query=query,
                error=f"stopped: the query ran past the {timeout_s:g} s timeout; add a LIMIT "
                "or anchor the pattern on a named entity",
                elapsed_ms=(time.perf_counter() - started) * 1000,
            )
        return CypherResult(query=query, error=f"refused or failed: {_error_text(error)}")
    except Neo4jError as error:
        return CypherResult(query=query, error=f"failed: {_error_text(error)}")


def _execute(
    session: Any,
    query: str,
    params: dict[str, Any],
    timeout_s: float,
    max_rows: int,
    started: float,
) -> CypherResult:
    def work(tx: Any) -> tuple[list[str], list[dict[str, Any]], bool]:
        result = tx.run(query, params)
        columns = list(result.keys())
        rows: list[dict[str, Any]] = []
        truncated = False
        for record in result:
            if len(rows) >= max_rows:
                truncated = True
                break
            rows.append({key: to_plain(record[key]) for key in columns})
        return columns, rows, truncated

    columns, rows, truncated = session.execute_read(_with_timeout(work, timeout_s))
    logger.debug("run_cypher: %d rows (truncated=%s) for %s", len(rows), truncated, query)
    return CypherResult(
        query=query,
        columns=columns,
        rows=rows,
        truncated=truncated,
        elapsed_ms=(time.perf_counter() - started) * 1000,
    )


def _with_timeout(work: Any, timeout_s: float) -> Any:
    from neo4j import unit_of_work

    return unit_of_work(timeout=timeout_s)(work)
