"""Training configuration of the knowledge-graph embeddings and the version it produces.

The version names the output directory: it hashes the input graph's content, the held-out
(drug, disease) pairs and every setting that changes the result, so embeddings trained on a
graph that still contains test labels can never be mistaken for leakage-free ones.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kedrec.settings import KGESettings, field_default, field_description

KGE_FORMAT = 1
"""Bumped when the on-disk layout or the training procedure changes (invalidates versions)."""

ModelName = Literal["complex", "distmult", "rotate", "transe"]
MODEL_NAMES: tuple[ModelName, ...] = ("complex", "distmult", "rotate", "transe")

EXECUTION_FIELDS = frozenset({"num_threads"})
"""Settings that change speed, not the model; left out of the version hash."""


def _setting(name: str, **constraints: Any) -> Any:
    """A field whose default and description are :class:`kedrec.settings.KGESettings`'s.

    The class default, never the environment: ``KGEConfig()`` and a manifest's recorded config
    mean the same thing on every machine. The CLI reads the environment (``KEDREC_KGE_*``).
    """
    return Field(
        field_default(KGESettings, name),
        description=field_description(KGESettings, name),
        **constraints,
    )


class KGEConfig(BaseModel):
    """How to train one embedding model (``torch_geometric.nn.kge``).

    Model: ``model``, ``dim``, ``margin``, ``p_norm``. Optimisation: ``epochs``, ``batch_size``,
    ``lr``, ``weight_decay``, ``optimizer``. Validation and early stopping: ``val_fraction``,
    ``val_max``, ``eval_candidates``, ``eval_every``, ``patience``. Reproducibility: ``seed``,
    ``deterministic``; ``num_threads`` only sets speed. The defaults of the fields the CLI
    exposes are :class:`kedrec.settings.KGESettings`'s (``KEDREC_KGE_*`` sets the CLI's).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: ModelName = _setting("model")
    dim: int = _setting("dim", ge=2, le=4096)
    margin: float | None = Field(
        None,
        gt=0,
        description="Margin of distmult/transe's ranking loss and rotate's score offset; None = "
        "PyG's default 1.0 (distmult, transe) or 3.0 for rotate (on the DRKG slice, 6 and 9 "
        "did not learn within 10 epochs: all initial scores sit deep in the sigmoid's tail).",
    )
    p_norm: float = Field(1.0, gt=0, description="Norm of transe's distance (PyG's default 1).")
    epochs: int = _setting("epochs", ge=1)
    batch_size: int = _setting("batch_size", ge=1)
    lr: float = _setting("lr", gt=0)
    weight_decay: float = Field(0.0, ge=0, description="L2 penalty (adam only).")
    optimizer: Literal["adam", "sparse_adam"] = _setting("optimizer")
    val_fraction: float = _setting("val_fraction", ge=0, lt=0.5)
    val_max: int = _setting("val_max", ge=0)
    eval_candidates: Literal["type", "all"] = Field(
        "type",
        description="Rank the true entity against every entity of its DRKG type (type) "
        "or against all entities (all).",
    )
    eval_every: int = Field(1, ge=1, description="Evaluate every this many epochs.")
    patience: int = _setting("patience", ge=1)
    seed: int = _setting("seed", ge=0)
    deterministic: bool = Field(
        True, description="torch.use_deterministic_algorithms during training."
    )
    num_threads: int = _setting("num_threads", ge=1)

    @model_validator(mode="after")
    def _compatible(self) -> KGEConfig:
        if self.optimizer == "sparse_adam" and self.weight_decay:
            raise ValueError("optimizer 'sparse_adam' has no weight decay: set weight_decay=0")
        return self

    @property
    def effective_margin(self) -> float:
        """The margin handed to PyG (``margin`` or the per-model default)."""
        if self.margin is not None:
            return self.margin
        return 3.0 if self.model == "rotate" else 1.0

    def model_params(self) -> dict[str, float]:
        """Model hyper-parameters that scoring needs besides the weights."""
        params: dict[str, float] = {}
        if self.model in ("distmult", "rotate", "transe"):
            params["margin"] = self.effective_margin
        if self.model == "transe":
            params["p_norm"] = self.p_norm
        return params

    def versioned_fields(self) -> dict[str, object]:
        """The settings that change the trained model (all but :data:`EXECUTION_FIELDS`)."""
        return self.model_dump(exclude=set(EXECUTION_FIELDS))


def embeddings_version(
    graph_fingerprint: str, held_out: Iterable[tuple[str, str]], config: KGEConfig
) -> str:
    """Hash of graph content, sorted held-out pairs and config: the output directory's name."""
    payload = {
        "format": KGE_FORMAT,
        "graph": graph_fingerprint,
        "held_out": sorted([drug, disease] for drug, disease in held_out),
        "config": config.versioned_fields(),
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return f"{config.model}-{hashlib.sha256(blob).hexdigest()[:16]}"
