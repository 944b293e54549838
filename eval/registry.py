"""The metric registry: each metric's name, direction, aggregation, description and function.

``METRICS`` maps a name to a :class:`Metric`; :func:`get_metric` looks one up and, for an
unknown name, raises :class:`~kedrec.errors.MetricError` suggesting the nearest names.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from eval import metrics
from eval.metrics import SetPrediction
from kedrec.errors import MetricError

MetricFn = Callable[[Sequence[SetPrediction]], float | None]
"""A metric over per-set predictions; None where it is undefined on them."""


@dataclass(frozen=True, slots=True)
class Metric:
    """A named metric: which way is better, how it aggregates over sets, and its function."""

    name: str
    direction: Literal["higher", "lower"]
    aggregation: str
    description: str
    fn: MetricFn

    def __call__(self, records: Sequence[SetPrediction]) -> float | None:
        """The metric's value on ``records`` (None where undefined)."""
        return self.fn(records)


def _metric(
    name: str, direction: Literal["higher", "lower"], aggregation: str, fn: MetricFn
) -> Metric:
    """A :class:`Metric` whose description is the first line of its function's docstring."""
    description = (fn.__doc__ or name).strip().splitlines()[0]
    return Metric(name, direction, aggregation, description, fn)


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        _metric("accuracy", "higher", "mean over sets", metrics.accuracy),
        _metric(
            "answered_accuracy", "higher", "mean over answered sets", metrics.answered_accuracy
        ),
        _metric("abstention_rate", "lower", "mean over sets", metrics.abstention_rate),
        _metric("binary_f1", "higher", "corpus", metrics.binary_f1),
        _metric("macro_f1", "higher", "corpus", metrics.macro_f1),
        _metric("ece", "lower", "corpus (10 confidence bins)", metrics.expected_calibration_error),
        _metric("rouge1", "higher", "mean over sets with a reference", metrics.rouge1),
        _metric("rouge2", "higher", "mean over sets with a reference", metrics.rouge2),
        _metric("rougeL", "higher", "mean over sets with a reference", metrics.rouge_l),
        _metric(
            "citation_precision",
            "higher",
            "mean over sets with a citation",
            metrics.citation_precision,
        ),
        _metric(
            "citation_support",
            "higher",
            "mean over sets with cited passages",
            metrics.citation_support,
        ),
    )
}


def get_metric(name: str) -> Metric:
    """The registered metric called ``name``.

    Raises:
        MetricError: no metric has that name (the message suggests the nearest ones).
    """
    try:
        return METRICS[name]
    except KeyError:
        close = difflib.get_close_matches(name, METRICS, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(METRICS)}"
        raise MetricError(f"unknown metric {name!r}; {hint}") from None
