"""One rendering of graph and literature results as compact evidence lines.

IDs come first on every line, so a line clipped to :data:`LINE_CHARS` keeps what makes it
citable. Lists are sorted where the tool's order carries no meaning, so the same graph gives the
same text. Each line carries the edges it shows (see :mod:`evidence.observation`).
"""

from __future__ import annotations

from collections.abc import Sequence

from evidence.observation import Edge, EvidenceLine, edge_keys
from graph_store.tool_models import (
    DirectEdge,
    DiseaseProfile,
    DrugProfile,
    EdgeRef,
    MechanismPaths,
    NamedRef,
)
from literature.retrieval import RetrievalResult

LINE_CHARS = 400
"""No rendered line is longer than this."""


def clip(text: str, limit: int) -> str:
    """Collapse whitespace and cut to ``limit`` characters with an ellipsis."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _line(text: str, edges: Sequence[Edge] = ()) -> EvidenceLine:
    return EvidenceLine(text=clip(text, LINE_CHARS), edges=list(edges))


def _edge(ref: EdgeRef) -> str:
    return "/".join(str(x) for x in (ref.type, ref.source) if x)


def _refs(head: str, label: str, refs: Sequence[NamedRef]) -> EvidenceLine:
    """One line listing linked entities (classes, side effects, symptoms …), sorted by ID."""
    ordered = sorted(refs, key=lambda ref: ref.id)
    text = "; ".join(f"{ref.name} ({ref.id})" for ref in ordered) or "none"
    return _line(f"{label}: {text}", [(head, "", ref.id) for ref in ordered])


def disease_lines(profile: DiseaseProfile) -> list[EvidenceLine]:
    """A disease profile: names, associated genes with edge provenance, linked entities."""
    lines = [
        _line(
            f"{profile.name} ({profile.id}); synonyms: " + (", ".join(profile.synonyms) or "none")
        ),
        _line(f"associated genes ({profile.gene_count} in graph):"),
    ]
    for gene in profile.genes:
        edges = ", ".join(sorted({_edge(e) for e in gene.edges}))
        keys = [
            k for e in gene.edges for k in edge_keys(profile.id, e.type, e.relation, gene.gene_id)
        ]
        lines.append(_line(f"- {gene.gene} ({gene.gene_id}) [{edges}]", keys))
    lines.append(_refs(profile.id, "symptoms", profile.symptoms))
    lines.append(_refs(profile.id, "related diseases", profile.related_diseases))
    lines.append(_refs(profile.id, "anatomy", profile.anatomy))
    return lines


def drug_lines(profile: DrugProfile) -> list[EvidenceLine]:
    """A drug profile: names, known indications, genes acted on (actions, PMIDs), links."""
    indications = sorted(profile.indications, key=lambda x: x.id)
    lines = [
        _line(
            f"{profile.name} ({profile.id}); synonyms: "
            + (", ".join(profile.synonyms[:5]) or "none")
        ),
        _line(f"known indications (label pairs hidden): {len(indications)}"),
    ]
    for x in indications:
        lines.append(
            _line(
                f"- {x.type} {x.name} ({x.id}) [{x.source}]",
                edge_keys(profile.id, x.type, x.relation, x.id),
            )
        )
    lines.append(_line(f"genes acted on: {len(profile.genes)}"))
    for gene in profile.genes:
        extra = [gene.known_action or "", ",".join(gene.actions or [])]
        pmids = ",".join(
            p if str(p).upper().startswith("PMID") else f"PMID:{p}" for p in (gene.pmids or [])[:3]
        )
        detail = "; ".join(x for x in [*extra, pmids] if x)
        lines.append(
            _line(
                f"- {gene.role} {gene.gene} ({gene.gene_id}) [{gene.source}]"
                + (f" {detail}" if detail else ""),
                edge_keys(profile.id, gene.role, gene.relation, gene.gene_id),
            )
        )
    lines.append(_refs(profile.id, "classes", profile.classes))
    lines.append(_refs(profile.id, "side effects", profile.side_effects))
    return lines


def direct_lines(edges: Sequence[DirectEdge]) -> list[EvidenceLine]:
    """Direct drug–disease edges, or a line saying there are none (or they are hidden)."""
    if not edges:
        return [_line("none (no direct edge, or the pair is hidden for evaluation)")]
    return [
        _line(
            f"- {e.drug_id} {e.type} {e.disease_id}: {e.relation} [{e.source}] "
            f"{'drug→disease' if e.drug_is_head else 'disease→drug'}",
            edge_keys(e.drug_id, e.type, e.relation, e.disease_id),
        )
        for e in edges
    ]


def mechanism_lines(paths: MechanismPaths) -> list[EvidenceLine]:
    """Shared genes (drug→gene←disease) and drug→gene–gene–disease paths, best first."""
    drug, disease = paths.drug_id, paths.disease_id
    lines = [_line(f"shared genes (drug→gene←disease): {len(paths.shared_genes)}")]
    for gene in paths.shared_genes:
        drug_edges = ", ".join(sorted({_edge(e) for e in gene.drug_edges}))
        disease_edges = ", ".join(sorted({_edge(e) for e in gene.disease_edges}))
        keys = [
            k for e in gene.drug_edges for k in edge_keys(drug, e.type, e.relation, gene.gene_id)
        ]
        keys += [
            k
            for e in gene.disease_edges
            for k in edge_keys(disease, e.type, e.relation, gene.gene_id)
        ]
        lines.append(
            _line(
                f"- {gene.gene} ({gene.gene_id}) drug[{drug_edges}] disease[{disease_edges}] "
                f"support {gene.support:.2f}",
                keys,
            )
        )
    lines.append(_line(f"gene–gene paths (drug→gene–gene–disease): {len(paths.gene_gene_paths)}"))
    for path in paths.gene_gene_paths:
        d, g, e = path.drug_edge, path.gene_edge, path.disease_edge
        keys = edge_keys(drug, d.type, d.relation, path.drug_gene_id)
        keys += edge_keys(path.drug_gene_id, g.type, g.relation, path.disease_gene_id)
        keys += edge_keys(disease, e.type, e.relation, path.disease_gene_id)
        lines.append(
            _line(
                f"- {path.drug_gene} ({path.drug_gene_id}) -{_edge(g)}- "
                f"{path.disease_gene} ({path.disease_gene_id}) [{_edge(d)}; {_edge(e)}] "
                f"support {path.support:.2f}",
                keys,
            )
        )
    return lines


def literature_lines(result: RetrievalResult, snippet_chars: int) -> list[EvidenceLine]:
    """Retrieved passages, one per line with document ID, source and year; then a count."""
    lines = [
        _line(
            f"- [{p.doc_id} | {p.source} | {p.year or '?'}] "
            f"{clip(p.title, 120)} — {clip(p.passage, snippet_chars)}"
        )
        for p in result.passages
    ]
    note = f"; {result.note}" if result.note else ""
    lines.append(_line(f"{len(result.passages)} passages of {result.candidates} BM25 hits{note}"))
    return lines
