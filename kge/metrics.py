"""Link-prediction validation: filtered and raw MRR / Hits@k, ranking heads and tails.

Why not ``KGEModel.test``: it ranks tails only, raw (other true tails count as errors), against
all entities, one triple per Python iteration. Here each validation triple ``(h, r, t)`` gives
two queries, ``(h, r, ?)`` and ``(?, r, t)``; the true entity is ranked against the candidates
(every entity of its DRKG type, or all entities), and the *filtered* rank ignores candidates
that form another known triple (training or validation; the held-out pairs are never known).
Ties count half ("realistic" rank), so a constant-score model gets the middle rank, not rank 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from kge.scoring import Scorer

QUERY_CHUNK = 256
"""Queries scored together (a (256, N) float matrix per chunk)."""


@dataclass(frozen=True, slots=True)
class RankingMetrics:
    """Averages over all head and tail queries of the validation sample."""

    mrr: float
    """Filtered mean reciprocal rank (the early-stopping metric)."""
    mrr_raw: float
    hits_at_1: float
    hits_at_3: float
    hits_at_10: float
    """Filtered Hits@10."""
    mean_rank: float
    tail_mrr: float
    head_mrr: float
    queries: int

    def as_dict(self) -> dict[str, float]:
        """Plain dict for meta.json and logs."""
        return asdict(self)


def evaluate_ranking(
    scorer: Scorer,
    triples: np.ndarray,
    known: np.ndarray,
    entity_types: np.ndarray,
    *,
    candidates: str = "type",
) -> RankingMetrics:
    """Rank each validation triple's tail and head.

    Args:
        scorer: Model scores from the current weights.
        triples: Validation triples ``(n, 3)`` to rank.
        known: Every triple regarded as true (filtered setting).
        entity_types: Per entity, its type code (for ``candidates="type"``).
        candidates: ``"type"`` (entities of the true entity's type) or ``"all"``.

    Returns:
        Filtered MRR and Hits@k, raw MRR, mean rank, per direction MRR.
    """
    if len(triples) == 0:
        nan = float("nan")
        return RankingMetrics(nan, nan, nan, nan, nan, nan, nan, nan, 0)
    num_relations = int(max(triples[:, 1].max(), known[:, 1].max())) + 1
    heads, rels, tails = triples[:, 0], triples[:, 1], triples[:, 2]
    tail_ranks = _ranks(
        lambda rows: scorer.all_tails(heads[rows], rels[rows]),
        keys=heads * num_relations + rels,
        targets=tails,
        known_keys=known[:, 0] * num_relations + known[:, 1],
        known_answers=known[:, 2],
        entity_types=entity_types,
        by_type=candidates == "type",
    )
    head_ranks = _ranks(
        lambda rows: scorer.all_heads(rels[rows], tails[rows]),
        keys=tails * num_relations + rels,
        targets=heads,
        known_keys=known[:, 2] * num_relations + known[:, 1],
        known_answers=known[:, 0],
        entity_types=entity_types,
        by_type=candidates == "type",
    )
    filtered = np.concatenate([tail_ranks[0], head_ranks[0]])
    raw = np.concatenate([tail_ranks[1], head_ranks[1]])
    return RankingMetrics(
        mrr=float((1.0 / filtered).mean()),
        mrr_raw=float((1.0 / raw).mean()),
        hits_at_1=float((filtered <= 1).mean()),
        hits_at_3=float((filtered <= 3).mean()),
        hits_at_10=float((filtered <= 10).mean()),
        mean_rank=float(filtered.mean()),
        tail_mrr=float((1.0 / tail_ranks[0]).mean()),
        head_mrr=float((1.0 / head_ranks[0]).mean()),
        queries=len(filtered),
    )


def _ranks(
    score_rows: Callable[[np.ndarray], np.ndarray],
    *,
    keys: np.ndarray,
    targets: np.ndarray,
    known_keys: np.ndarray,
    known_answers: np.ndarray,
    entity_types: np.ndarray,
    by_type: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Filtered and raw realistic ranks of ``targets`` among the scored candidates."""
    answers = _answers_by_key(keys, known_keys, known_answers)
    filtered = np.empty(len(keys), dtype=np.float64)
    raw = np.empty(len(keys), dtype=np.float64)
    for start in range(0, len(keys), QUERY_CHUNK):
        rows = np.arange(start, min(start + QUERY_CHUNK, len(keys)))
        scores = score_rows(rows)
        target = targets[rows]
        true = scores[np.arange(len(rows)), target][:, None]
        if by_type:
            allowed = entity_types[None, :] == entity_types[target][:, None]
        else:
            allowed = np.ones(scores.shape, dtype=bool)
        greater = (scores > true) & allowed
        equal = (scores == true) & allowed
        raw_rank = 1.0 + greater.sum(1) + 0.5 * (equal.sum(1) - 1)
        # Other known answers of the same query do not count against the model.
        query_of, entity = _known_pairs(rows, keys, answers)
        other = entity != target[query_of]
        query_of, entity = query_of[other], entity[other]
        penalty = greater[query_of, entity] + 0.5 * equal[query_of, entity]
        filtered_rank = raw_rank - np.bincount(query_of, weights=penalty, minlength=len(rows))
        broken = ~np.isfinite(true[:, 0])
        if broken.any():  # a diverged model must not look perfect
            worst = allowed.sum(1).astype(np.float64)
            raw_rank[broken] = filtered_rank[broken] = worst[broken]
        filtered[rows] = filtered_rank
        raw[rows] = raw_rank
    return filtered, raw


def _answers_by_key(
    keys: np.ndarray, known_keys: np.ndarray, known_answers: np.ndarray
) -> dict[int, np.ndarray]:
    """Known answers of each query key (only keys that are queried are collected)."""
    wanted = np.isin(known_keys, np.unique(keys))
    sub_keys, sub_answers = known_keys[wanted], known_answers[wanted]
    if len(sub_keys) == 0:
        return {}
    order = np.argsort(sub_keys, kind="stable")
    sub_keys, sub_answers = sub_keys[order], sub_answers[order]
    unique, starts = np.unique(sub_keys, return_index=True)
    groups = np.split(sub_answers, starts[1:])
    return {int(key): group for key, group in zip(unique, groups, strict=True)}


def _known_pairs(
    rows: np.ndarray, keys: np.ndarray, answers: dict[int, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """(chunk-local query index, known answer) pairs for the chunk's queries."""
    empty = np.empty(0, dtype=np.int64)
    groups = [answers.get(int(keys[row]), empty) for row in rows]
    sizes = np.array([len(group) for group in groups], dtype=np.int64)
    query_of = np.repeat(np.arange(len(rows)), sizes)
    entity = np.concatenate(groups) if groups else empty
    return query_of, entity.astype(np.int64, copy=False)
