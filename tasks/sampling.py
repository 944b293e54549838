"""Hard-negative task sampling (paper Section 3.1, Eqs. 1–3) and the disease split.

For a disease d:

* C_d is the K drugs the KGE model scores highest for (c, treats, d), together with every drug
  that has a direct edge to d (so curated indications are always candidates).
* c_rel = argmax_{c in C_d} rel(d, c), rel from DRKG's direct edges (:mod:`tasks.relevance`).
  With ``sets_per_disease`` > 1 the next most relevant drugs make further sets.
* c_irr = argmax_{c in C_d minus c_rel} cos(h_c, h_c_rel) (Eq. 1), over drugs with **no**
  Compound–Disease edge of any kind to d or to another ID of d (DOID/MeSH, see
  :mod:`tasks.disease_groups`): similar to c_rel, yet unrelated to d.

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
    """Sets per disease, one per relevant drug, most relevant first."""
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

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form for the manifest."""
        return {
            "diseases": dict(self.diseases),
            "sets": dict(self.sets),
            "skipped": dict(self.skipped),
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

    def sample(self, disease: str, split: Split, report: SamplingReport) -> Iterator[TaskSet]:
        """Yield up to ``sets_per_disease`` sets for one disease, recording skips."""
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
        made = 0
        for relevance, c_rel in relevant:
            if made >= config.sets_per_disease:
                break
            if c_rel not in self.embeddings.entity_index:
                report.skipped["relevant drug not in the embedding graph"] += 1
                continue
            if not negatives:
                report.skipped["no unrelated drug in C_d"] += 1
                break
            similarity = self.embeddings.cosine_similarity(c_rel, negatives)
            best = int(np.argmax(similarity))
            c_irr = negatives[best]
            yield self._task_set(
                disease, split, c_rel, c_irr, relevance, float(similarity[best]), made
            )
            report.sets[split] += 1
            made += 1

    def _task_set(
        self,
        disease: str,
        split: Split,
        c_rel: str,
        c_irr: str,
        relevance: float,
        similarity: float,
        index: int,
    ) -> TaskSet:
        seed = self.config.seed
        rel_first = _stable_unit(seed, disease, c_rel, "order") < 0.5
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
