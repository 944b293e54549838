"""Trained embeddings on disk, and scoring from them without torch.

A version directory holds ``entities.tsv`` (row, id, type), ``relations.tsv`` (row, relation),
``entity_embeddings.npy`` and ``relation_embeddings.npy`` (float32, layout in
:mod:`kge.scoring`) and ``meta.json`` (config, seeds, metrics history, dropped-edge
counts). ``meta.json`` is written last, atomically: its presence marks a finished model.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kge.errors import EmbeddingsNotFoundError, UnknownEmbeddingIdError
from kge.scoring import Scorer

logger = logging.getLogger(__name__)

ENTITIES_FILE = "entities.tsv"
RELATIONS_FILE = "relations.tsv"
ENTITY_VECTORS_FILE = "entity_embeddings.npy"
RELATION_VECTORS_FILE = "relation_embeddings.npy"
META_FILE = "meta.json"


def is_finished(directory: Path) -> bool:
    """Whether ``directory`` holds a complete, finished model."""
    return (directory / META_FILE).is_file()


def save_embeddings(
    directory: Path,
    *,
    entities: Sequence[str],
    relations: Sequence[str],
    entity_vectors: np.ndarray,
    relation_vectors: np.ndarray,
    meta: Mapping[str, Any],
) -> None:
    """Write the arrays and indexes, then ``meta.json`` last (so readers never see half a model)."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ENTITIES_FILE).open("w", encoding="utf-8") as handle:
        handle.write("row\tid\ttype\n")
        for row, entity in enumerate(entities):
            handle.write(f"{row}\t{entity}\t{entity.partition('::')[0]}\n")
    with (directory / RELATIONS_FILE).open("w", encoding="utf-8") as handle:
        handle.write("row\trelation\n")
        for row, relation in enumerate(relations):
            handle.write(f"{row}\t{relation}\n")
    np.save(directory / ENTITY_VECTORS_FILE, np.ascontiguousarray(entity_vectors, np.float32))
    np.save(directory / RELATION_VECTORS_FILE, np.ascontiguousarray(relation_vectors, np.float32))
    write_json_atomic(directory / META_FILE, meta)


def write_json_atomic(path: Path, payload: Mapping[str, Any]) -> None:
    """Write JSON to a temporary file and rename it into place."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _read_index(path: Path, column: int) -> dict[str, int]:
    index: dict[str, int] = {}
    with path.open(encoding="utf-8") as handle:
        next(handle)
        for line in handle:
            fields = line.rstrip("\n").split("\t")
            index[fields[column]] = int(fields[0])
    return index


@dataclass
class TrainedEmbeddings:
    """A finished embedding model: entity/relation vectors and the model's triple scores."""

    directory: Path
    meta: dict[str, Any]
    entity_index: dict[str, int]
    """Entity ID -> row of :attr:`entity_vectors`."""
    relation_index: dict[str, int]
    """Full DRKG relation name -> row of :attr:`relation_vectors`."""
    entity_vectors: np.ndarray
    relation_vectors: np.ndarray
    _scorer: Scorer | None = field(default=None, init=False, repr=False)

    @classmethod
    def load(cls, directory: Path | str) -> TrainedEmbeddings:
        """Load a version directory written by ``train_embeddings``.

        Raises:
            EmbeddingsNotFoundError: The directory holds no finished model.
        """
        path = Path(directory)
        if not is_finished(path):
            raise EmbeddingsNotFoundError(
                f"{path} holds no finished embeddings (no {META_FILE}): run `kedrec embed train`"
            )
        meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
        embeddings = cls(
            directory=path,
            meta=meta,
            entity_index=_read_index(path / ENTITIES_FILE, 1),
            relation_index=_read_index(path / RELATIONS_FILE, 1),
            entity_vectors=np.load(path / ENTITY_VECTORS_FILE),
            relation_vectors=np.load(path / RELATION_VECTORS_FILE),
        )
        logger.debug("loaded embeddings %s from %s", embeddings.version, path)
        return embeddings

    @property
    def version(self) -> str:
        """Hash of graph content, held-out pairs and config (the directory name)."""
        return str(self.meta["version"])

    @property
    def model(self) -> str:
        """PyG model name: complex, distmult, rotate or transe."""
        return str(self.meta["model"])

    @property
    def scorer(self) -> Scorer:
        """The numpy scorer over the saved weights."""
        if self._scorer is None:
            self._scorer = Scorer(
                self.model,
                self.entity_vectors,
                self.relation_vectors,
                self.meta.get("model_params", {}),
            )
        return self._scorer

    def rows(self, ids: Sequence[str]) -> np.ndarray:
        """Entity rows of ``ids``; raises :class:`UnknownEmbeddingIdError` naming the first miss."""
        try:
            return np.fromiter((self.entity_index[i] for i in ids), dtype=np.int64, count=len(ids))
        except KeyError as error:
            raise UnknownEmbeddingIdError("entity", error.args[0], self.entity_index) from None

    def relation_row(self, relation: str) -> int:
        """Row of a full DRKG relation name such as ``DRUGBANK::treats::Compound:Disease``."""
        row = self.relation_index.get(relation)
        if row is None:
            raise UnknownEmbeddingIdError("relation", relation, self.relation_index)
        return row

    def vectors(self, ids: Sequence[str]) -> np.ndarray:
        """Entity vectors, one row per ID (complex/rotate: real ‖ imag)."""
        return self.entity_vectors[self.rows(ids)]

    def cosine_similarity(self, entity: str, ids: Sequence[str]) -> np.ndarray:
        """Cosine similarity of ``entity``'s vector to each of ``ids``' vectors."""
        query = self.vectors([entity])[0]
        others = self.vectors(ids)
        denom = np.linalg.norm(others, axis=1) * np.linalg.norm(query)
        return (others @ query) / np.maximum(denom, 1e-12)

    def score(self, heads: Sequence[str], relation: str, tails: Sequence[str]) -> np.ndarray:
        """Link-prediction scores of ``(heads[i], relation, tails[i])`` (higher = more plausible).

        A single head (or tail) is paired with every tail (head). Scores are the PyG model's
        ``forward``; they compare candidates of one query, they are not probabilities.

        Raises:
            UnknownEmbeddingIdError: An ID or the relation is not in the trained graph.
            ValueError: ``heads`` and ``tails`` have different lengths (neither is 1).
        """
        head_rows, tail_rows = self.rows(heads), self.rows(tails)
        if len(head_rows) == 1:
            head_rows = np.repeat(head_rows, len(tail_rows))
        elif len(tail_rows) == 1:
            tail_rows = np.repeat(tail_rows, len(head_rows))
        if len(head_rows) != len(tail_rows):
            raise ValueError(f"{len(heads)} heads but {len(tails)} tails: lengths must match")
        rel_rows = np.full(len(head_rows), self.relation_row(relation), dtype=np.int64)
        return self.scorer.triples(head_rows, rel_rows, tail_rows).astype(np.float32)

    def score_all_heads(self, relation: str, tail: str) -> np.ndarray:
        """Scores of ``(e, relation, tail)`` for every entity ``e``, indexed by entity row.

        One matrix-vector product: the fast way to rank all drugs for one disease.
        """
        rows = np.array([self.relation_row(relation)]), self.rows([tail])
        return self.scorer.all_heads(*rows)[0].astype(np.float32)

    def score_matrix(self, heads: Sequence[str], relation: str, tails: Sequence[str]) -> np.ndarray:
        """Scores of every (head, tail) combination: shape ``(len(heads), len(tails))``."""
        head_rows, tail_rows = self.rows(heads), self.rows(tails)
        rel = self.relation_row(relation)
        out = np.empty((len(head_rows), len(tail_rows)), dtype=np.float32)
        for i, head in enumerate(head_rows):
            out[i] = self.scorer.triples(
                np.full(len(tail_rows), head), np.full(len(tail_rows), rel), tail_rows
            )
        return out

    def rank_tails(
        self, head: str, relation: str, candidates: Sequence[str]
    ) -> list[tuple[str, float]]:
        """``candidates`` sorted by the score of ``(head, relation, candidate)``, best first."""
        scores = self.score([head], relation, candidates)
        order = np.argsort(-scores, kind="stable")
        return [(candidates[i], float(scores[i])) for i in order]
