"""Typed results of the graph tools: compact, with names and provenance on every edge."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class EntityMatch(BaseModel):
    """An entity found by name, synonym or ID."""

    id: str
    name: str
    kind: str
    synonyms: list[str] = Field(default_factory=list)
    score: float
    matched_on: Literal["id", "name", "synonym", "fuzzy"]


class EdgeRef(BaseModel):
    """Provenance of one edge: the Neo4j type, the DRKG relation and its source."""

    type: str
    relation: str | None = None
    source: str | None = None


class GeneLink(BaseModel):
    """A gene a drug acts on, in a given role (TARGETS, METABOLIZED_BY …)."""

    role: str
    gene_id: str
    gene: str
    relation: str | None = None
    source: str | None = None
    known_action: str | None = None
    actions: list[str] | None = None
    pmids: list[str] | None = None


class NamedRef(BaseModel):
    """A linked entity with the source of the link."""

    id: str
    name: str
    source: str | None = None


class Indication(NamedRef):
    """A disease a drug is known to treat or palliate."""

    type: str
    relation: str | None = None


class DrugProfile(BaseModel):
    """What the graph knows about one drug."""

    id: str
    name: str
    synonyms: list[str] = Field(default_factory=list)
    genes: list[GeneLink] = Field(default_factory=list)
    classes: list[NamedRef] = Field(default_factory=list)
    side_effects: list[NamedRef] = Field(default_factory=list)
    indications: list[Indication] = Field(default_factory=list)


class DiseaseGene(BaseModel):
    """A gene associated with a disease, with every edge that says so."""

    gene_id: str
    gene: str
    edges: list[EdgeRef]


class DiseaseProfile(BaseModel):
    """What the graph knows about one disease."""

    id: str
    name: str
    synonyms: list[str] = Field(default_factory=list)
    genes: list[DiseaseGene] = Field(default_factory=list)
    gene_count: int = 0
    symptoms: list[NamedRef] = Field(default_factory=list)
    related_diseases: list[NamedRef] = Field(default_factory=list)
    anatomy: list[NamedRef] = Field(default_factory=list)


class DirectEdge(BaseModel):
    """A direct edge between a drug and a disease."""

    drug_id: str
    disease_id: str
    type: str
    relation: str | None = None
    source: str | None = None
    drug_is_head: bool


class SharedGene(BaseModel):
    """drug→gene←disease: a gene linked to both, with both edges' provenance."""

    gene_id: str
    gene: str
    drug_edges: list[EdgeRef]
    disease_edges: list[EdgeRef]
    support: float


class GeneGenePath(BaseModel):
    """drug→gene–gene–disease: one bounded two-gene path."""

    drug_gene_id: str
    drug_gene: str
    drug_edge: EdgeRef
    gene_edge: EdgeRef
    disease_gene_id: str
    disease_gene: str
    disease_edge: EdgeRef
    support: float


class MechanismPaths(BaseModel):
    """Mechanistic links between a drug and a disease, best supported first."""

    drug_id: str
    disease_id: str
    shared_genes: list[SharedGene] = Field(default_factory=list)
    gene_gene_paths: list[GeneGenePath] = Field(default_factory=list)


class DrugCandidate(BaseModel):
    """A drug with direct treatment edges to a disease."""

    id: str
    name: str
    edges: list[EdgeRef]
    relevance: float


class SimilarDrug(BaseModel):
    """A drug sharing targets with another."""

    id: str
    name: str
    shared_genes: list[str]
    n_shared: int
    jaccard: float
