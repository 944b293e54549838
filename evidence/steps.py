"""The evidence steps: one function per kind of evidence, shared by teacher and student.

Each step takes graph tools (already masked, see :func:`evidence.masking.masked_tools`), its
arguments and the :class:`~evidence.limits.EvidenceLimits`, and returns an
:class:`~evidence.observation.Observation`. The teacher's tools of the same names return the
observation's text to the model; the bundle the student reads is these steps in the fixed
order of :data:`EVIDENCE_STEPS`. Names are always resolved by the graph (full-text index over
names and synonyms), for the literature query too, so both readers see the same entities.
Errors (an unknown name, an index that is not built) propagate: the caller records them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from evidence.limits import EvidenceLimits
from evidence.observation import Observation
from evidence.render import (
    direct_lines,
    disease_lines,
    drug_lines,
    literature_lines,
    mechanism_lines,
)
from graph_store.tools import GraphTools
from kedrec.settings import LiteratureSource

EVIDENCE_STEPS: tuple[tuple[str, str], ...] = (
    ("disease_profile", "disease"),
    ("drug_profile", "candidate"),
    ("direct_edges", "candidate"),
    ("mechanism_paths", "candidate"),
    ("search_literature", "candidate"),
)
"""The fixed order of the bundle: ``disease_profile(d)``, then for each candidate ``c`` in set
order: ``drug_profile(c)``, ``direct_edges(c, d)`` (empty for label pairs: they are hidden),
``mechanism_paths(c, d)`` and ``search_literature(d, c, source)`` (skipped when the literature
source is ``none``). Changing it changes the bundle version and what students are trained on."""


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_dump(item) for item in value]
    return value


def _call(tool: str, arguments: dict[str, Any]) -> str:
    return f"{tool}(" + ", ".join(f"{k}={v}" for k, v in arguments.items()) + ")"


def disease_profile(tools: GraphTools, disease: str, limits: EvidenceLimits) -> Observation:
    """What the graph knows about a disease (associated genes, symptoms, related diseases)."""
    profile = tools.disease_profile(disease, limit=limits.profile_limit)
    arguments = {"disease": profile.id}
    return Observation(
        tool="disease_profile",
        arguments=arguments,
        query=_call("disease_profile", {**arguments, "limit": limits.profile_limit}),
        lines=disease_lines(profile),
        result=_dump(profile),
    )


def drug_profile(tools: GraphTools, drug: str, limits: EvidenceLimits) -> Observation:
    """What the graph knows about a drug (genes acted on, classes, side effects, indications)."""
    profile = tools.drug_profile(drug, limit=limits.profile_limit)
    arguments = {"drug": profile.id}
    return Observation(
        tool="drug_profile",
        arguments=arguments,
        query=_call("drug_profile", {**arguments, "limit": limits.profile_limit}),
        lines=drug_lines(profile),
        result=_dump(profile),
    )


def direct_edges(tools: GraphTools, drug: str, disease: str, limits: EvidenceLimits) -> Observation:
    """Direct drug–disease edges (treats, palliates, text-mined themes); hidden pairs never."""
    drug_id = tools.resolve_one(drug, "Compound").id
    disease_id = tools.resolve_one(disease, "Disease").id
    edges = tools.direct_edges(drug_id, disease_id)
    arguments = {"drug": drug_id, "disease": disease_id}
    return Observation(
        tool="direct_edges",
        arguments=arguments,
        query=_call("direct_edges", arguments),
        lines=direct_lines(edges),
        result=_dump(edges),
    )


def mechanism_paths(
    tools: GraphTools, drug: str, disease: str, limits: EvidenceLimits
) -> Observation:
    """Mechanisms linking a drug to a disease: shared genes, then gene–gene paths."""
    paths = tools.mechanism_paths(drug, disease, limit=limits.mechanism_limit)
    arguments = {"drug": paths.drug_id, "disease": paths.disease_id}
    return Observation(
        tool="mechanism_paths",
        arguments=arguments,
        query=_call("mechanism_paths", {**arguments, "limit": limits.mechanism_limit}),
        lines=mechanism_lines(paths),
        result=_dump(paths),
    )


def search_literature(
    tools: GraphTools,
    disease: str,
    drug: str,
    source: LiteratureSource,
    limits: EvidenceLimits,
    *,
    index: Any = None,
) -> Observation:
    """Passages about a drug for a disease: the paper's two-step retrieval (BM25, then MiniLM).

    The names and synonyms in the query come from the graph's entities, so a drug is searched
    for under the name the rest of the evidence uses.
    """
    from literature.retrieval import retrieve_pair

    disease_entity = tools.resolve_one(disease, "Disease")
    drug_entity = tools.resolve_one(drug, "Compound")
    result = retrieve_pair(
        disease_entity.name,
        drug_entity.name,
        source,
        disease_synonyms=disease_entity.synonyms,
        drug_synonyms=drug_entity.synonyms,
        index=index,
        top_n=limits.literature_top_n,
    )
    arguments = {"disease": disease_entity.id, "drug": drug_entity.id, "source": source}
    return Observation(
        tool="search_literature",
        arguments=arguments,
        query=result.query,
        lines=literature_lines(result, limits.snippet_chars),
        result=_dump(result.model_copy(update={"elapsed_ms": 0.0})),
    )
