"""Link-prediction scores of the PyG KGE models, recomputed in numpy from saved weights.

Weight layout (what ``entity_embeddings.npy`` / ``relation_embeddings.npy`` hold):

=========  ==========================  =================================
model      entity row                  relation row
=========  ==========================  =================================
complex    real ‖ imag (2*dim)         real ‖ imag (2*dim)
distmult   dim                         dim
rotate     real ‖ imag (2*dim)         phase angles (dim)
transe     dim (not normalised)        dim
=========  ==========================  =================================

Scores equal ``torch_geometric.nn.kge.<Model>.forward`` (higher = more plausible). Training's
validation ranks with :meth:`Scorer.all_tails` / :meth:`Scorer.all_heads`, which use matrix
products (distance models: ``|q|² + |t|² - 2q·t``) for speed; :meth:`Scorer.triples` is the exact
element-wise formula the public API uses.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

CHUNK_BYTES = 64 << 20
"""Working-memory cap of one chunk of element-wise (L1) distance computations."""


@dataclass
class Scorer:
    """Scores triples of one model from its numpy weights."""

    model: str
    entities: np.ndarray
    relations: np.ndarray
    params: Mapping[str, float] = field(default_factory=dict)
    _normalised: np.ndarray | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.model not in ("complex", "distmult", "rotate", "transe"):
            raise ValueError(f"unknown KGE model {self.model!r}")
        if self.model == "transe":
            self._normalised = _normalise(self.entities, self.p_norm)

    @property
    def margin(self) -> float:
        """rotate/transe/distmult margin (only rotate's score uses it)."""
        return float(self.params.get("margin", 1.0))

    @property
    def p_norm(self) -> float:
        """The p of TransE's L_p distance (only transe's score uses it)."""
        return float(self.params.get("p_norm", 1.0))

    def triples(self, heads: np.ndarray, rels: np.ndarray, tails: np.ndarray) -> np.ndarray:
        """Exact element-wise scores of ``(heads[i], rels[i], tails[i])``."""
        h, t = self.entities[heads], self.entities[tails]
        r = self.relations[rels]
        if self.model == "distmult":
            return (h * r * t).sum(-1)
        if self.model == "complex":
            hr, hi = _halves(h)
            rr, ri = _halves(r)
            tr, ti = _halves(t)
            return (hr * rr * tr + hi * rr * ti + hr * ri * ti - hi * ri * tr).sum(-1)
        if self.model == "rotate":
            hr, hi = _halves(h)
            tr, ti = _halves(t)
            cos, sin = np.cos(r), np.sin(r)
            re = cos * hr - sin * hi - tr
            im = cos * hi + sin * hr - ti
            return self.margin - np.sqrt((re * re).sum(-1) + (im * im).sum(-1))
        assert self._normalised is not None
        h, t = self._normalised[heads], self._normalised[tails]
        return -_p_norm(h + r - t, self.p_norm)

    def all_tails(self, heads: np.ndarray, rels: np.ndarray) -> np.ndarray:
        """Scores of ``(heads[i], rels[i], e)`` for every entity ``e``: shape (len(heads), N)."""
        h, r = self.entities[heads], self.relations[rels]
        if self.model == "distmult":
            return (h * r) @ self.entities.T
        if self.model == "complex":
            hr, hi = _halves(h)
            rr, ri = _halves(r)
            query = np.concatenate([hr * rr - hi * ri, hi * rr + hr * ri], axis=1)
            return query @ self.entities.T
        if self.model == "rotate":
            hr, hi = _halves(h)
            cos, sin = np.cos(r), np.sin(r)
            query = np.concatenate([cos * hr - sin * hi, cos * hi + sin * hr], axis=1)
            return self.margin - _l2_to_all(query, self.entities)
        assert self._normalised is not None
        return -_distance_to_all(self._normalised[heads] + r, self._normalised, self.p_norm)

    def all_heads(self, rels: np.ndarray, tails: np.ndarray) -> np.ndarray:
        """Scores of ``(e, rels[i], tails[i])`` for every entity ``e``: shape (len(tails), N)."""
        t, r = self.entities[tails], self.relations[rels]
        if self.model == "distmult":
            return (t * r) @ self.entities.T
        if self.model == "complex":
            tr, ti = _halves(t)
            rr, ri = _halves(r)
            query = np.concatenate([rr * tr + ri * ti, rr * ti - ri * tr], axis=1)
            return query @ self.entities.T
        if self.model == "rotate":
            tr, ti = _halves(t)
            cos, sin = np.cos(r), np.sin(r)
            # |h∘r - t| = |h - t∘conj(r)| because |r| = 1.
            query = np.concatenate([cos * tr + sin * ti, cos * ti - sin * tr], axis=1)
            return self.margin - _l2_to_all(query, self.entities)
        assert self._normalised is not None
        return -_distance_to_all(self._normalised[tails] - r, self._normalised, self.p_norm)


def _halves(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    half = x.shape[-1] // 2
    return x[..., :half], x[..., half:]


def _normalise(x: np.ndarray, p: float) -> np.ndarray:
    """``torch.nn.functional.normalize`` (eps 1e-12)."""
    norm = _p_norm(x, p)[:, None]
    return x / np.maximum(norm, 1e-12)


def _p_norm(x: np.ndarray, p: float) -> np.ndarray:
    if p == 1:
        return np.abs(x).sum(-1)
    if p == 2:
        return np.sqrt((x * x).sum(-1))
    return (np.abs(x) ** p).sum(-1) ** (1.0 / p)


def _l2_to_all(query: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Euclidean distances of each query row to every table row, by one matrix product."""
    squared = (query * query).sum(1)[:, None] + (table * table).sum(1)[None, :]
    squared -= 2.0 * (query @ table.T)
    return np.sqrt(np.maximum(squared, 0.0))


def _distance_to_all(query: np.ndarray, table: np.ndarray, p: float) -> np.ndarray:
    """p-norm distances of each query row to every table row (element-wise unless p = 2)."""
    if p == 2:
        return _l2_to_all(query, table)
    torch = sys.modules.get("torch")
    if torch is not None:  # already loaded (training): its cdist is ~3x faster than numpy here
        return torch.cdist(torch.from_numpy(query), torch.from_numpy(table), p=p).numpy()
    out = np.empty((len(query), len(table)), dtype=np.result_type(query, table))
    rows = max(1, CHUNK_BYTES // max(1, table.nbytes))
    for start in range(0, len(query), rows):
        block = query[start : start + rows, None, :] - table[None, :, :]
        out[start : start + rows] = _p_norm(block.reshape(-1, table.shape[1]), p).reshape(
            len(block), len(table)
        )
    return out
