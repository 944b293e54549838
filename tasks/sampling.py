"""Hard-negative task sampling (paper Section 3.1, Eqs. 1–3) and the disease split.

For a disease d:

* C_d is the K drugs the KGE model scores highest for (c, treats, d), together with every drug
  that has a direct edge to d (so curated indications are always candidates).
* c_rel = argmax_{c in C_d} rel(d, c), rel from DRKG's direct edges (:mod:`tasks.relevance`).
* c_irr = argmax_{c in C_d minus c_rel} cos(h_c, h_c_rel) (Eq. 1), over drugs with **no**
  Compound–Disease edge of any kind to d or to another ID of d (DOID/MeSH, see
  :mod:`tasks.disease_groups`): similar to c_rel, yet unrelated to d.

Several sets per disease (``train_sets_per_disease`` for train diseases, ``sets_per_disease``
for val/test ones) are drawn in rounds. Round 0 makes one set per relevant drug, most relevant
first, each with its most similar unrelated drug (the sets above). When a disease has fewer
relevant drugs than sets asked for, round r pairs the same relevant drugs, in the same order,
with their (r+1)-th most similar unrelated drug. A (disease, c_rel, c_irr) triple therefore
never repeats, and with at least as many relevant drugs as sets asked for, every c_rel is
distinct. The rounds stop when the disease has its sets or no unrelated drug is left in C_d
(``SamplingReport.short`` counts such diseases). Everything is deterministic by seed: ties in
relevance break by a seeded hash, ties in similarity by drug ID.

The slice needs these extra rounds: 319 of its 872 train diseases have a single relevant drug,
so one set per relevant drug would need K = 9 to reach 3,000 train sets, half of them from
the tenth of diseases with the most drugs. With the rounds, K = 4 gives 3,488 (see
bench/RESULTS.md).

Diseases, not sets, are split into train / val / test, so no disease is in two splits.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from graph_store.names import NameIndex
from graph_store.schema import RELEVANCE_WEIGHTS
from kedrec.settings import TasksSettings, field_default
from tasks.disease_groups import DiseaseGroups
from tasks.relevance import CompoundDiseaseEdges
from tasks.task_sets import NamedEntity, Split, TaskSet

TREATMENT_RELATIONS = tuple(r for r, w in RELEVANCE_WEIGHTS.items() if w >= 1.0)
"""Relations whose link-prediction score ranks drugs for a disease (max over those known)."""


class DrugEmbeddings(Protocol):
    """What sampling needs from trained KGE embeddings (kge.pipeline.TrainedEmbeddings)."""

    entity_index: dict[str, int]
    relation_index: dict[str, int]

    @property
    def version(self) -> str:
        """The embeddings' version, stamped on every set so a set names what ranked it."""
        ...

    def score(self, heads: Sequence[str], relation: str, tails: Sequence[str]) -> np.ndarray:
        """Link-prediction scores of ``(heads[i], relation, tails[i])``; higher is likelier."""
        ...

    def score_all_heads(self, relation: str, tail: str) -> np.ndarray:
        """Scores of ``(e, relation, tail)`` for every entity row: ranks all drugs at once."""
        ...

    def cosine_similarity(self, entity: str, others: Sequence[str]) -> np.ndarray:
        """Cosine similarity of ``entity`` to each of ``others``: picks hard negatives."""
        ...


@dataclass(frozen=True)
class SamplingConfig:
    """How task sets are drawn. Every field is recorded in the build manifest.

    Defaults are :class:`kedrec.settings.TasksSettings`'s class defaults (described there);
    ``kedrec sets build`` passes the environment-read values (``KEDREC_TASKS_*``).
    """

    seed: int = field_default(TasksSettings, "seed")
    top_k: int = field_default(TasksSettings, "top_k")
    """K: drugs ranked by link-prediction score that enter C_d."""
    sets_per_disease: int = field_default(TasksSettings, "sets_per_disease")
    """Sets per val/test disease (the module docstring says how several are drawn)."""
    train_sets_per_disease: int = field_default(TasksSettings, "train_sets_per_disease")
    """Sets per train disease: the train split only, drawn like ``sets_per_disease``."""
    min_relevance: float = field_default(TasksSettings, "min_relevance")
    """c_rel needs at least this rel(d, c) (1.0 = at least a text-mined treatment edge)."""
    val_fraction: float = field_default(TasksSettings, "val_fraction")
    test_fraction: float = field_default(TasksSettings, "test_fraction")


@dataclass(slots=True)
class SamplingReport:
    """What sampling kept and skipped, and why (nothing is dropped silently)."""

    diseases: Counter[str] = field(default_factory=Counter)
    sets: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    repeated_c_rel: Counter[str] = field(default_factory=Counter)
    """Sets, by split, whose c_rel already has a set for the disease (a later round's)."""
    short: Counter[str] = field(default_factory=Counter)
    """Diseases, by split, that got fewer sets than asked for (C_d ran out of negatives)."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form for the manifest."""
        return {
            "diseases": dict(self.diseases),
            "sets": dict(self.sets),
            "skipped": dict(self.skipped),
            "repeated_c_rel": dict(self.repeated_c_rel),
            "short": dict(self.short),
        }


def _stable_unit(*parts: object) -> float:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_diseases(
    diseases: Sequence[str],
    *,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    reserved: frozenset[str] = frozenset(),
    groups: DiseaseGroups | None = None,
) -> dict[str, Split]:
    """Assign each disease to one split, deterministically by seed.

    With ``groups``, every ID of one disease (DOID and MeSH) lands in the same split, so a
    disease can never be in train under one ID and in test under another. Reserved diseases (an
    external benchmark's), with their whole groups, go to ``benchmark`` and never to train.
    """
    if not 0 <= val_fraction + test_fraction < 1:
        raise ValueError("val_fraction + test_fraction must be in [0, 1)")

    def members(disease: str) -> frozenset[str]:
        return groups.group_of(disease) if groups else frozenset({disease})

    reserved_all = frozenset().union(*(members(d) for d in reserved)) if reserved else frozenset()
    keys: dict[str, list[str]] = {}
    for disease in sorted(set(diseases) - reserved_all):
        key = min(members(disease))
        keys.setdefault(key, []).append(disease)
    ordered = sorted(keys)
    random.Random(seed).shuffle(ordered)
    n_val = round(len(ordered) * val_fraction)
    n_test = round(len(ordered) * test_fraction)
    split: dict[str, Split] = {}
    for position, key in enumerate(ordered):
        part: Split = (
            "val" if position < n_val else "test" if position < n_val + n_test else "train"
        )
        for disease in keys[key]:
            split[disease] = part
    for disease in reserved_all:
        split[disease] = "benchmark"
    return split


def eligible_diseases(edges: CompoundDiseaseEdges, min_relevance: float) -> list[str]:
    """Diseases with at least one drug relevant enough to be c_rel."""
    return sorted(
        disease
        for disease, drugs in edges.by_disease.items()
        if any(edges.relevance(drug, disease) >= min_relevance for drug in drugs)
    )


def held_out_pairs(edges: CompoundDiseaseEdges, split_of: dict[str, Split]) -> set[tuple[str, str]]:
    """Every direct (drug, disease) pair of val/test/benchmark diseases: kept out of training."""
    evaluated = [disease for disease, split in split_of.items() if split != "train"]
    return edges.pairs_of(evaluated)


class TaskSampler:
    """Draws task sets for diseases from one set of embeddings (scores cached per disease)."""

    def __init__(
        self,
        edges: CompoundDiseaseEdges,
        embeddings: DrugEmbeddings,
        names: NameIndex,
        config: SamplingConfig,
        groups: DiseaseGroups | None = None,
    ) -> None:
        self.edges = edges
        self.embeddings = embeddings
        self.names = names
        self.groups = groups or DiseaseGroups(edges.by_disease, names)
        self.config = config
        self.drugs = sorted(e for e in embeddings.entity_index if e.startswith("Compound::"))
        self._drug_rows = np.array([embeddings.entity_index[d] for d in self.drugs], dtype=np.int64)
        self.relations = [r for r in TREATMENT_RELATIONS if r in embeddings.relation_index]
        if not self.relations:
            raise ValueError(
                "the embeddings know none of the treatment relations "
                f"{', '.join(TREATMENT_RELATIONS)}: train them on a graph with treats edges"
            )

    def treatment_scores(self, disease: str) -> np.ndarray:
        """Link-prediction score of (c, treats, d) for every drug: max over treatment relations."""
        scores = [self.embeddings.score_all_heads(rel, disease) for rel in self.relations]
        return np.max(np.stack(scores), axis=0)[self._drug_rows]

    def candidate_pool(self, disease: str) -> list[str]:
        """C_d: the top-K drugs by score plus every drug with a direct edge to d."""
        scores = self.treatment_scores(disease)
        k = min(self.config.top_k, len(self.drugs))
        top: np.ndarray | list[int] = np.argpartition(-scores, k - 1)[:k] if k else []
        pool = {self.drugs[i] for i in top} | set(self.edges.drugs_of(disease))
        return sorted(pool)

    def sets_wanted(self, split: Split) -> int:
        """Sets asked for per disease of ``split``: train has its own setting."""
        if split == "train":
            return self.config.train_sets_per_disease
        return self.config.sets_per_disease

    def sample(self, disease: str, split: Split, report: SamplingReport) -> Iterator[TaskSet]:
        """Yield up to :meth:`sets_wanted` sets for one disease, in rounds, recording skips."""
        config = self.config
        if disease not in self.embeddings.entity_index:
            report.skipped["disease not in the embedding graph"] += 1
            return
        relevant = [
            (self.edges.relevance(drug, disease), drug)
            for drug in self.edges.drugs_of(disease)
            if self.edges.relevance(drug, disease) >= config.min_relevance
        ]
        relevant.sort(key=lambda item: (-item[0], _stable_unit(config.seed, disease, item[1])))
        pool = self.candidate_pool(disease)
        group = self.groups.group_of(disease)
        negatives = [c for c in pool if not any(self.edges.related(c, d) for d in group)]
        report.diseases[split] += 1
        wanted = self.sets_wanted(split)
        made = 0
        # (relevance, c_rel, negatives by decreasing similarity to c_rel, their similarities)
        ranked: list[tuple[float, str, np.ndarray, np.ndarray]] = []
        for relevance, c_rel in relevant:  # round 0: one set per relevant drug
            if made >= wanted:
                return
            if c_rel not in self.embeddings.entity_index:
                report.skipped["relevant drug not in the embedding graph"] += 1
                continue
            if not negatives:
                report.skipped["no unrelated drug in C_d"] += 1
                return
            similarity = self.embeddings.cosine_similarity(c_rel, negatives)
            order = np.argsort(-similarity, kind="stable")  # order[0] is Eq. 1's argmax
            ranked.append((relevance, c_rel, order, similarity))
            best = int(order[0])
            yield self._task_set(
                disease, split, c_rel, negatives[best], relevance, float(similarity[best]), 0
            )
            report.sets[split] += 1
            made += 1
        rank = 1
        while made < wanted and ranked and rank < len(negatives):  # rounds 1, 2, ...
            for relevance, c_rel, order, similarity in ranked:
                if made >= wanted:
                    break
                index = int(order[rank])
                yield self._task_set(
                    disease,
                    split,
                    c_rel,
                    negatives[index],
                    relevance,
                    float(similarity[index]),
                    rank,
                )
                report.sets[split] += 1
                report.repeated_c_rel[split] += 1
                made += 1
            rank += 1
        if made < wanted:
            report.short[split] += 1

    def _task_set(
        self,
        disease: str,
        split: Split,
        c_rel: str,
        c_irr: str,
        relevance: float,
        similarity: float,
        rank: int,
    ) -> TaskSet:
        """One set; ``rank`` is c_irr's similarity rank for c_rel (0: Eq. 1's argmax)."""
        seed = self.config.seed
        # later rounds hash c_irr too, so one c_rel's sets do not all put it first or second;
        # round 0 keeps the original key (its sets are what a one-set-per-disease build makes)
        key = (disease, c_rel) if rank == 0 else (disease, c_rel, c_irr)
        rel_first = _stable_unit(seed, *key, "order") < 0.5
        pair = [c_rel, c_irr] if rel_first else [c_irr, c_rel]
        digest = hashlib.sha256(f"{seed}|{disease}|{c_rel}|{c_irr}".encode()).hexdigest()[:12]
        return TaskSet(
            set_id=f"drkg-{digest}",
            split=split,
            disease=NamedEntity(id=disease, name=self.names.name_of(disease)),
            candidates=[NamedEntity(id=c, name=self.names.name_of(c)) for c in pair],
            label=pair.index(c_rel),
            relevance=relevance,
            similarity=similarity,
            seed=seed,
            source="drkg-sampled",
            hidden_pairs=[(c, d) for c in pair for d in sorted(self.groups.group_of(disease))],
            embedding_version=self.embeddings.version,
        )


def sample_task_sets(
    sampler: TaskSampler, split_of: dict[str, Split]
) -> tuple[list[TaskSet], SamplingReport]:
    """Sample every disease of the split map (benchmark diseases excluded), in a stable order."""
    report = SamplingReport()
    sets: list[TaskSet] = []
    for disease in sorted(split_of):
        split = split_of[disease]
        if split == "benchmark":
            continue
        sets.extend(sampler.sample(disease, split, report))
    return sets, report
