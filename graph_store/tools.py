"""The graph's read API for the agent and the student: plain, documented functions.

Each method runs one parameterised query (see :mod:`graph_store.queries`) in a READ session and
returns a compact pydantic result with names and provenance (DRKG relation, source). Drugs and
diseases may be given by DRKG ID or by name; names are resolved with the full-text index. Every
method honours the tool set's :class:`~graph_store.masking.HiddenPairs`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from neo4j import READ_ACCESS, Driver

from graph_store import queries
from graph_store.cypher_guard import CypherResult, run_read_only
from graph_store.masking import NO_HIDDEN, HiddenPairs
from graph_store.schema import RELEVANCE_WEIGHTS, TREATMENT_TYPES
from graph_store.tool_models import (
    DirectEdge,
    DiseaseProfile,
    DrugCandidate,
    DrugProfile,
    EntityMatch,
    GeneGenePath,
    MechanismPaths,
    SharedGene,
    SimilarDrug,
)
from kedrec.errors import EntityNotFoundError, GraphToolError
from kedrec.settings import Neo4jSettings

logger = logging.getLogger(__name__)

DEFAULT_RELEVANCE_WEIGHT = 0.0

_MATCH_KIND = ("name", "synonym", "fuzzy")

_LUCENE_SPECIAL = re.compile(r'([+\-!(){}\[\]^"~*?:\\/]|&&|\|\|)')
_LOCAL_ID = re.compile(r"^(DB\d{5}|DOID:\d+|MESH:[CD]\d+|OMIM:\d+|\d+)$")
"""Local DRKG IDs users type without their type prefix (DrugBank, DO, MeSH, OMIM, Entrez)."""
_ID_KINDS = ("Compound", "Disease", "Gene")


def lucene_query(text: str) -> str:
    """Build a fuzzy, phrase-boosted Lucene query from free text (special characters escaped)."""
    # lower case: the index analyzer folds case anyway, and AND/OR/NOT stop being operators
    escaped = _LUCENE_SPECIAL.sub(r"\\\1", text.strip().lower())
    tokens = [token for token in re.split(r"\s+", escaped) if token]
    if not tokens:
        raise GraphToolError("empty name: give a drug, disease or gene name (or a DRKG ID)")
    fuzzy = " AND ".join(f"{token}~1" if len(token) >= 5 else token for token in tokens)
    return f'"{escaped}"^4 OR ({" AND ".join(tokens)})^2 OR ({fuzzy})'


class GraphTools:
    """Read-only graph tools bound to one Neo4j database and one set of hidden pairs."""

    def __init__(
        self,
        driver: Driver,
        *,
        database: str = "neo4j",
        hidden: HiddenPairs = NO_HIDDEN,
        query_timeout_s: float = 10.0,
        max_rows: int = 200,
    ) -> None:
        self.driver = driver
        self.database = database
        self.hidden = hidden
        self.query_timeout_s = query_timeout_s
        self.max_rows = max_rows
        self._resolved: dict[tuple[str, str], EntityMatch] = {}

    @classmethod
    def from_settings(
        cls, driver: Driver, settings: Neo4jSettings, hidden: HiddenPairs = NO_HIDDEN
    ) -> GraphTools:
        """Bind tools to a driver with the timeout and row cap from settings."""
        return cls(
            driver,
            database=settings.database,
            hidden=hidden,
            query_timeout_s=settings.query_timeout_s,
            max_rows=settings.max_rows,
        )

    def with_hidden(self, hidden: HiddenPairs) -> GraphTools:
        """Return the same tools with another set of hidden pairs (one per evaluated set)."""
        return GraphTools(
            self.driver,
            database=self.database,
            hidden=hidden,
            query_timeout_s=self.query_timeout_s,
            max_rows=self.max_rows,
        )

    # -- plumbing -----------------------------------------------------------------------------

    def _read(self, query: str, **params: Any) -> list[dict[str, Any]]:
        params.setdefault("hidden", self.hidden.as_param())
        with self.driver.session(database=self.database, default_access_mode=READ_ACCESS) as s:
            result = s.run(query, params)
            return [record.data() for record in result]

    def _entity(self, name_or_id: str, kind: str) -> EntityMatch:
        """Resolve a name or ID to the best entity of ``kind`` (cached per tool set)."""
        cached = self._resolved.get((name_or_id, kind))
        if cached is not None:
            return cached
        matches = self.resolve_entity(name_or_id, kinds=[kind], limit=5)
        if not matches:
            others = self.resolve_entity(name_or_id, limit=3)
            hint = (
                "; other matches: " + ", ".join(f"{m.name} ({m.kind}, {m.id})" for m in others)
                if others
                else ""
            )
            raise EntityNotFoundError(
                f"no {kind} matches {name_or_id!r}{hint}; try another spelling or a DRKG ID"
            )
        if len(self._resolved) < 10_000:
            self._resolved[(name_or_id, kind)] = matches[0]
        return matches[0]

    def resolve_one(self, name_or_id: str, kind: str) -> EntityMatch:
        """The best entity of ``kind`` for a name, synonym or ID (cached per tool set).

        Raises:
            EntityNotFoundError: Nothing of that kind matches; the message lists near matches.
        """
        return self._entity(name_or_id, kind)

    # -- tools --------------------------------------------------------------------------------

    def resolve_entity(
        self, name: str, kinds: Sequence[str] | None = None, limit: int = 10
    ) -> list[EntityMatch]:
        """Find graph entities by name, synonym or ID (full-text, fuzzy, ranked).

        Args:
            name: A drug, disease, gene … name, a synonym, or a DRKG ID (``Compound::DB00945``).
            kinds: DRKG types to keep (``Compound``, ``Disease``, ``Gene`` …); all when None.
            limit: Maximum matches.

        Returns:
            Matches ranked by score, exact name matches first.
        """
        kinds_param = list(kinds) if kinds else None
        text = name.strip()
        if "::" in text or _LOCAL_ID.match(text):
            ids = [text] if "::" in text else [f"{k}::{text}" for k in (kinds or _ID_KINDS)]
            rows = self._read(queries.RESOLVE_BY_ID, ids=ids, kinds=kinds_param, limit=limit)
            if rows:
                return [EntityMatch(matched_on="id", **row) for row in rows]
        rows = self._read(
            queries.RESOLVE_FULLTEXT,
            lucene=lucene_query(text),
            kinds=kinds_param,
            candidates=max(limit * 5, 25),
        )
        folded = text.casefold()

        def rank(row: Mapping[str, Any]) -> tuple[int, float]:
            exact_name = (row["name"] or "").casefold() == folded
            exact_synonym = any(s.casefold() == folded for s in row["synonyms"] or ())
            return (0 if exact_name else 1 if exact_synonym else 2, -float(row["score"]))

        ranked = sorted(rows, key=rank)[:limit]
        return [EntityMatch(matched_on=_MATCH_KIND[rank(row)[0]], **row) for row in ranked]

    def drug_profile(self, drug: str, limit: int = 25) -> DrugProfile:
        """Describe a drug: target/enzyme/carrier/transporter genes, classes, side effects,
        and known indications (hidden pairs excluded). Call first to learn a candidate drug.
        """
        entity = self._entity(drug, "Compound")
        rows = self._read(queries.DRUG_PROFILE, drug=entity.id, limit=limit)
        return DrugProfile.model_validate(rows[0])

    def disease_profile(self, disease: str, limit: int = 25) -> DiseaseProfile:
        """Describe a disease: associated genes with edge provenance, symptoms, related
        diseases and anatomy. Call first to learn the disease of a task.
        """
        entity = self._entity(disease, "Disease")
        rows = self._read(queries.DISEASE_PROFILE, disease=entity.id, limit=limit)
        return DiseaseProfile.model_validate(rows[0])

    def direct_edges(self, drug: str, disease: str) -> list[DirectEdge]:
        """Direct drug–disease edges (treats, palliates, text-mined themes) with their sources.
        Empty when there is none, or when the pair is hidden for evaluation.
        """
        drug_id = self._entity(drug, "Compound").id
        disease_id = self._entity(disease, "Disease").id
        rows = self._read(queries.DIRECT_EDGES, drug=drug_id, disease=disease_id)
        return [DirectEdge(drug_id=drug_id, disease_id=disease_id, **row) for row in rows]

    def mechanism_paths(self, drug: str, disease: str, limit: int = 15) -> MechanismPaths:
        """Mechanisms linking a drug to a disease: genes the drug acts on that the disease
        involves (drug→gene←disease), then drug→gene–gene–disease paths; ranked, bounded.
        """
        drug_id = self._entity(drug, "Compound").id
        disease_id = self._entity(disease, "Disease").id
        shared = self._read(queries.SHARED_GENES, drug=drug_id, disease=disease_id, limit=limit)
        paths = self._read(
            queries.GENE_GENE_PATHS,
            drug=drug_id,
            disease=disease_id,
            limit=limit,
            max_drug_genes=50,
        )
        return MechanismPaths(
            drug_id=drug_id,
            disease_id=disease_id,
            shared_genes=[SharedGene.model_validate(row) for row in shared],
            gene_gene_paths=[GeneGenePath.model_validate(row) for row in paths],
        )

    def candidate_drugs(self, disease: str, limit: int = 20) -> list[DrugCandidate]:
        """Drugs with a direct treats/palliates edge to a disease, ranked by relevance
        (curated DrugBank/Hetionet above text-mined GNBR); hidden pairs excluded.
        """
        disease_id = self._entity(disease, "Disease").id
        rows = self._read(
            queries.CANDIDATE_DRUGS,
            disease=disease_id,
            treatment_types=list(TREATMENT_TYPES),
            weights=RELEVANCE_WEIGHTS,
            default_weight=DEFAULT_RELEVANCE_WEIGHT,
            limit=limit,
        )
        return [DrugCandidate.model_validate(row) for row in rows]

    def similar_drugs(self, drug: str, limit: int = 10) -> list[SimilarDrug]:
        """Drugs that share targets/enzymes/carriers with a drug, ranked by Jaccard overlap."""
        drug_id = self._entity(drug, "Compound").id
        rows = self._read(queries.SIMILAR_DRUGS, drug=drug_id, limit=limit)
        return [SimilarDrug.model_validate(row) for row in rows]

    def run_cypher(self, query: str, params: Mapping[str, Any] | None = None) -> CypherResult:
        """Run one read-only Cypher query (checked before it runs, timed out, row-capped).
        Returns rows, or an error text that says how to fix the query.
        """
        return run_read_only(
            self.driver,
            self.database,
            query,
            params,
            hidden=self.hidden,
            timeout_s=self.query_timeout_s,
            max_rows=self.max_rows,
        )
