"""Task-set sampling on the real slice with real (small) KGE embeddings, and leakage proofs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.gnn_baseline import evaluate_gnn
from graph_store.load_plan import build_plan
from graph_store.masking import HiddenPairs
from kge.pipeline import KGEConfig, TrainedEmbeddings
from tasks.benchmark_import import (
    EntityMapper,
    import_benchmark_tsv,
    pharmacotherapydb_rows,
    write_benchmark_tsv,
)
from tasks.build import HELD_OUT_FILE, BuildResult, build_task_sets, read_pairs
from tasks.disease_groups import DiseaseGroups
from tasks.leakage import LeakageReport, check_embeddings, check_pair, check_tools
from tasks.relevance import CompoundDiseaseEdges
from tasks.sampling import SamplingConfig
from tasks.task_sets import TaskSet, read_task_sets

SMALL_KGE = KGEConfig(model="distmult", dim=32, epochs=4, patience=2, val_max=300, seed=0)


@pytest.fixture(scope="module")
def edges(slice_files: list[Path]) -> CompoundDiseaseEdges:
    return CompoundDiseaseEdges.from_files(slice_files)


@pytest.fixture(scope="module")
def benchmark_sets(settings, slice_files, names, tmp_path_factory) -> list[TaskSet]:  # type: ignore[no-untyped-def]
    tsv = tmp_path_factory.mktemp("bench") / "pdb.tsv"
    rows = pharmacotherapydb_rows(
        settings.data_dir / "benchmarks" / "pharmacotherapydb" / "indications.tsv"
    )
    write_benchmark_tsv(rows, tsv)
    mapper = EntityMapper(set(build_plan(slice_files).entities), names)
    return import_benchmark_tsv(tsv, mapper)[0]


def _build(slice_files, names, out: Path, root: Path, benchmark_sets, seed: int = 0) -> BuildResult:  # type: ignore[no-untyped-def]
    return build_task_sets(
        slice_files,
        names,
        out,
        sampling=SamplingConfig(seed=seed, top_k=30),
        kge_config=SMALL_KGE.model_copy(update={"seed": seed}),
        benchmark_sets=benchmark_sets,
        embeddings_root=root,
    )


@pytest.fixture(scope="module")
def built(slice_files, names, benchmark_sets, tmp_path_factory) -> BuildResult:  # type: ignore[no-untyped-def]
    base = tmp_path_factory.mktemp("sets")
    return _build(slice_files, names, base / "a", base / "emb", benchmark_sets)


def _sets(result: BuildResult, split: str) -> list[TaskSet]:
    return list(read_task_sets(result.out_dir / f"{split}.jsonl"))


def test_sampling_rules_hold_for_every_set(  # type: ignore[no-untyped-def]
    built: BuildResult, edges: CompoundDiseaseEdges, names
) -> None:
    groups = DiseaseGroups(edges.by_disease, names)
    all_sets = [s for split in ("train", "val", "test") for s in _sets(built, split)]
    assert len(all_sets) > 1_000
    for task_set in all_sets:
        disease = task_set.disease.id
        group = groups.group_of(disease)
        # c_irr: no edge of any kind to the disease under any of its IDs
        assert not any(edges.related(task_set.distractor.id, d) for d in group)
        best = max(edges.relevance(drug, disease) for drug in edges.drugs_of(disease))
        assert edges.relevance(task_set.answer.id, disease) == task_set.relevance == best
        assert task_set.similarity is not None and -1.0 <= task_set.similarity <= 1.0
        expected = sorted((c.id, d) for c in task_set.candidates for d in group)
        assert sorted(tuple(p) for p in task_set.hidden_pairs) == expected
    labels = [s.label for s in all_sets]
    assert 0.4 < sum(labels) / len(labels) < 0.6


def test_splits_are_disjoint_by_disease_and_by_equivalent_id(  # type: ignore[no-untyped-def]
    built: BuildResult, edges: CompoundDiseaseEdges, names
) -> None:
    diseases = {
        split: {s.disease.id for s in _sets(built, split)}
        for split in ("train", "val", "test", "benchmark")
    }
    for a in diseases:
        for b in diseases:
            if a < b:
                assert not diseases[a] & diseases[b], (a, b)
    groups = DiseaseGroups(set(edges.by_disease) | diseases["benchmark"], names)
    split_of_group = {}
    for split, members in diseases.items():
        for disease in members:
            assert split_of_group.setdefault(groups.key(disease), split) == split, disease
    manifest = json.loads((built.out_dir / "manifest.json").read_text())
    assert manifest["counts"]["benchmark"] > 5_000 and manifest["report"]["skipped"] == {}


def test_held_out_pairs_cover_evaluated_labels_and_embeddings_never_saw_them(  # type: ignore[no-untyped-def]
    built: BuildResult, edges: CompoundDiseaseEdges, tmp_path: Path
) -> None:
    held = read_pairs(built.out_dir / HELD_OUT_FILE)
    evaluated = [s for split in ("val", "test", "benchmark") for s in _sets(built, split)]
    report = LeakageReport()
    check_embeddings(held, edges, evaluated, report)
    assert report.embedding_pairs_missing == []
    for task_set in _sets(built, "val"):
        assert all(
            (drug, task_set.disease.id) in held for drug in edges.drugs_of(task_set.disease.id)
        )
    version = built.manifest["embeddings_version"]
    embeddings = TrainedEmbeddings.load(built.out_dir.parent / "emb" / version)
    held_meta = embeddings.meta["held_out"]
    assert held_meta["pairs"] == len(held) and held_meta["dropped_triples"] > 0
    # a check that can fail: train pairs are not held out, so claiming them as evaluated leaks
    train = _sets(built, "train")[:5]
    leaky = [t.model_copy(update={"split": "test"}) for t in train]
    report = LeakageReport()
    check_embeddings(held, edges, leaky, report)
    assert report.embedding_pairs_missing


def test_build_is_deterministic_by_seed(
    slice_files, names, benchmark_sets, built, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    root = built.out_dir.parent / "emb"
    again = _build(slice_files, names, tmp_path / "b", root, benchmark_sets)
    for split in ("train", "val", "test"):
        assert (built.out_dir / f"{split}.jsonl").read_text() == (
            again.out_dir / f"{split}.jsonl"
        ).read_text()
    other = _build(slice_files, names, tmp_path / "c", tmp_path / "emb", benchmark_sets, seed=1)
    assert {s.disease.id for s in _sets(other, "test")} != {
        s.disease.id for s in _sets(built, "test")
    }


def test_gnn_baseline_scores_every_set(built: BuildResult) -> None:
    embeddings = TrainedEmbeddings.load(
        built.out_dir.parent / "emb" / built.manifest["embeddings_version"]
    )
    sets = _sets(built, "benchmark")
    scores = evaluate_gnn(embeddings, sets)
    assert scores.n == len(sets) and scores.abstained == 0
    assert 0.0 <= scores.accuracy <= 1.0


@pytest.mark.neo4j
def test_no_label_leaks_through_the_graph_tools(
    built: BuildResult, driver, settings, loaded_graph, edges, names
) -> None:  # type: ignore[no-untyped-def]
    from graph_store.tools import GraphTools

    tools = GraphTools.from_settings(driver, settings.neo4j)
    evaluated = _sets(built, "val")[:8] + _sets(built, "benchmark")[:4]
    report = LeakageReport()
    groups = DiseaseGroups(edges.by_disease, names)
    check_tools(tools, evaluated, report, groups)
    unique_pairs = {tuple(pair) for task_set in evaluated for pair in task_set.hidden_pairs}
    assert report.sets == len(evaluated) and report.pairs == len(unique_pairs)
    assert report.findings == [], report.findings[:3]
    # the same check without masking finds the label edge: it can fail
    task_set = evaluated[0]
    unmasked = check_pair(tools, task_set, task_set.answer.id, task_set.disease.id)
    assert {finding.tool for finding in unmasked} >= {
        "direct_edges",
        "candidate_drugs",
        "run_cypher",
    }


@pytest.mark.neo4j
def test_label_hidden_under_one_id_only_is_caught(
    driver, settings, loaded_graph, edges, names
) -> None:  # type: ignore[no-untyped-def]
    """Metformin treats type 2 diabetes as DOID:9352 (Hetionet) and MESH:D003924 (DrugBank)."""
    from graph_store.tools import GraphTools
    from tasks.task_sets import NamedEntity

    groups = DiseaseGroups(edges.by_disease, names)
    t2d = "Disease::DOID:9352"
    assert "Disease::MESH:D003924" in groups.group_of(t2d)
    base = dict(
        split="test",
        disease=NamedEntity(id=t2d, name="type 2 diabetes mellitus"),
        candidates=[
            NamedEntity(id="Compound::DB00331", name="Metformin"),
            NamedEntity(id="Compound::DB00945", name="Acetylsalicylic acid"),
        ],
        label=0,
        seed=0,
        source="test",
    )
    tools = GraphTools.from_settings(driver, settings.neo4j)
    one_id = TaskSet(set_id="one-id", hidden_pairs=[("Compound::DB00331", t2d)], **base)
    report = LeakageReport()
    check_tools(tools, [one_id], report, groups)
    assert any(
        f.tool == "hidden_pairs" and f.disease == "Disease::MESH:D003924" for f in report.findings
    )
    every_id = TaskSet(
        set_id="every-id",
        hidden_pairs=[(c.id, d) for c in one_id.candidates for d in sorted(groups.group_of(t2d))],
        **base,
    )
    report = LeakageReport()
    check_tools(tools, [every_id], report, groups)
    assert report.findings == []
    profile = tools.with_hidden(HiddenPairs.of(every_id.hidden_pairs)).drug_profile(
        "Compound::DB00331", limit=1000
    )
    assert not groups.group_of(t2d) & {i.id for i in profile.indications}
