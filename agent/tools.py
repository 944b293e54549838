"""The teacher's tools: the evidence layer's steps and lookups as LangChain tools, per run.

Every tool calls one function of :mod:`evidence` on one :class:`~graph_store.tools.GraphTools`
(already masked with the run's hidden pairs), so the text the model reads for
``drug_profile(metformin)`` is the text the student's bundle shows for the same call, with the
same limits, names and masking. The graph tools return, as the tool message's artifact, the
edges they showed as ``(head, type, tail)`` triples, so the citation check can verify edge
citations. Expected errors (an unknown name, a refused query, a literature failure) come back
as a line of text the model can act on, with the tool message's status set to ``error``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool, ToolException

from evidence import explore, steps
from evidence.limits import EvidenceLimits, default_limits
from evidence.observation import Edge, Observation
from graph_store.tools import GraphTools
from kedrec.errors import KedrecError
from kedrec.settings import LiteratureSource


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


def _shown(observation: Observation) -> tuple[str, list[Edge]]:
    return observation.text, observation.edges


def graph_tool_functions(
    graph_tools: GraphTools, limits: EvidenceLimits | None = None
) -> list[Callable[..., tuple[str, list[Edge]]]]:
    """The graph tools as plain documented functions returning ``(text, edges)``."""
    limits = limits or default_limits()

    def resolve_entity(name: str, kind: str | None = None) -> tuple[str, list[Edge]]:
        """Find graph entities by name, synonym or DRKG ID (fuzzy full-text search).

        Call this first when you are unsure of a drug's, disease's or gene's DRKG ID. `kind`
        restricts the type: "Compound", "Disease", "Gene", "Pathway", ... Returns a JSON list
        of matches {id, name, kind, score, matched_on}, best first.
        """
        return _shown(explore.resolve_entity(graph_tools, name, kind))

    def drug_profile(drug: str) -> tuple[str, list[Edge]]:
        """Describe a drug: target/enzyme/carrier genes (with actions and PMIDs), classes,
        side effects and known indications, each with its relation type and source.

        Call it once per candidate drug to learn what it acts on. Needs a drug name or
        Compound ID ("Compound::DB00331"). Returns one fact per line, IDs in parentheses.
        """
        return _shown(steps.drug_profile(graph_tools, drug, limits))

    def disease_profile(disease: str) -> tuple[str, list[Edge]]:
        """Describe a disease: associated genes with edge provenance, symptoms, related
        diseases and anatomy.

        Call it once to learn the task's disease. Needs a disease name or Disease ID
        ("Disease::DOID:9352"). Returns one fact per line, IDs in parentheses.
        """
        return _shown(steps.disease_profile(graph_tools, disease, limits))

    def direct_edges(drug: str, disease: str) -> tuple[str, list[Edge]]:
        """List direct drug–disease edges (treats, palliates, text-mined themes) with sources.

        Use it to check whether the graph records a drug as treating a disease. Needs both a
        drug and a disease (names or IDs). Returns one edge per line, or a line saying none.
        """
        return _shown(steps.direct_edges(graph_tools, drug, disease, limits))

    def mechanism_paths(drug: str, disease: str) -> tuple[str, list[Edge]]:
        """Find mechanisms linking a drug to a disease: genes the drug acts on that the disease
        involves (drug→gene←disease), then drug→gene–gene–disease paths, best supported first.

        Use it to explain *why* a drug could work. Needs a drug and a disease (names or IDs).
        Returns one shared gene or path per line with its edges and support.
        """
        return _shown(steps.mechanism_paths(graph_tools, drug, disease, limits))

    def candidate_drugs(disease: str) -> tuple[str, list[Edge]]:
        """List drugs with a direct treats/palliates edge to a disease, ranked by relevance
        (curated DrugBank/Hetionet above text-mined GNBR).

        Use it to see what the graph says treats the disease. Needs a disease name or ID.
        Returns JSON {disease_id, drugs: [{id, name, edges, relevance}]}.
        """
        return _shown(explore.candidate_drugs(graph_tools, disease))

    def similar_drugs(drug: str) -> tuple[str, list[Edge]]:
        """List drugs sharing targets/enzymes/carriers with a drug, ranked by Jaccard overlap.

        Use it to reason by analogy from better-known drugs. Needs a drug name or ID. Returns
        a JSON list [{id, name, shared_genes, n_shared, jaccard}].
        """
        return _shown(explore.similar_drugs(graph_tools, drug))

    def run_cypher(query: str) -> tuple[str, list[Edge]]:
        """Run one read-only Cypher query on the DRKG graph (Neo4j) for what the other tools
        cannot answer.

        Nodes are :Entity plus a type label (:Compound, :Disease, :Gene ...) with properties
        id, name, kind; relationships have types such as TARGETS, ASSOCIATES and properties
        relation, source. Write a single MATCH ... RETURN with a LIMIT. Queries that write,
        call unknown procedures or could reach masked drug–disease edges are refused.
        Returns JSON {columns, rows, truncated} or an error line saying how to fix the query.
        """
        return _shown(explore.run_cypher(graph_tools, query))

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
    graph_tools: GraphTools,
    literature_source: LiteratureSource,
    use_live_apis: bool,
    limits: EvidenceLimits | None = None,
) -> list[Callable[..., str]]:
    """The literature tools allowed by ``literature_source`` (none for ``'none'``).

    ``ct`` keeps only trial search, ``pmc`` only article search, so that source ablations
    cannot leak the other source through the live tools. Without ``use_live_apis`` the live
    tools answer from the local index.
    """
    from literature import tools as lit

    limits = limits or default_limits()
    if literature_source == "none":
        return []

    def search_literature(disease: str, drug: str) -> str:
        """Find passages about a drug for a disease in the local PubMed/PMC/ClinicalTrials.gov
        index (BM25, then re-ranked by similarity to the pair).

        Call it for each candidate drug to find published support or counter-evidence. Needs
        a disease and a drug (names or DRKG IDs). Returns lines "[doc_id | source | year]
        title — passage" and a count line. Co-mention is not proof: read the passage.
        """
        observation = steps.search_literature(graph_tools, disease, drug, literature_source, limits)
        return observation.text

    def pubmed_search(query: str) -> str:
        """Search PubMed articles with free text ("metformin type 2 diabetes randomized").

        Use it for evidence beyond search_literature, e.g. safety or comparisons. Returns
        lines "[PMID:… | PMC | year] title — abstract" and a Status line.
        """
        if use_live_apis:
            return lit.pubmed_search(query, max_results=8)
        return lit.local_search(query, "pmc", f"PubMed query {query!r}")

    def clinical_trials_search(condition: str, intervention: str) -> str:
        """Search clinical trials of an intervention (drug) in a condition (disease).

        Use it for direct clinical evidence: phases, status, outcomes. Returns lines
        "[NCT:… | CT | year] title — summary" and a Status line.
        """
        if use_live_apis:
            return lit.clinical_trials_search(condition, intervention, max_results=8)
        return lit.local_search(f"{intervention} {condition}", "ct", f"trials of {intervention}")

    chosen: list[Callable[..., str]] = [search_literature]
    if literature_source in ("pmc", "both"):
        chosen.append(pubmed_search)
    if literature_source in ("ct", "both"):
        chosen.append(clinical_trials_search)
    return chosen


def make_tools(
    graph_tools: GraphTools,
    *,
    literature_source: LiteratureSource = "both",
    use_live_apis: bool = False,
    limits: EvidenceLimits | None = None,
) -> list[BaseTool]:
    """Build the tool set of one run.

    Args:
        graph_tools: Graph tools already bound to the run's hidden pairs.
        literature_source: ``ct``, ``pmc``, ``both`` or ``none`` (literature tools omitted).
        use_live_apis: Let pubmed_search / clinical_trials_search call the web.
        limits: Evidence limits; the settings' when None (the bundle uses the same).

    Returns:
        The tools, graph first, in a fixed order (the schema the model sees).
    """
    graph = [_tool(f, artifact=True) for f in graph_tool_functions(graph_tools, limits)]
    literature = [
        _tool(f, artifact=False)
        for f in literature_tool_functions(graph_tools, literature_source, use_live_apis, limits)
    ]
    return [*graph, *literature]


def tool_schema(tools: Iterable[BaseTool]) -> dict[str, list[str]]:
    """Tool names and argument names, as the model sees them (for snapshot tests)."""
    return {tool.name: sorted(tool.args) for tool in tools}
