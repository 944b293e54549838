"""Errors of the knowledge-graph embedding code (training, loading, scoring), under KedrecError."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from kedrec.errors import KedrecError


class EmbeddingError(KedrecError):
    """Embeddings could not be trained, saved or loaded."""


class EmbeddingsNotFoundError(EmbeddingError):
    """A directory holds no finished embeddings."""


class TrainingLockedError(EmbeddingError):
    """Another process is training the same embeddings version right now."""


class UnknownEmbeddingIdError(EmbeddingError):
    """An entity or relation ID has no embedding (not in the graph the model was trained on)."""

    def __init__(self, kind: str, key: str, known: Iterable[str] = ()) -> None:
        self.kind = kind
        self.key = key
        hint = _near_matches(key, known)
        super().__init__(
            f"unknown {kind} {key!r}: it is not in the graph these embeddings were trained on"
            + (f"; did you mean {hint}?" if hint else "")
        )


def _near_matches(key: str, known: Iterable[str], limit: int = 3) -> str:
    """Up to ``limit`` close IDs, looking only at IDs of the same type prefix (fast on DRKG)."""
    prefix = key.partition("::")[0] + "::"
    pool = [item for item in known if item.startswith(prefix)] or list(known)
    matches = difflib.get_close_matches(key, pool, n=limit, cutoff=0.75)
    return ", ".join(repr(match) for match in matches)
