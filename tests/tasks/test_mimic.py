"""MIMIC-III adapter on synthetic rows in MIMIC's real schema, and --benchmark-file reservation."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
from pathlib import Path

import pytest

from graph_store.load_plan import build_plan
from kedrec.errors import DataFormatError
from kge.pipeline import KGEConfig, train_embeddings
from tasks.benchmark_import import EntityMapper, import_benchmark_tsv
from tasks.build import (
    benchmark_file_name,
    build_task_sets,
    load_benchmark_file,
    read_pairs,
    reserve_benchmarks,
)
from tasks.mimic import (
    SOURCE,
    clean_drug_name,
    dotted_icd9,
    icd9_levels,
    mimic_benchmark_rows,
    report_path,
    write_mimic_benchmark,
)
from tasks.relevance import CompoundDiseaseEdges
from tasks.sampling import SamplingConfig, TaskSampler
from tasks.task_sets import read_task_sets

SMALL_KGE = KGEConfig(
    model="distmult", dim=32, epochs=4, patience=2, val_max=300, seed=0, num_threads=1
)

DIABETES = "Disease::MESH:D003920"  # ICD-9 250.xx: DO lists only 250 (diabetes mellitus)
HYPERTENSION = "Disease::DOID:10763"  # 401.9: DO's 401-405.99 range (401.9's DOID is not in DRKG)
HEART_FAILURE = "Disease::MESH:D006333"  # 428.0 → DOID:6000 → its MeSH ID in the graph
METFORMIN, LISINOPRIL = "Compound::DB00331", "Compound::DB00722"
FUROSEMIDE, METOPROLOL = "Compound::DB00695", "Compound::DB00264"
MAPPED_DRUGS = {
    METFORMIN,
    LISINOPRIL,
    FUROSEMIDE,
    METOPROLOL,
    "Compound::DB00030",  # insulin human
    "Compound::DB00945",  # aspirin
    "Compound::DB00381",  # amlodipine
}
T2D = "Disease::DOID:9352"

PRESCRIPTION_HEADER = [  # MIMIC-III v1.4's PRESCRIPTIONS.csv
    *("ROW_ID", "SUBJECT_ID", "HADM_ID", "ICUSTAY_ID", "STARTDATE", "ENDDATE", "DRUG_TYPE"),
    *("DRUG", "DRUG_NAME_POE", "DRUG_NAME_GENERIC", "FORMULARY_DRUG_CD", "GSN", "NDC"),
    *("PROD_STRENGTH", "DOSE_VAL_RX", "DOSE_UNIT_RX", "FORM_VAL_DISP", "FORM_UNIT_DISP", "ROUTE"),
]

# (subject, admission, drug type, DRUG, DRUG_NAME_GENERIC, FORMULARY_DRUG_CD)
PRESCRIPTIONS = [
    (1, 100001, "MAIN", "Metformin", "Metformin", "METF500"),
    (1, 100001, "MAIN", "Insulin", "Insulin Regular Human", "INSULIN"),
    (1, 100001, "MAIN", "Lisinopril", "Lisinopril", "LISI10"),
    (1, 100001, "MAIN", "Sodium Chloride 0.9%  Flush", "Sodium Chloride 0.9%  Flush", "NACLFLUSH"),
    (1, 100001, "BASE", "NS", "", "NS1000"),
    (1, 100001, "MAIN", "Fakeamab", "", "FAKE1"),
    (2, 100002, "MAIN", "Metformin", "Metformin", "METF500"),
    (2, 100002, "MAIN", "Lisinopril", "Lisinopril", "LISI5"),
    (2, 100002, "MAIN", "Furosemide", "Furosemide", "FURO40I"),
    (2, 100002, "MAIN", "Metoprolol Tartrate", "Metoprolol Tartrate", "METO25"),
    (2, 100003, "MAIN", "Furosemide", "Furosemide", "FURO40I"),
    (2, 100003, "MAIN", "Metoprolol Tartrate", "Metoprolol Tartrate", "METO25"),
    (2, 100003, "MAIN", "Aspirin", "Aspirin", "ASA81"),
    (2, 100003, "MAIN", "Senna", "Senna", "SENN187"),
    (3, 100004, "MAIN", "Lisinopril", "Lisinopril", "LISI10"),
    (3, 100004, "MAIN", "Amlodipine", "Amlodipine", "AMLO5"),
]

# (subject, admission, seq, ICD9_CODE)
DIAGNOSES = [
    (1, 100001, 1, "25000"),
    (1, 100001, 2, "4019"),
    (1, 100001, 3, "V5861"),
    (2, 100002, 1, "4280"),
    (2, 100002, 2, "25000"),
    (2, 100002, 3, "4019"),
    (2, 100003, 1, "4280"),
    (2, 100003, 2, "41401"),
    (2, 100003, 3, "E8497"),
    (3, 100004, 1, "5849"),
    (3, 100004, 2, "4019"),
    (3, 100004, 3, ""),  # MIMIC has a few diagnoses without a code
]

TITLES = [
    ("25000", "DMII wo cmp nt st uncntr", "Diabetes mellitus without mention of complication"),
    ("4019", "Hypertension NOS", "Unspecified essential hypertension"),
    ("5849", "Acute kidney failure NOS", "Acute kidney failure, unspecified"),
]


def _write_csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_NONNUMERIC)
        writer.writerow(header)
        writer.writerows(rows)


def write_mimic(folder: Path, *, drop_column: str | None = None) -> Path:
    """MIMIC-III v1.4 tables with the synthetic rows (prescriptions gzipped, as shipped)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for row_id, (subject, admission, kind, drug, generic, code) in enumerate(PRESCRIPTIONS, 1):
        values = dict.fromkeys(PRESCRIPTION_HEADER, "")
        values.update(
            ROW_ID=row_id,
            SUBJECT_ID=subject,
            HADM_ID=admission,
            STARTDATE="2150-01-01 00:00:00",
            DRUG_TYPE=kind,
            DRUG=drug,
            DRUG_NAME_POE=drug,
            DRUG_NAME_GENERIC=generic,
            FORMULARY_DRUG_CD=code,
            ROUTE="PO",
        )
        rows.append([values[c] for c in PRESCRIPTION_HEADER if c != drop_column])
    header = [c for c in PRESCRIPTION_HEADER if c != drop_column]
    _write_csv(folder / "PRESCRIPTIONS.csv.gz", header, rows)
    _write_csv(
        folder / "DIAGNOSES_ICD.csv",
        ["ROW_ID", "SUBJECT_ID", "HADM_ID", "SEQ_NUM", "ICD9_CODE"],
        [[i, *row] for i, row in enumerate(DIAGNOSES, 1)],
    )
    _write_csv(
        folder / "D_ICD_DIAGNOSES.csv",
        ["ROW_ID", "ICD9_CODE", "SHORT_TITLE", "LONG_TITLE"],
        [[i, *row] for i, row in enumerate(TITLES, 1)],
    )
    return folder


@pytest.fixture(scope="module")
def mapper(slice_files: list[Path], names) -> EntityMapper:  # type: ignore[no-untyped-def]
    return EntityMapper(set(build_plan(slice_files).entities), names)


@pytest.fixture(scope="module")
def edges(slice_files: list[Path]) -> CompoundDiseaseEdges:
    return CompoundDiseaseEdges.from_files(slice_files)


@pytest.fixture(scope="module")
def sampler(slice_files, names, mapper, edges, tmp_path_factory) -> TaskSampler:  # type: ignore[no-untyped-def]
    embeddings = train_embeddings(slice_files, None, SMALL_KGE, root=tmp_path_factory.mktemp("emb"))
    return TaskSampler(edges, embeddings, names, SamplingConfig(top_k=30), mapper.groups)


@pytest.fixture(scope="module")
def xrefs(settings) -> Path:  # type: ignore[no-untyped-def]
    return settings.names_dir / "doid_xrefs.tsv"


def test_icd9_codes_are_dotted_and_truncated() -> None:
    assert dotted_icd9("25000") == "250.00"
    assert dotted_icd9("4019") == "401.9"
    assert dotted_icd9("486") == "486"
    assert dotted_icd9("E8497") == "E849.7"
    assert dotted_icd9("V5861") == "V58.61"
    assert dotted_icd9("0389") == "038.9"
    assert icd9_levels("25000") == ["250.00", "250.0", "250"]
    assert icd9_levels("E8497") == ["E849.7", "E849"]
    assert clean_drug_name("Sodium Chloride 0.9%  Flush") == "sodium chloride"
    assert clean_drug_name("Docusate Sodium (Liquid)") == "docusate sodium"


def test_mimic_rows_map_count_and_pick_unprescribed_negatives(  # type: ignore[no-untyped-def]
    tmp_path: Path, mapper, sampler, xrefs
) -> None:
    rows, report = mimic_benchmark_rows(write_mimic(tmp_path / "mimic"), mapper, sampler, xrefs)
    diagnoses = report.diagnoses
    assert diagnoses.rows == len(DIAGNOSES) == diagnoses.kept + sum(diagnoses.dropped.values())
    assert diagnoses.dropped == {
        "ICD V/E code not in Disease Ontology": 2,
        "ICD code not in Disease Ontology": 1,
        "empty ICD9 code": 1,
    }
    assert diagnoses.mapped_by["truncated 2 digit(s)"] == 2  # 250.00 → 250
    assert diagnoses.mapped_by["ICD-9 range"] == 3  # 401.9 → 401-405.99
    assert diagnoses.mapped_by["exact"] == 2  # 428.0
    assert diagnoses.mapped_by["truncated 1 digit(s)"] == 1  # 414.01 → 414.0
    assert diagnoses.mapped_via_mesh == 4  # 250 and 428.0 reach the graph via MeSH
    assert "5849 Acute kidney failure NOS" in diagnoses.unmapped  # titles from D_ICD_DIAGNOSES
    prescriptions = report.prescriptions
    assert prescriptions.rows == len(PRESCRIPTIONS)
    assert prescriptions.rows == prescriptions.kept + sum(prescriptions.dropped.values())
    assert prescriptions.dropped == {
        "base solution (DRUG_TYPE BASE)": 1,
        "unmapped drug name": 1,  # Fakeamab
        "drug not in the graph": 2,  # sodium chloride, senna: DrugBank IDs DRKG lacks
    }
    assert prescriptions.mapped_by["DRUG without salt"] == 2  # Metoprolol Tartrate

    # positives: co-prescribed in >= 2 admissions with the diagnosis
    expected = {
        (DIABETES, METFORMIN),
        (DIABETES, LISINOPRIL),
        (HYPERTENSION, LISINOPRIL),
        (HYPERTENSION, METFORMIN),
        (HEART_FAILURE, FUROSEMIDE),
        (HEART_FAILURE, METOPROLOL),
    }
    pairs = report.pairs
    unpaired = pairs["no negative found"] + pairs["positive drug not in the embeddings"]
    assert pairs["kept"] + unpaired + pairs["disease not in the embeddings"] == len(expected)
    assert pairs["co-prescribed"] == pairs["below min admissions"] + len(expected)
    assert pairs["kept"] == len(rows) >= 3
    for row in rows:
        disease, positive, negative = (
            row["disease_id"],
            row["positive_drug_id"],
            row["negative_drug_id"],
        )
        assert (disease, positive) in expected and row["source"] == SOURCE
        assert negative in sampler.candidate_pool(disease)
        assert negative not in MAPPED_DRUGS  # so never prescribed with the diagnosis
        group = mapper.groups.group_of(disease)
        assert not any(sampler.edges.related(negative, member) for member in group)
    top = report.top_pairs[0]
    assert (top["disease"], top["drug"], top["admissions"], top["patients"]) == (
        HYPERTENSION,
        LISINOPRIL,
        3,
        3,
    )
    again, _ = mimic_benchmark_rows(tmp_path / "mimic", mapper, sampler, xrefs)
    assert again == rows


def test_min_admissions_one_keeps_single_admission_pairs(  # type: ignore[no-untyped-def]
    tmp_path: Path, mapper, sampler, xrefs
) -> None:
    _, report = mimic_benchmark_rows(
        write_mimic(tmp_path / "mimic"), mapper, sampler, xrefs, min_admissions=1
    )
    assert report.pairs["below min admissions"] == 0
    assert report.pairs["kept"] > 6


def test_tsv_round_trips_through_the_benchmark_reader(  # type: ignore[no-untyped-def]
    tmp_path: Path, mapper, sampler, xrefs
) -> None:
    out = tmp_path / "mimic-iii.tsv"
    report = write_mimic_benchmark(write_mimic(tmp_path / "mimic"), out, mapper, sampler, xrefs)
    saved = json.loads(report_path(out).read_text())
    assert report_path(out).name == "mimic-iii.report.json"
    assert saved["rows"] == report.rows and saved["source"] == SOURCE
    assert saved["prescriptions"]["dropped"]["unmapped drug name"] == 1
    assert saved["prescriptions"]["top_unmapped"]["Fakeamab |  | FAKE1"] == 1
    sets, imported = import_benchmark_tsv(out, mapper)
    assert imported.rows == imported.imported == report.rows and not imported.refused
    for task_set in sets:
        assert task_set.source == SOURCE and task_set.set_id.startswith("mimic-iii-")
        assert task_set.split == "benchmark"
        group = mapper.groups.group_of(task_set.disease.id)
        assert {p[1] for p in task_set.hidden_pairs} == group


def test_missing_column_or_table_is_one_line(tmp_path: Path, mapper, sampler, xrefs) -> None:  # type: ignore[no-untyped-def]
    folder = write_mimic(tmp_path / "no-generic", drop_column="DRUG_NAME_GENERIC")
    with pytest.raises(DataFormatError, match=r"lacks column\(s\) DRUG_NAME_GENERIC") as error:
        mimic_benchmark_rows(folder, mapper, sampler, xrefs)
    assert "\n" not in str(error.value) and "PRESCRIPTIONS" in str(error.value)
    (folder / "DIAGNOSES_ICD.csv").unlink()
    with pytest.raises(DataFormatError, match=r"DIAGNOSES_ICD\.csv.*--mimic-dir") as error:
        mimic_benchmark_rows(folder, mapper, sampler, xrefs)
    assert "\n" not in str(error.value)


BENCHMARK_TSV = (
    "disease_id\tpositive_drug_id\tnegative_drug_id\tdisease_name\tpositive_name\t"
    "negative_name\tsource\n"
    "DOID:9352\tDB00331\tDB00945\ttype 2 diabetes mellitus\tMetformin\tAspirin\tmimic-iii\n"
    "DOID:10763\tDB00722\tDB01076\thypertension\tLisinopril\tAtorvastatin\tmimic-iii\n"
    "DOID:9352\tDB99999\tDB00945\t\t\t\tmimic-iii\n"  # unknown drug: refused, counted
)


@pytest.fixture
def benchmark_tsv(tmp_path: Path) -> Path:
    """BENCHMARK_TSV written to a file, as `kedrec sets build --benchmark-file` reads it."""
    tsv = tmp_path / "bench.tsv"
    tsv.write_text(BENCHMARK_TSV)
    return tsv


def test_benchmark_file_is_reserved_like_pharmacotherapydb(  # type: ignore[no-untyped-def]
    benchmark_tsv: Path, mapper, edges, names
) -> None:
    loaded = load_benchmark_file(benchmark_tsv, mapper)
    assert loaded.sha256 == hashlib.sha256(benchmark_tsv.read_bytes()).hexdigest()
    assert loaded.sources() == {"mimic-iii": 2}
    assert loaded.report.refused == {"drug not in the graph": 1}
    assert benchmark_file_name("mimic-iii") == "benchmark-mimic-iii.jsonl"
    assert benchmark_file_name("my source/v2") == "benchmark-my_source_v2.jsonl"
    sampling = SamplingConfig(val_fraction=0.2, test_fraction=0.2)
    reservation = reserve_benchmarks(edges, names, sampling, loaded.sets)
    for task_set in loaded.sets:
        group = reservation.groups.group_of(task_set.disease.id)
        assert {reservation.split_of.get(member) for member in group} == {"benchmark"}
        assert set(task_set.hidden_pairs) <= reservation.held_out
        for member in group:  # every direct edge of the disease, under every ID, is held out
            assert edges.pairs_of([member]) <= reservation.held_out
    assert reservation.groups.group_of(T2D) == {T2D, "Disease::MESH:D003924"}
    plain = reserve_benchmarks(edges, names, sampling, [])
    assert plain.split_of.get(T2D) != "benchmark"
    assert len(plain.held_out) < len(reservation.held_out)


def test_build_writes_benchmark_file_sets_and_manifest(  # type: ignore[no-untyped-def]
    tmp_path: Path, benchmark_tsv: Path, slice_files, names, mapper
) -> None:
    loaded = load_benchmark_file(benchmark_tsv, mapper)
    result = build_task_sets(
        slice_files,
        names,
        tmp_path / "build",
        sampling=SamplingConfig(top_k=10, train_sets_per_disease=1),
        kge_config=SMALL_KGE,
        benchmark_files=[loaded],
        embeddings_root=tmp_path / "emb",
    )
    written = list(read_task_sets(result.out_dir / "benchmark-mimic-iii.jsonl"))
    assert [s.set_id for s in written] == [s.set_id for s in loaded.sets]
    assert all(s.embedding_version == result.manifest["embeddings_version"] for s in written)
    assert not (result.out_dir / "benchmark.jsonl").exists()  # no PharmacotherapyDB asked for
    manifest = json.loads((result.out_dir / "manifest.json").read_text())
    assert manifest["counts"]["benchmark-mimic-iii"] == 2
    (entry,) = manifest["benchmark_files"]
    assert entry["sha256"] == loaded.sha256 and entry["sets_by_source"] == {"mimic-iii": 2}
    held_out = read_pairs(result.out_dir / "held_out_pairs.tsv")
    assert all(set(s.hidden_pairs) <= held_out for s in written)
    trained = {s.disease.id for s in read_task_sets(result.out_dir / "train.jsonl")}
    assert not trained & {d for s in written for d in mapper.groups.group_of(s.disease.id)}


def test_cli_writes_the_tsv_and_report(tmp_path: Path, sampler) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from kedrec_cli.main import app

    out = tmp_path / "mimic-iii.tsv"
    result = CliRunner().invoke(
        app,
        [
            *("sets", "mimic", "--mimic-dir", str(write_mimic(tmp_path / "mimic"))),
            *("--out", str(out), "--min-admissions", "2", "--top-k", "30"),
            *("--embeddings", str(sampler.embeddings.directory)),
        ],
    )
    assert result.exit_code == 0, result.output
    saved = json.loads(report_path(out).read_text())
    assert saved["embeddings_version"] == sampler.embeddings.version and saved["top_k"] == 30
    assert len(out.read_text().splitlines()) == saved["rows"] + 1 >= 4
