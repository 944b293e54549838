"""The paper's "GNN" baseline: pick the candidate with the higher link-prediction score.

score(c, treats, d) is the KGE model's score, maximised over the treatment relations it knows
(DrugBank treats, Hetionet CtD/CpD, GNBR T). The embeddings must have been trained without the
evaluated sets' label edges (their version records the held-out set; see tasks.leakage).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from eval.metrics import SelectionScores, selection_scores
from tasks.sampling import TREATMENT_RELATIONS, DrugEmbeddings
from tasks.task_sets import TaskSet


def treatment_score(embeddings: DrugEmbeddings, drugs: list[str], disease: str) -> np.ndarray:
    """Max over treatment relations of score(drug, relation, disease)."""
    relations = [r for r in TREATMENT_RELATIONS if r in embeddings.relation_index]
    scores = [embeddings.score(drugs, relation, [disease] * len(drugs)) for relation in relations]
    return np.max(np.stack(scores), axis=0)


def gnn_predict(embeddings: DrugEmbeddings, task_set: TaskSet) -> int | None:
    """Index of the candidate with the higher score; None when either is unknown to the model."""
    ids = [candidate.id for candidate in task_set.candidates]
    known = embeddings.entity_index
    if task_set.disease.id not in known or any(c not in known for c in ids):
        return None
    scores = treatment_score(embeddings, ids, task_set.disease.id)
    return int(np.argmax(scores))


def evaluate_gnn(embeddings: DrugEmbeddings, sets: Iterable[TaskSet]) -> SelectionScores:
    """Accuracy and macro F1 of the GNN baseline on task sets."""
    labels: list[int] = []
    predictions: list[int | None] = []
    for task_set in sets:
        labels.append(task_set.label)
        predictions.append(gnn_predict(embeddings, task_set))
    return selection_scores(labels, predictions)
