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
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from graph_store.drkg_format import ParseReport, fingerprint
from graph_store.names import NameIndex
from kedrec.provenance import run_metadata
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
from tasks.task_sets import TaskSet, write_task_sets

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
    embeddings_root: Path | None = None,
    show_progress: bool = False,
) -> BuildResult:
    """Run the whole pipeline (see the module docstring) and write the output folder."""
    from kge.pipeline import train_embeddings

    report = ParseReport()
    edges = CompoundDiseaseEdges.from_files(files, report)
    reserved = frozenset(task_set.disease.id for task_set in benchmark_sets)
    groups = DiseaseGroups(set(edges.by_disease) | reserved, names)
    diseases = eligible_diseases(edges, sampling.min_relevance)
    split_of = split_diseases(
        diseases,
        seed=sampling.seed,
        val_fraction=sampling.val_fraction,
        test_fraction=sampling.test_fraction,
        reserved=reserved,
        groups=groups,
    )
    held_out = held_out_pairs(edges, split_of)
    for task_set in benchmark_sets:
        held_out.update((drug, disease) for drug, disease in task_set.hidden_pairs)
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
