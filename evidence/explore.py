"""Observations of the teacher's exploratory tools: lookups the fixed bundle does not make.

The agent-mode teacher may resolve names, list a disease's treated drugs, find similar drugs
and run read-only Cypher. These results are JSON (they are lists of records, read by a strong
model), with the graph edges they show attached for the citation check, like every step.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from evidence.observation import EvidenceLine, Observation, edge_keys
from graph_store.tools import GraphTools
from kedrec.errors import QueryRefusedError


def _prune(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _prune(v) for k, v in value.items() if v not in (None, [], {}, "")}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def compact_json(value: Any) -> str:
    """Dump pydantic results compactly (no nulls, no empty lists)."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", exclude_none=True)
    elif isinstance(value, list):
        value = [
            v.model_dump(mode="json", exclude_none=True) if isinstance(v, BaseModel) else v
            for v in value
        ]
    return json.dumps(_prune(value), ensure_ascii=False, separators=(",", ":"), default=str)


def _observation(tool: str, arguments: dict[str, Any], text: str, edges: list[Any]) -> Observation:
    query = f"{tool}(" + ", ".join(f"{k}={v!r}" for k, v in arguments.items()) + ")"
    return Observation(
        tool=tool,
        arguments=arguments,
        query=query,
        lines=[EvidenceLine(text=text, edges=edges)],
    )


def resolve_entity(tools: GraphTools, name: str, kind: str | None = None) -> Observation:
    """Entities matching a name, synonym or ID, best first (no synonyms: they are long)."""
    matches = tools.resolve_entity(name, kinds=[kind] if kind else None, limit=5)
    rows = [m.model_dump(exclude={"synonyms"}) for m in matches]
    text = compact_json(rows) if rows else f"No entity matches {name!r}."
    return _observation("resolve_entity", {"name": name, "kind": kind}, text, [])


def candidate_drugs(tools: GraphTools, disease: str, limit: int = 15) -> Observation:
    """Drugs with direct treats/palliates edges to a disease, ranked by relevance."""
    entity = tools.resolve_one(disease, "Disease")
    drugs = tools.candidate_drugs(entity.id, limit=limit)
    edges = [
        k for c in drugs for e in c.edges for k in edge_keys(c.id, e.type, e.relation, entity.id)
    ]
    text = json.dumps(
        {"disease_id": entity.id, "drugs": json.loads(compact_json(drugs))},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return _observation("candidate_drugs", {"disease": disease}, text, edges)


def similar_drugs(tools: GraphTools, drug: str, limit: int = 8) -> Observation:
    """Drugs sharing targets/enzymes/carriers with a drug, by Jaccard overlap."""
    text = compact_json(tools.similar_drugs(drug, limit=limit))
    return _observation("similar_drugs", {"drug": drug}, text, [])


def run_cypher(tools: GraphTools, query: str) -> Observation:
    """One read-only, masked Cypher query; a refused or failed query raises with its reason."""
    result = tools.run_cypher(query)
    if not result.ok:
        raise QueryRefusedError(result.error or "query failed")
    text = compact_json(result.model_dump(include={"columns", "rows", "truncated"}))
    return _observation("run_cypher", {"query": query}, text, [])
