"""MIMIC-III v1.4 as a benchmark: what was prescribed in the admissions that had a diagnosis.

Reads ``PRESCRIPTIONS.csv`` and ``DIAGNOSES_ICD.csv`` (``.csv.gz`` too, MIMIC's own column
names), optionally ``D_ICD_DIAGNOSES.csv`` for the titles of unmapped codes in the report, and
writes the benchmark TSV of :mod:`tasks.benchmark_import` (source ``mimic-iii``):

* ICD-9 codes (undotted in MIMIC: ``25000``, ``E8497``, ``V5861``) are dotted and mapped to
  Disease Ontology terms through DO's ICD9 cross-references (``names/doid_xrefs.tsv``), then to
  the graph like any benchmark DOID (a DOID missing from the graph through its MeSH IDs). A code
  DO does not list, or whose term is not in the graph, is truncated (``250.00`` → ``250.0`` →
  ``250``), then falls back to DO's narrowest ICD-9 range holding its category (``401.9`` →
  ``401-405.99``, hypertension; ranges wider than :data:`MAX_RANGE_CATEGORIES` are not used).
  The report counts the level used. Diseases are keyed by their group (:mod:`tasks.disease_groups`),
  so a DOID and its MeSH twin are one disease.
* Drug strings (``DRUG``, then ``DRUG_NAME_GENERIC``, then ``FORMULARY_DRUG_CD``) are matched to
  DrugBank names and synonyms of the name vocabulary (:class:`graph_store.names.NameIndex`), as
  written, then without doses, dosage forms and trailing salts ("Metoprolol Tartrate 25mg").
* A positive is a (disease, drug) pair prescribed in at least ``min_admissions`` admissions
  (``HADM_ID``) having the diagnosis. Co-prescription is not indication: an ICU admission with
  diabetes also gets heparin. The negative is picked as the build's sampler picks c_irr
  (:class:`tasks.sampling.TaskSampler`): from C_d, the drug most similar to the positive
  (embedding cosine) among those never prescribed in an admission with the diagnosis and with
  no graph edge to the disease.

Every dropped row or pair is counted by reason in the report (``FILE.report.json`` for
``FILE.tsv``).
"""

from __future__ import annotations

import csv
import gzip
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from graph_store.names import NameIndex
from kedrec.errors import ConfigError, DataFormatError
from tasks.benchmark_import import EntityMapper, write_benchmark_tsv
from tasks.sampling import TaskSampler

SOURCE = "mimic-iii"

PRESCRIPTIONS = "PRESCRIPTIONS"
DIAGNOSES = "DIAGNOSES_ICD"
ICD_TITLES = "D_ICD_DIAGNOSES"
PRESCRIPTION_COLUMNS = ("SUBJECT_ID", "HADM_ID", "DRUG", "DRUG_NAME_GENERIC", "FORMULARY_DRUG_CD")
DIAGNOSIS_COLUMNS = ("SUBJECT_ID", "HADM_ID", "SEQ_NUM", "ICD9_CODE")
TITLE_COLUMNS = ("ICD9_CODE", "SHORT_TITLE", "LONG_TITLE")

MAX_RANGE_CATEGORIES = 9
"""Widest DO ICD-9 range used as a fallback, in 3-digit categories: 401-405 (hypertension) and
430-438 (cerebrovascular disease) pass, 510-519 and 520-579 (whole organ systems) do not."""

EXAMPLES = 25
"""Most frequent unmapped codes and drug names listed in the report."""

ALIASES = {
    "insulin": "insulin human",
    "insulin regular human": "insulin human",
    "humulin-r insulin": "insulin human",
    "glargine": "insulin glargine",
}
"""MIMIC house names whose DrugBank name differs (looked up as that name)."""


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


DOSAGE_WORDS = _words(
    """tab tabs tablet tablets cap caps capsule capsules inj injection soln solution susp
    suspension liquid syrup elixir oral po iv im sc subq sl pr ivpb flush neb nebulizer inhaler
    hfa mdi drops ophth ophthalmic otic cream ointment gel lotion patch topical premix bag vial
    sr er xl cr dr ec la odt mg mcg g gm ml meq unit units iu"""
)
"""Dose, route and dosage-form words dropped from a drug string before a second look-up."""
SALT_WORDS = _words(
    """hcl hydrochloride dihydrochloride hydrobromide sodium disodium potassium calcium
    magnesium sulfate sulphate tartrate bitartrate succinate maleate mesylate besylate fumarate
    citrate acetate phosphate bromide chloride gluconate lactate carbonate hyclate propionate
    xinafoate decanoate valerate monohydrate"""
)
"""Salts dropped from the end of a drug string for a third look-up ("Metoprolol Tartrate")."""


# -- reading MIMIC tables ---------------------------------------------------------------------


def find_table(folder: Path, name: str) -> Path:
    """``<folder>/<name>.csv`` or ``.csv.gz``; a missing table is a one-line error."""
    found = _optional_table(folder, name)
    if found is None:
        raise DataFormatError(
            f"{folder / name}.csv(.gz) is missing: point --mimic-dir at the MIMIC-III v1.4 "
            f"folder that holds {name}.csv"
        )
    return found


def _optional_table(folder: Path, name: str) -> Path | None:
    for candidate in (folder / f"{name}.csv", folder / f"{name}.csv.gz"):
        if candidate.is_file():
            return candidate
    return None


def _open(path: Path) -> TextIO:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", newline="", encoding="utf-8")
    return path.open(newline="", encoding="utf-8")


def read_table(path: Path, columns: Sequence[str]) -> Iterator[dict[str, str]]:
    """Rows of a MIMIC CSV keyed by upper-cased column name; missing columns are an error."""
    with _open(path) as handle:
        reader = csv.reader(handle)
        header = [name.strip().upper() for name in next(reader, [])]
        missing = [c for c in columns if c not in header]
        if missing:
            raise DataFormatError(
                f"{path} lacks column(s) {', '.join(missing)}: pass MIMIC-III v1.4's unmodified "
                f"{path.name.split('.')[0]}.csv (it needs {', '.join(columns)})"
            )
        for values in reader:
            yield dict(zip(header, values, strict=False))


# -- ICD-9 codes to graph diseases ------------------------------------------------------------


def dotted_icd9(code: str) -> str:
    """MIMIC's undotted ICD-9 code, dotted: ``25000`` → ``250.00``, ``E8497`` → ``E849.7``."""
    code = code.strip().upper()
    if not code or "." in code:
        return code
    head = 4 if code.startswith("E") else 3
    return code if len(code) <= head else f"{code[:head]}.{code[head:]}"


def icd9_levels(code: str) -> list[str]:
    """The dotted code, then each truncation down to its category (``250.00, 250.0, 250``)."""
    levels = [dotted_icd9(code)]
    while "." in levels[-1]:
        shorter = levels[-1][:-1]
        levels.append(shorter.rstrip("."))
    return levels


def _category(code: str) -> int | None:
    head = code.partition(".")[0]
    return int(head) if head.isdigit() else None


class Icd9Diseases:
    """ICD-9-CM codes → graph diseases through Disease Ontology's ICD9 cross-references."""

    def __init__(self, xrefs: Path, mapper: EntityMapper) -> None:
        if not xrefs.is_file():
            raise DataFormatError(
                f"Disease Ontology cross-references {xrefs} are missing: point KEDREC_DATA_DIR "
                "at a folder with names/doid_xrefs.tsv"
            )
        self.mapper = mapper
        self._exact: dict[str, set[str]] = defaultdict(set)
        self._ranges: list[tuple[int, int, str]] = []
        with xrefs.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
                if row.get("resource") not in {"ICD9", "ICD9CM"}:
                    continue
                code, doid = row["resource_id"].strip().upper(), row["doid_code"].strip()
                low, dash, high = code.partition("-")
                if not dash:
                    self._exact[code].add(doid)
                    continue
                first, last = _category(low), _category(high)
                if first is not None and last is not None and last - first < MAX_RANGE_CATEGORIES:
                    self._ranges.append((first, last, doid))
        self._ranges.sort(key=lambda r: (r[1] - r[0], r[2]))
        self._cache: dict[str, tuple[str | None, str, bool]] = {}

    def _graph_diseases(self, doids: Sequence[str]) -> tuple[set[str], bool]:
        """Graph disease groups (by key) of DO terms, and whether any came through MeSH."""
        keys: set[str] = set()
        via_mesh = False
        for doid in sorted(doids):
            disease, through_mesh = self.mapper.disease(doid)
            if disease is not None:
                keys.add(self.mapper.groups.key(disease))
                via_mesh = via_mesh or through_mesh
        return keys, via_mesh

    def lookup(self, code: str) -> tuple[str | None, str, bool]:
        """Return (graph disease or None, mapping level or why not, whether via MeSH)."""
        if code not in self._cache:
            self._cache[code] = self._lookup(code)
        return self._cache[code]

    def _lookup(self, code: str) -> tuple[str | None, str, bool]:
        levels = icd9_levels(code)
        attempts: list[tuple[str, list[str]]] = [
            ("exact" if i == 0 else f"truncated {i} digit(s)", sorted(self._exact.get(level, ())))
            for i, level in enumerate(levels)
        ]
        category = _category(levels[-1])
        if category is not None:
            ranges = [d for low, high, d in self._ranges if low <= category <= high]
            attempts.extend(("ICD-9 range", [doid]) for doid in ranges)
        why = "ICD code not in Disease Ontology"
        for level, doids in attempts:
            if not doids:
                continue
            keys, via_mesh = self._graph_diseases(doids)
            if len(keys) == 1:
                return next(iter(keys)), level, via_mesh
            if keys:
                why = "ICD code maps to several graph diseases"
            elif why == "ICD code not in Disease Ontology":
                why = "ICD code's disease not in the graph"
        if why == "ICD code not in Disease Ontology" and code[:1] in {"V", "E"}:
            why = "ICD V/E code not in Disease Ontology"
        return None, why, False


# -- drug strings to graph drugs --------------------------------------------------------------


def _key(text: str) -> str:
    return " ".join(text.casefold().split())


def clean_drug_name(text: str) -> str:
    """Drop parentheses, doses and dosage forms: ``Metoprolol Tartrate 25mg Tab``."""
    text = re.sub(r"\([^)]*\)", " ", text.casefold())
    tokens = re.split(r"[\s,]+", text)
    return " ".join(t for t in tokens if t and t not in DOSAGE_WORDS and not re.search(r"[\d%]", t))


def strip_salt(text: str) -> str:
    """The cleaned name without trailing salt words: ``metoprolol tartrate`` → ``metoprolol``."""
    tokens = clean_drug_name(text).split()
    while len(tokens) > 1 and tokens[-1] in SALT_WORDS:
        tokens.pop()
    return " ".join(tokens)


class DrugNames:
    """MIMIC drug strings → graph drug IDs through DrugBank's names and synonyms."""

    COLUMNS = ("DRUG", "DRUG_NAME_GENERIC", "FORMULARY_DRUG_CD")

    def __init__(self, names: NameIndex, entities: set[str]) -> None:
        table: dict[str, set[str]] = defaultdict(set)
        for entity_id, name in names.compound_names():
            for spelling in (name.name, *name.synonyms):
                table[_key(spelling)].add(entity_id)
        self._table = dict(table)
        self._entities = entities
        self._cache: dict[tuple[str, ...], tuple[str | None, str]] = {}

    def lookup(self, row: dict[str, str]) -> tuple[str | None, str]:
        """Return (graph drug ID, which column and form matched) or (None, why not)."""
        values = tuple(row.get(column) or "" for column in self.COLUMNS)
        if values not in self._cache:
            self._cache[values] = self._lookup(values)
        return self._cache[values]

    def _lookup(self, values: tuple[str, ...]) -> tuple[str | None, str]:
        """The first spelling the vocabulary knows decides (a less exact one never overrides)."""
        forms = (("as written", _key), ("cleaned", clean_drug_name), ("without salt", strip_salt))
        for form, transform in forms:
            for column, raw in zip(self.COLUMNS, values, strict=True):
                key = transform(raw)
                ids = self._table.get(ALIASES.get(key, key), set()) if key else set()
                if not ids:
                    continue
                in_graph = sorted(ids & self._entities)
                if len(in_graph) == 1:
                    return in_graph[0], f"{column} {form}"
                return None, "ambiguous drug name" if in_graph else "drug not in the graph"
        return None, "unmapped drug name"


# -- the report -------------------------------------------------------------------------------


@dataclass(slots=True)
class TableReport:
    """Rows of one MIMIC table: read, kept, dropped by reason, how kept ones were mapped."""

    rows: int = 0
    kept: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    mapped_by: Counter[str] = field(default_factory=Counter)
    mapped_via_mesh: int = 0
    """Kept diagnoses whose DOID is not in the graph but one of its MeSH IDs is."""
    unmapped: Counter[str] = field(default_factory=Counter)
    """Rows per unmapped value (code with its title, drug string), for the examples."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "rows": self.rows,
            "kept": self.kept,
            "dropped": dict(self.dropped.most_common()),
            "mapped_by": dict(self.mapped_by.most_common()),
            "mapped_via_mesh": self.mapped_via_mesh,
            "top_unmapped": dict(self.unmapped.most_common(EXAMPLES)),
        }


@dataclass(slots=True)
class MimicReport:
    """What the adapter read, kept and dropped (nothing is dropped silently)."""

    min_admissions: int
    diagnoses: TableReport = field(default_factory=TableReport)
    prescriptions: TableReport = field(default_factory=TableReport)
    admissions: Counter[str] = field(default_factory=Counter)
    pairs: Counter[str] = field(default_factory=Counter)
    """(disease, drug) pairs: co-prescribed, kept, dropped by reason."""
    diseases: int = 0
    rows: int = 0
    top_pairs: list[dict[str, Any]] = field(default_factory=list)
    inputs: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (``<out>.report.json``)."""
        return {
            "source": SOURCE,
            "inputs": self.inputs,
            "min_admissions": self.min_admissions,
            "diagnoses": self.diagnoses.as_dict(),
            "prescriptions": self.prescriptions.as_dict(),
            "admissions": dict(self.admissions),
            "pairs": dict(self.pairs),
            "diseases": self.diseases,
            "rows": self.rows,
            "top_pairs": self.top_pairs,
        }


# -- the benchmark ----------------------------------------------------------------------------


def _tsv_safe(text: str) -> str:
    """Names go into a QUOTE_NONE TSV: no tabs, newlines or double quotes."""
    return " ".join(text.replace('"', "'").split())


def _diagnoses(
    path: Path, icd: Icd9Diseases, titles: dict[str, str], report: TableReport
) -> tuple[dict[str, set[str]], dict[str, str]]:
    """Graph diseases per admission, and each admission's patient."""
    by_admission: dict[str, set[str]] = defaultdict(set)
    patient: dict[str, str] = {}
    for row in read_table(path, DIAGNOSIS_COLUMNS):
        report.rows += 1
        admission, code = row["HADM_ID"].strip(), row["ICD9_CODE"].strip().upper()
        if not admission:
            report.dropped["no admission ID"] += 1
            continue
        if not code:
            report.dropped["empty ICD9 code"] += 1
            continue
        disease, how, via_mesh = icd.lookup(code)
        if disease is None:
            report.dropped[how] += 1
            report.unmapped[f"{code} {titles.get(code, '')}".strip()] += 1
            continue
        report.kept += 1
        report.mapped_by[how] += 1
        report.mapped_via_mesh += via_mesh
        by_admission[admission].add(disease)
        patient[admission] = row["SUBJECT_ID"].strip()
    return dict(by_admission), patient


def _prescriptions(path: Path, drugs: DrugNames, report: TableReport) -> dict[str, set[str]]:
    """Graph drugs per admission (``DRUG_TYPE`` BASE rows, the diluents, are dropped)."""
    by_admission: dict[str, set[str]] = defaultdict(set)
    for row in read_table(path, PRESCRIPTION_COLUMNS):
        report.rows += 1
        admission = row["HADM_ID"].strip()
        if not admission:
            report.dropped["no admission ID"] += 1
            continue
        if (row.get("DRUG_TYPE") or "").strip().upper() == "BASE":
            report.dropped["base solution (DRUG_TYPE BASE)"] += 1
            continue
        if not any((row.get(c) or "").strip() for c in DrugNames.COLUMNS):
            report.dropped["empty drug name"] += 1
            continue
        drug, how = drugs.lookup(row)
        if drug is None:
            report.dropped[how] += 1
            report.unmapped[" | ".join(row.get(c) or "" for c in DrugNames.COLUMNS)] += 1
            continue
        report.kept += 1
        report.mapped_by[how] += 1
        by_admission[admission].add(drug)
    return dict(by_admission)


def _titles(folder: Path) -> dict[str, str]:
    path = _optional_table(folder, ICD_TITLES)
    if path is None:
        return {}
    return {
        row["ICD9_CODE"].strip().upper(): row["SHORT_TITLE"].strip()
        for row in read_table(path, TITLE_COLUMNS)
    }


def mimic_benchmark_rows(
    mimic_dir: Path,
    mapper: EntityMapper,
    sampler: TaskSampler,
    xrefs: Path,
    *,
    min_admissions: int = 2,
) -> tuple[list[dict[str, str]], MimicReport]:
    """Turn MIMIC-III tables into benchmark TSV rows (see the module docstring).

    Args:
        mimic_dir: Folder with PRESCRIPTIONS.csv and DIAGNOSES_ICD.csv (or .csv.gz).
        mapper: The graph's entities and names (as ``kedrec sets import`` maps them).
        sampler: The build's sampler over the same graph: its C_d and embeddings pick negatives.
        xrefs: Disease Ontology's cross-references (``<data_dir>/names/doid_xrefs.tsv``).
        min_admissions: A pair is a positive when co-prescribed in at least this many admissions.

    Returns:
        The rows, sorted by disease, then admissions (most first), then drug; and the report.

    Raises:
        DataFormatError: A table or column is missing.
        ConfigError: ``min_admissions`` below 1.
    """
    if min_admissions < 1:
        raise ConfigError(f"--min-admissions is {min_admissions}: it must be at least 1")
    report = MimicReport(min_admissions=min_admissions)
    prescriptions = find_table(mimic_dir, PRESCRIPTIONS)
    diagnoses = find_table(mimic_dir, DIAGNOSES)
    report.inputs = {"prescriptions": str(prescriptions), "diagnoses": str(diagnoses)}
    icd = Icd9Diseases(xrefs, mapper)
    diseases_of, patient_of = _diagnoses(diagnoses, icd, _titles(mimic_dir), report.diagnoses)
    drugs_of = _prescriptions(
        prescriptions, DrugNames(mapper.names, mapper.entities), report.prescriptions
    )

    admissions: Counter[tuple[str, str]] = Counter()
    patients: dict[tuple[str, str], set[str]] = defaultdict(set)
    prescribed: dict[str, set[str]] = defaultdict(set)
    both = sorted(set(diseases_of) & set(drugs_of))
    report.admissions.update(
        {
            "with a mapped diagnosis": len(diseases_of),
            "with a mapped prescription": len(drugs_of),
            "with both": len(both),
        }
    )
    for admission in both:
        drugs = drugs_of[admission]
        for disease in diseases_of[admission]:
            prescribed[disease] |= drugs
            for drug in drugs:
                admissions[(disease, drug)] += 1
                patients[(disease, drug)].add(patient_of[admission])
    report.pairs["co-prescribed"] = len(admissions)

    rows: list[dict[str, str]] = []
    kept: list[tuple[int, str, str]] = []
    for disease in sorted(prescribed):
        positives = sorted(
            (drug for drug in prescribed[disease] if admissions[(disease, drug)] >= min_admissions),
            key=lambda drug: (-admissions[(disease, drug)], drug),
        )
        report.pairs["below min admissions"] += len(prescribed[disease]) - len(positives)
        if not positives:
            continue
        negatives = _negatives(sampler, disease, prescribed[disease])
        if negatives is None:
            report.pairs["disease not in the embeddings"] += len(positives)
            continue
        made = 0
        for positive in positives:
            if positive not in sampler.embeddings.entity_index:
                report.pairs["positive drug not in the embeddings"] += 1
                continue
            if not negatives:
                report.pairs["no negative found"] += 1
                continue
            similarity = sampler.embeddings.cosine_similarity(positive, negatives)
            negative = negatives[int(np.argmax(similarity))]  # first of equals: sorted IDs
            rows.append(_row(disease, positive, negative, mapper.names))
            kept.append((admissions[(disease, positive)], disease, positive))
            made += 1
        report.diseases += made > 0
    report.pairs["kept"] = report.rows = len(rows)
    report.top_pairs = [
        {
            "disease": disease,
            "drug": drug,
            "admissions": count,
            "patients": len(patients[(disease, drug)]),
        }
        for count, disease, drug in sorted(kept, key=lambda k: (-k[0], k[1], k[2]))[:EXAMPLES]
    ]
    return rows, report


def _negatives(sampler: TaskSampler, disease: str, prescribed: set[str]) -> list[str] | None:
    """C_d minus every drug prescribed with the diagnosis or linked to the disease by an edge.

    None when the disease has no embedding (C_d cannot be ranked).
    """
    if disease not in sampler.embeddings.entity_index:
        return None
    group = sampler.groups.group_of(disease)
    return [
        drug
        for drug in sampler.candidate_pool(disease)
        if drug not in prescribed
        and drug in sampler.embeddings.entity_index
        and not any(sampler.edges.related(drug, member) for member in group)
    ]


def _row(disease: str, positive: str, negative: str, names: NameIndex) -> dict[str, str]:
    return {
        "disease_id": disease,
        "positive_drug_id": positive,
        "negative_drug_id": negative,
        "disease_name": _tsv_safe(names.name_of(disease)),
        "positive_name": _tsv_safe(names.name_of(positive)),
        "negative_name": _tsv_safe(names.name_of(negative)),
        "source": SOURCE,
    }


def report_path(out: Path) -> Path:
    """Where the report of a benchmark TSV goes: ``mimic.tsv`` → ``mimic.report.json``."""
    return out.with_suffix(".report.json")


def write_mimic_benchmark(
    mimic_dir: Path,
    out: Path,
    mapper: EntityMapper,
    sampler: TaskSampler,
    xrefs: Path,
    *,
    min_admissions: int = 2,
    metadata: dict[str, Any] | None = None,
) -> MimicReport:
    """Write the benchmark TSV to ``out`` and its report beside it; return the report."""
    rows, report = mimic_benchmark_rows(
        mimic_dir, mapper, sampler, xrefs, min_admissions=min_admissions
    )
    write_benchmark_tsv(rows, out)
    payload = {**(metadata or {}), **report.as_dict(), "output": str(out)}
    report_path(out).write_text(json.dumps(payload, indent=2) + "\n")
    return report
