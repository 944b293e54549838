"""DrugBank's per drug–protein details, attached to DRKG's DrugBank edges.

DRKG keeps only ``DRUGBANK::target|enzyme|carrier`` triples. DrugBank also records, for each
pair, the protein (UniProt), whether the action is known, the action types (inhibitor,
agonist, substrate …) and the PubMed IDs that support it. The loaders store these on the
matching edges, so a rationale can cite the papers behind a target edge.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from graph_store.drkg_format import Triple
from kedrec.errors import DataFormatError

CATEGORY_BY_RELATION = {
    "DRUGBANK::target::Compound:Gene": "target",
    "DRUGBANK::enzyme::Compound:Gene": "enzyme",
    "DRUGBANK::carrier::Compound:Gene": "carrier",
}
DETAILS_FILE = "drugbank_target_details.tsv"
REQUIRED_COLUMNS = {"drugbank_id", "category", "entrez_gene_id", "known_action", "actions"}


@dataclass(frozen=True, slots=True)
class TargetDetails:
    """What DrugBank says about one drug–gene edge."""

    uniprot: tuple[str, ...]
    known_action: str
    actions: tuple[str, ...]
    pmids: tuple[str, ...]

    def properties(self) -> dict[str, object]:
        """Relationship properties (empty values left out)."""
        props: dict[str, object] = {"known_action": self.known_action}
        if self.uniprot:
            props["uniprot"] = list(self.uniprot)
        if self.actions:
            props["actions"] = list(self.actions)
        if self.pmids:
            props["pmids"] = list(self.pmids)
        return props


def _merge(values: tuple[str, ...], more: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*values, *(v for v in more if v)]))


class TargetDetailIndex:
    """Looks up the details of a DrugBank Compound→Gene triple."""

    def __init__(self, details: dict[tuple[str, str, str], TargetDetails], path: Path) -> None:
        self._details = details
        self.path = path
        """The file read, part of the loaded graph's fingerprint."""

    def __len__(self) -> int:
        return len(self._details)

    def lookup(self, triple: Triple) -> TargetDetails | None:
        """DrugBank's details of ``triple``, or None when DrugBank has none."""
        category = CATEGORY_BY_RELATION.get(triple.relation.full)
        if category is None:
            return None
        return self._details.get((triple.head, triple.tail, category))

    def properties(self, triple: Triple) -> dict[str, object] | None:
        """Extra edge properties for ``triple``, or None when DrugBank has none."""
        found = self.lookup(triple)
        return found.properties() if found else None


def load_target_details(path: Path) -> TargetDetailIndex:
    """Read ``drugbank_target_details.tsv`` (duplicate drug–gene–category rows are merged)."""
    if not path.is_file():
        raise DataFormatError(f"DrugBank details file {path} is missing: set KEDREC_DATA_DIR")
    details: dict[tuple[str, str, str], TargetDetails] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        missing = REQUIRED_COLUMNS - set(reader.fieldnames or ())
        if missing:
            raise DataFormatError(
                f"{path} lacks columns {sorted(missing)}: is it DrugBank details?"
            )
        for row in reader:
            key = (
                f"Compound::{row['drugbank_id']}",
                f"Gene::{row['entrez_gene_id']}",
                row["category"],
            )
            previous = details.get(key, TargetDetails((), row["known_action"], (), ()))
            details[key] = TargetDetails(
                uniprot=_merge(previous.uniprot, [row.get("uniprot_id", "")]),
                known_action=previous.known_action,
                actions=_merge(previous.actions, row["actions"].split("|")),
                pmids=_merge(previous.pmids, (row.get("pubmed_ids") or "").split("|")),
            )
    return TargetDetailIndex(details, path)
