"""Knowledge-graph embeddings on the real DRKG slice: learning, determinism, leakage, resume.

Small configs (dim 32, 3 epochs, 500 ranked validation triples) keep the module near 30 s on two
cores. ``OMP_WAIT_POLICY=PASSIVE`` keeps idle OpenMP threads from spinning on shared machines.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("torch_geometric")

from graph_store.drkg_format import iter_triples
from graph_store.masking import HiddenPairs
from kedrec.errors import DataFormatError, KedrecError
from kge.config import MODEL_NAMES, embeddings_version
from kge.data import prepare_triples
from kge.pipeline import (
    KGEConfig,
    TrainedEmbeddings,
    UnknownEmbeddingIdError,
    embeddings_dir,
    read_pair_file,
    train_embeddings,
)

TREATS = "DRUGBANK::treats::Compound:Disease"
CONFIG = KGEConfig(dim=32, epochs=3, batch_size=2048, val_max=500, lr=0.01, num_threads=2)


class Interrupted(RuntimeError):
    """Raised by a hook to simulate a crash."""


@pytest.fixture(scope="module")
def held_out(slice_files: list[Path]) -> HiddenPairs:
    """A seeded sample of 100 real drug–disease pairs (DrugBank and Hetionet)."""
    pairs = sorted(
        {
            (t.head, t.tail)
            for t in iter_triples(slice_files)
            if (t.head_type, t.tail_type) == ("Compound", "Disease")
        }
    )
    rng = np.random.default_rng(7)
    return HiddenPairs.of(pairs[i] for i in rng.choice(len(pairs), size=100, replace=False))


@pytest.fixture(scope="module")
def trained(
    slice_files: list[Path], held_out: HiddenPairs, tmp_path_factory: pytest.TempPathFactory
) -> TrainedEmbeddings:
    """The reference run: ComplEx, 3 epochs, with the held-out pairs removed."""
    root = tmp_path_factory.mktemp("emb-a")
    return train_embeddings(slice_files, held_out, CONFIG, root=root)


def test_kge_learns_beyond_untrained_model(trained: TrainedEmbeddings) -> None:
    metrics = trained.meta["metrics"]
    untrained, best = metrics["untrained"]["mrr"], metrics["best"]["mrr"]
    # The baseline is the same model before its first step, ranked on the same triples.
    assert metrics["untrained"]["queries"] == metrics["best"]["queries"] == 1000
    assert untrained < 0.01
    assert best > 0.05
    assert best > 10 * untrained
    assert metrics["best"]["hits_at_10"] > 0.1


def test_kge_held_out_edges_absent_and_counted(
    slice_files: list[Path], held_out: HiddenPairs, trained: TrainedEmbeddings
) -> None:
    expected = sum(
        (t.head, t.tail) in held_out.pairs or (t.tail, t.head) in held_out.pairs
        for t in iter_triples(slice_files)
    )
    assert expected >= 100
    data = prepare_triples(slice_files, held_out, val_fraction=0.05, val_max=500, seed=0)
    assert data.dropped_held_out == expected
    index = {entity: row for row, entity in enumerate(data.entities)}
    hidden_rows = {(index[d], index[s]) for d, s in held_out.pairs}
    hidden_rows |= {(t, h) for h, t in hidden_rows}
    for part in (data.train, data.val, data.val_eval):
        assert not {(int(h), int(t)) for h, _, t in part} & hidden_rows
    assert trained.meta["held_out"]["dropped_triples"] == expected
    assert trained.meta["held_out"]["pairs"] == 100
    assert trained.meta["graph"]["train_triples"] + trained.meta["graph"]["val_triples"] == (
        58_725 - expected
    )


def test_kge_held_out_any_relation_either_direction(tmp_path: Path) -> None:
    triples = tmp_path / "mini.tsv"
    triples.write_text(
        "Compound::DB1\tDRUGBANK::treats::Compound:Disease\tDisease::D1\n"
        "Compound::DB1\tHetionet::CpD::Compound:Disease\tDisease::D1\n"
        "Disease::D1\tHetionet::CtD::Compound:Disease\tCompound::DB1\n"
        "Compound::DB1\tDRUGBANK::treats::Compound:Disease\tDisease::D2\n"
        "Compound::DB1\tDRUGBANK::target::Compound:Gene\tGene::1\n"
    )
    data = prepare_triples(
        [triples],
        HiddenPairs.of([("Compound::DB1", "Disease::D1")]),
        val_fraction=0,
        val_max=0,
        seed=0,
    )
    assert data.dropped_held_out == 3
    assert len(data.train) == 2
    # The held-out disease keeps its row (scorable, but trained on nothing).
    assert "Disease::D1" in data.entities
    assert data.stats["entities_without_training_edges"] == 1


def test_kge_deterministic_same_seed(
    slice_files: list[Path],
    held_out: HiddenPairs,
    trained: TrainedEmbeddings,
    tmp_path: Path,
) -> None:
    again = train_embeddings(slice_files, held_out, CONFIG, root=tmp_path)
    assert again.version == trained.version
    np.testing.assert_array_equal(again.entity_vectors, trained.entity_vectors)
    np.testing.assert_array_equal(again.relation_vectors, trained.relation_vectors)
    assert _metrics(again) == _metrics(trained)


def test_kge_resumes_from_checkpoint(
    slice_files: list[Path],
    held_out: HiddenPairs,
    trained: TrainedEmbeddings,
    tmp_path: Path,
) -> None:
    def crash_after_first(record: object) -> None:
        if record.epoch == 1:  # type: ignore[attr-defined]
            raise Interrupted("simulated crash")

    with pytest.raises(Interrupted):
        train_embeddings(
            slice_files, held_out, CONFIG, root=tmp_path, on_epoch_end=crash_after_first
        )
    directory = embeddings_dir(slice_files, held_out, CONFIG, root=tmp_path)
    assert (directory / "checkpoint.pt").is_file()
    assert not (directory / "meta.json").exists()

    seen: list[int] = []
    resumed = train_embeddings(
        slice_files, held_out, CONFIG, root=tmp_path, on_epoch_end=lambda r: seen.append(r.epoch)
    )
    assert seen == [2, 3]
    assert resumed.meta["training"]["resumed_from_epochs"] == [1]
    assert not (directory / "checkpoint.pt").exists()
    # Each epoch is seeded from (seed, epoch): the resumed run equals the uninterrupted one.
    np.testing.assert_array_equal(resumed.entity_vectors, trained.entity_vectors)
    assert _metrics(resumed) == _metrics(trained)

    seen.clear()
    again = train_embeddings(
        slice_files, held_out, CONFIG, root=tmp_path, on_epoch_end=lambda r: seen.append(r.epoch)
    )
    assert seen == []  # finished version: loaded, not retrained
    assert again.version == resumed.version


def test_kge_save_load_round_trip(trained: TrainedEmbeddings) -> None:
    loaded = TrainedEmbeddings.load(trained.directory)
    drugs = [e for e in loaded.entity_index if e.startswith("Compound::")][:20]
    diseases = [e for e in loaded.entity_index if e.startswith("Disease::")][:20]
    np.testing.assert_array_equal(
        loaded.score(drugs, TREATS, diseases), trained.score(drugs, TREATS, diseases)
    )
    matrix = loaded.score_matrix(drugs[:3], TREATS, diseases)
    np.testing.assert_allclose(matrix[1], loaded.score([drugs[1]], TREATS, diseases), rtol=1e-6)
    ranked = loaded.rank_tails(drugs[0], TREATS, diseases)
    assert [d for d, _ in ranked] == [diseases[i] for i in np.argsort(-matrix[0], kind="stable")]
    assert loaded.vectors(drugs[:2]).shape == (2, 64)  # complex: real ‖ imag
    similarity = loaded.cosine_similarity(drugs[0], drugs[:3])
    assert similarity[0] == pytest.approx(1.0, abs=1e-6)
    assert loaded.version == trained.directory.name


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_kge_numpy_scores_match_pyg_forward(model: str) -> None:
    import torch

    from kge.train import build_model, scorer_of

    config = KGEConfig(model=model, dim=8)
    torch.manual_seed(0)
    pyg = build_model(config, 40, 3)
    with torch.no_grad():
        for parameter in pyg.parameters():
            parameter.add_(torch.randn_like(parameter))
    scorer = scorer_of(pyg, config)
    h, r, t = torch.randint(40, (25,)), torch.randint(3, (25,)), torch.randint(40, (25,))
    expected = pyg(h, r, t).detach().numpy()
    rows = np.arange(25)
    np.testing.assert_allclose(scorer.triples(h.numpy(), r.numpy(), t.numpy()), expected, atol=1e-5)
    np.testing.assert_allclose(
        scorer.all_tails(h.numpy(), r.numpy())[rows, t.numpy()], expected, atol=1e-4
    )
    np.testing.assert_allclose(
        scorer.all_heads(r.numpy(), t.numpy())[rows, h.numpy()], expected, atol=1e-4
    )


def test_kge_score_all_heads_matches_pairwise_scores(trained: TrainedEmbeddings) -> None:
    drugs = sorted(e for e in trained.entity_index if e.startswith("Compound::"))[:300]
    relation, disease = "Hetionet::CtD::Compound:Disease", "Disease::DOID:9352"
    pairwise = trained.score(drugs, relation, [disease])
    all_heads = trained.score_all_heads(relation, disease)
    assert all_heads.shape == (len(trained.entity_index),)
    rows = [trained.entity_index[d] for d in drugs]
    np.testing.assert_allclose(all_heads[rows], pairwise, rtol=1e-5, atol=1e-5)


def test_kge_unknown_ids_name_the_id(trained: TrainedEmbeddings) -> None:
    drug = next(e for e in trained.entity_index if e.startswith("Compound::"))
    with pytest.raises(UnknownEmbeddingIdError, match=r"Compound::DB99999"):
        trained.score(["Compound::DB99999"], TREATS, [drug])
    with pytest.raises(UnknownEmbeddingIdError, match=r"relation 'DRUGBANK::cures"):
        trained.score([drug], "DRUGBANK::cures::Compound:Disease", [drug])
    with pytest.raises(KedrecError):
        trained.vectors(["Disease::nope"])


def test_kge_version_tracks_graph_held_out_and_config(held_out: HiddenPairs) -> None:
    base = embeddings_version("abc", held_out.pairs, CONFIG)
    assert base == embeddings_version("abc", sorted(held_out.pairs, reverse=True), CONFIG)
    assert base != embeddings_version("abd", held_out.pairs, CONFIG)
    assert base != embeddings_version("abc", list(held_out.pairs)[1:], CONFIG)
    assert base != embeddings_version("abc", held_out.pairs, CONFIG.model_copy(update={"seed": 1}))
    threads = CONFIG.model_copy(update={"num_threads": 1})
    assert base == embeddings_version("abc", held_out.pairs, threads)


def test_kge_read_pair_file(tmp_path: Path) -> None:
    good = tmp_path / "pairs.tsv"
    good.write_text("drug\tdisease\n# comment\nCompound::DB1\tDisease::D1\n\n")
    assert read_pair_file(good).pairs == {("Compound::DB1", "Disease::D1")}
    bad = tmp_path / "bad.tsv"
    bad.write_text("Compound::DB1\tDisease::D1\nCompound::DB2\n")
    with pytest.raises(DataFormatError, match=r"bad.tsv:2"):
        read_pair_file(bad)
    swapped = tmp_path / "swapped.tsv"
    swapped.write_text("Disease::D1\tCompound::DB1\n")
    with pytest.raises(DataFormatError, match=r"Compound"):
        read_pair_file(swapped)


def test_kge_cli_train_prints_version_dir(
    slice_files: list[Path], held_out: HiddenPairs, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from kge.cli import embed_app

    pairs = tmp_path / "held_out.tsv"
    pairs.write_text("".join(f"{d}\t{s}\n" for d, s in sorted(held_out.pairs)))
    args = ["train", *map(str, slice_files), "--dim", "16", "--epochs", "1", "--val-max", "200"]
    args += ["--hold-out-file", str(pairs), "--out", str(tmp_path / "emb")]
    result = CliRunner().invoke(embed_app, args)
    assert result.exit_code == 0, result.output
    directory = Path(result.stdout.strip().splitlines()[-1])
    loaded = TrainedEmbeddings.load(directory)
    assert loaded.meta["held_out"]["pairs"] == 100
    assert loaded.meta["config"]["dim"] == 16


def _metrics(embeddings: TrainedEmbeddings) -> list[dict[str, float]]:
    """History without wall-clock times."""
    return [
        {k: v for k, v in row.items() if not k.endswith("seconds")}
        for row in embeddings.meta["history"]
    ]
