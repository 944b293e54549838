"""The Neo4j graph model for DRKG: node labels, relationship types, constraints and indexes.

Nodes: every entity is ``:Entity`` (unique ``id`` = the DRKG ID) plus one label for its DRKG type
(``Biological Process`` -> ``:BiologicalProcess``). Properties: ``id``, ``name``, ``synonyms``,
``kind`` (the DRKG type), ``name_source``.

Relationships: one type per meaning, derived from the DRKG relation by :data:`RELATION_TYPES`
(curated for DrugBank, Hetionet and GNBR, whose names are codes) and :func:`relationship_type`'s
rule for the rest (``DGIDB::INHIBITOR::Gene:Compound`` -> ``DGIDB_INHIBITOR``). Every
relationship keeps ``relation`` (the full DRKG name) and ``source`` (DRUGBANK, GNBR, Hetionet …),
so provenance survives the mapping. The table is printed by ``kedrec graph schema``.
"""

from __future__ import annotations

import re

from graph_store.drkg_format import Relation

ENTITY_LABEL = "Entity"
META_LABEL = "KedrecMeta"
FULLTEXT_INDEX = "entity_names"

RELATION_TYPES: dict[str, str] = {
    # DrugBank (curated)
    "DRUGBANK::treats::Compound:Disease": "TREATS",
    "DRUGBANK::target::Compound:Gene": "TARGETS",
    "DRUGBANK::enzyme::Compound:Gene": "METABOLIZED_BY",
    "DRUGBANK::carrier::Compound:Gene": "CARRIED_BY",
    "DRUGBANK::ddi-interactor-in::Compound:Compound": "INTERACTS_WITH_DRUG",
    "DRUGBANK::x-atc::Compound:Atc": "IN_ATC_CLASS",
    # Hetionet metaedges (curated / integrated)
    "Hetionet::CtD::Compound:Disease": "TREATS",
    "Hetionet::CpD::Compound:Disease": "PALLIATES",
    "Hetionet::CbG::Compound:Gene": "BINDS",
    "Hetionet::CuG::Compound:Gene": "UPREGULATES",
    "Hetionet::CdG::Compound:Gene": "DOWNREGULATES",
    "Hetionet::CcSE::Compound:Side Effect": "CAUSES",
    "Hetionet::CrC::Compound:Compound": "RESEMBLES",
    "Hetionet::PCiC::Pharmacologic Class:Compound": "INCLUDES",
    "Hetionet::DaG::Disease:Gene": "ASSOCIATES",
    "Hetionet::DuG::Disease:Gene": "UPREGULATES",
    "Hetionet::DdG::Disease:Gene": "DOWNREGULATES",
    "Hetionet::DlA::Disease:Anatomy": "LOCALIZES",
    "Hetionet::DpS::Disease:Symptom": "PRESENTS",
    "Hetionet::DrD::Disease:Disease": "RESEMBLES",
    "Hetionet::AeG::Anatomy:Gene": "EXPRESSES",
    "Hetionet::AuG::Anatomy:Gene": "UPREGULATES",
    "Hetionet::AdG::Anatomy:Gene": "DOWNREGULATES",
    "Hetionet::GiG::Gene:Gene": "INTERACTS",
    "Hetionet::GcG::Gene:Gene": "COVARIES",
    "Hetionet::Gr>G::Gene:Gene": "REGULATES",
    "Hetionet::GpBP::Gene:Biological Process": "PARTICIPATES",
    "Hetionet::GpCC::Gene:Cellular Component": "PARTICIPATES",
    "Hetionet::GpMF::Gene:Molecular Function": "PARTICIPATES",
    "Hetionet::GpPW::Gene:Pathway": "PARTICIPATES",
    # GNBR themes (text-mined from PubMed; Percha & Altman 2018)
    "GNBR::T::Compound:Disease": "TREATS",
    "GNBR::C::Compound:Disease": "INHIBITS_CELL_GROWTH",
    "GNBR::Sa::Compound:Disease": "SIDE_EFFECT",
    "GNBR::Pr::Compound:Disease": "PREVENTS",
    "GNBR::Pa::Compound:Disease": "ALLEVIATES",
    "GNBR::J::Compound:Disease": "ROLE_IN_PATHOGENESIS",
    "GNBR::Mp::Compound:Disease": "BIOMARKER",
    "GNBR::A+::Compound:Gene": "AGONIZES",
    "GNBR::A-::Compound:Gene": "ANTAGONIZES",
    "GNBR::B::Compound:Gene": "BINDS",
    "GNBR::E+::Compound:Gene": "INCREASES_EXPRESSION",
    "GNBR::E-::Compound:Gene": "DECREASES_EXPRESSION",
    "GNBR::E::Compound:Gene": "AFFECTS_EXPRESSION",
    "GNBR::N::Compound:Gene": "INHIBITS",
    "GNBR::O::Compound:Gene": "TRANSPORTED_BY",
    "GNBR::K::Compound:Gene": "METABOLIZED_BY",
    "GNBR::Z::Compound:Gene": "ENZYME_ACTIVITY",
    "GNBR::U::Gene:Disease": "CAUSAL_MUTATION",
    "GNBR::Ud::Gene:Disease": "MUTATION_AFFECTS_COURSE",
    "GNBR::D::Gene:Disease": "DRUG_TARGET_FOR",
    "GNBR::J::Gene:Disease": "ROLE_IN_PATHOGENESIS",
    "GNBR::Te::Gene:Disease": "POSSIBLE_THERAPEUTIC_EFFECT",
    "GNBR::Y::Gene:Disease": "POLYMORPHISM_ALTERS_RISK",
    "GNBR::G::Gene:Disease": "PROMOTES_PROGRESSION",
    "GNBR::Md::Gene:Disease": "BIOMARKER",
    "GNBR::X::Gene:Disease": "OVEREXPRESSED_IN",
    "GNBR::L::Gene:Disease": "IMPROPER_REGULATION_LINKED",
    "GNBR::B::Gene:Gene": "BINDS",
    "GNBR::W::Gene:Gene": "ENHANCES_RESPONSE",
    "GNBR::V+::Gene:Gene": "ACTIVATES",
    "GNBR::E+::Gene:Gene": "INCREASES_EXPRESSION",
    "GNBR::E::Gene:Gene": "AFFECTS_EXPRESSION",
    "GNBR::I::Gene:Gene": "SIGNALING_PATHWAY",
    "GNBR::H::Gene:Gene": "SAME_PROTEIN_OR_COMPLEX",
    "GNBR::Rg::Gene:Gene": "REGULATES",
    "GNBR::Q::Gene:Gene": "PRODUCED_BY_CELL_POPULATION",
    "GNBR::in_tax::Gene:Tax": "IN_TAXON",
}
"""Curated relationship types; relations not listed here follow :func:`relationship_type`."""

RELEVANCE_WEIGHTS: dict[str, float] = {
    "DRUGBANK::treats::Compound:Disease": 3.0,
    "Hetionet::CtD::Compound:Disease": 3.0,
    "Hetionet::CpD::Compound:Disease": 2.0,
    "GNBR::T::Compound:Disease": 1.0,
    "GNBR::Pa::Compound:Disease": 0.5,
    "GNBR::Pr::Compound:Disease": 0.5,
    "GNBR::C::Compound:Disease": 0.5,
    "GNBR::Sa::Compound:Disease": 0.0,
    "GNBR::J::Compound:Disease": 0.0,
    "GNBR::Mp::Compound:Disease": 0.0,
}
"""rel(d, c) weight of each Compound–Disease relation (curated treats > palliates > text-mined);
relations not listed weigh 0: they relate a drug to a disease without making it relevant."""

TREATMENT_TYPES = ("TREATS", "PALLIATES")
"""Relationship types that state a drug is used for a disease."""

_NON_WORD = re.compile(r"[^A-Za-z0-9]+")


def node_label(entity_type: str) -> str:
    """Return the Neo4j label for a DRKG entity type (``Side Effect`` -> ``SideEffect``)."""
    label = "".join(part[:1].upper() + part[1:] for part in _NON_WORD.split(entity_type) if part)
    if not label or not label[0].isalpha():
        raise ValueError(f"entity type {entity_type!r} cannot be turned into a Neo4j label")
    return label


def relationship_type(relation: Relation) -> str:
    """Return the Neo4j relationship type for a DRKG relation."""
    curated = RELATION_TYPES.get(relation.full)
    if curated is not None:
        return curated
    words = _NON_WORD.sub("_", f"{relation.source}_{relation.name}").strip("_").upper()
    return words or "RELATED_TO"


def quote_name(name: str) -> str:
    """Backtick-quote a label or relationship type for interpolation into Cypher."""
    return "`" + name.replace("`", "``") + "`"


SCHEMA_STATEMENTS: tuple[str, ...] = (
    f"CREATE CONSTRAINT entity_id IF NOT EXISTS FOR (n:{ENTITY_LABEL}) REQUIRE n.id IS UNIQUE",
    f"CREATE CONSTRAINT meta_key IF NOT EXISTS FOR (n:{META_LABEL}) REQUIRE n.key IS UNIQUE",
    f"CREATE INDEX entity_kind IF NOT EXISTS FOR (n:{ENTITY_LABEL}) ON (n.kind)",
    f"CREATE FULLTEXT INDEX {FULLTEXT_INDEX} IF NOT EXISTS FOR (n:{ENTITY_LABEL}) "
    "ON EACH [n.name, n.synonyms_text] "
    "OPTIONS {indexConfig: {`fulltext.analyzer`: 'standard-no-stop-words'}}",
)
"""Constraints and indexes, created after a load (idempotent)."""
