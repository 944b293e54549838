"""External benchmarks as task sets: a documented TSV format and PharmacotherapyDB.

TSV format (tab-separated, header required; the first three columns are required)::

    disease_id  positive_drug_id  negative_drug_id
    [disease_name  positive_name  negative_name  source]   (optional, in this order)

IDs are DRKG IDs (``Disease::DOID:10652``, ``Compound::DB00843``) or bare ones (``DOID:10652``,
``MESH:D003924``, ``DB00843``). A Disease Ontology ID missing from the graph is mapped to a MeSH
disease of the graph through DO's cross-references. Rows that do not map are counted by reason,
never silently dropped.

PharmacotherapyDB v1.0 pairs every disease-modifying (DM) drug of a disease with every
non-indication (NOT) drug of the same disease. Its DM pairs are Hetionet's CtD edges: they are
label edges, so every imported set hides both candidates' pairs with the disease, under every
ID of the disease (DOID and its MeSH equivalents).
"""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graph_store.names import NameIndex
from kedrec.errors import DataFormatError
from tasks.disease_groups import DiseaseGroups
from tasks.task_sets import NamedEntity, Split, TaskSet

TSV_COLUMNS = (
    "disease_id",
    "positive_drug_id",
    "negative_drug_id",
    "disease_name",
    "positive_name",
    "negative_name",
    "source",
)
REQUIRED = TSV_COLUMNS[:3]


@dataclass(slots=True)
class ImportReport:
    """Rows read, imported and refused (by reason, with the first few line numbers)."""

    rows: int = 0
    imported: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    mapped_via_mesh: int = 0

    def refuse(self, line_number: int, reason: str) -> None:
        """Count a refused row."""
        self.refused[reason] += 1
        if len(self.examples) < 20:
            self.examples.append(f"line {line_number}: {reason}")

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form for manifests and the CLI."""
        return {
            "rows": self.rows,
            "imported": self.imported,
            "refused": dict(self.refused),
            "mapped_via_mesh": self.mapped_via_mesh,
            "examples": self.examples,
        }


def _qualify(raw: str, kind: str) -> str:
    raw = raw.strip()
    return raw if "::" in raw else f"{kind}::{raw}"


class EntityMapper:
    """Maps benchmark IDs onto the graph's entity IDs."""

    def __init__(self, entities: set[str], names: NameIndex) -> None:
        self.entities = entities
        self.names = names
        self.groups = DiseaseGroups((e for e in entities if e.startswith("Disease::")), names)

    def disease(self, raw: str) -> tuple[str | None, bool]:
        """Return (graph disease ID or None, whether it was mapped through MeSH)."""
        entity = _qualify(raw, "Disease")
        if entity in self.entities:
            return entity, False
        local = entity.partition("::")[2]
        if local.startswith("DOID:"):
            for mesh in self.names.mesh_ids_for_doid(local):
                candidate = f"Disease::MESH:{mesh}"
                if candidate in self.entities:
                    return candidate, True
        return None, False

    def drug(self, raw: str) -> str | None:
        """Return the graph drug ID, or None."""
        entity = _qualify(raw, "Compound")
        return entity if entity in self.entities else None


def import_benchmark_tsv(
    path: Path,
    mapper: EntityMapper,
    *,
    seed: int = 0,
    split: Split = "benchmark",
    default_source: str | None = None,
) -> tuple[list[TaskSet], ImportReport]:
    """Turn a benchmark TSV into task sets (candidate order seeded per row)."""
    if not path.is_file():
        raise DataFormatError(f"benchmark file {path} does not exist")
    report = ImportReport()
    sets: list[TaskSet] = []
    source = default_source or path.stem
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or ())]
        if missing:
            raise DataFormatError(
                f"{path} lacks columns {', '.join(missing)}: the header must start with "
                + "\t".join(REQUIRED)
            )
        for line_number, row in enumerate(reader, start=2):
            report.rows += 1
            if any(not (row.get(c) or "").strip() for c in REQUIRED):
                report.refuse(line_number, "empty required field")
                continue
            disease, via_mesh = mapper.disease(row["disease_id"])
            positive = mapper.drug(row["positive_drug_id"])
            negative = mapper.drug(row["negative_drug_id"])
            if disease is None:
                report.refuse(line_number, "disease not in the graph")
                continue
            if positive is None or negative is None:
                report.refuse(line_number, "drug not in the graph")
                continue
            if positive == negative:
                report.refuse(line_number, "positive and negative drug are the same")
                continue
            report.mapped_via_mesh += via_mesh
            sets.append(
                _make_set(
                    row,
                    disease,
                    positive,
                    negative,
                    seed,
                    split,
                    row.get("source") or source,
                    mapper,
                )
            )
            report.imported += 1
    return sets, report


def _make_set(
    row: dict[str, str],
    disease: str,
    positive: str,
    negative: str,
    seed: int,
    split: Split,
    source: str,
    mapper: EntityMapper,
) -> TaskSet:
    key = f"{seed}|{disease}|{positive}|{negative}"
    digest = hashlib.sha256(key.encode()).hexdigest()
    positive_first = int(digest[12:14], 16) % 2 == 0
    pair = [positive, negative] if positive_first else [negative, positive]
    given = {positive: row.get("positive_name"), negative: row.get("negative_name")}
    return TaskSet(
        set_id=f"{source}-{digest[:12]}",
        split=split,
        disease=NamedEntity(
            id=disease, name=row.get("disease_name") or mapper.names.name_of(disease)
        ),
        candidates=[NamedEntity(id=c, name=given[c] or mapper.names.name_of(c)) for c in pair],
        label=pair.index(positive),
        seed=seed,
        source=source,
        hidden_pairs=[(c, d) for c in pair for d in sorted(mapper.groups.group_of(disease))],
    )


def pharmacotherapydb_rows(indications: Path) -> list[dict[str, str]]:
    """Every (disease, DM drug, NOT drug) triple of PharmacotherapyDB, in the TSV format."""
    if not indications.is_file():
        raise DataFormatError(f"{indications} missing: point KEDREC_DATA_DIR at shared/data")
    by_disease: dict[str, dict[str, list[tuple[str, str]]]] = {}
    names: dict[str, str] = {}
    with indications.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            names[row["doid_id"]] = row["disease"]
            slot = by_disease.setdefault(row["doid_id"], {"DM": [], "NOT": []})
            if row["category"] in slot:
                slot[row["category"]].append((row["drugbank_id"], row["drug"]))
    rows = []
    for doid, slot in sorted(by_disease.items()):
        for dm_id, dm_name in slot["DM"]:
            for not_id, not_name in slot["NOT"]:
                rows.append(
                    {
                        "disease_id": f"Disease::{doid}",
                        "positive_drug_id": f"Compound::{dm_id}",
                        "negative_drug_id": f"Compound::{not_id}",
                        "disease_name": names[doid],
                        "positive_name": dm_name,
                        "negative_name": not_name,
                        "source": "pharmacotherapydb",
                    }
                )
    return rows


def write_benchmark_tsv(rows: Iterable[dict[str, str]], path: Path) -> int:
    """Write rows in the documented TSV format; return the count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=TSV_COLUMNS, delimiter="\t", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
    return count
