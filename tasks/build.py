"""``kedrec sets build``: from DRKG triples to leakage-free train / val / test task sets.

Order matters for leakage control:

1. split *diseases* (benchmark diseases are reserved, never train);
2. hold out every direct Compound–Disease edge of val / test / benchmark diseases (all IDs of a
   disease, DOID and MeSH, move together: :mod:`tasks.disease_groups`);
3. train the KGE embeddings without those edges (their version names the held-out set);
4. sample sets with those embeddings (paper Eqs. 1–3): ``train_sets_per_disease`` per train
   disease, ``sets_per_disease`` per val / test disease, only ever from that split's diseases.

The output folder holds one JSONL file per split, the held-out pairs and a manifest with every
setting, seed, count, skip reason, the graph fingerprint, the embeddings version and the commit.

Benchmarks are reserved in steps 1–2: PharmacotherapyDB's sets (``benchmark.jsonl``) and those
of any benchmark TSV in :mod:`tasks.benchmark_import`'s format (``--benchmark-file``, written as
``benchmark-<source>.jsonl``, the manifest recording each file's sha256 and sets per source).
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from graph_store.drkg_format import ParseReport, fingerprint
from graph_store.names import NameIndex
from kedrec.provenance import run_metadata
from tasks.benchmark_import import EntityMapper, ImportReport, import_benchmark_tsv
from tasks.disease_groups import DiseaseGroups
from tasks.relevance import CompoundDiseaseEdges
from tasks.sampling import (
    SamplingConfig,
    TaskSampler,
    eligible_diseases,
    held_out_pairs,
    sample_task_sets,
    split_diseases,
)
from tasks.task_sets import Split, TaskSet, write_task_sets

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
HELD_OUT_FILE = "held_out_pairs.tsv"
MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True, slots=True)
class BuildResult:
    """Where the sets went and what the build counted."""

    out_dir: Path
    counts: dict[str, int]
    manifest: dict[str, Any]


@dataclass(frozen=True, slots=True)
class BenchmarkFile:
    """A benchmark TSV imported for a build: reserved like PharmacotherapyDB, a file per source."""

    path: Path
    sha256: str
    sets: list[TaskSet]
    report: ImportReport

    def sources(self) -> dict[str, int]:
        """Sets per source (the TSV's ``source`` column, else the file's stem)."""
        return dict(sorted(Counter(s.source for s in self.sets).items()))

    def as_dict(self) -> dict[str, Any]:
        """What the manifest records about the file."""
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "sets_by_source": self.sources(),
            "import": self.report.as_dict(),
        }


def load_benchmark_file(path: Path, mapper: EntityMapper, *, seed: int = 0) -> BenchmarkFile:
    """Import a benchmark TSV (its rows mapped onto the graph) and hash it for the manifest."""
    sets, report = import_benchmark_tsv(path, mapper, seed=seed)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return BenchmarkFile(path, digest, sets, report)


def benchmark_file_name(source: str) -> str:
    """``benchmark-<source>.jsonl``, the source reduced to a safe file name."""
    return f"benchmark-{re.sub(r'[^A-Za-z0-9._-]+', '_', source)}.jsonl"


def build_folder_of(sets_file: Path) -> Path:
    """The build a sets file came from: its own folder when that holds a build's manifest,
    else the settings' build (sets picked out of it, such as ``kedrec demo``'s test.jsonl).
    """
    if (sets_file.parent / MANIFEST_FILE).is_file():
        return sets_file.parent
    from kedrec.settings import get_settings

    return get_settings().task_sets_dir


def split_files(folder: Path, splits: Sequence[str] = ("val", "test", "benchmark")) -> list[Path]:
    """A build's set files of ``splits`` that exist, in that order.

    ``benchmark`` stands for every benchmark of the build: PharmacotherapyDB's
    ``benchmark.jsonl`` and each ``--benchmark-file``'s ``benchmark-<source>.jsonl``, so
    readers of held-out sets never miss an imported benchmark.
    """
    paths: list[Path] = []
    for split in splits:
        paths.append(folder / f"{split}.jsonl")
        if split == "benchmark":
            paths.extend(sorted(folder.glob("benchmark-*.jsonl")))
    return [path for path in paths if path.is_file()]


@dataclass(frozen=True, slots=True)
class Reservation:
    """Steps 1–2: the disease split with benchmarks reserved, and the pairs kept from the KGE."""

    split_of: dict[str, Split]
    groups: DiseaseGroups
    held_out: set[tuple[str, str]]


def reserve_benchmarks(
    edges: CompoundDiseaseEdges,
    names: NameIndex,
    sampling: SamplingConfig,
    benchmark_sets: Sequence[TaskSet],
) -> Reservation:
    """Split diseases with every benchmark disease group out of train; hold out their pairs.

    Held out: every direct pair of val / test / benchmark diseases and every benchmark set's
    hidden pairs (both candidates with every ID of its disease).
    """
    reserved = frozenset(task_set.disease.id for task_set in benchmark_sets)
    groups = DiseaseGroups(set(edges.by_disease) | reserved, names)
    split_of = split_diseases(
        eligible_diseases(edges, sampling.min_relevance),
        seed=sampling.seed,
        val_fraction=sampling.val_fraction,
        test_fraction=sampling.test_fraction,
        reserved=reserved,
        groups=groups,
    )
    held_out = held_out_pairs(edges, split_of)
    for task_set in benchmark_sets:
        held_out.update((drug, disease) for drug, disease in task_set.hidden_pairs)
    return Reservation(split_of, groups, held_out)


def write_pairs(pairs: set[tuple[str, str]], path: Path) -> None:
    """Write (drug, disease) pairs as a TSV (the format ``kedrec embed train`` reads)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(("drug_id", "disease_id"))
        writer.writerows(sorted(pairs))


def build_task_sets(
    files: Sequence[Path],
    names: NameIndex,
    out_dir: Path,
    *,
    sampling: SamplingConfig,
    kge_config: Any,
    benchmark_sets: Sequence[TaskSet] = (),
    benchmark_files: Sequence[BenchmarkFile] = (),
    embeddings_root: Path | None = None,
    show_progress: bool = False,
) -> BuildResult:
    """Run the whole pipeline (see the module docstring) and write the output folder.

    ``benchmark_sets`` (PharmacotherapyDB's) go to ``benchmark.jsonl``; the sets of each of
    ``benchmark_files`` to ``benchmark-<source>.jsonl``. Both are reserved the same way.
    """
    from kge.pipeline import train_embeddings

    report = ParseReport()
    edges = CompoundDiseaseEdges.from_files(files, report)
    extra_sets = [task_set for file in benchmark_files for task_set in file.sets]
    reservation = reserve_benchmarks(edges, names, sampling, [*benchmark_sets, *extra_sets])
    split_of, groups, held_out = reservation.split_of, reservation.groups, reservation.held_out
    logger.info("holding out %d (drug, disease) pairs from embedding training", len(held_out))
    embeddings = train_embeddings(
        list(files), held_out, kge_config, root=embeddings_root, show_progress=show_progress
    )

    sampler = TaskSampler(edges, embeddings, names, sampling, groups)
    sets, sampling_report = sample_task_sets(sampler, split_of)
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {
        split: write_task_sets((s for s in sets if s.split == split), out_dir / f"{split}.jsonl")
        for split in SPLITS
    }
    if benchmark_sets:
        counts["benchmark"] = write_task_sets(
            (
                s.model_copy(update={"embedding_version": embeddings.version})
                for s in benchmark_sets
            ),
            out_dir / "benchmark.jsonl",
        )
    by_source: dict[str, list[TaskSet]] = {}
    for task_set in extra_sets:
        by_source.setdefault(task_set.source, []).append(task_set)
    for source, source_sets in sorted(by_source.items()):
        name = benchmark_file_name(source)
        counts[name.removesuffix(".jsonl")] = write_task_sets(
            (s.model_copy(update={"embedding_version": embeddings.version}) for s in source_sets),
            out_dir / name,
        )
    write_pairs(held_out, out_dir / HELD_OUT_FILE)
    manifest = {
        **run_metadata(),
        "inputs": [str(path) for path in files],
        "graph_fingerprint": fingerprint(files),
        "malformed_lines": report.malformed,
        "sampling": asdict(sampling),
        "kge": kge_config.model_dump() if hasattr(kge_config, "model_dump") else str(kge_config),
        "embeddings_version": embeddings.version,
        "diseases_by_split": {
            split: sum(1 for s in split_of.values() if s == split)
            for split in (*SPLITS, "benchmark")
        },
        "sets_per_disease_by_split": {
            "train": sampling.train_sets_per_disease,
            "val": sampling.sets_per_disease,
            "test": sampling.sets_per_disease,
        },
        "held_out_pairs": len(held_out),
        "counts": counts,
        "benchmark_files": [file.as_dict() for file in benchmark_files],
        "report": sampling_report.as_dict(),
    }
    (out_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    return BuildResult(out_dir, counts, manifest)


def read_pairs(path: Path) -> set[tuple[str, str]]:
    """Read a held-out pair TSV written by :func:`write_pairs`."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = csv.reader(handle, delimiter="\t")
        next(rows, None)
        return {(row[0], row[1]) for row in rows if len(row) >= 2}
