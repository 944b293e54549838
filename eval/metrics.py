"""Drug-selection metrics: accuracy, F1, abstention, calibration, ROUGE and citations.

A prediction is the index of the chosen candidate (0 or 1) or None for "insufficient evidence".
Abstentions count as wrong for accuracy and F1 on all sets (a miss for the label's position, a
false positive for neither), so a model cannot raise its score by abstaining on hard sets;
:func:`answered_accuracy` and :func:`abstention_rate` report the two sides separately.

:func:`selection_scores` scores bare label/prediction lists (the GNN baseline); the other
metrics take :class:`SetPrediction` records and return None where they are undefined (no sets,
no answered sets, no references, no citations). ``eval.registry`` names them, ``eval.stats``
adds bootstrap intervals and the paired McNemar test.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from kedrec.errors import MetricError


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


# --- Per-set prediction records and the metrics over them ---------------------------------------

ECE_BINS = 10
"""Equal-width confidence bins of :func:`expected_calibration_error`."""


class SetPrediction(BaseModel):
    """One predictor's answer on one task set, with what is needed to score it.

    ``predicted`` is the chosen candidate position (0 or 1) or None for an abstention
    ("insufficient evidence"); ``confidence`` is the predictor's confidence in its choice.
    ``cited_ids`` are the document IDs the rationale cites, ``verified_ids`` those of them that
    were found in the evidence shown to the predictor, and ``cited_passages`` maps a cited ID to
    the text of its passage (None when the texts were not recorded). ``drug_names`` (the chosen
    drug, synonyms allowed) and ``disease_names`` are what a supporting passage must name.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    set_id: str
    label: int = Field(ge=0, le=1)
    predicted: int | None = Field(default=None, ge=0, le=1)
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    rationale: str = ""
    reference_rationale: str | None = None
    cited_ids: tuple[str, ...] = ()
    verified_ids: tuple[str, ...] = ()
    cited_passages: dict[str, str] | None = None
    drug_names: tuple[str, ...] = ()
    disease_names: tuple[str, ...] = ()

    @property
    def answered(self) -> bool:
        """Whether the predictor chose a candidate (did not abstain)."""
        return self.predicted is not None

    @property
    def correct(self) -> bool:
        """Whether the choice is the label; an abstention is never correct."""
        return self.predicted == self.label


Records = Sequence[SetPrediction]


def accuracy(records: Records) -> float | None:
    """Share of sets whose choice is the label; abstentions count as wrong. None on no sets."""
    if not records:
        return None
    return sum(r.correct for r in records) / len(records)


def answered_accuracy(records: Records) -> float | None:
    """Accuracy over the sets the predictor answered; None when it abstained on all of them."""
    answered = [r for r in records if r.answered]
    return accuracy(answered)


def abstention_rate(records: Records) -> float | None:
    """Share of sets the predictor abstained on. None on no sets."""
    if not records:
        return None
    return sum(not r.answered for r in records) / len(records)


def _f1_of_position(records: Records, position: int) -> float:
    """F1 of one candidate position as the positive class (0.0 when precision + recall is 0).

    An abstention is a miss (false negative) for its label's position and a false positive for
    neither position.
    """
    tp = sum(1 for r in records if r.label == position and r.predicted == position)
    fp = sum(1 for r in records if r.label != position and r.predicted == position)
    fn = sum(1 for r in records if r.label == position and r.predicted != position)
    if 2 * tp + fp + fn == 0:
        return 0.0
    return 2 * tp / (2 * tp + fp + fn)


def binary_f1(records: Records) -> float | None:
    """F1 with candidate position 1 as the positive class; abstentions count as wrong.

    None (undefined) when no set has label 1 and none is predicted 1.
    """
    if not any(r.label == 1 or r.predicted == 1 for r in records):
        return None
    return _f1_of_position(records, 1)


def macro_f1(records: Records) -> float | None:
    """Mean F1 over the candidate positions that occur as a label or a prediction.

    Abstentions count as wrong (a miss for the label's position) and are not a position of
    their own. When only one position occurs (one class only) the mean is over that one, as in
    scikit-learn; a position that is a label but never predicted scores 0. None on no sets.
    """
    if not records:
        return None
    positions = {r.label for r in records} | {
        r.predicted for r in records if r.predicted is not None
    }
    return sum(_f1_of_position(records, p) for p in positions) / len(positions)


def expected_calibration_error(records: Records, bins: int = ECE_BINS) -> float | None:
    """ECE of ``confidence`` on the answered sets: sum over bins of n_b/N * |acc_b - conf_b|.

    Bins are ``bins`` equal-width intervals [i/bins, (i+1)/bins) of [0, 1], the last one closed.
    Answered sets without a confidence are left out; None when no answered set has one.
    """
    scored = [r for r in records if r.answered and r.confidence is not None]
    if not scored:
        return None
    binned: dict[int, list[SetPrediction]] = {}
    for r in scored:
        confidence = float(r.confidence or 0.0)
        binned.setdefault(min(int(confidence * bins), bins - 1), []).append(r)
    ece = 0.0
    for members in binned.values():
        acc = sum(r.correct for r in members) / len(members)
        conf = sum(float(r.confidence or 0.0) for r in members) / len(members)
        ece += len(members) / len(scored) * abs(acc - conf)
    return ece


@dataclass(frozen=True, slots=True)
class RougeScores:
    """Mean ROUGE F-measures of rationales against the reference (teacher's) rationales."""

    rouge1: float | None
    rouge2: float | None
    rouge_l: float | None
    scored: int
    skipped: int
    """Sets without a reference rationale, left out of the means."""


ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


@functools.lru_cache(maxsize=65_536)
def _rouge_pair(reference: str, rationale: str, use_stemmer: bool) -> tuple[float, float, float]:
    """ROUGE-1/2/L F-measures of one (reference, rationale) pair, cached.

    Bootstrap resamples and the three registry metrics score the same pairs again and again;
    the cache makes each pair cost one scoring.
    """
    scores = _scorer(use_stemmer).score(reference, rationale)
    return tuple(scores[kind].fmeasure for kind in ROUGE_TYPES)


@functools.cache
def _scorer(use_stemmer: bool) -> Any:
    """The ``rouge-score`` scorer (built once)."""
    try:
        from rouge_score import rouge_scorer
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise MetricError("ROUGE needs the rouge-score package: pip install -e '.[eval]'") from exc

    return rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=use_stemmer)


def rouge_scores(records: Records, *, use_stemmer: bool = True) -> RougeScores:
    """ROUGE-1/2/L F-measure (``rouge-score``, its default tokenizer, Porter stemmer; offline).

    Means over the sets with a reference rationale; the others are skipped and counted.

    Raises:
        MetricError: the ``rouge-score`` package (the ``eval`` extra) is not installed.
    """
    with_reference = [r for r in records if r.reference_rationale is not None]
    skipped = len(records) - len(with_reference)
    if not with_reference:
        return RougeScores(None, None, None, 0, skipped)
    totals = [0.0, 0.0, 0.0]
    for r in with_reference:
        for position, value in enumerate(
            _rouge_pair(r.reference_rationale or "", r.rationale, use_stemmer)
        ):
            totals[position] += value
    n = len(with_reference)
    return RougeScores(totals[0] / n, totals[1] / n, totals[2] / n, n, skipped)


def citation_precision(records: Records) -> float | None:
    """Mean over sets with at least one citation of |verified ∩ cited| / |cited| (distinct IDs).

    None when no set cites anything.
    """
    shares = []
    for r in records:
        cited = set(r.cited_ids)
        if cited:
            shares.append(len(cited & set(r.verified_ids)) / len(cited))
    return sum(shares) / len(shares) if shares else None


def _names_any(text: str, names: Iterable[str]) -> bool:
    """Whether ``text`` contains one of ``names`` as a whole word, ignoring case."""
    return any(
        re.search(rf"(?<!\w){re.escape(name.strip())}(?!\w)", text, flags=re.IGNORECASE)
        for name in names
        if name.strip()
    )


def citation_support(records: Records) -> float | None:
    """Mean over sets of the share of cited documents whose passage names the drug or disease.

    Only sets with at least one citation and recorded ``cited_passages`` count; a cited ID
    without a recorded passage is unsupported. Names match case-insensitively as whole words.
    None when no set qualifies.
    """
    shares = []
    for r in records:
        cited = list(dict.fromkeys(r.cited_ids))
        if not cited or r.cited_passages is None:
            continue
        names = (*r.drug_names, *r.disease_names)
        passages = r.cited_passages
        supported = sum(1 for doc in cited if _names_any(passages.get(doc, ""), names))
        shares.append(supported / len(cited))
    return sum(shares) / len(shares) if shares else None


def rouge1(records: Records) -> float | None:
    """Mean ROUGE-1 F-measure over sets with a reference rationale."""
    return rouge_scores(records).rouge1


def rouge2(records: Records) -> float | None:
    """Mean ROUGE-2 F-measure over sets with a reference rationale."""
    return rouge_scores(records).rouge2


def rouge_l(records: Records) -> float | None:
    """Mean ROUGE-L F-measure over sets with a reference rationale."""
    return rouge_scores(records).rouge_l
