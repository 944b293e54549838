"""Drug-selection metrics: accuracy and macro F1 over the two candidate positions.

A prediction is the index of the chosen candidate (0 or 1) or None for "insufficient evidence".
Abstentions count as wrong for accuracy and as a third predicted class for F1, so a model
cannot raise its score by abstaining on hard sets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SelectionScores:
    """Accuracy, macro F1 and counts of one evaluation run."""

    n: int
    accuracy: float
    macro_f1: float
    abstained: int


def selection_scores(labels: Sequence[int], predictions: Sequence[int | None]) -> SelectionScores:
    """Score predictions against labels (both indexed by task set)."""
    if len(labels) != len(predictions):
        raise ValueError(f"{len(labels)} labels but {len(predictions)} predictions")
    n = len(labels)
    if n == 0:
        return SelectionScores(0, 0.0, 0.0, 0)
    correct = sum(1 for y, p in zip(labels, predictions, strict=True) if p == y)
    f1s = []
    for cls in (0, 1):
        tp = sum(1 for y, p in zip(labels, predictions, strict=True) if y == cls and p == cls)
        fp = sum(1 for y, p in zip(labels, predictions, strict=True) if y != cls and p == cls)
        fn = sum(1 for y, p in zip(labels, predictions, strict=True) if y == cls and p != cls)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    abstained = sum(1 for p in predictions if p is None)
    return SelectionScores(n, correct / n, sum(f1s) / 2, abstained)
