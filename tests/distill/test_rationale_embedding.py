"""The optional Eq. 6 term: targets from the teacher's rationale, the loss, the collator."""

from __future__ import annotations

import math

import torch

from distill.data import EncodedExample
from distill.rationale_embedding import (
    RationaleHead,
    attach_targets,
    embedding_loss,
    rationale_text,
)
from distill.trainer import WeightedCollator
from tasks.task_sets import TaskSet


def test_rationale_text_is_the_answer_after_the_choice_line() -> None:
    completion = "Choice: Metformin\nMechanism: lowers glucose.\nRationale: fits.<|im_end|>"
    assert (
        rationale_text(completion, "<|im_end|>") == "Mechanism: lowers glucose.\nRationale: fits."
    )
    assert rationale_text("Choice: Metformin\n", "<|im_end|>") == ""


def test_embedding_loss_is_the_mean_squared_distance_of_rows_with_targets() -> None:
    predicted = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    target = torch.tensor([[0.0, 1.0], [0.0, 1.0], [0.0, 0.0]])
    has_target = torch.tensor([1.0, 1.0, 0.0])
    # row 0: (1-0)² + (0-1)² = 2 (orthogonal unit vectors: 2 - 2·cos 90°); row 1: 0; row 2 masked
    assert math.isclose(float(embedding_loss(predicted, target, has_target)), 1.0)
    none = embedding_loss(predicted, target, torch.zeros(3))
    assert float(none) == 0.0, "a batch of selection-only examples adds nothing"


def test_the_head_gives_unit_vectors() -> None:
    torch.manual_seed(0)
    head = RationaleHead(hidden_size=8, embedding_size=3)
    out = head(torch.randn(4, 8))
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(4))


def _example(task_set: TaskSet, completion: str, selection_only: bool) -> EncodedExample:
    return EncodedExample(
        set_id=task_set.set_id,
        split="train",
        task_set=task_set,
        prompt="p",
        completion=completion,
        input_ids=[5, 6, 7],
        labels=[-100, 6, 7],
        weights=[0.0, 1.0, 0.5],
        n_prompt=1,
        n_choice=1,
        rationalized=True,
        selection_only=selection_only,
    )


def test_targets_skip_selection_only_examples_and_reach_the_batch(
    real_sets: dict[str, list[TaskSet]],
) -> None:
    task_set = real_sets["train"][0]
    name = task_set.answer.name
    answer = _example(task_set, f"Choice: {name}\nRationale: it fits.<|im_end|>", False)
    selection = _example(task_set, f"Choice: {name}\n", True)
    seen: list[list[str]] = []

    def encode(texts: list[str]) -> list[list[float]]:
        seen.append(texts)
        return [[0.6, 0.8] for _ in texts]

    assert attach_targets([answer, selection], encode, "<|im_end|>") == 1
    assert seen == [["Rationale: it fits."]]
    assert answer.target_embedding == [0.6, 0.8] and selection.target_embedding is None
    batch = WeightedCollator(pad_token_id=0)([answer, selection])
    torch.testing.assert_close(batch["target_embedding"], torch.tensor([[0.6, 0.8], [0.0, 0.0]]))
    torch.testing.assert_close(batch["has_target"], torch.tensor([1.0, 0.0]))
    assert "target_embedding" not in WeightedCollator(0)([selection])
