"""External benchmark import: the TSV format and PharmacotherapyDB on the real slice."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph_store.load_plan import build_plan
from kedrec.errors import DataFormatError
from tasks.benchmark_import import (
    EntityMapper,
    import_benchmark_tsv,
    pharmacotherapydb_rows,
    write_benchmark_tsv,
)


@pytest.fixture(scope="module")
def mapper(slice_files: list[Path], names) -> EntityMapper:  # type: ignore[no-untyped-def]
    return EntityMapper(set(build_plan(slice_files).entities), names)


def test_pharmacotherapydb_has_5474_triples_over_43_diseases(settings) -> None:  # type: ignore[no-untyped-def]
    rows = pharmacotherapydb_rows(
        settings.data_dir / "benchmarks" / "pharmacotherapydb" / "indications.tsv"
    )
    assert len(rows) == 5_474
    assert len({row["disease_id"] for row in rows}) == 43


def test_pharmacotherapydb_maps_onto_the_graph(settings, mapper, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rows = pharmacotherapydb_rows(
        settings.data_dir / "benchmarks" / "pharmacotherapydb" / "indications.tsv"
    )
    tsv = tmp_path / "pdb.tsv"
    write_benchmark_tsv(rows, tsv)
    sets, report = import_benchmark_tsv(tsv, mapper, seed=0)
    assert report.rows == 5_474
    assert report.imported + sum(report.refused.values()) == report.rows
    assert report.imported > 5_000  # nearly all Hetionet DOIDs and DrugBank drugs are in the slice
    for task_set in sets[:200]:
        assert task_set.split == "benchmark"
        assert {c.id for c in task_set.candidates} == {p[0] for p in task_set.hidden_pairs}
        group = mapper.groups.group_of(task_set.disease.id)
        assert {p[1] for p in task_set.hidden_pairs} == group and task_set.disease.id in group
    labels = [s.label for s in sets]
    assert 0.4 < sum(labels) / len(labels) < 0.6  # candidate order is shuffled
    again, _ = import_benchmark_tsv(tsv, mapper, seed=0)
    assert [s.model_dump() for s in again] == [s.model_dump() for s in sets]


def test_bad_rows_are_counted_by_reason(mapper, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tsv = tmp_path / "mixed.tsv"
    tsv.write_text(
        "disease_id\tpositive_drug_id\tnegative_drug_id\n"
        "DOID:9352\tDB00331\tDB00945\n"  # bare IDs, both in the graph
        "Disease::DOID:9352\tCompound::DB00331\t\n"  # empty field
        "DOID:0000000\tDB00331\tDB00945\n"  # unknown disease
        "DOID:9352\tDB99999\tDB00945\n"  # unknown drug
        "DOID:9352\tDB00331\tDB00331\n"  # same drug twice
    )
    sets, report = import_benchmark_tsv(tsv, mapper)
    assert len(sets) == report.imported == 1
    assert sets[0].answer.id == "Compound::DB00331" and sets[0].answer.name == "Metformin"
    assert report.refused == {
        "empty required field": 1,
        "disease not in the graph": 1,
        "drug not in the graph": 1,
        "positive and negative drug are the same": 1,
    }
    assert report.examples[0].startswith("line 3:")


def test_missing_columns_is_a_clear_error(mapper, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tsv = tmp_path / "bad.tsv"
    tsv.write_text("disease\tdrug\nDOID:1\tDB1\n")
    with pytest.raises(DataFormatError, match="lacks columns disease_id"):
        import_benchmark_tsv(tsv, mapper)
