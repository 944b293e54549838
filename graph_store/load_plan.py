"""What a load will write: the entities of the input triples, named, and the expected counts.

Both loaders (bulk and online) and ``kedrec graph stats`` build the same plan from the input
files, so the counts in Neo4j can be checked against the files they came from.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from graph_store.drkg_format import ParseReport, Triple, fingerprint, iter_triples
from graph_store.names import NameIndex, split_entity_id
from graph_store.schema import node_label, relationship_type
from kedrec.errors import DataFormatError


@dataclass(frozen=True, slots=True)
class EntityRecord:
    """One node to write."""

    id: str
    kind: str
    label: str
    name: str
    synonyms: tuple[str, ...]
    name_source: str

    @property
    def properties(self) -> dict[str, object]:
        """Node properties as stored in Neo4j."""
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "synonyms": list(self.synonyms),
            "synonyms_text": " | ".join(self.synonyms),
            "name_source": self.name_source,
        }


@dataclass(slots=True)
class LoadPlan:
    """Entities by ID plus the counts a correct load must reproduce."""

    files: list[Path]
    fingerprint: str
    report: ParseReport
    entities: dict[str, str] = field(default_factory=dict)
    """Entity ID -> DRKG type, for every entity used by a well-formed triple."""
    relationship_counts: Counter[str] = field(default_factory=Counter)
    """Neo4j relationship type -> expected count."""

    @property
    def label_counts(self) -> Counter[str]:
        """Neo4j label -> expected node count."""
        return Counter(node_label(kind) for kind in self.entities.values())

    def iter_triples(self, report: ParseReport | None = None) -> Iterator[Triple]:
        """Stream the plan's triples again (the files are not held in memory)."""
        return iter_triples(self.files, report if report is not None else ParseReport())

    def entity_records(self, names: NameIndex) -> Iterator[EntityRecord]:
        """Yield every entity with its label and name (the ID's local part when unnamed)."""
        for entity_id, kind in sorted(self.entities.items()):
            named = names.get(entity_id)
            if named is None:
                local = split_entity_id(entity_id)[1]
                yield EntityRecord(entity_id, kind, node_label(kind), local or entity_id, (), "")
            else:
                yield EntityRecord(
                    entity_id, kind, node_label(kind), named.name, named.synonyms, named.source
                )


def resolve_inputs(files: Sequence[Path], default_dir: Path) -> list[Path]:
    """Return the given triple files, or every ``*.tsv`` triple file of ``default_dir``."""
    if files:
        return [Path(f) for f in files]
    found = [
        path
        for path in sorted(default_dir.glob("*.tsv"))
        if not path.name.endswith(("_entities.tsv", "_details.tsv"))
    ]
    if not found:
        raise DataFormatError(
            f"no triple files (*.tsv) in {default_dir}: pass FILES or set KEDREC_DATA_DIR"
        )
    return found


TripleSink = Callable[[Triple, str], None]
"""Receives each well-formed triple with its Neo4j relationship type during the scan."""


def build_plan(
    files: Sequence[Path],
    sink: TripleSink | None = None,
    *,
    also_fingerprint: Sequence[Path] = (),
) -> LoadPlan:
    """Scan the input once: collect entities and expected counts, validate every line.

    ``sink`` lets the bulk loader write its relationship CSV in the same pass;
    ``also_fingerprint`` adds side inputs (DrugBank details) to the graph's fingerprint.
    """
    paths = [Path(f) for f in files]
    digest = fingerprint([*paths, *also_fingerprint])
    plan = LoadPlan(files=paths, fingerprint=digest, report=ParseReport())
    entities = plan.entities
    counts = plan.relationship_counts
    types: dict[str, str] = {}
    for triple in iter_triples(paths, plan.report):
        entities.setdefault(triple.head, triple.head_type)
        entities.setdefault(triple.tail, triple.tail_type)
        rel_type = types.get(triple.relation.full)
        if rel_type is None:
            rel_type = types[triple.relation.full] = relationship_type(triple.relation)
        counts[rel_type] += 1
        if sink is not None:
            sink(triple, rel_type)
    return plan


def naming_coverage(plan: LoadPlan, names: NameIndex) -> dict[str, tuple[int, int]]:
    """Return DRKG type -> (named entities, all entities), the coverage report after a load."""
    named: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for entity_id, kind in plan.entities.items():
        total[kind] += 1
        if names.get(entity_id) is not None:
            named[kind] += 1
    return {kind: (named[kind], total[kind]) for kind in sorted(total)}
