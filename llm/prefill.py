"""Generation that continues a given start of the assistant's turn (prefill), local models.

Plan mode writes ``Choice: <name>`` itself (chosen by log-likelihood) and lets the model
write the rest of the answer after it. The prompt is :func:`llm.choice.render_prompt`, the same
text the choice was scored on and the student is trained on, so all three agree to the byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from llm.choice import render_prompt
from llm.local_model import LocalBackend, LocalModelError


def continue_assistant(
    backend: LocalBackend,
    messages: Sequence[dict[str, str]],
    prefix: str,
    *,
    max_new_tokens: int,
    temperature: float = 0.0,
) -> tuple[str, int, int]:
    """Generate the assistant turn after ``prefix``.

    Args:
        backend: A loaded local model.
        messages: ``{"role", "content"}`` turns ending with the user's.
        prefix: The start of the assistant's turn, written for the model.
        max_new_tokens: Most tokens to generate (cut to the context window).
        temperature: 0 for greedy decoding.

    Returns:
        ``(text after the prefix, prompt tokens, generated tokens)``.

    Raises:
        LocalModelError: The prompt does not fit the model's context window.
    """
    import torch

    tokenizer = backend.tokenizer
    prompt = render_prompt(tokenizer, messages, prefix)
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")
    prompt_tokens = int(ids["input_ids"].shape[1])
    window = int(getattr(backend.model.config, "max_position_embeddings", 0) or 0)
    if window and prompt_tokens >= window:
        raise LocalModelError(
            f"prompt of {prompt_tokens} tokens does not fit the {window}-token context: "
            "lower KEDREC_EVIDENCE_BUNDLE_CHARS or use a larger model"
        )
    options: dict[str, Any] = {
        "max_new_tokens": min(max_new_tokens, window - prompt_tokens) if window else max_new_tokens,
        "pad_token_id": tokenizer.pad_token_id or tokenizer.eos_token_id,
    }
    if temperature > 0:
        options.update(do_sample=True, temperature=temperature)
    else:
        options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    with backend.lock, torch.inference_mode():
        output = backend.model.generate(**ids, **options)
    new_ids = output[0, prompt_tokens:]
    text = cast(str, tokenizer.decode(new_ids, skip_special_tokens=True))
    return text, prompt_tokens, int(new_ids.shape[0])
