"""Task-set sampling on the real slice with real (small) KGE embeddings, and leakage proofs."""

from __future__ import annotations

import json
from collections import Counter
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
from tasks.sampling import (
    SamplingConfig,
    SamplingReport,
    TaskSampler,
    eligible_diseases,
    split_diseases,
)
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


def _build(
    slice_files, names, out: Path, root: Path, benchmark_sets, seed: int = 0, **sampling
) -> BuildResult:  # type: ignore[no-untyped-def]
    return build_task_sets(
        slice_files,
        names,
        out,
        sampling=SamplingConfig(seed=seed, top_k=30, **sampling),
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
    best_of_train: dict[str, float] = {}
    for task_set in all_sets:
        disease = task_set.disease.id
        group = groups.group_of(disease)
        # c_irr: no edge of any kind to the disease under any of its IDs
        assert not any(edges.related(task_set.distractor.id, d) for d in group)
        best = max(edges.relevance(drug, disease) for drug in edges.drugs_of(disease))
        assert edges.relevance(task_set.answer.id, disease) == task_set.relevance >= 1.0
        if task_set.split == "train":  # several sets: the most relevant drug is among them
            best_of_train[disease] = max(best_of_train.get(disease, 0.0), task_set.relevance)
        else:
            assert task_set.relevance == best
        assert task_set.similarity is not None and -1.0 <= task_set.similarity <= 1.0
        expected = sorted((c.id, d) for c in task_set.candidates for d in group)
        assert sorted(tuple(p) for p in task_set.hidden_pairs) == expected
    for disease, relevance in best_of_train.items():
        assert relevance == max(edges.relevance(c, disease) for c in edges.drugs_of(disease))
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


# -- several train sets per disease (train_sets_per_disease) ---------------------------------


@pytest.fixture(scope="module")
def built_one(slice_files, names, benchmark_sets, built) -> BuildResult:  # type: ignore[no-untyped-def]
    """The same build with one train set per disease (the embeddings are reused: same split)."""
    base = built.out_dir.parent
    return _build(
        slice_files, names, base / "one", base / "emb", benchmark_sets, train_sets_per_disease=1
    )


def _triple(task_set: TaskSet) -> tuple[str, str, str]:
    return task_set.disease.id, task_set.answer.id, task_set.distractor.id


def test_train_sets_grow_with_k_while_val_and_test_stay_one_per_disease(
    built: BuildResult, built_one: BuildResult
) -> None:
    k = SamplingConfig().train_sets_per_disease
    assert k > 1 and built.manifest["sampling"]["train_sets_per_disease"] == k
    assert built.manifest["sets_per_disease_by_split"] == {"train": k, "val": 1, "test": 1}
    assert built_one.manifest["embeddings_version"] == built.manifest["embeddings_version"]
    train, train_one = _sets(built, "train"), _sets(built_one, "train")
    diseases = built.manifest["report"]["diseases"]
    assert len(train_one) == diseases["train"] == built_one.manifest["counts"]["train"]
    assert len(train) == built.manifest["counts"]["train"] > 3 * len(train_one)
    per_disease = Counter(s.disease.id for s in train)
    assert max(per_disease.values()) == k and set(per_disease) == {s.disease.id for s in train_one}
    assert built.manifest["report"]["short"].get("train", 0) == sum(
        1 for n in per_disease.values() if n < k
    )
    # the one-set build's train sets are each disease's first (round 0) set, unchanged
    assert {s.model_dump_json() for s in train_one} <= {s.model_dump_json() for s in train}
    # a c_rel repeats (with a less similar c_irr) only for a disease with fewer than k drugs
    repeated = built.manifest["report"]["repeated_c_rel"]
    assert set(repeated) == {"train"} and repeated["train"] > 0
    by_disease: dict[str, list[TaskSet]] = {}
    for task_set in train:
        by_disease.setdefault(task_set.disease.id, []).append(task_set)
    for members in by_disease.values():
        answers = Counter(s.answer.id for s in members)
        assert max(answers.values()) == 1 or len(answers) < k
    for split in ("val", "test", "benchmark"):
        assert (built.out_dir / f"{split}.jsonl").read_text() == (
            built_one.out_dir / f"{split}.jsonl"
        ).read_text()
        sets = _sets(built, split)
        if split != "benchmark":
            assert len(sets) == len({s.disease.id for s in sets}) == diseases[split]
    assert (built.out_dir / HELD_OUT_FILE).read_text() == (
        built_one.out_dir / HELD_OUT_FILE
    ).read_text()


def test_no_triple_repeats_and_train_sets_come_from_train_diseases_only(  # type: ignore[no-untyped-def]
    built: BuildResult, edges: CompoundDiseaseEdges, names, benchmark_sets
) -> None:
    sets = [s for split in ("train", "val", "test") for s in _sets(built, split)]
    triples = [_triple(s) for s in sets]
    assert len(set(triples)) == len(triples)
    assert len({s.set_id for s in sets}) == len(sets)
    reserved = frozenset(s.disease.id for s in benchmark_sets)
    groups = DiseaseGroups(set(edges.by_disease) | reserved, names)
    config = SamplingConfig()
    split_of = split_diseases(
        eligible_diseases(edges, config.min_relevance),
        seed=0,
        val_fraction=config.val_fraction,
        test_fraction=config.test_fraction,
        reserved=reserved,
        groups=groups,
    )
    held = read_pairs(built.out_dir / HELD_OUT_FILE)
    for task_set in _sets(built, "train"):
        assert split_of[task_set.disease.id] == "train"
        assert not {tuple(pair) for pair in task_set.hidden_pairs} & held
    train_labels = [s.label for s in _sets(built, "train")]
    assert 0.4 < sum(train_labels) / len(train_labels) < 0.6


@pytest.fixture(scope="module")
def sampler_of(built: BuildResult, edges: CompoundDiseaseEdges, names):  # type: ignore[no-untyped-def]
    embeddings = TrainedEmbeddings.load(
        built.out_dir.parent / "emb" / built.manifest["embeddings_version"]
    )

    def make(**config: int) -> TaskSampler:
        return TaskSampler(edges, embeddings, names, SamplingConfig(top_k=30, **config))

    return make


def _train_disease_with(built: BuildResult, edges: CompoundDiseaseEdges, drugs: int) -> str:
    for disease in sorted({s.disease.id for s in _sets(built, "train")}):
        relevant = [c for c in edges.drugs_of(disease) if edges.relevance(c, disease) >= 1.0]
        if len(relevant) == drugs:
            return disease
    raise AssertionError(f"no train disease with {drugs} relevant drugs")


def test_later_rounds_take_the_next_most_similar_negatives(  # type: ignore[no-untyped-def]
    built: BuildResult, edges: CompoundDiseaseEdges, sampler_of
) -> None:
    one = _train_disease_with(built, edges, 1)
    sampler = sampler_of(train_sets_per_disease=6)
    report = SamplingReport()
    sets = list(sampler.sample(one, "train", report))
    assert len(sets) == 6 and len({s.answer.id for s in sets}) == 1
    assert len({s.distractor.id for s in sets}) == 6
    similarities = [s.similarity for s in sets]
    assert similarities == sorted(similarities, reverse=True)  # type: ignore[type-var]
    assert report.repeated_c_rel == Counter(train=5) and not report.short
    (val,) = sampler.sample(one, "val", SamplingReport())  # val: sets_per_disease, one set
    assert val.split == "val" and val.model_copy(update={"split": "train"}) == sets[0]
    # round robin over the relevant drugs, most relevant first
    two = _train_disease_with(built, edges, 2)
    sets = list(sampler_of(train_sets_per_disease=5).sample(two, "train", SamplingReport()))
    answers = [s.answer.id for s in sets]
    assert answers[:2] == answers[2:4] and answers[0] == answers[4] != answers[1]
    # asked for more than C_d allows: every (c_rel, c_irr) pair once, then the disease is short
    report = SamplingReport()
    sets = list(sampler_of(train_sets_per_disease=10_000).sample(two, "train", report))
    assert len({_triple(s) for s in sets}) == len(sets) < 10_000
    assert report.short == Counter(train=1)
    negatives = {s.distractor.id for s in sets}
    assert len(sets) == 2 * len(negatives)


def test_several_train_sets_are_deterministic_by_seed(  # type: ignore[no-untyped-def]
    built: BuildResult, edges: CompoundDiseaseEdges, sampler_of
) -> None:
    diseases = sorted({s.disease.id for s in _sets(built, "train")})[:40]
    runs = []
    for _ in range(2):
        sampler = sampler_of(train_sets_per_disease=7)
        runs.append([s for d in diseases for s in sampler.sample(d, "train", SamplingReport())])
    assert runs[0] == runs[1] and len(runs[0]) > 3 * len(diseases)
    other = sampler_of(train_sets_per_disease=7, seed=1)
    reseeded = [s for d in diseases for s in other.sample(d, "train", SamplingReport())]
    assert [s.set_id for s in reseeded] != [s.set_id for s in runs[0]]


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
