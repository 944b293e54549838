"""Knowledge-graph embeddings of DRKG triples with ``torch_geometric.nn.kge``, leakage-free.

``train_embeddings`` drops every triple between a held-out drug and disease (the labels an
evaluation will ask about) before the train/validation split, trains ComplEx (or DistMult,
RotatE, TransE) with early stopping on validation MRR, and writes the best weights to
``<cache_dir>/embeddings/<version>/``, where the version hashes the graph content, the held-out
pairs and the config. ``TrainedEmbeddings`` reads that directory with numpy only.

Example::

    from kge.pipeline import KGEConfig, TrainedEmbeddings, train_embeddings
    emb = train_embeddings(files, held_out=[("Compound::DB00331", "Disease::DOID:9352")],
                           config=KGEConfig(model="complex", dim=128, epochs=50))
    emb.score(["Compound::DB00331"], "DRUGBANK::treats::Compound:Disease",
              ["Disease::DOID:9352"])

Set ``OMP_WAIT_POLICY=PASSIVE`` before torch is imported on small shared machines: with the
default (active) policy, idle OpenMP threads spin and steal the cores of other processes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import platform
import subprocess
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graph_store.drkg_format import fingerprint
from graph_store.masking import HiddenPairs
from kge.config import KGE_FORMAT, MODEL_NAMES, KGEConfig, embeddings_version
from kge.data import KGTriples, as_hidden_pairs, prepare_triples, read_pair_file
from kge.embeddings import TrainedEmbeddings, is_finished, save_embeddings
from kge.errors import (
    EmbeddingError,
    EmbeddingsNotFoundError,
    TrainingLockedError,
    UnknownEmbeddingIdError,
)

if TYPE_CHECKING:
    from kge.train import EpochHook, FitResult

logger = logging.getLogger(__name__)

__all__ = [
    "MODEL_NAMES",
    "EmbeddingError",
    "EmbeddingsNotFoundError",
    "KGEConfig",
    "TrainedEmbeddings",
    "TrainingLockedError",
    "UnknownEmbeddingIdError",
    "default_embeddings_root",
    "embeddings_dir",
    "read_pair_file",
    "train_embeddings",
]

LOCK_FILE = ".lock"


def default_embeddings_root() -> Path:
    """``<cache_dir>/embeddings``."""
    from kedrec.settings import get_settings

    return get_settings().cache_dir / "embeddings"


def default_files() -> list[Path]:
    """Every triple file of ``<data_dir>/kg_slice``."""
    from graph_store.load_plan import resolve_inputs
    from kedrec.settings import get_settings

    return resolve_inputs([], get_settings().kg_slice_dir)


def embeddings_dir(
    files: Sequence[Path],
    held_out: HiddenPairs | Iterable[tuple[str, str]] | None = None,
    config: KGEConfig | None = None,
    *,
    root: Path | None = None,
) -> Path:
    """The version directory ``train_embeddings`` would use, without training."""
    config = config or KGEConfig()
    version = embeddings_version(
        fingerprint([Path(f) for f in files]), as_hidden_pairs(held_out).pairs, config
    )
    return (root or default_embeddings_root()) / version


def train_embeddings(
    files: Sequence[Path] | None = None,
    held_out: HiddenPairs | Iterable[tuple[str, str]] | None = None,
    config: KGEConfig | None = None,
    *,
    root: Path | None = None,
    on_epoch_end: EpochHook | None = None,
    show_progress: bool = False,
) -> TrainedEmbeddings:
    """Train (or resume, or just load) embeddings of a DRKG graph without the held-out pairs.

    Args:
        files: DRKG triple files; default every triple file of ``<data_dir>/kg_slice``.
        held_out: (Compound, Disease) ID pairs whose triples, in any relation and direction,
            are removed from training and validation (the evaluation's test labels).
        config: Model and training settings; default :class:`KGEConfig()`.
        root: Parent of the version directories; default ``<cache_dir>/embeddings``.
        on_epoch_end: Called after each epoch's checkpoint is written (progress, tests).
        show_progress: Show rich progress bars (epochs and batches) on stderr.

    Returns:
        The finished embeddings. A version directory that is already finished is loaded
        without training; one with a checkpoint resumes after the checkpoint's epoch.

    Raises:
        TrainingLockedError: Another process is training the same version.
        DataFormatError: Missing input files or no triples.
    """
    config = config or KGEConfig()
    paths = [Path(f) for f in files] if files else default_files()
    hidden = as_hidden_pairs(held_out)
    graph_fingerprint = fingerprint(paths)
    version = embeddings_version(graph_fingerprint, hidden.pairs, config)
    directory = (root or default_embeddings_root()) / version
    if is_finished(directory):
        logger.info("embeddings %s already trained in %s", version, directory)
        return TrainedEmbeddings.load(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with _exclusive(directory, version):
        if is_finished(directory):  # another process finished while we waited for the lock
            return TrainedEmbeddings.load(directory)
        started = time.perf_counter()
        data = prepare_triples(
            paths,
            hidden,
            val_fraction=config.val_fraction,
            val_max=config.val_max,
            seed=config.seed,
            graph_fingerprint=graph_fingerprint,
        )
        prepare_seconds = time.perf_counter() - started
        from kge.train import CHECKPOINT_FILE, fit

        result = fit(
            data,
            config,
            directory,
            version,
            on_epoch_end=on_epoch_end,
            show_progress=show_progress,
        )
        meta = _meta(version, config, paths, hidden, data, result, prepare_seconds)
        save_embeddings(
            directory,
            entities=data.entities,
            relations=data.relations,
            entity_vectors=result.entity_vectors,
            relation_vectors=result.relation_vectors,
            meta=meta,
        )
        (directory / CHECKPOINT_FILE).unlink(missing_ok=True)
    logger.info("embeddings %s written to %s", version, directory)
    return TrainedEmbeddings.load(directory)


@contextlib.contextmanager
def _exclusive(directory: Path, version: str) -> Iterator[None]:
    """Hold an advisory lock so two processes never train into the same directory."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock
        yield
        return
    with (directory / LOCK_FILE).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise TrainingLockedError(
                f"another process is training embeddings {version} in {directory}: "
                "wait for it to finish (or stop it) and run again"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _meta(
    version: str,
    config: KGEConfig,
    paths: Sequence[Path],
    hidden: HiddenPairs,
    data: KGTriples,
    result: FitResult,
    prepare_seconds: float,
) -> dict[str, Any]:
    """Everything needed to reproduce and judge the model (config, seeds, data, metrics)."""
    pairs_blob = json.dumps(sorted(list(pair) for pair in hidden.pairs)).encode()
    epochs = [row["train_seconds"] for row in result.history]
    return {
        "format": KGE_FORMAT,
        "complete": True,
        "version": version,
        "model": config.model,
        "model_params": config.model_params(),
        "dim": config.dim,
        "vector_dims": {
            "entity": int(result.entity_vectors.shape[1]),
            "relation": int(result.relation_vectors.shape[1]),
        },
        "config": config.model_dump(),
        "seeds": {
            "seed": config.seed,
            "split": f"numpy default_rng({config.seed})",
            "validation_sample": f"numpy default_rng([{config.seed}, 1])",
            "initial_weights": f"torch.manual_seed({config.seed})",
            "epochs": f"torch.manual_seed(SeedSequence([{config.seed}, epoch]))",
        },
        "graph": {
            "fingerprint": data.fingerprint,
            "files": [str(path) for path in paths],
            "malformed_lines": data.report.malformed,
            "duplicate_triples": data.duplicates,
            **data.stats,
        },
        "held_out": {
            "pairs": data.held_out_pairs,
            "dropped_triples": data.dropped_held_out,
            "pairs_without_edges": data.held_out_pairs_without_edges,
            "pairs_sha256": hashlib.sha256(pairs_blob).hexdigest()[:16],
            "scope": "every relation, both directions; removed before the train/val split",
        },
        "validation": {
            "metric": "filtered MRR (realistic ties), head and tail queries",
            "candidates": config.eval_candidates,
            "val_triples": len(data.val),
            "ranked_triples": len(data.val_eval),
            "moved_to_train": data.val_moved_to_train,
        },
        "metrics": {
            "untrained": result.untrained,
            "best_epoch": result.best_epoch,
            "best": result.best_metrics,
        },
        "history": result.history,
        "training": {
            "epochs_run": result.epochs_run,
            "stopped_early": result.stopped_early,
            "resumed_from_epochs": result.resumed_from,
            "train_seconds": round(result.train_seconds, 3),
            "seconds_per_epoch": round(sum(epochs) / len(epochs), 3) if epochs else None,
            "prepare_seconds": round(prepare_seconds, 3),
            "num_threads": config.num_threads,
        },
        "environment": _environment(),
    }


def _environment() -> dict[str, Any]:
    """Library versions, git commit and date, for reproducibility."""
    import numpy
    import torch
    import torch_geometric

    from kedrec.settings import REPO_ROOT

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torch_geometric": torch_geometric.__version__,
        "numpy": numpy.__version__,
        "git_commit": commit,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
