"""Statistics over evaluation runs: percentile bootstrap intervals and the paired McNemar test."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from eval.metrics import SetPrediction
from eval.registry import Metric, MetricFn, get_metric
from kedrec.errors import MetricError

EXACT_BELOW = 25
"""McNemar uses the exact binomial test when there are fewer discordant pairs than this."""


@dataclass(frozen=True, slots=True)
class BootstrapInterval:
    """A metric's point estimate with its percentile bootstrap interval."""

    estimate: float | None
    low: float | None
    high: float | None
    resamples: int
    undefined: int
    """Resamples on which the metric was undefined (None), left out of the percentiles."""


def bootstrap_ci(
    records: Sequence[SetPrediction],
    metric: str | Metric | MetricFn,
    n: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> BootstrapInterval:
    """Percentile bootstrap interval (default 95%) of a metric, resampling sets with replacement.

    Deterministic for a given ``seed`` (numpy's default generator). The bounds are None when
    there are no sets or the metric is undefined on every resample.

    Raises:
        MetricError: an unknown metric name, or ``n`` / ``alpha`` out of range.
    """
    fn = get_metric(metric) if isinstance(metric, str) else metric
    if n < 1 or not 0.0 < alpha < 1.0:
        raise MetricError(f"bootstrap needs n >= 1 and 0 < alpha < 1, got n={n}, alpha={alpha}")
    estimate = fn(records)
    if not records:
        return BootstrapInterval(estimate, None, None, 0, 0)
    rng = np.random.default_rng(seed)
    values: list[float] = []
    for indices in rng.integers(0, len(records), size=(n, len(records))):
        value = fn([records[i] for i in indices])
        if value is not None:
            values.append(value)
    if not values:
        return BootstrapInterval(estimate, None, None, n, n)
    low, high = np.percentile(values, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return BootstrapInterval(estimate, float(low), float(high), n, n - len(values))


@dataclass(frozen=True, slots=True)
class McNemarResult:
    """Paired McNemar test of two predictors on the same sets.

    ``b``: sets only A got right; ``c``: sets only B got right (abstentions are wrong).
    ``statistic`` is min(b, c) for the exact test and the continuity-corrected chi-square
    (|b - c| - 1)^2 / (b + c) otherwise.
    """

    b: int
    c: int
    statistic: float
    p_value: float
    method: Literal["exact", "chi2"]


def mcnemar(a: Sequence[SetPrediction], b: Sequence[SetPrediction]) -> McNemarResult:
    """Paired McNemar test of predictors A and B, matched by set ID.

    Two-sided: the exact binomial test when b + c < 25, else chi-square (1 degree of freedom)
    with continuity correction.

    Raises:
        MetricError: the two runs are not on the same set IDs, or one repeats a set ID.
    """
    by_id_a = {r.set_id: r for r in a}
    by_id_b = {r.set_id: r for r in b}
    if len(by_id_a) != len(a) or len(by_id_b) != len(b):
        raise MetricError("McNemar needs one prediction per set; a run repeats a set ID")
    if by_id_a.keys() != by_id_b.keys():
        only = sorted(by_id_a.keys() ^ by_id_b.keys())
        raise MetricError(
            f"McNemar needs both predictors on the same sets; {len(only)} set IDs differ "
            f"(e.g. {', '.join(only[:3])})"
        )
    only_a = sum(1 for k, r in by_id_a.items() if r.correct and not by_id_b[k].correct)
    only_b = sum(1 for k, r in by_id_a.items() if not r.correct and by_id_b[k].correct)
    discordant = only_a + only_b
    if discordant < EXACT_BELOW:
        k = min(only_a, only_b)
        tail = sum(math.comb(discordant, i) for i in range(k + 1)) / 2**discordant
        return McNemarResult(only_a, only_b, float(k), min(1.0, 2 * tail), "exact")
    statistic = (abs(only_a - only_b) - 1) ** 2 / discordant
    p_value = math.erfc(math.sqrt(statistic / 2))  # chi-square survival function, 1 df
    return McNemarResult(only_a, only_b, statistic, p_value, "chi2")
