"""Hidden (drug, disease) pairs: the label edges a leakage-free evaluation must not see.

Every Cypher tool takes a :class:`HiddenPairs`. The fixed tools filter direct Compound–Disease
edges with ``NOT [c.id, d.id] IN $hidden`` inside the query; free-form Cypher is checked before it
runs (see :mod:`graph_store.cypher_guard`) and refused when it could traverse a Compound–Disease
relationship at all, since arbitrary Cypher cannot be rewritten reliably.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from graph_store.drkg_format import parse_relation
from graph_store.schema import RELATION_TYPES, relationship_type

COMPOUND_DISEASE = frozenset({"Compound", "Disease"})


def compound_disease_types(relations: Iterable[str] = RELATION_TYPES) -> frozenset[str]:
    """Relationship types that can connect a Compound and a Disease (in either direction)."""
    types = set()
    for full in relations:
        relation = parse_relation(full)
        if {relation.head_type, relation.tail_type} == COMPOUND_DISEASE:
            types.add(relationship_type(relation))
    return frozenset(types)


COMPOUND_DISEASE_TYPES = compound_disease_types()
"""TREATS, PALLIATES and GNBR's compound–disease themes."""


@dataclass(frozen=True)
class HiddenPairs:
    """A set of (drug ID, disease ID) pairs whose direct edges every tool must hide."""

    pairs: frozenset[tuple[str, str]] = field(default_factory=frozenset)

    @classmethod
    def of(cls, pairs: Iterable[tuple[str, str]]) -> HiddenPairs:
        """Build from (drug, disease) ID pairs, validating their DRKG types."""
        checked = set()
        for drug, disease in pairs:
            if not drug.startswith("Compound::") or not disease.startswith("Disease::"):
                raise ValueError(
                    f"hidden pair ({drug!r}, {disease!r}) must be (Compound::…, Disease::…) IDs"
                )
            checked.add((drug, disease))
        return cls(frozenset(checked))

    def __bool__(self) -> bool:
        return bool(self.pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    def __contains__(self, pair: object) -> bool:
        return pair in self.pairs

    def as_param(self) -> list[list[str]]:
        """The pairs as a Cypher parameter for ``[c.id, d.id] IN $hidden``."""
        return [[drug, disease] for drug, disease in sorted(self.pairs)]


NO_HIDDEN = HiddenPairs()
