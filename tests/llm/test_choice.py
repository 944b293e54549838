"""Log-likelihood choice: the rules on hand-made scores, the cache on a tiny random LLaMA, and
SmolLM2-135M for real (``-m slow``: tokenisation boundary, easy facts, cached == uncached)."""

from __future__ import annotations

import math
import random
import string
import time
from collections.abc import Sequence
from typing import Any

import pytest

from kedrec.settings import get_settings
from llm.choice import (
    RULES,
    OptionScore,
    OptionScores,
    continuation_logliks,
    encode_continuation,
    render_prompt,
    score_options,
    softmax,
)
from llm.local_model import LocalBackend, ensure_smollm2, load_backend

# --- the rules, without a model --------------------------------------------------------------


def _scores(
    logliks: Sequence[float], n_tokens: Sequence[int], priors: Sequence[float] | None = None
) -> OptionScores:
    prior_values: Sequence[float | None] = priors if priors is not None else [None] * len(logliks)
    return OptionScores(
        tuple(
            OptionScore(f"option {i}", loglik, n, prior)
            for i, (loglik, n, prior) in enumerate(
                zip(logliks, n_tokens, prior_values, strict=True)
            )
        )
    )


def test_rules_rank_by_sum_mean_and_mutual_info() -> None:
    # option 0: short and likely overall; option 1: long, better per token, evidence-driven
    scores = _scores([-4.0, -6.0], [2, 6], priors=[-1.0, -9.0])

    assert scores.best("sum").index == 0
    assert scores.best("mean").index == 1  # -2.0 vs -1.0 per token
    assert scores.best("mutual_info").index == 1  # mi: -3.0 vs +3.0
    assert [o.mi for o in scores.options] == [-3.0, 3.0]
    assert [o.mean for o in scores.options] == [-2.0, -1.0]
    best = scores.best("sum")
    assert best.option == "option 0" and best.rule == "sum"
    assert best.margin == pytest.approx(2.0)
    assert best.scores == (-4.0, -6.0)
    assert best.confidence == pytest.approx(1 / (1 + math.exp(-2.0)))
    assert scores.best("mutual_info").margin == pytest.approx(6.0)


def test_confidence_is_the_softmax_over_the_rule_scores() -> None:
    scores = _scores([-1.0, -2.0, -3.0], [1, 1, 1])

    total = sum(math.exp(x) for x in (-1.0, -2.0, -3.0))
    assert scores.best("sum").confidence == pytest.approx(math.exp(-1.0) / total)
    assert softmax([-1.0, -2.0, -3.0]) == pytest.approx([math.exp(x) / total for x in (-1, -2, -3)])
    assert sum(softmax([0.0, -1000.0, 5.0])) == pytest.approx(1.0)


def test_choose_abstains_below_the_margin() -> None:
    scores = _scores([-3.0, -3.5], [1, 1])

    assert scores.choose("sum", abstain_margin=0.6) is None
    chosen = scores.choose("sum", abstain_margin=0.5)
    assert chosen is not None and chosen.index == 0
    assert scores.choose("sum") is not None  # margin 0 never abstains


def test_ties_go_to_the_first_option_with_zero_margin() -> None:
    scores = _scores([-2.0, -2.0], [1, 1])

    best = scores.best("sum")
    assert (best.index, best.margin, best.confidence) == (0, 0.0, 0.5)
    assert scores.choose("sum", abstain_margin=1e-9) is None


def test_mutual_info_without_a_prior_is_a_clear_error() -> None:
    scores = _scores([-1.0, -2.0], [1, 1])

    assert not scores.has_prior
    with pytest.raises(ValueError, match="prior_messages"):
        scores.best("mutual_info")
    with pytest.raises(ValueError, match="unknown rule"):
        scores.best("max")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one option"):
        OptionScores(())


def test_single_option_has_infinite_margin() -> None:
    best = _scores([-7.0], [3]).best("mean")
    assert (best.index, best.margin, best.confidence) == (0, math.inf, 1.0)


def test_index_is_always_one_of_the_options_random_property() -> None:
    """Random names, scores (NaN and infinities included), lengths and rules."""
    rng = random.Random(1234)
    specials = [math.nan, math.inf, -math.inf, 0.0, -0.0]
    for _ in range(2000):
        count = rng.randint(1, 6)
        names = ["".join(rng.choices(string.printable, k=rng.randint(0, 12))) for _ in range(count)]

        def value() -> float:
            return rng.choice(specials) if rng.random() < 0.2 else rng.uniform(-50.0, 0.0)

        options = tuple(
            OptionScore(name, value(), rng.randint(0, 5), value() if rng.random() < 0.8 else None)
            for name in names
        )
        scores = OptionScores(options)
        rules = [r for r in RULES if r != "mutual_info" or scores.has_prior]
        rule = rng.choice(rules)
        best = scores.best(rule)
        assert 0 <= best.index < count
        assert best.option == names[best.index]
        assert best.margin >= 0.0 and not math.isnan(best.margin)
        assert 0.0 <= best.confidence <= 1.0 and not math.isnan(best.confidence)
        chosen = scores.choose(rule, abstain_margin=rng.uniform(0.0, 3.0))
        assert chosen is None or 0 <= chosen.index < count


def test_bad_calls_fail_before_touching_the_model() -> None:
    with pytest.raises(ValueError, match="at least one option"):
        score_options(object(), [], "Choice: ", [])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="nothing to score"):
        encode_continuation(object(), "prompt", "")  # type: ignore[arg-type]


# --- the cache, on a tiny random LLaMA -------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_model() -> Any:
    """A randomly initialised 2-layer LLaMA (vocabulary 97): the same code path, in a second."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=97,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
    )
    return LlamaForCausalLM(config).eval()


def _uncached(model: Any, context: list[int], continuation: list[int]) -> float:
    """Reference: one full forward of context + continuation, no cache."""
    import torch

    ids = torch.tensor([context + continuation])
    with torch.inference_mode():
        logits = model(input_ids=ids, use_cache=False).logits[0].float()
    logprobs = torch.log_softmax(logits[len(context) - 1 : -1], dim=-1)
    return float(logprobs.gather(-1, torch.tensor(continuation).unsqueeze(-1)).sum())


def test_cached_scoring_equals_full_forward_on_a_tiny_model(tiny_model: Any) -> None:
    import torch

    rng = random.Random(7)
    shared = [rng.randrange(97) for _ in range(40)]
    pairs = [
        (shared, [5, 6, 7]),
        (shared, [9]),
        ([*shared, 11, 12], [13, 14]),  # a context that runs past the shared prefix
        (shared, [5, 6, 7]),  # the first again: the cache was cropped back correctly
    ]
    with torch.inference_mode():
        cached = continuation_logliks(tiny_model, pairs)
    reference = [_uncached(tiny_model, c, x) for c, x in pairs]

    assert cached == pytest.approx(reference, abs=1e-4)
    assert cached[0] == pytest.approx(cached[3], abs=1e-6)


def test_too_long_for_the_context_window_is_a_clear_error(tiny_model: Any) -> None:
    from llm.local_model import LocalModelError

    with pytest.raises(LocalModelError, match="more than the model's 128"):
        continuation_logliks(tiny_model, [([1] * 127, [2, 3])])


# --- SmolLM2-135M for real (slow) ------------------------------------------------------------

FRANCE = [
    {"role": "system", "content": "You answer geography questions with one word."},
    {"role": "user", "content": "What is the capital of France?"},
]


@pytest.fixture(scope="module")
def smollm2() -> LocalBackend:
    """SmolLM2-135M-Instruct from the user's cache (converted there once, then loaded)."""
    started = time.perf_counter()
    backend = load_backend(ensure_smollm2(get_settings().cache_dir))
    print(f"\nSmolLM2 ready in {time.perf_counter() - started:.1f} s")
    return backend


class _SlowTokenizer:
    """The same tokenizer seen as one without offsets (the fallback split)."""

    is_fast = False

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer

    def __call__(self, text: str, **kwargs: Any) -> Any:
        kwargs.pop("return_offsets_mapping", None)
        return self._tokenizer(text, **kwargs)


@pytest.mark.slow
def test_option_tokens_are_exactly_the_suffix(smollm2: LocalBackend) -> None:
    tokenizer = smollm2.tokenizer
    prompt = render_prompt(tokenizer, FRANCE, "Answer: ")
    assert prompt.endswith("<|im_start|>assistant\nAnswer: ")
    for option in ["Paris", "Carvedilol", " spaced", "x", "(R)-warfarin", "Ünïcode 東京"]:
        whole = prompt + option + "\n"
        context, continuation = encode_continuation(tokenizer, prompt, option + "\n")
        ids = tokenizer(whole, add_special_tokens=False)["input_ids"]

        assert context + continuation == ids  # nothing dropped, no merge broken
        assert str(tokenizer.decode(continuation)).endswith(option + "\n")
        assert prompt.startswith(str(tokenizer.decode(context)))
        assert (context, continuation) == encode_continuation(
            _SlowTokenizer(tokenizer),  # type: ignore[arg-type]
            prompt,
            option + "\n",
        )
    # the prefix's trailing space merges into the option's first token, which is scored
    _, continuation = encode_continuation(tokenizer, prompt, "Paris\n")
    assert tokenizer.convert_ids_to_tokens(continuation) == ["ĠParis", "Ċ"]


@pytest.mark.slow
def test_scores_are_finite_negative_and_pick_the_easy_answer(smollm2: LocalBackend) -> None:
    scored = score_options(smollm2, FRANCE, "Answer: ", ["Paris", "Carvedilol"])

    for option in scored.options:
        assert math.isfinite(option.loglik) and option.loglik < 0
        assert option.mean == pytest.approx(option.loglik / option.n_tokens)
        assert option.prior is None and option.mi is None
    prompt = render_prompt(smollm2.tokenizer, FRANCE, "Answer: ")
    assert [o.n_tokens for o in scored.options] == [
        len(encode_continuation(smollm2.tokenizer, prompt, name + "\n")[1])
        for name in ("Paris", "Carvedilol")
    ]
    assert scored.prompt_tokens == len(encode_continuation(smollm2.tokenizer, prompt, "x")[0])
    for rule in ("sum", "mean"):
        best = scored.best(rule)
        assert best.option == "Paris" and best.margin > 1.0 and best.confidence > 0.7
    assert scored.seconds > 0
    # abstention: the same scores, a threshold just above and just below the margin
    margin = scored.best("sum").margin
    assert scored.choose("sum", abstain_margin=margin + 0.01) is None
    chosen = scored.choose("sum", abstain_margin=margin - 0.01)
    assert chosen is not None and chosen.option == "Paris"


@pytest.mark.slow
def test_cached_path_equals_uncached_full_forward(smollm2: LocalBackend) -> None:
    import torch

    evidence = "Metformin lowers hepatic glucose output; carvedilol blocks beta receptors. " * 20
    messages = [
        {"role": "system", "content": "Pick the drug that treats the disease."},
        {"role": "user", "content": f"Disease: type 2 diabetes\nEvidence: {evidence}"},
    ]
    options = ["Metformin", "Carvedilol", "insufficient evidence"]
    scored = score_options(smollm2, messages, "Choice: ", options)

    prompt = render_prompt(smollm2.tokenizer, messages, "Choice: ")
    for option, score in zip(options, scored.options, strict=True):
        context, continuation = encode_continuation(smollm2.tokenizer, prompt, option + "\n")
        with torch.inference_mode():
            reference = _uncached(smollm2.model, context, continuation)
        assert score.loglik == pytest.approx(reference, abs=1e-3)


@pytest.mark.slow
def test_mutual_info_subtracts_the_prior_context(smollm2: LocalBackend) -> None:
    prior = [
        {"role": "system", "content": "You answer geography questions with one word."},
        {"role": "user", "content": "Name a word."},
    ]
    options = ["Paris", "Carvedilol"]
    scored = score_options(smollm2, FRANCE, "Answer: ", options, prior_messages=prior)
    alone = score_options(smollm2, prior, "Answer: ", options)

    assert scored.has_prior and scored.prior_prompt_tokens
    for option, prior_only in zip(scored.options, alone.options, strict=True):
        assert option.prior == pytest.approx(prior_only.loglik, abs=1e-4)
        assert option.mi == pytest.approx(option.loglik - prior_only.loglik)
    mi = scored.best("mutual_info")
    assert mi.scores == tuple(o.loglik - o.prior for o in scored.options)  # type: ignore[operator]
    assert mi.option == "Paris"  # France's capital gains most from the question


MI_SYSTEM = "You pick the drug that treats the disease, using only the evidence."
MI_USER = (
    "Disease: type 2 diabetes mellitus\nCandidates: Metformin, Sitagliptin\n"
    "Evidence: Sitagliptin is a DPP-4 inhibitor that lowers glucose in type 2 diabetes.\n"
    "Which candidate treats the disease?"
)
MI_PRIOR = "Which drug?"
"""The neutral context: the same template and prefix, no disease, candidates or evidence."""


@pytest.mark.slow
def test_mutual_info_overturns_a_prior_that_dominates(smollm2: LocalBackend) -> None:
    """Metformin, the drug the model names for anything diabetic, wins by sum although the
    evidence is about sitagliptin; MI discounts that prior and follows the evidence."""
    messages = [{"role": "system", "content": MI_SYSTEM}, {"role": "user", "content": MI_USER}]
    prior = [{"role": "system", "content": MI_SYSTEM}, {"role": "user", "content": MI_PRIOR}]
    options = ["Metformin", "Sitagliptin"]
    scored = score_options(smollm2, messages, "Choice: ", options, prior_messages=prior)

    metformin, sitagliptin = scored.options
    assert metformin.prior is not None and sitagliptin.prior is not None
    assert metformin.prior > sitagliptin.prior + 5  # the prior dominates
    assert scored.best("sum").option == "Metformin"
    mi = scored.best("mutual_info")
    assert mi.option == "Sitagliptin" and mi.margin > 5


@pytest.mark.slow
def test_fields_after_scoring_reuse_its_prompt_cache_and_write_the_same_text(
    smollm2: LocalBackend,
) -> None:
    from llm.prefill import FieldSpec, generate_fields

    messages = [
        {"role": "system", "content": "Pick the drug that treats the disease, then explain."},
        {"role": "user", "content": "Disease: type 2 diabetes\nCandidates: Metformin, Carvedilol"},
    ]
    fields = [FieldSpec("Mechanism", 12, (), 1), FieldSpec("Rationale", 12, (), 1)]
    smollm2.prompt_cache = None
    fresh = generate_fields(smollm2, messages, "Choice: Metformin\n", fields)

    score_options(smollm2, messages, "Choice: ", ["Metformin", "Carvedilol"])
    kept = smollm2.prompt_cache
    assert kept is not None and len(kept[0]) > 10  # the scored prompt's IDs and cache
    after = generate_fields(smollm2, messages, "Choice: Metformin\n", fields)

    assert smollm2.prompt_cache is None  # handed over once, never reused stale
    assert after.text == fresh.text and after.prompt_tokens == fresh.prompt_tokens
    # a different prompt shares only a prefix: the cache is cropped to it, text still exact
    score_options(smollm2, messages, "Choice: ", ["Metformin", "Carvedilol"])
    other = [messages[0], {"role": "user", "content": "Disease: asthma\nCandidates: A, B"}]
    smollm2.prompt_cache, saved = None, smollm2.prompt_cache
    expected = generate_fields(smollm2, other, "Choice: A\n", fields)
    smollm2.prompt_cache = saved
    assert generate_fields(smollm2, other, "Choice: A\n", fields).text == expected.text


@pytest.mark.slow
def test_bfloat16_weights_load_apart_and_score_like_float32(smollm2: LocalBackend) -> None:
    import torch

    from agent.context import AgentContext
    from llm.chat_models import load_chat_model
    from llm.local_model import LocalChatModel, LocalModelError

    folder = ensure_smollm2(get_settings().cache_dir)
    half = load_backend(folder, dtype="bfloat16")
    assert half is not smollm2 and half is load_backend(folder, dtype="bfloat16")
    assert next(half.model.parameters()).dtype == torch.bfloat16  # type: ignore[attr-defined]
    assert next(smollm2.model.parameters()).dtype == torch.float32  # type: ignore[attr-defined]
    options = ["Paris", "Carvedilol"]
    full = score_options(smollm2, FRANCE, "Answer: ", options)
    rounded = score_options(half, FRANCE, "Answer: ", options)
    assert [o.option for o in rounded.options] == options
    assert rounded.best("sum").index == full.best("sum").index == 0
    for a, b in zip(full.options, rounded.options, strict=True):
        assert math.isfinite(b.loglik) and abs(a.loglik - b.loglik) < 0.25 * max(1.0, -a.loglik)
    model = load_chat_model(AgentContext(model="local:smollm2", local_dtype="bfloat16"))
    assert isinstance(model, LocalChatModel) and model.backend is half
    with pytest.raises(LocalModelError, match="use auto, float32 or bfloat16"):
        load_backend(folder, dtype="float16")
