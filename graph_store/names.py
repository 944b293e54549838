"""Human-readable names and synonyms for DRKG entity IDs.

DRKG ships IDs only (``Compound::DB00945``, ``Disease::MESH:D003924``, ``Gene::1017``). The
vocabularies in ``<data_dir>/names`` give them names: DrugBank's CC0 vocabulary for drugs,
Hetionet's nodes for genes, anatomy, GO terms, pathways, side effects and classes, MeSH
descriptors and supplementary records, the Disease Ontology and OMIM for diseases. DO and MeSH
names are cross-linked so "lung cancer" also finds ``MESH:D008175`` (Lung Neoplasms).
"""

from __future__ import annotations

import csv
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kedrec.errors import DataFormatError

logger = logging.getLogger(__name__)

SYNONYM_LIMIT = 40
"""Cap on synonyms per entity: a few DrugBank drugs list hundreds of salt and brand forms."""


@dataclass(frozen=True, slots=True)
class EntityName:
    """The display name of an entity, its synonyms, and the vocabulary they came from."""

    name: str
    synonyms: tuple[str, ...]
    source: str


def split_entity_id(entity_id: str) -> tuple[str, str]:
    """Split ``Type::local`` into its type and local ID (``("Compound", "DB00945")``).

    The local ID may be empty: real DRKG has one such entity, ``Gene::``.
    """
    entity_type, sep, local_id = entity_id.partition("::")
    if not sep or not entity_type:
        raise DataFormatError(
            f"entity ID {entity_id!r} is not of DRKG's form 'Type::id' (e.g. 'Compound::DB00945')"
        )
    return entity_type, local_id


def _unique(names: Iterable[str], exclude: str) -> tuple[str, ...]:
    """Keep the first spelling of each synonym (case-insensitive), without the name itself."""
    seen = {exclude.casefold()}
    kept: list[str] = []
    for raw in names:
        name = raw.strip()
        if name and name.casefold() not in seen:
            seen.add(name.casefold())
            kept.append(name)
        if len(kept) >= SYNONYM_LIMIT:
            break
    return tuple(kept)


def _read_tsv(path: Path) -> Iterator[dict[str, str]]:
    """Yield the rows of a headed TSV file as dicts; a missing file is a clear error."""
    if not path.is_file():
        raise DataFormatError(
            f"name vocabulary {path} is missing: point KEDREC_DATA_DIR at a folder with names/"
        )
    with path.open(newline="", encoding="utf-8") as handle:
        yield from csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)


class NameIndex:
    """Resolves DRKG entity IDs to names, built once from the vocabularies."""

    def __init__(
        self,
        direct: dict[str, EntityName],
        mesh: dict[str, str],
        doid: dict[str, tuple[str, list[str]]],
        omim: dict[str, list[str]],
        doid_to_mesh: dict[str, set[str]],
        mesh_to_doid: dict[str, set[str]],
    ) -> None:
        self._direct = direct
        self._mesh = mesh
        self._doid = doid
        self._omim = omim
        self._doid_to_mesh = doid_to_mesh
        self._mesh_to_doid = mesh_to_doid

    def get(self, entity_id: str) -> EntityName | None:
        """Return the name of a DRKG entity, or None when no vocabulary knows it."""
        found = self._direct.get(entity_id)
        entity_type, local_id = split_entity_id(entity_id)
        namespace, _, code = local_id.partition(":")
        if namespace == "DOID":
            return self._doid_name(local_id) or found
        if found is not None:
            return found
        if namespace == "MESH":
            return self._mesh_name(code)
        if namespace == "OMIM" and code in self._omim:
            names = self._omim[code]
            return EntityName(names[0], _unique(names[1:], names[0]), "OMIM")
        if entity_type == "Symptom" and local_id in self._mesh:
            return EntityName(self._mesh[local_id], (), "MeSH")
        return None

    def name_of(self, entity_id: str) -> str:
        """Return the entity's name, or its local ID when it has none (never fails)."""
        found = self.get(entity_id)
        return found.name if found else entity_id.partition("::")[2] or entity_id

    def mesh_ids_for_doid(self, doid: str) -> list[str]:
        """MeSH IDs cross-referenced by a Disease Ontology term (``DOID:1324`` -> ``D008175``)."""
        return sorted(self._doid_to_mesh.get(doid, ()))

    def compound_names(self) -> Iterator[tuple[str, EntityName]]:
        """Yield every named drug (``Compound::…``) with its synonyms."""
        for entity_id, name in self._direct.items():
            if entity_id.startswith("Compound::"):
                yield entity_id, name

    def __len__(self) -> int:
        return len(self._direct) + len(self._mesh) + len(self._doid) + len(self._omim)

    def _doid_name(self, local_id: str) -> EntityName | None:
        entry = self._doid.get(local_id)
        if entry is None:
            return None
        name, synonyms = entry
        mesh_names = [
            self._mesh[m] for m in sorted(self._doid_to_mesh.get(local_id, ())) if m in self._mesh
        ]
        return EntityName(name, _unique([*synonyms, *mesh_names], name), "Disease Ontology")

    def _mesh_name(self, code: str) -> EntityName | None:
        name = self._mesh.get(code)
        if name is None:
            return None
        do_names = [
            self._doid[d][0] for d in sorted(self._mesh_to_doid.get(code, ())) if d in self._doid
        ]
        source = "MeSH SCR" if code.startswith("C") else "MeSH"
        return EntityName(name, _unique(do_names, name), source)


def _drugbank(names_dir: Path, direct: dict[str, EntityName]) -> None:
    path = names_dir / "drugbank_vocabulary_cc0.csv"
    if not path.is_file():
        raise DataFormatError(f"DrugBank vocabulary {path} is missing: set KEDREC_DATA_DIR")
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            name = row["Common name"].strip()
            synonyms = row["Synonyms"].split(" | ") if row["Synonyms"] else []
            direct[f"Compound::{row['DrugBank ID']}"] = EntityName(
                name, _unique(synonyms, name), "DrugBank"
            )


def _hetionet(names_dir: Path, direct: dict[str, EntityName]) -> None:
    for row in _read_tsv(names_dir / "hetionet-v1.0-nodes.tsv"):
        entity_id = row["id"]
        if entity_id not in direct:
            direct[entity_id] = EntityName(row["name"].strip(), (), "Hetionet")


def _mesh(names_dir: Path) -> dict[str, str]:
    mesh: dict[str, str] = {}
    for row in _read_tsv(names_dir / "mesh2015_descriptor_terms.tsv"):
        mesh[row["mesh_id"]] = row["mesh_name"].strip()
    for row in _read_tsv(names_dir / "dismanet_mesh_descriptors_c_f_tree.tsv"):
        mesh.setdefault(row["MESH_ID"], row["MESH_NAME"].strip())
    for row in _read_tsv(names_dir / "dismanet_mesh_scr.tsv"):
        mesh.setdefault(row["MESH_SCR_ID"], row["MESH_SCR_NAME"].strip())
    return mesh


def _disease_ontology(names_dir: Path) -> dict[str, tuple[str, list[str]]]:
    names: dict[str, str] = {}
    synonyms: dict[str, list[str]] = defaultdict(list)
    for row in _read_tsv(names_dir / "doid_term_names.tsv"):
        if row["type"] == "name":
            names[row["doid"]] = row["name"].strip()
        elif row["type"] in {"exact-synonym", "related-synonym", "narrow-synonym"}:
            synonyms[row["doid"]].append(row["name"])
    return {doid: (name, synonyms.get(doid, [])) for doid, name in names.items()}


def _do_mesh_links(names_dir: Path) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    doid_to_mesh: dict[str, set[str]] = defaultdict(set)
    for row in _read_tsv(names_dir / "dismanet_do_to_mesh.tsv"):
        doid_to_mesh[row["DO_ID"]].add(row["MESH_ID"])
    for row in _read_tsv(names_dir / "doid_xrefs.tsv"):
        if row["resource"] == "MSH":
            doid_to_mesh[row["doid_code"]].add(row["resource_id"])
    mesh_to_doid: dict[str, set[str]] = defaultdict(set)
    for doid, codes in doid_to_mesh.items():
        for code in codes:
            mesh_to_doid[code].add(doid)
    return dict(doid_to_mesh), dict(mesh_to_doid)


def _omim(names_dir: Path) -> dict[str, list[str]]:
    omim: dict[str, list[str]] = defaultdict(list)
    for row in _read_tsv(names_dir / "dismanet_omim.tsv"):
        omim[row["OMIM_ID"]].append(row["OMIM_NAME"].strip())
    return dict(omim)


def load_name_index(names_dir: Path) -> NameIndex:
    """Read every vocabulary in ``names_dir`` (about 2 s) into one index."""
    direct: dict[str, EntityName] = {}
    _drugbank(names_dir, direct)
    _hetionet(names_dir, direct)
    doid_to_mesh, mesh_to_doid = _do_mesh_links(names_dir)
    index = NameIndex(
        direct=direct,
        mesh=_mesh(names_dir),
        doid=_disease_ontology(names_dir),
        omim=_omim(names_dir),
        doid_to_mesh=doid_to_mesh,
        mesh_to_doid=mesh_to_doid,
    )
    logger.debug("name index: %d entries from %s", len(index), names_dir)
    return index
