"""Generation that continues a given start of the assistant's turn, one labelled field at a time.

Plan mode writes ``Choice: <name>`` itself (chosen by log-likelihood) and lets the model write
the rest of the answer after it. A 135M model asked for a layout drifts out of it within a few
lines, so :func:`generate_fields` writes each field's label itself and lets the model fill
only the field: greedy decoding until a newline, the end of the turn or the field's token
budget, then the next label. The layout therefore always holds, whatever the model writes
inside it. The prompt is :func:`llm.choice.render_prompt`, the same text the choice was scored
on and the student is trained on, so the three agree to the byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from llm.choice import crop_cache, render_prompt
from llm.local_model import LocalBackend, LocalModelError

REPETITION_PENALTY = 1.2
"""CTRL-style penalty on tokens the answer already used (not the prompt's): small models
otherwise loop ("- 1 - 2 - 3 …") until the budget runs out."""


@dataclass(frozen=True)
class FieldSpec:
    """One labelled field of the answer and how many tokens the model may spend on it."""

    label: str
    max_tokens: int
    choices: tuple[str, ...] = ()
    """When given, the field is not written freely: the ``pick`` choices the model finds most
    likely (mean log-probability per token) fill it, joined by ``", "`` — e.g. citations
    chosen among the IDs the evidence shows, so a small model cannot invent one."""
    pick: int = 3
    min_tokens: int = 0
    """Tokens written before a newline or the end of the turn may close the field: without a
    floor a 135M model fills every field with one token ("Mechanism: 1")."""


@dataclass
class FieldsResult:
    """The generated text after the prefix, and what it cost."""

    text: str
    prompt_tokens: int
    new_tokens: int


def generate_fields(
    backend: LocalBackend,
    messages: Sequence[dict[str, str]],
    prefix: str,
    fields: Sequence[FieldSpec],
) -> FieldsResult:
    r"""Write ``label: `` for each field and let the model fill it, greedily, line by line.

    Args:
        backend: A loaded local model.
        messages: ``{"role", "content"}`` turns ending with the user's.
        prefix: The start of the assistant's turn, written for the model (``"Choice: X\n"``).
        fields: The fields after the prefix, in order.

    Returns:
        The text after ``prefix`` (``"Mechanism: …\nClinical: …\n…"``) and token counts.

    Raises:
        LocalModelError: The prompt does not fit the model's context window.
    """
    import torch
    from transformers import DynamicCache

    model: Any = backend.model  # called for logits: the CausalLM protocol types generate()
    tokenizer = backend.tokenizer
    prompt = render_prompt(tokenizer, messages, prefix)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    budget = sum(f.max_tokens + 8 for f in fields)
    window = int(getattr(model.config, "max_position_embeddings", 0) or 0)
    if window and len(prompt_ids) + budget > window:
        raise LocalModelError(
            f"prompt of {len(prompt_ids)} tokens plus a {budget}-token answer does not fit the "
            f"{window}-token context: lower KEDREC_EVIDENCE_BUNDLE_CHARS or use a larger model"
        )
    stop_ids = {tokenizer.eos_token_id, *(_ids_of(tokenizer, "<|im_end|>"))} - {None}
    device = model.device
    cache = DynamicCache(config=model.config)
    pieces: list[str] = []
    used: set[int] = set()
    new_tokens = 0

    def feed(ids: list[int]) -> Any:
        out = model(input_ids=torch.tensor([ids], device=device), cache=cache, use_cache=True)
        return out.logits[0, -1].float()

    with backend.lock, torch.inference_mode():
        reused, kept = backend.take_prompt_cache(prompt_ids)  # the choice's scoring read it
        if kept is not None:
            cache = kept
        logits = feed(prompt_ids[reused:])
        for spec in fields:
            label = f"{spec.label}: "
            pieces.append(label)
            logits = feed(_ids_of(tokenizer, label))
            if spec.choices:
                chosen = _pick(model, cache, logits, tokenizer, spec.choices, spec.pick)
                pieces.append(", ".join(chosen) + "\n")
            else:
                generated: list[int] = []
                for _ in range(spec.max_tokens):
                    next_id = _greedy(logits, used)
                    if len(generated) < spec.min_tokens:
                        next_id = _best_continuing(logits, used, tokenizer, stop_ids, next_id)
                    if next_id in stop_ids:
                        break
                    generated.append(next_id)
                    used.add(next_id)
                    new_tokens += 1
                    if "\n" in tokenizer.decode([next_id]):
                        break
                    logits = feed([next_id])
                decoded = str(tokenizer.decode(generated, skip_special_tokens=True))
                text = decoded.split("\n", 1)[0]
                pieces.append(" ".join(text.split()) + "\n")
            # the cache holds what was scored or written; re-feed the answer as it now reads
            crop_cache(cache, len(prompt_ids))
            logits = feed(_ids_of(tokenizer, "".join(pieces)))
    return FieldsResult(
        text="".join(pieces).rstrip("\n"), prompt_tokens=len(prompt_ids), new_tokens=new_tokens
    )


def _pick(
    model: Any, cache: Any, logits: Any, tokenizer: Any, choices: Sequence[str], pick: int
) -> list[str]:
    """The ``pick`` choices with the highest mean log-probability as the next text, in the
    order they were given (each scored on the shared cache, cropped back after it).
    """
    import torch

    start = cache.get_seq_length()
    ordered = list(dict.fromkeys(choices))
    scored: list[tuple[float, int]] = []
    for position, choice in enumerate(ordered):
        ids = _ids_of(tokenizer, choice)
        if not ids:
            continue
        out = model(
            input_ids=torch.tensor([ids], device=logits.device), cache=cache, use_cache=True
        )
        step = torch.cat([logits.unsqueeze(0), out.logits[0, :-1].float()], dim=0)
        logprobs = torch.log_softmax(step, dim=-1)
        targets = torch.tensor(ids, device=logits.device).unsqueeze(-1)
        scored.append((float(logprobs.gather(-1, targets).mean()), position))
        crop_cache(cache, start)
    best = sorted(scored, reverse=True)[:pick]
    return [ordered[position] for _, position in sorted(best, key=lambda item: item[1])]


def _ids_of(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _best_continuing(
    logits: Any, used: set[int], tokenizer: Any, stop_ids: set[int], best: int
) -> int:
    """The most likely next token that neither ends the turn nor breaks the line (among the
    top 50 after the repetition penalty; ``best`` when all of them would).
    """
    if best not in stop_ids and "\n" not in tokenizer.decode([best]):
        return best
    penalized = _penalized(logits, used)
    for candidate in penalized.topk(50).indices.tolist():
        if candidate not in stop_ids and "\n" not in tokenizer.decode([candidate]):
            return int(candidate)
    return best


def _penalized(logits: Any, used: set[int]) -> Any:
    """The logits after the CTRL repetition penalty on ``used`` tokens."""
    if not used:
        return logits
    import torch

    index = torch.tensor(sorted(used), device=logits.device)
    seen = logits[index]
    logits = logits.clone()
    logits[index] = torch.where(seen > 0, seen / REPETITION_PENALTY, seen * REPETITION_PENALTY)
    return logits


def _greedy(logits: Any, used: set[int]) -> int:
    """The most likely next token after the repetition penalty on ``used`` tokens."""
    return int(_penalized(logits, used).argmax())
