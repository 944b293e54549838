"""Each metric against hand-computed values on small fixed inputs, with the edge cases."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from eval.metrics import (
    SetPrediction,
    abstention_rate,
    accuracy,
    answered_accuracy,
    binary_f1,
    citation_precision,
    citation_support,
    expected_calibration_error,
    macro_f1,
    rouge_scores,
    selection_scores,
)
from eval.registry import METRICS, get_metric
from eval.stats import bootstrap_ci, mcnemar
from kedrec.errors import KedrecError, MetricError


def rec(set_id: str, label: int, predicted: int | None, confidence: float | None = None, **kw):
    return SetPrediction(
        set_id=set_id, label=label, predicted=predicted, confidence=confidence, **kw
    )


# label / predicted / confidence: 3 right, 1 wrong, 1 abstained.
FIVE = [
    rec("s1", 0, 0, 0.9),
    rec("s2", 1, 1, 0.8),
    rec("s3", 1, 0, 0.6),
    rec("s4", 0, None),
    rec("s5", 1, 1, 0.95),
]


def test_record_validation() -> None:
    with pytest.raises(ValidationError):
        rec("x", 2, 0)
    with pytest.raises(ValidationError):
        rec("x", 0, 0, 1.5)
    with pytest.raises(ValidationError):
        SetPrediction(set_id="x", label=0, unknown_field=1)  # type: ignore[call-arg]
    assert not rec("x", 0, None).correct
    assert rec("x", 1, 1).answered


def test_accuracy_abstention_and_answered_accuracy() -> None:
    assert accuracy(FIVE) == pytest.approx(3 / 5)
    assert answered_accuracy(FIVE) == pytest.approx(3 / 4)
    assert abstention_rate(FIVE) == pytest.approx(1 / 5)


def test_f1_binary_and_macro() -> None:
    # position 1: tp=2 (s2, s5), fp=0, fn=1 (s3) -> 4/5
    assert binary_f1(FIVE) == pytest.approx(0.8)
    # position 0: tp=1 (s1), fp=1 (s3), fn=1 (s4, abstained) -> 2/4; macro = (0.8 + 0.5) / 2
    assert macro_f1(FIVE) == pytest.approx(0.65)
    # agrees with the list-based scorer when both positions occur
    old = selection_scores([r.label for r in FIVE], [r.predicted for r in FIVE])
    assert old.macro_f1 == pytest.approx(macro_f1(FIVE))
    assert old.accuracy == pytest.approx(accuracy(FIVE))


def test_ece() -> None:
    # bin 9: s1 (0.9, right), s5 (0.95, right): 2/4 * |1 - 0.925| = 0.0375
    # bin 8: s2 (0.8, right): 1/4 * 0.2 = 0.05; bin 6: s3 (0.6, wrong): 1/4 * 0.6 = 0.15
    assert expected_calibration_error(FIVE) == pytest.approx(0.2375)
    # confidence 1.0 falls in the last bin; perfect calibration is 0
    assert expected_calibration_error([rec("a", 0, 0, 1.0), rec("b", 1, 1, 1.0)]) == 0.0
    # answered sets without a confidence are left out
    assert expected_calibration_error([rec("a", 0, 0, None), rec("b", 0, 1, 0.3)]) == (
        pytest.approx(0.3)
    )


def test_all_abstained() -> None:
    none = [rec("a", 0, None), rec("b", 1, None)]
    assert accuracy(none) == 0.0
    assert answered_accuracy(none) is None
    assert abstention_rate(none) == 1.0
    assert expected_calibration_error(none) is None
    assert macro_f1(none) == 0.0
    assert binary_f1(none) == 0.0


def test_one_class_only() -> None:
    right = [rec("a", 0, 0), rec("b", 0, 0)]
    assert macro_f1(right) == 1.0  # mean over the one position that occurs
    assert binary_f1(right) is None  # no label 1, no prediction 1: undefined
    mixed = [rec("a", 0, 0), rec("b", 0, 1)]
    # position 0: tp=1, fn=1 -> 2/3; position 1: fp=1 -> 0
    assert macro_f1(mixed) == pytest.approx(1 / 3)
    assert binary_f1(mixed) == 0.0


def test_no_sets() -> None:
    for metric in (accuracy, answered_accuracy, abstention_rate, binary_f1, macro_f1):
        assert metric([]) is None
    assert expected_calibration_error([]) is None


def test_rouge_hand_checked() -> None:
    cat = rec(
        "a", 0, 0, rationale="the cat lay on the mat", reference_rationale="the cat sat on the mat"
    )
    scores = rouge_scores([cat, rec("b", 0, 0, rationale="no reference")])
    # unigrams 5/6 both ways; bigrams the-cat, on-the, the-mat: 3/5; LCS "the cat on the mat"
    assert scores.rouge1 == pytest.approx(5 / 6)
    assert scores.rouge2 == pytest.approx(0.6)
    assert scores.rouge_l == pytest.approx(5 / 6)
    assert (scores.scored, scores.skipped) == (1, 1)
    aspirin = rec(
        "c",
        0,
        0,
        rationale="aspirin lowers stroke risk",
        reference_rationale="aspirin reduces the risk of stroke",
    )
    # stems: aspirin/stroke/risk shared: P 3/4, R 3/6 -> 0.6; no shared bigram;
    # LCS 2 ("aspirin ... risk"): P 2/4, R 2/6 -> 0.4
    two = rouge_scores([cat, aspirin])
    assert two.rouge1 == pytest.approx((5 / 6 + 0.6) / 2)
    assert two.rouge2 == pytest.approx(0.3)
    assert two.rouge_l == pytest.approx((5 / 6 + 0.4) / 2)
    empty = rouge_scores([rec("x", 0, 0, rationale="r")])
    assert (empty.rouge1, empty.rouge2, empty.rouge_l, empty.scored, empty.skipped) == (
        None,
        None,
        None,
        0,
        1,
    )


def test_citation_precision() -> None:
    records = [
        rec("a", 0, 0, cited_ids=("d1", "d2", "d3"), verified_ids=("d1", "d2")),
        rec("b", 0, 0, cited_ids=("d1", "d1"), verified_ids=("d1", "zz")),  # distinct IDs
        rec("c", 0, 0),  # no citation: left out
    ]
    assert citation_precision(records) == pytest.approx((2 / 3 + 1) / 2)
    assert citation_precision([rec("c", 0, 0)]) is None


def test_citation_support() -> None:
    names = {"drug_names": ("Aspirin",), "disease_names": ("stroke",)}
    records = [
        rec(
            "a",
            0,
            0,
            cited_ids=("p1", "p2", "p3", "p4"),
            cited_passages={
                "p1": "ASPIRIN lowers risk",
                "p2": "Stroke outcomes",
                "p3": "about aspirinate only",  # not a whole-word match
            },  # p4 has no recorded passage: unsupported
            **names,
        ),
        rec("b", 0, 0, cited_ids=("p1",), **names),  # no passages recorded: left out
        rec("c", 0, 0, cited_ids=("q",), cited_passages={"q": "after a stroke."}, **names),
    ]
    assert citation_support(records) == pytest.approx((2 / 4 + 1) / 2)
    assert citation_support([records[1]]) is None


def test_registry_lookup_and_suggestion() -> None:
    assert set(METRICS) >= {
        "accuracy",
        "answered_accuracy",
        "abstention_rate",
        "binary_f1",
        "macro_f1",
        "ece",
        "rouge1",
        "rouge2",
        "rougeL",
        "citation_precision",
        "citation_support",
    }
    for name, metric in METRICS.items():
        assert metric.name == name
        assert metric.direction in {"higher", "lower"}
        assert metric.aggregation and metric.description
        metric(FIVE)
        assert metric([]) is None
    assert get_metric("ece").direction == "lower"
    assert get_metric("accuracy")(FIVE) == pytest.approx(0.6)
    with pytest.raises(MetricError, match="did you mean accuracy") as info:
        get_metric("acuracy")
    assert isinstance(info.value, KedrecError)
    with pytest.raises(MetricError, match="known: accuracy"):
        get_metric("zzzzzz")


def test_bootstrap_deterministic_and_contains_estimate() -> None:
    records = [rec(f"s{i}", i % 2, (i % 2) if i % 3 else 1 - i % 2) for i in range(30)]
    first = bootstrap_ci(records, "accuracy", n=500, seed=7)
    again = bootstrap_ci(records, get_metric("accuracy"), n=500, seed=7)
    assert first == again
    assert first.estimate == pytest.approx(20 / 30)
    assert first.low is not None and first.high is not None
    assert first.low <= first.estimate <= first.high
    assert first.high - first.low > 0
    assert (first.resamples, first.undefined) == (500, 0)


def test_bootstrap_edge_cases() -> None:
    right = [rec("a", 0, 0), rec("b", 1, 1)]
    assert bootstrap_ci(right, accuracy, n=50).low == 1.0
    none = [rec("a", 0, None), rec("b", 1, None)]
    undefined = bootstrap_ci(none, "answered_accuracy", n=20)
    assert (undefined.estimate, undefined.low, undefined.high) == (None, None, None)
    assert undefined.undefined == 20
    assert bootstrap_ci([], "accuracy").low is None
    with pytest.raises(MetricError):
        bootstrap_ci(right, "acc")
    with pytest.raises(MetricError):
        bootstrap_ci(right, "accuracy", alpha=1.5)


def pair(b: int, c: int, both_right: int = 3, both_wrong: int = 2):
    """Runs A and B with b sets only A got right and c sets only B got right."""
    a_runs, b_runs = [], []
    outcomes = [(1, 0)] * b + [(0, 1)] * c + [(1, 1)] * both_right + [(0, 0)] * both_wrong
    for i, (a_ok, b_ok) in enumerate(outcomes):
        a_runs.append(rec(f"s{i}", 1, 1 if a_ok else 0))
        b_runs.append(rec(f"s{i}", 1, 1 if b_ok else None))
    return a_runs, b_runs


def test_mcnemar_exact() -> None:
    result = mcnemar(*pair(10, 2))
    # 2 * (C(12,0) + C(12,1) + C(12,2)) / 2**12 = 2 * 79 / 4096
    assert (result.b, result.c, result.method) == (10, 2, "exact")
    assert result.statistic == 2.0
    assert result.p_value == pytest.approx(158 / 4096)
    assert round(result.p_value, 4) == 0.0386
    assert mcnemar(*pair(2, 10)).p_value == pytest.approx(result.p_value)
    assert mcnemar(*pair(3, 3)).p_value == 1.0
    tied = mcnemar(*pair(0, 0))
    assert (tied.statistic, tied.p_value) == (0.0, 1.0)


def test_mcnemar_chi_square() -> None:
    result = mcnemar(*pair(20, 5))
    # 25 discordant: (|20 - 5| - 1)^2 / 25 = 7.84; chi-square(1) survival = 0.0051103
    assert result.method == "chi2"
    assert result.statistic == pytest.approx(7.84)
    assert result.p_value == pytest.approx(0.00511026, rel=1e-5)


def test_mcnemar_refuses_unpaired_runs() -> None:
    a_runs, b_runs = pair(2, 1)
    with pytest.raises(MetricError, match="same sets"):
        mcnemar(a_runs, b_runs[:-1])
    with pytest.raises(MetricError, match="repeats"):
        mcnemar([*a_runs, a_runs[0]], b_runs)
