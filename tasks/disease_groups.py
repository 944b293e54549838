"""Groups of disease IDs that name the same disease in DRKG (Disease Ontology ↔ MeSH).

DRKG mixes vocabularies: Hetionet's edges use DOID IDs, DrugBank's use MeSH IDs, so
"type 2 diabetes mellitus" is both ``Disease::DOID:9352`` and ``Disease::MESH:D003924``. A
label hidden under one ID would leak through the other, and a disease could sit in train under
one ID and in test under the other. Groups join IDs linked by Disease Ontology's MeSH
cross-references (union-find over the graph's diseases); splits, held-out edges and hidden pairs
all work on whole groups.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from graph_store.names import NameIndex


class DiseaseGroups:
    """Union-find over disease IDs, joined by DO→MeSH cross-references."""

    def __init__(self, diseases: Iterable[str], names: NameIndex) -> None:
        known = set(diseases)
        self._parent = {disease: disease for disease in known}
        for disease in sorted(known):
            local = disease.partition("::")[2]
            if not local.startswith("DOID:"):
                continue
            for mesh in names.mesh_ids_for_doid(local):
                other = f"Disease::MESH:{mesh}"
                if other in known:
                    self._union(disease, other)
        members: dict[str, set[str]] = defaultdict(set)
        for disease in known:
            members[self._find(disease)].add(disease)
        self._members = {root: frozenset(group) for root, group in members.items()}

    def _find(self, disease: str) -> str:
        parent = self._parent
        while parent[disease] != disease:
            parent[disease] = parent[parent[disease]]
            disease = parent[disease]
        return disease

    def _union(self, a: str, b: str) -> None:
        root_a, root_b = self._find(a), self._find(b)
        if root_a != root_b:
            keep, drop = sorted((root_a, root_b))
            self._parent[drop] = keep

    def group_of(self, disease: str) -> frozenset[str]:
        """Every known ID of the same disease (just ``disease`` when it has no equivalents)."""
        if disease not in self._parent:
            return frozenset({disease})
        return self._members[self._find(disease)]

    def key(self, disease: str) -> str:
        """The group's representative ID (stable: the smallest member)."""
        return min(self.group_of(disease))

    def groups(self) -> list[frozenset[str]]:
        """All groups, in a stable order."""
        return sorted(self._members.values(), key=min)
