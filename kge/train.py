"""The torch side of embedding training: model, epochs, validation, checkpoints, resume.

Imported only when training (it imports torch and torch_geometric). Each epoch reseeds torch
from ``(seed, epoch)`` (shuffling and negative sampling), so an epoch depends only on the weights
and optimizer state it starts from: a run resumed from a checkpoint ends with the same weights as
one that was never interrupted.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kge.config import KGE_FORMAT, KGEConfig
from kge.data import KGTriples
from kge.errors import EmbeddingError
from kge.metrics import RankingMetrics, evaluate_ranking
from kge.scoring import Scorer

logger = logging.getLogger(__name__)

if "torch" in sys.modules and "OMP_WAIT_POLICY" not in os.environ:
    logger.warning(
        "torch was imported before OMP_WAIT_POLICY=PASSIVE was set: on a busy machine with few "
        "cores, spinning OpenMP threads can make training ~50x slower (export it first)"
    )
# Must precede the first torch import: libgomp reads it once, when it loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

try:
    import torch
    from torch_geometric.nn.kge import ComplEx, DistMult, KGEModel, RotatE, TransE
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise EmbeddingError(
        "training embeddings needs torch and torch-geometric: pip install -e '.[graph-ml]'"
    ) from error

CHECKPOINT_FILE = "checkpoint.pt"


@dataclass(frozen=True, slots=True)
class EpochRecord:
    """What one epoch did; passed to the ``on_epoch_end`` hook after the checkpoint is saved."""

    epoch: int
    loss: float
    train_seconds: float
    eval_seconds: float
    metrics: RankingMetrics | None
    best_epoch: int
    best_mrr: float

    def as_dict(self) -> dict[str, Any]:
        """History row of meta.json."""
        row: dict[str, Any] = {
            "epoch": self.epoch,
            "loss": self.loss,
            "train_seconds": round(self.train_seconds, 3),
            "eval_seconds": round(self.eval_seconds, 3),
        }
        if self.metrics is not None:
            row.update({f"val_{key}": value for key, value in self.metrics.as_dict().items()})
        return row


EpochHook = Callable[[EpochRecord], None]


@dataclass(slots=True)
class FitResult:
    """Best weights (numpy, saved layout) and how training went."""

    entity_vectors: np.ndarray
    relation_vectors: np.ndarray
    history: list[dict[str, Any]]
    untrained: dict[str, float] | None
    best_epoch: int
    best_metrics: dict[str, float] | None
    epochs_run: int
    stopped_early: bool
    resumed_from: list[int] = field(default_factory=list)
    train_seconds: float = 0.0


def epoch_seed(seed: int, epoch: int) -> int:
    """The torch seed of one epoch (shuffling and negative sampling)."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def build_model(config: KGEConfig, num_entities: int, num_relations: int) -> KGEModel:
    """The PyG model of ``config`` (weights drawn from torch's current RNG)."""
    sparse = config.optimizer == "sparse_adam"
    dim, margin = config.dim, config.effective_margin
    if config.model == "complex":
        return ComplEx(num_entities, num_relations, dim, sparse=sparse)
    if config.model == "distmult":
        return DistMult(num_entities, num_relations, dim, margin=margin, sparse=sparse)
    if config.model == "rotate":
        return RotatE(num_entities, num_relations, dim, margin=margin, sparse=sparse)
    return TransE(
        num_entities, num_relations, dim, margin=margin, p_norm=config.p_norm, sparse=sparse
    )


def export_weights(model: KGEModel, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Entity and relation tables in the saved layout (see :mod:`kge.scoring`)."""
    with torch.no_grad():
        entities = model.node_emb.weight
        relations = model.rel_emb.weight
        if name in ("complex", "rotate"):
            entities = torch.cat([entities, model.node_emb_im.weight], dim=1)
        if name == "complex":
            relations = torch.cat([relations, model.rel_emb_im.weight], dim=1)
        return (
            entities.detach().cpu().numpy().astype(np.float32, copy=True),
            relations.detach().cpu().numpy().astype(np.float32, copy=True),
        )


def scorer_of(model: KGEModel, config: KGEConfig) -> Scorer:
    """A numpy scorer over the model's current weights."""
    entities, relations = export_weights(model, config.model)
    return Scorer(config.model, entities, relations, config.model_params())


def evaluate(model: KGEModel, config: KGEConfig, data: KGTriples) -> RankingMetrics | None:
    """Filtered MRR / Hits@k on the validation sample (None when there is none)."""
    if len(data.val_eval) == 0:
        return None
    return evaluate_ranking(
        scorer_of(model, config),
        data.val_eval,
        data.known,
        data.entity_types,
        candidates=config.eval_candidates,
    )


@contextlib.contextmanager
def torch_session(config: KGEConfig) -> Iterator[None]:
    """Thread count, deterministic algorithms and a private RNG; the caller's state is restored."""
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(config.num_threads)
    torch.use_deterministic_algorithms(config.deterministic)
    try:
        with torch.random.fork_rng(devices=[]):
            yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)


def fit(
    data: KGTriples,
    config: KGEConfig,
    directory: Path,
    version: str,
    *,
    on_epoch_end: EpochHook | None = None,
    show_progress: bool = False,
) -> FitResult:
    """Train with early stopping on validation MRR, checkpointing every epoch.

    A checkpoint of the same version and split in ``directory`` is resumed from the epoch after
    the one it recorded.
    """
    with torch_session(config):
        return _fit(data, config, directory, version, on_epoch_end, show_progress)


def _fit(
    data: KGTriples,
    config: KGEConfig,
    directory: Path,
    version: str,
    on_epoch_end: EpochHook | None,
    show_progress: bool,
) -> FitResult:
    torch.manual_seed(config.seed)
    model = build_model(config, data.num_entities, data.num_relations)
    optimizer = make_optimizer(model, config)
    split = data.digest()
    state = _load_checkpoint(directory / CHECKPOINT_FILE, version, split)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        state["resumed_from"].append(state["epoch"])
        logger.info("resuming %s after epoch %d", version, state["epoch"])
    else:
        untrained = evaluate(model, config, data)
        state = {
            "format": KGE_FORMAT,
            "version": version,
            "split": split,
            "epoch": 0,
            "best_state": None,
            "best_mrr": float("-inf"),
            "best_epoch": 0,
            "bad_evals": 0,
            "stopped": False,
            "history": [],
            "untrained": untrained.as_dict() if untrained else None,
            "resumed_from": [],
            "train_seconds": 0.0,
        }
        if untrained is not None:
            logger.info("untrained model: val MRR %.4f", untrained.mrr)

    heads = torch.from_numpy(data.train[:, 0].copy())
    rels = torch.from_numpy(data.train[:, 1].copy())
    tails = torch.from_numpy(data.train[:, 2].copy())
    with _progress(show_progress, config, state["epoch"]) as progress:
        while state["epoch"] < config.epochs and not state["stopped"]:
            epoch = state["epoch"] + 1
            record = _run_epoch(
                model, optimizer, config, data, heads, rels, tails, epoch, state, progress
            )
            state["epoch"] = epoch
            state["history"].append(record.as_dict())
            state["train_seconds"] += record.train_seconds
            state["model"] = model.state_dict()
            state["optimizer"] = optimizer.state_dict()
            _save_checkpoint(directory / CHECKPOINT_FILE, state)
            progress.epoch_done(record)
            if on_epoch_end is not None:
                on_epoch_end(record)

    if state["best_state"] is not None:
        model.load_state_dict(state["best_state"])
    entities, relations = export_weights(model, config.model)
    best = next((row for row in state["history"] if row["epoch"] == state["best_epoch"]), None)
    return FitResult(
        entity_vectors=entities,
        relation_vectors=relations,
        history=state["history"],
        untrained=state["untrained"],
        best_epoch=state["best_epoch"] or state["epoch"],
        best_metrics=(
            {k[4:]: v for k, v in best.items() if k.startswith("val_")} if best else None
        ),
        epochs_run=state["epoch"],
        stopped_early=state["stopped"],
        resumed_from=state["resumed_from"],
        train_seconds=state["train_seconds"],
    )


def _run_epoch(
    model: KGEModel,
    optimizer: torch.optim.Optimizer,
    config: KGEConfig,
    data: KGTriples,
    heads: torch.Tensor,
    rels: torch.Tensor,
    tails: torch.Tensor,
    epoch: int,
    state: dict[str, Any],
    progress: _EpochProgress,
) -> EpochRecord:
    """One pass over the training triples, then validation and the early-stopping bookkeeping."""
    seed = epoch_seed(config.seed, epoch)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    loader = model.loader(
        heads, rels, tails, batch_size=config.batch_size, shuffle=True, generator=generator
    )
    progress.start_epoch(epoch, len(loader))
    model.train()
    started = time.perf_counter()
    total, count = 0.0, 0
    for head, rel, tail in loader:
        optimizer.zero_grad()
        loss = model.loss(head, rel, tail)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * head.numel()
        count += head.numel()
        progress.batch_done()
    mean_loss = total / max(count, 1)
    if not np.isfinite(mean_loss):
        raise EmbeddingError(
            f"training diverged at epoch {epoch} (loss {mean_loss}): lower lr (--lr) or dim"
        )
    train_seconds = time.perf_counter() - started

    metrics = None
    started = time.perf_counter()
    if epoch % config.eval_every == 0 or epoch == config.epochs:
        model.eval()
        metrics = evaluate(model, config, data)
    eval_seconds = time.perf_counter() - started
    if metrics is not None:
        if metrics.mrr > state["best_mrr"]:
            state["best_mrr"], state["best_epoch"], state["bad_evals"] = metrics.mrr, epoch, 0
            state["best_state"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            state["bad_evals"] += 1
            state["stopped"] = state["bad_evals"] >= config.patience
    logger.info(
        "epoch %d: loss %.4f, val MRR %s (%.1fs train, %.1fs eval)",
        epoch,
        mean_loss,
        f"{metrics.mrr:.4f}" if metrics else "-",
        train_seconds,
        eval_seconds,
    )
    return EpochRecord(
        epoch=epoch,
        loss=mean_loss,
        train_seconds=train_seconds,
        eval_seconds=eval_seconds,
        metrics=metrics,
        best_epoch=state["best_epoch"],
        best_mrr=state["best_mrr"],
    )


def make_optimizer(model: KGEModel, config: KGEConfig) -> torch.optim.Optimizer:
    """Adam, or SparseAdam for ``optimizer='sparse_adam'`` (the model then has sparse grads)."""
    if config.optimizer == "sparse_adam":
        return torch.optim.SparseAdam(list(model.parameters()), lr=config.lr)
    return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write the checkpoint beside its final name and rename it (a crash never leaves half)."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _load_checkpoint(path: Path, version: str, split: str) -> dict[str, Any] | None:
    """The checkpoint's state when it belongs to this version and split, else None."""
    if not path.is_file():
        return None
    try:
        state: dict[str, Any] = torch.load(path, weights_only=True)
    except Exception as error:  # a damaged checkpoint costs a restart, not a crash
        logger.warning("ignoring unreadable checkpoint %s: %s", path, error)
        return None
    if (state.get("format"), state.get("version"), state.get("split")) != (
        KGE_FORMAT,
        version,
        split,
    ):
        logger.warning("ignoring checkpoint %s: it was written for other inputs", path)
        return None
    return state


class _EpochProgress:
    """Rich bars for epochs and the batches of the current epoch (no-op when hidden)."""

    def __init__(self, progress: Any, config: KGEConfig, done: int) -> None:
        self._progress = progress
        self._model = config.model
        self._epochs = config.epochs
        if progress is not None:
            self._epoch_task = progress.add_task(self._model, total=config.epochs, completed=done)
            self._batch_task = progress.add_task("  batches", total=1, visible=False)

    def start_epoch(self, epoch: int, batches: int) -> None:
        if self._progress is not None:
            self._progress.reset(
                self._batch_task,
                total=batches,
                description=f"  epoch {epoch} batches",
                visible=True,
            )

    def batch_done(self) -> None:
        if self._progress is not None:
            self._progress.advance(self._batch_task)

    def epoch_done(self, record: EpochRecord) -> None:
        if self._progress is None:
            return
        mrr = f"{record.metrics.mrr:.3f}" if record.metrics else "-"
        self._progress.update(
            self._epoch_task,
            advance=1,
            description=(
                f"{self._model} loss {record.loss:.4f} val MRR {mrr} "
                f"(best {record.best_mrr:.3f} @ {record.best_epoch})"
            ),
        )


@contextlib.contextmanager
def _progress(show: bool, config: KGEConfig, done: int) -> Iterator[_EpochProgress]:
    if not show:
        yield _EpochProgress(None, config, done)
        return
    from kedrec.console import progress_bar

    with progress_bar() as bar:
        yield _EpochProgress(bar, config, done)
