r"""Pick one of a few fixed options by log-likelihood under a local model: never an invalid answer.

A 135M model cannot be trusted to write JSON, but it can always *rank* strings. Given chat
messages, an assistant-turn prefix (``"Choice: "``) and the options (two drug names),
:func:`score_options` computes, for each option, the log-probability the model gives to the
continuation ``prefix + option + end`` after the rendered prompt (``end`` is ``"\n"``), and
:meth:`OptionScores.choose` returns the index of an option (or ``None`` to abstain): the
result is always one of the options, whatever the model does.

Scores per option (lm-evaluation-harness's ``acc``, ``acc_norm``-like and ``acc_mutual_info``):

* ``loglik``: sum of the log-probs of the option's tokens and of the ``end`` token(s);
* ``mean``: ``loglik / n_tokens``, the length-normalised score (long names are not penalised
  for having more tokens);
* ``mi``: ``loglik(option | context) - loglik(option | prior context)``, when
  ``prior_messages`` are given: the same template and prefix without the evidence and the
  disease, so an option the model likes everywhere (a common drug name) gains nothing from
  that alone (pointwise mutual information between the option and the evidence).

Tokenisation (the option tokens must be exactly the continuation): the prompt text and the
continuation are tokenised *together*, as one string, so byte-pair merges are the ones the
model would see, and the boundary is found from the tokenizer's character offsets: every token
whose span ends after the prompt text belongs to the option. A token that straddles the
boundary (``"Choice: "`` + ``"Paris"`` gives ``"Choice"``, ``":"``, ``" Paris"``: the prefix's
trailing space merges into the option's first token) is therefore scored as part of the option;
that shifts every option's score by the same text, so the ranking stays fair, and it is the
natural tokenisation (scoring ``"Paris"`` after a lone ``" "`` token would not be).
Tokenizers without offsets (slow ones) use the longest common prefix of the ids of the prompt
alone and of prompt + continuation, which gives the same boundary.

Speed: the shared prompt (~3,000 tokens in plan mode) runs once with ``use_cache=True`` and
only its last position's logits; each option's few tokens then run on that cache, which is
cropped back to the prompt length between options, so scoring costs one prefill plus a few
tokens per option. Measured on SmolLM2-135M, 2 CPU threads, a 2,973-token prompt and two
options, on a shared machine (load 4-7): cached 21-23 s (one prefill alone 16-25 s, each
option step 0.3-0.5 s); the same sequences as a padded batch of two 60-88 s; one full forward
per option 29-59 s. Hence no batching.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from llm.local_model import LocalBackend, LocalModelError, _import_torch

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

Rule = Literal["sum", "mean", "mutual_info"]
RULES: tuple[Rule, ...] = ("sum", "mean", "mutual_info")

DEFAULT_END = "\n"
"""Ends every option, so the model must also agree that the name is complete ("Metformin"
then a newline, not "Metformin hydrochloride")."""


# --- scores ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OptionScore:
    """One option's log-likelihoods (natural log)."""

    option: str
    loglik: float
    """Sum of the log-probs of the option's tokens and of the end token(s), after the prompt."""
    n_tokens: int
    """Tokens scored (option + end; includes a boundary token the prefix's space merged into)."""
    prior: float | None = None
    """The same sum after the neutral prior context; None without ``prior_messages``."""

    @property
    def mean(self) -> float:
        """Length-normalised score: ``loglik / n_tokens``."""
        return self.loglik / self.n_tokens if self.n_tokens > 0 else self.loglik

    @property
    def mi(self) -> float | None:
        """Pointwise mutual information ``loglik - prior``; None without a prior."""
        return None if self.prior is None else self.loglik - self.prior

    def score(self, rule: Rule) -> float:
        """This option's score under ``rule`` (higher is better)."""
        if rule == "sum":
            return self.loglik
        if rule == "mean":
            return self.mean
        if rule == "mutual_info":
            mi = self.mi
            if mi is None:
                raise ValueError(
                    "rule 'mutual_info' needs prior scores: call score_options with prior_messages"
                )
            return mi
        raise ValueError(f"unknown rule {rule!r}: use one of {', '.join(RULES)}")


@dataclass(frozen=True)
class OptionChoice:
    """The best option under one rule."""

    index: int
    """Position in the options; always ``0 <= index < len(options)``."""
    option: str
    rule: Rule
    margin: float
    """Best score minus the second best (>= 0; ``inf`` with a single option)."""
    confidence: float
    """The best option's share of the softmax over the rule's scores (see :func:`softmax`)."""
    scores: tuple[float, ...]
    """Every option's score under the rule, in option order."""


@dataclass(frozen=True)
class OptionScores:
    """The scores of every option for one prompt, and the rules that pick one."""

    options: tuple[OptionScore, ...]
    prompt_tokens: int = 0
    """Tokens of the shared prompt (0 when built by hand)."""
    prior_prompt_tokens: int | None = None
    seconds: float = 0.0
    """Wall time of the forward passes (under the backend lock)."""

    def __post_init__(self) -> None:
        if not self.options:
            raise ValueError("OptionScores needs at least one option")

    @property
    def has_prior(self) -> bool:
        """Whether every option has a prior score (so ``mutual_info`` can be used)."""
        return all(option.prior is not None for option in self.options)

    def scores(self, rule: Rule) -> list[float]:
        """Every option's score under ``rule``, in option order."""
        return [option.score(rule) for option in self.options]

    def best(self, rule: Rule = "sum") -> OptionChoice:
        """The highest-scoring option under ``rule``; ties go to the earliest option.

        ``margin`` is the best score minus the second best (in nats: for ``sum`` and
        ``mutual_info`` a margin of 1 means the best option is e times likelier). NaN scores
        rank last (as ``-inf``), so the index is always that of one of the options.
        ``confidence`` is the best option's probability in a softmax over the rule's scores:
        for ``sum`` that is the model's probability of the option renormalised over the
        options, for ``mutual_info`` the same under a uniform prior over options (the
        likelihood ratios renormalised), for ``mean`` a softmax over per-token log-probs (a
        geometric mean; a ranking signal, not a calibrated probability).

        Args:
            rule: ``"sum"``, ``"mean"`` or ``"mutual_info"`` (needs prior scores).

        Returns:
            The choice, with margin and confidence.

        Raises:
            ValueError: Unknown rule, or ``mutual_info`` without prior scores.
        """
        raw = self.scores(rule)
        ranked = [_rankable(score) for score in raw]
        index = max(range(len(ranked)), key=lambda i: (ranked[i], -i))
        others = [score for i, score in enumerate(ranked) if i != index]
        margin = _margin(ranked[index], max(others)) if others else math.inf
        return OptionChoice(
            index=index,
            option=self.options[index].option,
            rule=rule,
            margin=margin,
            confidence=softmax(ranked)[index],
            scores=tuple(raw),
        )

    def choose(self, rule: Rule = "sum", abstain_margin: float = 0.0) -> OptionChoice | None:
        """The best option, or None (abstain) when its margin is below ``abstain_margin``.

        Args:
            rule: See :meth:`best`.
            abstain_margin: Smallest margin (nats) to commit to; 0 never abstains.

        Returns:
            The choice, or None.
        """
        choice = self.best(rule)
        return None if choice.margin < abstain_margin else choice


def softmax(scores: Sequence[float]) -> list[float]:
    """Numerically stable softmax; NaN counts as ``-inf``, and all ``-inf`` gives uniform.

    Args:
        scores: Log-scores (any finite or infinite floats).

    Returns:
        Probabilities summing to 1, in the same order.
    """
    values = [_rankable(score) for score in scores]
    top = max(values)
    if top == math.inf:
        hits = [1.0 if value == math.inf else 0.0 for value in values]
        return [hit / sum(hits) for hit in hits]
    if top == -math.inf:
        return [1.0 / len(values)] * len(values)
    weights = [math.exp(value - top) for value in values]
    total = sum(weights)
    return [weight / total for weight in weights]


def _rankable(score: float) -> float:
    return -math.inf if math.isnan(score) else score


def _margin(best: float, second: float) -> float:
    if best == second:  # equal, including both infinite
        return 0.0
    return best - second


# --- scoring with a local model --------------------------------------------------------------


def render_prompt(
    tokenizer: PreTrainedTokenizerBase, messages: Sequence[dict[str, str]], prefix: str
) -> str:
    """The chat template with the generation prompt, then the assistant-turn ``prefix``.

    Args:
        tokenizer: The backend's tokenizer (it has a chat template).
        messages: ``{"role", "content"}`` turns.
        prefix: Start of the assistant turn, e.g. ``"Choice: "``.

    Returns:
        The prompt text the options continue.
    """
    text = tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False)
    if not isinstance(text, str):
        raise LocalModelError("the chat template did not render to text")
    return text + prefix


def encode_continuation(
    tokenizer: PreTrainedTokenizerBase, prompt: str, continuation: str
) -> tuple[list[int], list[int]]:
    r"""Token ids of ``prompt + continuation``, split where the continuation starts.

    The string is tokenised once, as a whole; tokens whose character span ends after
    ``prompt`` are the continuation's (a token straddling the boundary, such as the prefix's
    trailing space merged into the option's first word, counts as the continuation's).
    Without offsets (slow tokenizers) the split is the longest common prefix of the ids of
    ``prompt`` alone and of the whole string. ``context + continuation`` is always exactly the
    tokenisation of the whole string.

    Args:
        tokenizer: Any HF tokenizer.
        prompt: Rendered prompt (special tokens written as text, as the template writes them).
        continuation: Text to score, e.g. ``"Metformin\n"``.

    Returns:
        ``(context_ids, continuation_ids)``; the continuation is never empty.

    Raises:
        ValueError: ``continuation`` is empty.
    """
    if not continuation:
        raise ValueError("nothing to score: the option and its end are both empty")
    whole = prompt + continuation
    if getattr(tokenizer, "is_fast", False):
        encoded = tokenizer(whole, add_special_tokens=False, return_offsets_mapping=True)
        ids = list(encoded["input_ids"])
        offsets = encoded["offset_mapping"]
        split = next((i for i, (_, end) in enumerate(offsets) if end > len(prompt)), len(ids))
    else:
        ids = list(tokenizer(whole, add_special_tokens=False)["input_ids"])
        alone = list(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        split = _common_prefix_length([ids, alone])
    if split >= len(ids):  # the continuation vanished into the prompt's last token
        split = len(ids) - 1
    return ids[:split], ids[split:]


def score_options(
    backend: LocalBackend,
    messages: Sequence[dict[str, str]],
    prefix: str,
    options: Sequence[str],
    *,
    prior_messages: Sequence[dict[str, str]] | None = None,
    end: str = DEFAULT_END,
) -> OptionScores:
    """Score each option as the assistant's continuation ``prefix + option + end``.

    Args:
        backend: A loaded local model (``LocalChatModel.backend`` or ``load_backend``).
        messages: The prompt as ``{"role", "content"}`` turns (system, user with evidence).
        prefix: Start of the assistant turn, e.g. ``"Choice: "``.
        options: The strings to rank (at least one), e.g. the two drug names.
        prior_messages: A neutral context (same template and prefix, no evidence or
            disease); when given, each option also gets ``prior`` and ``mi``.
        end: Text scored after each option (default a newline).

    Returns:
        The scores, with prompt token counts and the time taken.

    Raises:
        ValueError: No options, or an empty option with an empty ``end``.
        LocalModelError: The prompt and an option do not fit the model's context.
    """
    if not options:
        raise ValueError("score_options needs at least one option")
    tokenizer = backend.tokenizer
    continuations = [option + end for option in options]
    prompt = render_prompt(tokenizer, messages, prefix)
    pairs = [encode_continuation(tokenizer, prompt, text) for text in continuations]
    prior_pairs = None
    if prior_messages is not None:
        prior_prompt = render_prompt(tokenizer, prior_messages, prefix)
        prior_pairs = [encode_continuation(tokenizer, prior_prompt, text) for text in continuations]
    torch = _import_torch()
    started = time.perf_counter()
    with backend.lock, torch.inference_mode():
        scored, backend.prompt_cache = _logliks_keeping_cache(backend.model, pairs)
        priors = continuation_logliks(backend.model, prior_pairs) if prior_pairs else None
    seconds = time.perf_counter() - started
    results = tuple(
        OptionScore(
            option=option,
            loglik=loglik,
            n_tokens=len(continuation),
            prior=priors[i] if priors is not None else None,
        )
        for i, (option, loglik, (_, continuation)) in enumerate(
            zip(options, scored, pairs, strict=True)
        )
    )
    return OptionScores(
        options=results,
        prompt_tokens=_common_prefix_length([context for context, _ in pairs]),
        prior_prompt_tokens=(
            _common_prefix_length([context for context, _ in prior_pairs]) if prior_pairs else None
        ),
        seconds=seconds,
    )


def continuation_logliks(model: Any, pairs: Sequence[tuple[list[int], list[int]]]) -> list[float]:
    """Sum of log-probs of each continuation after its context, sharing one prompt cache."""
    return _logliks_keeping_cache(model, pairs)[0]


def _logliks_keeping_cache(
    model: Any, pairs: Sequence[tuple[list[int], list[int]]]
) -> tuple[list[float], tuple[tuple[int, ...], Any]]:
    """Sum of log-probs of each continuation after its context, sharing one prompt cache.

    The longest common prefix of the contexts runs once with ``use_cache=True`` (only its last
    position's logits are kept); each pair's remaining context and continuation then run on
    the cache, which is cropped back to the shared length afterwards. Call it under
    ``torch.inference_mode()`` (and the backend lock).

    Args:
        model: An HF causal LM.
        pairs: ``(context_ids, continuation_ids)`` per option, from :func:`encode_continuation`.

    Returns:
        One log-likelihood (natural log) per pair, and the shared prefix's IDs with its cache
        (for :attr:`~llm.local_model.LocalBackend.prompt_cache`).

    Raises:
        LocalModelError: A sequence is longer than the model's context window.
    """
    torch = _import_torch()
    limit = getattr(model.config, "max_position_embeddings", None)
    longest = max(len(context) + len(continuation) for context, continuation in pairs)
    if limit is not None and longest > limit:
        raise LocalModelError(
            f"prompt and option need {longest} tokens, more than the model's {limit}: "
            "shorten the evidence (fewer snippets or paths)"
        )
    shared_length = _common_prefix_length([context for context, _ in pairs])
    if shared_length == 0:
        raise ValueError("the prompt is empty: nothing to condition the options on")
    from transformers import DynamicCache

    device = model.device
    cache = DynamicCache(config=model.config)
    shared = torch.tensor([pairs[0][0][:shared_length]], device=device)
    out = model(input_ids=shared, cache=cache, use_cache=True, logits_to_keep=1)
    last_logits = out.logits[0, -1:].float()
    results = []
    for context, continuation in pairs:
        feed = context[shared_length:] + continuation
        step = model(input_ids=torch.tensor([feed], device=device), cache=cache, use_cache=True)
        # position j of `logits` predicts feed[j]: the shared prompt's last logits, then the
        # new positions' logits except the last one (which would predict beyond the option)
        logits = torch.cat([last_logits, step.logits[0, :-1].float()], dim=0)
        logprobs = torch.log_softmax(logits[-len(continuation) :], dim=-1)
        targets = torch.tensor(continuation, device=device).unsqueeze(-1)
        results.append(float(logprobs.gather(-1, targets).sum()))
        crop_cache(cache, shared_length)
    return results, (tuple(pairs[0][0][:shared_length]), cache)


def crop_cache(cache: Any, length: int) -> None:
    """Drop every cached position from ``length`` on (``DynamicCache.crop`` with a negative
    count, which removes that many tokens in every transformers 5 release).
    """
    extra = cache.get_seq_length() - length
    if extra > 0:
        cache.crop(-extra)


def _common_prefix_length(sequences: Sequence[Sequence[int]]) -> int:
    if not sequences:
        return 0
    first, length = sequences[0], min(len(sequence) for sequence in sequences)
    for index in range(length):
        if any(sequence[index] != first[index] for sequence in sequences[1:]):
            return index
    return length
