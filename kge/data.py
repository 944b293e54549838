"""Triples for embedding training: indexed, de-duplicated, held-out pairs dropped, split.

Everything here is numpy and deterministic: the entity and relation indexes are sorted IDs and
the triples are sorted before the seeded split, so the same files (in any order), held-out set
and seed give the same training and validation triples.
"""

from __future__ import annotations

import hashlib
import logging
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from graph_store.drkg_format import ParseReport, fingerprint, iter_triples
from graph_store.masking import HiddenPairs
from kedrec.errors import DataFormatError

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class KGTriples:
    """Indexed triples of one input graph, ready for training.

    Triples are ``(head row, relation row, tail row)`` int64 arrays of shape ``(n, 3)``.
    """

    fingerprint: str
    report: ParseReport
    entities: list[str]
    """Sorted entity IDs; the position is the embedding row."""
    entity_types: np.ndarray
    """Per entity, its index into :attr:`type_names` (the DRKG type, ``Compound``, ...)."""
    type_names: list[str]
    relations: list[str]
    """Sorted full DRKG relation names present in the input."""
    train: np.ndarray
    val: np.ndarray
    val_eval: np.ndarray
    """The capped, seeded sample of :attr:`val` ranked at each evaluation."""
    held_out_pairs: int = 0
    dropped_held_out: int = 0
    """Input triples dropped because they join a held-out drug and disease (any relation)."""
    held_out_pairs_without_edges: int = 0
    duplicates: int = 0
    val_moved_to_train: int = 0
    """Sampled validation triples put back into training (an entity had no other edge)."""
    stats: dict[str, int] = field(default_factory=dict)
    _known: np.ndarray | None = field(default=None, repr=False)

    @property
    def num_entities(self) -> int:
        """Rows of the entity embedding table."""
        return len(self.entities)

    @property
    def num_relations(self) -> int:
        """Rows of the relation embedding table."""
        return len(self.relations)

    @property
    def known(self) -> np.ndarray:
        """Every triple the model may treat as true (train ∪ val; never the held-out ones)."""
        if self._known is None:
            self._known = np.concatenate([self.train, self.val])
        return self._known

    def digest(self) -> str:
        """Hash of the split, stored in checkpoints so a resume trains on the same triples."""
        digest = hashlib.sha256()
        for part in (self.train, self.val, self.val_eval):
            digest.update(np.ascontiguousarray(part, dtype=np.int64).tobytes())
        digest.update("\n".join(self.entities).encode())
        digest.update("\n".join(self.relations).encode())
        return digest.hexdigest()[:16]


def as_hidden_pairs(held_out: HiddenPairs | Iterable[tuple[str, str]] | None) -> HiddenPairs:
    """Accept a :class:`HiddenPairs` or raw (drug, disease) pairs (validated)."""
    if held_out is None:
        return HiddenPairs()
    if isinstance(held_out, HiddenPairs):
        return held_out
    return HiddenPairs.of(held_out)


def read_pair_file(path: Path) -> HiddenPairs:
    """Read ``drug<TAB>disease`` lines (``#`` comments and an optional header are skipped)."""
    if not path.is_file():
        raise DataFormatError(f"hold-out file {path} does not exist: check --hold-out-file")
    pairs: list[tuple[str, str]] = []
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            fields = text.split("\t")
            if not pairs and "::" not in fields[0]:
                continue  # header such as "drug<TAB>disease"
            if len(fields) != 2:
                raise DataFormatError(
                    f"{path}:{line_number}: expected 'Compound::…<TAB>Disease::…', "
                    f"found {len(fields)} fields"
                )
            pairs.append((fields[0].strip(), fields[1].strip()))
    try:
        return HiddenPairs.of(pairs)
    except ValueError as error:
        raise DataFormatError(f"{path}: {error}") from error


def prepare_triples(
    files: Sequence[Path],
    held_out: HiddenPairs,
    *,
    val_fraction: float,
    val_max: int,
    seed: int,
    graph_fingerprint: str | None = None,
) -> KGTriples:
    """Parse, index and split the input, dropping every triple of a held-out pair.

    Args:
        files: DRKG triple files.
        held_out: (drug, disease) pairs whose triples (any relation, either direction) must
            appear neither in training nor in validation.
        val_fraction: Share of the remaining triples held out for validation.
        val_max: Size cap of the validation sample ranked at each evaluation.
        seed: Seed of the split and the sample.
        graph_fingerprint: The files' fingerprint when the caller already computed it.

    Returns:
        The indexed triples and counts of what was dropped.
    """
    paths = [Path(f) for f in files]
    report = ParseReport()
    hidden = held_out.pairs
    entity_ids: dict[str, int] = {}
    relation_ids: dict[str, int] = {}
    heads, rels, tails = array("q"), array("q"), array("q")
    dropped = 0
    hit_pairs: set[tuple[str, str]] = set()
    for triple in iter_triples(paths, report):
        head = entity_ids.setdefault(triple.head, len(entity_ids))
        tail = entity_ids.setdefault(triple.tail, len(entity_ids))
        rel = relation_ids.setdefault(triple.relation.full, len(relation_ids))
        if hidden:
            pair = (triple.head, triple.tail)
            if pair not in hidden:
                pair = (triple.tail, triple.head)
            if pair in hidden:
                dropped += 1
                hit_pairs.add(pair)
                continue
        heads.append(head)
        rels.append(rel)
        tails.append(tail)
    if report.malformed:
        logger.warning("skipped %d malformed lines: %s", report.malformed, report.summary())
    if not entity_ids:
        raise DataFormatError(f"no triples in {', '.join(map(str, paths))}: nothing to embed")

    entities, entity_remap = _sorted_index(entity_ids)
    relations, relation_remap = _sorted_index(relation_ids)
    num_e, num_r = len(entities), len(relations)
    codes = (
        relation_remap[np.frombuffer(rels, dtype=np.int64)] * num_e
        + entity_remap[np.frombuffer(heads, dtype=np.int64)]
    ) * num_e + entity_remap[np.frombuffer(tails, dtype=np.int64)]
    unique = np.unique(codes)
    triples = np.stack([(unique // num_e) % num_e, unique // (num_e * num_e), unique % num_e], 1)

    train, val, moved = _split(triples, num_e, val_fraction, np.random.default_rng(seed))
    sample_rng = np.random.default_rng([seed, 1])
    if len(val) > val_max:
        val_eval = val[np.sort(sample_rng.choice(len(val), size=val_max, replace=False))]
    else:
        val_eval = val
    type_names = sorted({entity.partition("::")[0] for entity in entities})
    type_codes = {name: code for code, name in enumerate(type_names)}
    entity_types = np.array(
        [type_codes[entity.partition("::")[0]] for entity in entities], dtype=np.int32
    )
    degree = np.bincount(train[:, [0, 2]].ravel(), minlength=num_e)
    data = KGTriples(
        fingerprint=graph_fingerprint or fingerprint(paths),
        report=report,
        entities=entities,
        entity_types=entity_types,
        type_names=type_names,
        relations=relations,
        train=train,
        val=val,
        val_eval=val_eval,
        held_out_pairs=len(held_out),
        dropped_held_out=dropped,
        held_out_pairs_without_edges=len(hidden) - len(hit_pairs),
        duplicates=len(codes) - len(unique),
        val_moved_to_train=moved,
    )
    data.stats = {
        "input_triples": report.triples,
        "unique_triples_kept": len(triples),
        "train_triples": len(train),
        "val_triples": len(val),
        "val_eval_triples": len(val_eval),
        "entities": num_e,
        "relations": num_r,
        "entities_without_training_edges": int((degree == 0).sum()),
    }
    logger.info(
        "embedding input: %s; %d held-out triples dropped; %s",
        report.summary(),
        dropped,
        data.stats,
    )
    return data


def _sorted_index(ids: dict[str, int]) -> tuple[list[str], np.ndarray]:
    """Sorted IDs and the map first-seen code -> sorted row."""
    ordered = sorted(ids)
    remap = np.empty(len(ids), dtype=np.int64)
    for row, key in enumerate(ordered):
        remap[ids[key]] = row
    return ordered, remap


def _split(
    triples: np.ndarray, num_entities: int, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, int]:
    """Seeded train/val split; val triples with an entity unseen in training go back to train."""
    count = round(len(triples) * fraction)
    if count == 0:
        return triples, triples[:0], 0
    order = rng.permutation(len(triples))
    val_rows, train_rows = np.sort(order[:count]), np.sort(order[count:])
    train, val = triples[train_rows], triples[val_rows]
    degree = np.bincount(train[:, [0, 2]].ravel(), minlength=num_entities)
    seen = (degree[val[:, 0]] > 0) & (degree[val[:, 2]] > 0)
    if not seen.all():
        train = np.concatenate([train, val[~seen]])
        train = train[np.lexsort((train[:, 2], train[:, 0], train[:, 1]))]
    return train, val[seen], int((~seen).sum())
