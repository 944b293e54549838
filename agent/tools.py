"""The teacher's tools: the graph and literature functions the model may call, built per run.

Tools are closures over one :class:`~graph_store.tools.GraphTools` so that every run sees only
its own task's hidden pairs; :func:`make_tools` builds them. Each tool returns compact text
(JSON for the graph, passage lines for the literature) with provenance: DRKG IDs, relationship
types, DRKG relation names and sources, PMIDs, PMC and NCT IDs. The graph tools also return,
as the tool message's artifact, the edges they showed, as ``(head, type, tail)`` triples, so
the citation check can verify edge citations. Expected errors (an unknown name, a refused
query, a literature failure) come back as a line of text the model can act on, with the tool
message's status set to ``error``.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool, ToolException
from pydantic import BaseModel

from graph_store.tool_models import DiseaseProfile, DrugProfile, MechanismPaths
from graph_store.tools import GraphTools
from kedrec.errors import KedrecError

logger = logging.getLogger(__name__)

Edge = tuple[str, str, str]
"""``(head ID, relationship type or DRKG relation, tail ID)``; ``''`` when the type is unknown."""

GRAPH_TOOL_NAMES = (
    "resolve_entity",
    "drug_profile",
    "disease_profile",
    "direct_edges",
    "mechanism_paths",
    "candidate_drugs",
    "similar_drugs",
    "run_cypher",
)
LITERATURE_TOOL_NAMES = ("search_literature", "pubmed_search", "clinical_trials_search")


def _json(value: Any) -> str:
    """Dump pydantic results compactly (no nulls, no empty lists)."""
    if isinstance(value, BaseModel):
        value = value.model_dump(exclude_none=True)
    elif isinstance(value, list):
        value = [v.model_dump(exclude_none=True) if isinstance(v, BaseModel) else v for v in value]
    return json.dumps(_prune(value), ensure_ascii=False, separators=(",", ":"), default=str)


def _prune(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _prune(v) for k, v in value.items() if v not in (None, [], {}, "")}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def _pmids(value: Any) -> Any:
    """Prefix bare PubMed IDs (``"12345"`` → ``"PMID:12345"``) so they can be cited."""
    if isinstance(value, dict):
        return {
            k: [p if str(p).upper().startswith("PMID") else f"PMID:{p}" for p in v]
            if k == "pmids" and isinstance(v, list)
            else _pmids(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_pmids(v) for v in value]
    return value


def _edge_keys(head: str, edge_type: str | None, relation: str | None, tail: str) -> list[Edge]:
    keys = [(head, (edge_type or "").upper(), tail)]
    if relation:
        keys.append((head, relation, tail))
    return keys


def drug_profile_edges(profile: DrugProfile) -> list[Edge]:
    """Edges a drug profile shows: gene roles, indications, classes and side effects."""
    edges: list[Edge] = []
    for gene in profile.genes:
        edges += _edge_keys(profile.id, gene.role, gene.relation, gene.gene_id)
    for indication in profile.indications:
        edges += _edge_keys(profile.id, indication.type, indication.relation, indication.id)
    edges += [(profile.id, "", ref.id) for ref in (*profile.classes, *profile.side_effects)]
    return edges


def disease_profile_edges(profile: DiseaseProfile) -> list[Edge]:
    """Edges a disease profile shows: gene associations, symptoms, related diseases, anatomy."""
    edges: list[Edge] = []
    for gene in profile.genes:
        for ref in gene.edges:
            edges += _edge_keys(profile.id, ref.type, ref.relation, gene.gene_id)
    refs = (*profile.symptoms, *profile.related_diseases, *profile.anatomy)
    edges += [(profile.id, "", ref.id) for ref in refs]
    return edges


def mechanism_edges(paths: MechanismPaths) -> list[Edge]:
    """Edges of drug→gene←disease and drug→gene–gene–disease mechanism paths."""
    edges: list[Edge] = []
    for shared in paths.shared_genes:
        for ref in shared.drug_edges:
            edges += _edge_keys(paths.drug_id, ref.type, ref.relation, shared.gene_id)
        for ref in shared.disease_edges:
            edges += _edge_keys(paths.disease_id, ref.type, ref.relation, shared.gene_id)
    for path in paths.gene_gene_paths:
        d, g = path.drug_edge, path.gene_edge
        edges += _edge_keys(paths.drug_id, d.type, d.relation, path.drug_gene_id)
        edges += _edge_keys(path.drug_gene_id, g.type, g.relation, path.disease_gene_id)
        e = path.disease_edge
        edges += _edge_keys(paths.disease_id, e.type, e.relation, path.disease_gene_id)
    return edges


def _guard(function: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the project's expected errors into ToolException (→ an error text for the model)."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except KedrecError as error:
            raise ToolException(f"Error: {error}") from error

    return wrapper


def _tool(function: Callable[..., Any], *, artifact: bool) -> BaseTool:
    return StructuredTool.from_function(
        _guard(function),
        name=function.__name__,
        description=(function.__doc__ or "").strip(),
        response_format="content_and_artifact" if artifact else "content",
        handle_tool_error=True,
        handle_validation_error=lambda e: f"Error: invalid arguments: {str(e).splitlines()[0]}",
    )


def graph_tool_functions(graph_tools: GraphTools) -> list[Callable[..., tuple[str, list[Edge]]]]:
    """The graph tools as plain documented functions returning ``(text, edges)``."""

    def resolve_entity(name: str, kind: str | None = None) -> tuple[str, list[Edge]]:
        """Find graph entities by name, synonym or DRKG ID (fuzzy full-text search).

        Call this first when you are unsure of a drug's, disease's or gene's DRKG ID. `kind`
        restricts the type: "Compound", "Disease", "Gene", "Pathway", ... Returns a JSON list
        of matches {id, name, kind, score, matched_on}, best first.
        """
        matches = graph_tools.resolve_entity(name, kinds=[kind] if kind else None, limit=5)
        rows = [m.model_dump(exclude={"synonyms"}) for m in matches]
        return (_json(rows) if rows else f"No entity matches {name!r}."), []

    def drug_profile(drug: str) -> tuple[str, list[Edge]]:
        """Describe a drug: target/enzyme/carrier genes (with actions and PMIDs), classes,
        side effects and known indications, each with its DRKG relation and source.

        Call it once per candidate drug to learn what it acts on. Needs a drug name or
        Compound ID ("Compound::DB00331"). Returns JSON.
        """
        profile = graph_tools.drug_profile(drug)
        data = _pmids(profile.model_dump(exclude_none=True, exclude={"synonyms"}))
        return _json(data), drug_profile_edges(profile)

    def disease_profile(disease: str) -> tuple[str, list[Edge]]:
        """Describe a disease: associated genes with edge provenance, symptoms, related
        diseases and anatomy.

        Call it once to learn the task's disease. Needs a disease name or Disease ID
        ("Disease::DOID:9352"). Returns JSON.
        """
        profile = graph_tools.disease_profile(disease)
        return _json(profile.model_dump(exclude={"synonyms"})), disease_profile_edges(profile)

    def direct_edges(drug: str, disease: str) -> tuple[str, list[Edge]]:
        """List direct drug–disease edges (treats, palliates, text-mined themes) with sources.

        Use it to check whether the graph records a drug as treating a disease. Needs both a
        drug and a disease (names or IDs). Returns a JSON list; empty when the graph has none.
        """
        edges = graph_tools.direct_edges(drug, disease)
        if not edges:
            return f"No direct edges between {drug} and {disease}.", []
        keys = [k for e in edges for k in _edge_keys(e.drug_id, e.type, e.relation, e.disease_id)]
        return _json(edges), keys

    def mechanism_paths(drug: str, disease: str) -> tuple[str, list[Edge]]:
        """Find mechanisms linking a drug to a disease: genes the drug acts on that the disease
        involves (drug→gene←disease), then drug→gene–gene–disease paths, best supported first.

        Use it to explain *why* a drug could work. Needs a drug and a disease (names or IDs).
        Returns JSON {drug_id, disease_id, shared_genes, gene_gene_paths}.
        """
        paths = graph_tools.mechanism_paths(drug, disease, limit=10)
        return _json(paths), mechanism_edges(paths)

    def candidate_drugs(disease: str) -> tuple[str, list[Edge]]:
        """List drugs with a direct treats/palliates edge to a disease, ranked by relevance
        (curated DrugBank/Hetionet above text-mined GNBR).

        Use it to see what the graph says treats the disease. Needs a disease name or ID.
        Returns JSON {disease_id, drugs: [{id, name, edges, relevance}]}.
        """
        disease_id = graph_tools.resolve_entity(disease, kinds=["Disease"], limit=1)
        drugs = graph_tools.candidate_drugs(disease, limit=15)
        if not disease_id:
            return f"No disease matches {disease!r}.", []
        did = disease_id[0].id
        keys = [
            k for c in drugs for e in c.edges for k in _edge_keys(c.id, e.type, e.relation, did)
        ]
        text = json.dumps(
            {"disease_id": did, "drugs": json.loads(_json(drugs))}, separators=(",", ":")
        )
        return text, keys

    def similar_drugs(drug: str) -> tuple[str, list[Edge]]:
        """List drugs sharing targets/enzymes/carriers with a drug, ranked by Jaccard overlap.

        Use it to reason by analogy from better-known drugs. Needs a drug name or ID. Returns
        a JSON list [{id, name, shared_genes, n_shared, jaccard}].
        """
        return _json(graph_tools.similar_drugs(drug, limit=8)), []

    def run_cypher(query: str) -> tuple[str, list[Edge]]:
        """Run one read-only Cypher query on the DRKG graph (Neo4j) for what the other tools
        cannot answer.

        Nodes are :Entity plus a type label (:Compound, :Disease, :Gene ...) with properties
        id, name, kind; relationships have types such as TARGETS, ASSOCIATES and properties
        relation, source. Write a single MATCH ... RETURN with a LIMIT. Queries that write,
        call unknown procedures or could reach masked drug–disease edges are refused.
        Returns JSON {columns, rows, truncated} or an error line saying how to fix the query.
        """
        result = graph_tools.run_cypher(query)
        if not result.ok:
            raise ToolException(f"Error: {result.error}")
        return _json(result.model_dump(include={"columns", "rows", "truncated"})), []

    return [
        resolve_entity,
        drug_profile,
        disease_profile,
        direct_edges,
        mechanism_paths,
        candidate_drugs,
        similar_drugs,
        run_cypher,
    ]


def literature_tool_functions(
    literature_source: str, use_live_apis: bool
) -> list[Callable[..., str]]:
    """The literature tools allowed by ``literature_source`` (none for ``'none'``).

    ``ct`` keeps only trial search, ``pmc`` only article search, so that source ablations
    cannot leak the other source through the live tools. Without ``use_live_apis`` the live
    tools answer from the local index.
    """
    from literature import tools as lit

    if literature_source == "none":
        return []

    def search_literature(disease: str, drug: str) -> str:
        """Find passages about a drug for a disease in the local PubMed/PMC/ClinicalTrials.gov
        index (BM25, then re-ranked by similarity to the pair).

        Call it for each candidate drug to find published support or counter-evidence. Needs
        a disease and a drug (names or DRKG IDs). Returns lines "[doc_id | source | year |
        score] title — passage" and a Status line. Co-mention is not proof: read the passage.
        """
        return lit.search_literature(disease, drug, literature_source)

    def pubmed_search(query: str) -> str:
        """Search PubMed articles with free text ("metformin type 2 diabetes randomized").

        Use it for evidence beyond search_literature, e.g. safety or comparisons. Returns
        lines "[PMID:… | PMC | year] title — abstract" and a Status line.
        """
        if use_live_apis:
            return lit.pubmed_search(query, max_results=8)
        return _local_search(query, "pmc", f"PubMed query {query!r}")

    def clinical_trials_search(condition: str, intervention: str) -> str:
        """Search clinical trials of an intervention (drug) in a condition (disease).

        Use it for direct clinical evidence: phases, status, outcomes. Returns lines
        "[NCT:… | CT | year] title — summary" and a Status line.
        """
        if use_live_apis:
            return lit.clinical_trials_search(condition, intervention, max_results=8)
        return _local_search(f"{intervention} {condition}", "ct", f"trials of {intervention}")

    chosen: list[Callable[..., str]] = [search_literature]
    if literature_source in ("pmc", "both"):
        chosen.append(pubmed_search)
    if literature_source in ("ct", "both"):
        chosen.append(clinical_trials_search)
    return chosen


def _local_search(query: str, source: str, what: str) -> str:
    """Answer a live-search tool from the local index (live APIs are off for this run)."""
    from literature.retrieval import search_text
    from literature.tools import format_result

    result = search_text(query, source)
    result.note = "live APIs are off; answered from the local index"
    return format_result(result, what)


def make_tools(
    graph_tools: GraphTools, *, literature_source: str = "both", use_live_apis: bool = False
) -> list[BaseTool]:
    """Build the tool set of one run.

    Args:
        graph_tools: Graph tools already bound to the run's hidden pairs.
        literature_source: ``ct``, ``pmc``, ``both`` or ``none`` (literature tools omitted).
        use_live_apis: Let pubmed_search / clinical_trials_search call the web.

    Returns:
        The tools, graph first, in a fixed order (the schema the model sees).
    """
    graph = [_tool(f, artifact=True) for f in graph_tool_functions(graph_tools)]
    literature = [
        _tool(f, artifact=False)
        for f in literature_tool_functions(literature_source, use_live_apis)
    ]
    return [*graph, *literature]


def tool_schema(tools: Iterable[BaseTool]) -> dict[str, list[str]]:
    """Tool names and argument names, as the model sees them (for snapshot tests)."""
    return {tool.name: sorted(tool.args) for tool in tools}
