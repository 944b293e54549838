r"""The pieces the Hugging Face ``Trainer`` needs for the student's weighted loss.

**Loss** (paper Eq. 8, ``L = L_select + λ·L_rationale``). Every completion token ``t`` has a
weight ``w_t`` (:func:`distill.data.encode_example`): 1 on each token of the chosen name and
its newline after ``"Choice: "``, ``λ / n_rest`` on each other answer token; prompt and
padding tokens have label -100 and weight 0. An example's loss is the weighted sum of its
token cross-entropies,

    ``L_i = −log p(name | prompt) + λ · mean_rest CE``,

the selection's cross-entropy (Eq. 7, over the log-likelihood the choice is scored by) plus λ
times the rationale's mean token cross-entropy, whatever the rationale's length (λ = 0, or a
selection-only example, trains the selection alone). A micro-batch's loss is the mean over
its examples (every example counts once, whatever its length), and the Trainer divides by the
gradient accumulation steps (``loss_is_scaled_for_ga = False``).

**Collator.** :class:`WeightedCollator` pads on the *left*, so every completion ends at the
last position: the model then computes logits only for the last ``K`` positions (``K`` = the
longest completion + 1, ``logits_to_keep``) instead of the ~3,000 prompt positions, which
saves the largest activation of a 49k-vocabulary model (a ``seq × vocab`` float tensor) and its
share of the compute. Position ids are passed explicitly (0 at each row's first real token), so
a padded row sees the same positions as at inference.

**Eq. 6** (optional, ``embedding_weight`` μ > 0): batches whose examples carry a teacher
rationale embedding add ``μ · L_embed`` (:mod:`distill.rationale_embedding`), from the last
hidden state at the last position (the end-of-turn token of every left-padded row).

**Validation selection accuracy.** :meth:`WeightedLossTrainer.evaluation_loop` adds
``eval_selection_accuracy`` to the Trainer's evaluation metrics: for each validation example,
both candidate names are scored as the continuation of ``prompt + "Choice: "`` with the
model being trained (:func:`llm.choice.encode_continuation` and
:func:`~llm.choice.continuation_logliks`, the scoring the student uses at inference). Added
inside the evaluation, the metric is logged, chooses the best checkpoint
(``metric_for_best_model``) and drives transformers' ``EarlyStoppingCallback``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.utils.data import Dataset
from transformers import Trainer, TrainerCallback

from agent.plan_answer import CHOICE_PREFIX, prior_messages
from distill.data import IGNORE_INDEX, EncodedExample
from distill.rationale_embedding import RationaleHead, embedding_loss
from llm.choice import (
    OptionScore,
    OptionScores,
    Rule,
    continuation_logliks,
    encode_continuation,
    render_prompt,
)

SELECTION_METRIC = "selection_accuracy"
"""The validation metric of early stopping and of the best checkpoint (``eval_`` prefixed)."""


class ExampleDataset(Dataset[EncodedExample]):
    """Encoded examples as a map-style torch dataset."""

    def __init__(self, examples: Sequence[EncodedExample]) -> None:
        self.examples = list(examples)

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> EncodedExample:
        return self.examples[index]


class WeightedCollator:
    """Left-pad a batch of examples into tensors: ids, mask, positions, labels, loss weights."""

    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id

    def __call__(self, examples: Sequence[EncodedExample]) -> dict[str, torch.Tensor]:
        """Tensors of shape ``(batch, longest example)``; padding is masked and weighs 0."""
        longest = max(example.n_tokens for example in examples)
        rows: dict[str, list[list[Any]]] = {
            "input_ids": [],
            "attention_mask": [],
            "position_ids": [],
            "labels": [],
            "loss_weights": [],
        }
        for example in examples:
            pad = longest - example.n_tokens
            rows["input_ids"].append([self.pad_token_id] * pad + example.input_ids)
            rows["attention_mask"].append([0] * pad + [1] * example.n_tokens)
            rows["position_ids"].append([0] * pad + list(range(example.n_tokens)))
            rows["labels"].append([IGNORE_INDEX] * pad + example.labels)
            rows["loss_weights"].append([0.0] * pad + example.weights)
        return {
            "input_ids": torch.tensor(rows["input_ids"], dtype=torch.long),
            "attention_mask": torch.tensor(rows["attention_mask"], dtype=torch.long),
            "position_ids": torch.tensor(rows["position_ids"], dtype=torch.long),
            "labels": torch.tensor(rows["labels"], dtype=torch.long),
            "loss_weights": torch.tensor(rows["loss_weights"], dtype=torch.float32),
            **_embedding_targets(examples),
        }


def _embedding_targets(examples: Sequence[EncodedExample]) -> dict[str, torch.Tensor]:
    """``target_embedding`` (zeros where none) and ``has_target`` when any example has one."""
    dims = {len(e.target_embedding) for e in examples if e.target_embedding is not None}
    if not dims:
        return {}
    (dim,) = dims
    return {
        "target_embedding": torch.tensor(
            [e.target_embedding or [0.0] * dim for e in examples], dtype=torch.float32
        ),
        "has_target": torch.tensor(
            [float(e.target_embedding is not None) for e in examples], dtype=torch.float32
        ),
    }


def weighted_loss(
    logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean over examples of each example's weighted sum of token cross-entropies.

    Args:
        logits: ``(batch, K, vocab)``, the logits of the last ``K`` positions.
        labels: ``(batch, seq)`` token ids, -100 where nothing is learnt.
        weights: ``(batch, seq)`` loss weights (0 where the label is -100; the rationale's
            already divided by its length, see the module docstring).

    Returns:
        The loss and each example's loss (``(batch,)``).
    """
    keep = logits.shape[1]
    targets = labels[:, labels.shape[1] - keep + 1 :]
    token_weights = weights[:, weights.shape[1] - keep + 1 :]
    losses = torch.nn.functional.cross_entropy(
        logits[:, :-1].float().reshape(-1, logits.shape[-1]),
        targets.reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction="none",
    ).view(targets.shape)
    per_example = (losses * token_weights).sum(dim=1)
    return per_example.mean(), per_example


def logits_to_keep(labels: torch.Tensor) -> int:
    """How many last positions' logits the loss needs: up to the first supervised token's."""
    supervised = labels != IGNORE_INDEX
    if not bool(supervised.any()):
        raise ValueError("a batch without any supervised token")
    first = int(supervised.int().argmax(dim=1)[supervised.any(dim=1)].min())
    return min(labels.shape[1], labels.shape[1] - first + 1)


class WeightedLossTrainer(Trainer):
    """``Trainer`` with the per-token weighted loss and the validation selection accuracy."""

    loss_is_scaled_for_ga = False  # a per-micro-batch mean: the Trainer divides by GA steps

    def __init__(
        self,
        *args: Any,
        selection_examples: Sequence[EncodedExample] = (),
        selection_rule: Rule = "sum",
        rationale_head: RationaleHead | None = None,
        embedding_weight: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.selection_examples = list(selection_examples)
        self.selection_rule: Rule = selection_rule
        self.rationale_head = rationale_head
        self.embedding_weight = embedding_weight

    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict[str, torch.Tensor | Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        """The weighted loss of the module docstring (``num_items_in_batch`` is not used)."""
        labels, weights = inputs["labels"], inputs["loss_weights"]
        embed = (
            self.rationale_head is not None
            and self.embedding_weight > 0
            and "target_embedding" in inputs
        )
        outputs = model(
            input_ids=inputs["input_ids"],
            attention_mask=inputs["attention_mask"],
            position_ids=inputs["position_ids"],
            use_cache=False,
            logits_to_keep=logits_to_keep(labels),
            output_hidden_states=embed,
        )
        loss, _ = weighted_loss(outputs.logits, labels, weights)
        if embed:
            assert self.rationale_head is not None
            predicted = self.rationale_head(outputs.hidden_states[-1][:, -1])
            target, has_target = (
                inputs[key].to(predicted.device) for key in ("target_embedding", "has_target")
            )
            term = embedding_loss(predicted, target, has_target)
            loss = loss + self.embedding_weight * term.to(loss.device)
        return (loss, outputs) if return_outputs else loss

    def evaluation_loop(
        self,
        dataloader: Any,
        description: str,
        prediction_loss_only: bool | None = None,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "eval",
    ) -> Any:
        """The Trainer's evaluation, plus ``eval_selection_accuracy`` (module docstring)."""
        output = super().evaluation_loop(
            dataloader,
            description,
            prediction_loss_only=prediction_loss_only,
            ignore_keys=ignore_keys,
            metric_key_prefix=metric_key_prefix,
        )
        prefix = metric_key_prefix
        if prefix == "eval" and self.selection_examples:
            started = time.perf_counter()
            accuracy = selection_accuracy(
                self.model, self.processing_class, self.selection_examples, self.selection_rule
            )
            metrics = output.metrics if output.metrics is not None else {}
            metrics[f"{prefix}_{SELECTION_METRIC}"] = accuracy
            metrics[f"{prefix}_selection_seconds"] = round(time.perf_counter() - started, 2)
            output = output._replace(metrics=metrics)
        return output


def selection_accuracy(
    model: Any, tokenizer: Any, examples: Sequence[EncodedExample], rule: Rule = "sum"
) -> float:
    """Share of examples whose labelled candidate scores best after ``"Choice: "``.

    Each candidate's name and newline is scored as the continuation of the example's prompt
    and ``"Choice: "`` (``mutual_info`` also scores it after the evidence-free prior prompt of
    plan mode), as the student's choice is made at inference.
    """
    was_training = model.training
    model.eval()
    correct = 0
    try:
        with torch.inference_mode():
            for example in examples:
                names = [c.name for c in example.task_set.candidates]
                continuations = [f"{name}\n" for name in names]
                prompt = example.prompt + CHOICE_PREFIX
                pairs = [encode_continuation(tokenizer, prompt, text) for text in continuations]
                logliks = continuation_logliks(model, pairs)
                priors: list[float | None] = [None] * len(names)
                if rule == "mutual_info":
                    prior = render_prompt(
                        tokenizer, prior_messages(example.task_set.candidates), CHOICE_PREFIX
                    )
                    prior_pairs = [encode_continuation(tokenizer, prior, t) for t in continuations]
                    priors = list(continuation_logliks(model, prior_pairs))
                scores = OptionScores(
                    options=tuple(
                        OptionScore(option=name, loglik=ll, n_tokens=len(pair[1]), prior=p)
                        for name, ll, pair, p in zip(names, logliks, pairs, priors, strict=True)
                    )
                )
                correct += scores.best(rule).index == example.task_set.label
    finally:
        model.train(was_training)
    return correct / len(examples) if examples else math.nan


def _duration(seconds: float) -> str:
    """``1h02m``, ``3m05s`` or ``12s``."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class ProgressCallback(TrainerCallback):
    """One line per logging step: loss, learning rate, tokens/s, s/step and the ETA.

    Times are training steps only (evaluation and checkpoint time are left out of s/step and
    tokens/s; the ETA is the remaining steps at that pace). Tokens are the non-padding input
    tokens (prompt + completion) the Trainer counts (``num_input_tokens_seen``).
    """

    def __init__(self, printer: Callable[[str], None] = print) -> None:
        self.printer = printer
        self.train_seconds = 0.0
        self.steps = 0
        self.tokens = 0
        self.tokens_at_start = 0
        self._mark = time.perf_counter()

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Start the clocks (a resumed run counts from its checkpoint)."""
        self.tokens_at_start = state.num_input_tokens_seen
        self.train_seconds, self.steps = 0.0, 0
        self._mark = time.perf_counter()
        self.printer(
            f"training: {state.max_steps} steps"
            + (f", resuming at step {state.global_step}" if state.global_step else "")
        )

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Add the step's time."""
        now = time.perf_counter()
        self.train_seconds += now - self._mark
        self.steps += 1
        self.tokens = state.num_input_tokens_seen - self.tokens_at_start
        self._mark = now

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Print the validation metrics; evaluation time is not training time."""
        metrics = kwargs.get("metrics") or {}
        accuracy = metrics.get(f"eval_{SELECTION_METRIC}")
        parts = [f"eval step {state.global_step}: loss {metrics.get('eval_loss', math.nan):.4f}"]
        if accuracy is not None:
            parts.append(f"selection accuracy {accuracy:.3f}")
        parts.append(f"in {metrics.get('eval_runtime', 0):.1f}s")
        self.printer(", ".join(parts))
        self._mark = time.perf_counter()

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Checkpoint time is not training time."""
        self._mark = time.perf_counter()

    def on_log(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Print a training line when the logs carry a training loss."""
        logs = kwargs.get("logs") or {}
        if "loss" not in logs or not self.steps:
            return
        per_step = self.train_seconds / self.steps
        tokens = self.tokens_per_second
        left = max(state.max_steps - state.global_step, 0) * per_step
        self.printer(
            f"step {state.global_step}/{state.max_steps} epoch {state.epoch or 0:.2f}: "
            f"loss {logs['loss']:.4f} lr {logs.get('learning_rate', 0):.2e} | "
            f"{tokens:,.0f} tok/s, {per_step:.2f} s/step, ETA {_duration(left)}"
        )

    @property
    def tokens_per_second(self) -> float:
        """Training throughput of this run so far (0 before the first step)."""
        return self.tokens / self.train_seconds if self.train_seconds else 0.0

    @property
    def seconds_per_step(self) -> float:
        """Mean training time of one optimizer step of this run (0 before the first)."""
        return self.train_seconds / self.steps if self.steps else 0.0
