"""Drug–disease relevance from DRKG's direct Compound–Disease edges (paper Section 3.1).

rel(d, c) sums one weight per distinct relation between drug c and disease d. Curated
"treats" edges (DrugBank, Hetionet CtD) weigh most, Hetionet "palliates" less, GNBR's
text-mined treatment theme less again, other text-mined therapeutic themes (alleviates,
prevents, inhibits cell growth) least. Non-therapeutic themes (side effect, role in
pathogenesis, biomarker) weigh 0: they make a drug *related* to the disease (so it can never be
the negative candidate) without making it *relevant*.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from graph_store.drkg_format import ParseReport, iter_triples
from graph_store.schema import RELEVANCE_WEIGHTS


@dataclass(slots=True)
class CompoundDiseaseEdges:
    """Every direct Compound–Disease edge of the input, by disease then drug."""

    by_disease: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    """Disease ID -> drug ID -> DRKG relations between them (either direction)."""

    @classmethod
    def from_files(
        cls, files: Sequence[Path], report: ParseReport | None = None
    ) -> CompoundDiseaseEdges:
        """Collect the Compound–Disease edges of DRKG triple files (one streaming pass)."""
        table: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for triple in iter_triples(files, report):
            types = (triple.head_type, triple.tail_type)
            if types == ("Compound", "Disease"):
                table[triple.tail][triple.head].add(triple.relation.full)
            elif types == ("Disease", "Compound"):
                table[triple.head][triple.tail].add(triple.relation.full)
        return cls({disease: dict(drugs) for disease, drugs in table.items()})

    def drugs_of(self, disease: str) -> dict[str, set[str]]:
        """Drugs with any direct edge to ``disease`` and the relations they have."""
        return self.by_disease.get(disease, {})

    def related(self, drug: str, disease: str) -> bool:
        """True when any direct edge, of any relation, links the pair."""
        return drug in self.by_disease.get(disease, {})

    def relevance(self, drug: str, disease: str) -> float:
        """rel(d, c): the summed weights of the pair's distinct relations."""
        return relevance_of(self.by_disease.get(disease, {}).get(drug, ()))

    def pairs_of(self, diseases: Iterable[str]) -> set[tuple[str, str]]:
        """Every (drug, disease) pair with a direct edge, for the given diseases."""
        return {
            (drug, disease) for disease in diseases for drug in self.by_disease.get(disease, {})
        }


def relevance_of(relations: Iterable[str]) -> float:
    """Sum of the weights of distinct relations (see :data:`RELEVANCE_WEIGHTS`)."""
    return sum(RELEVANCE_WEIGHTS.get(relation, 0.0) for relation in set(relations))
