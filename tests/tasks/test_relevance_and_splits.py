"""Relevance from real DRKG edges and the disease split."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks.relevance import CompoundDiseaseEdges, relevance_of
from tasks.sampling import eligible_diseases, held_out_pairs, split_diseases

METFORMIN, T2D = "Compound::DB00331", "Disease::DOID:9352"


@pytest.fixture(scope="module")
def edges(slice_files: list[Path]) -> CompoundDiseaseEdges:
    return CompoundDiseaseEdges.from_files(slice_files)


def test_edges_and_relevance_from_the_real_slice(edges: CompoundDiseaseEdges) -> None:
    assert edges.drugs_of(T2D)[METFORMIN] == {"Hetionet::CtD::Compound:Disease"}
    assert edges.relevance(METFORMIN, T2D) == 3.0
    assert edges.related(METFORMIN, T2D) and not edges.related(METFORMIN, "Disease::DOID:1324")
    n_pairs = sum(len(drugs) for drugs in edges.by_disease.values())
    assert n_pairs == len(edges.pairs_of(edges.by_disease))
    assert n_pairs <= 755 + 390 + 7_111


def test_relevance_weights_order_curated_above_text_mined() -> None:
    treats = relevance_of(["DRUGBANK::treats::Compound:Disease"])
    palliates = relevance_of(["Hetionet::CpD::Compound:Disease"])
    mined = relevance_of(["GNBR::T::Compound:Disease"])
    side_effect = relevance_of(["GNBR::Sa::Compound:Disease"])
    assert treats > palliates > mined > side_effect == 0.0
    both = relevance_of(["DRUGBANK::treats::Compound:Disease", "Hetionet::CtD::Compound:Disease"])
    assert both == 6.0 and relevance_of(["Hetionet::CtD::Compound:Disease"] * 3) == 3.0


def test_split_is_disjoint_deterministic_and_reserves_benchmark(
    edges: CompoundDiseaseEdges,
) -> None:
    diseases = eligible_diseases(edges, 1.0)
    reserved = frozenset({T2D})
    first = split_diseases(diseases, seed=7, val_fraction=0.2, test_fraction=0.2, reserved=reserved)
    again = split_diseases(diseases, seed=7, val_fraction=0.2, test_fraction=0.2, reserved=reserved)
    other = split_diseases(diseases, seed=8, val_fraction=0.2, test_fraction=0.2, reserved=reserved)
    assert first == again and first != other
    assert first[T2D] == "benchmark"
    counts = {
        split: sum(1 for s in first.values() if s == split) for split in ("train", "val", "test")
    }
    n = len(set(diseases) - reserved)
    assert counts["val"] == round(n * 0.2) and counts["test"] == round(n * 0.2)
    assert sum(counts.values()) == n  # every disease in exactly one split


def test_held_out_pairs_cover_every_edge_of_evaluated_diseases(edges: CompoundDiseaseEdges) -> None:
    split = split_diseases(
        eligible_diseases(edges, 1.0), seed=0, val_fraction=0.15, test_fraction=0.15
    )
    held = held_out_pairs(edges, split)
    for disease, part in split.items():
        for drug in edges.drugs_of(disease):
            assert ((drug, disease) in held) == (part != "train")


def test_split_keeps_equivalent_ids_together(edges: CompoundDiseaseEdges, names) -> None:  # type: ignore[no-untyped-def]
    from tasks.disease_groups import DiseaseGroups

    groups = DiseaseGroups(edges.by_disease, names)
    assert groups.group_of(T2D) == {T2D, "Disease::MESH:D003924"}
    for seed in range(5):
        split = split_diseases(
            eligible_diseases(edges, 1.0),
            seed=seed,
            val_fraction=0.2,
            test_fraction=0.2,
            groups=groups,
        )
        for disease, part in split.items():
            assert {split.get(other, part) for other in groups.group_of(disease)} == {part}
    reserved = split_diseases(
        eligible_diseases(edges, 1.0),
        seed=0,
        val_fraction=0.2,
        test_fraction=0.2,
        reserved=frozenset({T2D}),
        groups=groups,
    )
    assert reserved["Disease::MESH:D003924"] == "benchmark"
