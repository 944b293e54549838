"""Synthetic graph with DRKG's exact shape and size, for load and query benchmarks.

The full DRKG is not shipped, but its statistics are: entities per type and source
(``entity_counts.tsv``), triples per entity-type pair and source
(``interaction_counts.tsv``) and the 107 relations (``relation_glossary.tsv``). This
script writes a headerless ``head<TAB>relation<TAB>tail`` file with

* exactly 97,238 entities (``Type::SYN000123``, types spelled as in DRKG IDs), each
  source drawing from its own subset of the right size per type, all entities used;
* exactly 5,874,261 triples, matching every (type pair, source) cell, using only the
  real relation names with the head/tail order of the name (``…::Compound:Gene``);
* per-relation counts from Hetionet's metaedges and the DrugBank slice where the data
  dir has them, otherwise a skewed (1/k) split of the cell;
* skewed degrees: endpoints drawn with Zipf weights ``rank**-zipf`` (hubs shared across
  sources), without duplicate triples or self-loops (weighted sampling without
  replacement; a relation asked for more triples than distinct pairs exist, which only
  happens at tiny scales, gets the rest as duplicates and the count is reported).

Everything is vectorised with numpy and deterministic for a given seed and scale.

    python bench/synthetic_drkg.py --out /tmp/drkg_synth/drkg.tsv --seed 0 [--scale 1.0]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np
from bench_common import machine_info

DEFAULT_ZIPF = 0.8
ID_PREFIX = "SYN"
_DENSE_FRACTION = 0.25
"""Above this density (triples / distinct pairs) sample by enumerating all pairs."""
_MAX_ENUMERATED_PAIRS = 20_000_000
_MAX_BATCH = 4_000_000
_MAX_ROUNDS = 400


@dataclass(frozen=True)
class Relation:
    """One DRKG relation: its name, the counts-table source column, head and tail types."""

    name: str
    source: str
    head: str
    tail: str


@dataclass
class DrkgShape:
    """DRKG's published statistics, parsed from the data dir."""

    types: list[str]
    sources: list[str]
    entities: dict[str, int]
    entities_by_source: dict[tuple[str, str], int]
    triples: dict[tuple[str, str, str], int]
    """(type A, type B, source) -> triples; the pair is as written in the table (sorted)."""
    relations: list[Relation]
    relation_weights: dict[str, float] = field(default_factory=dict)
    """Known real per-relation triple counts (used to split a cell between its relations)."""

    def block_relations(self, type_a: str, type_b: str, source: str) -> list[Relation]:
        """Relations of ``source`` that connect ``type_a`` and ``type_b`` (either direction)."""
        pair = {type_a, type_b}
        return [
            relation
            for relation in self.relations
            if relation.source == source and {relation.head, relation.tail} == pair
        ]


@dataclass
class SynthStats:
    """What was written, for the report and the tests."""

    path: str
    seed: int
    scale: float
    zipf: float
    entities: int
    entities_by_type: dict[str, int]
    isolated_entities: int
    triples: int
    relations: int
    duplicates: int
    bytes: int
    seconds: dict[str, float]
    max_degree: dict[str, int]


# --------------------------------------------------------------------------- parsing


def _read_table(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and body of a TSV table, without its ``Total`` row."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.reader(handle, delimiter="\t") if row and any(row)]
    header, body = rows[0], rows[1:]
    return header, [row for row in body if row[0].strip().lower() != "total"]


def _count(cell: str) -> int:
    """A table cell as an int: ``1,379,271`` or ``-`` (no data) as in the README tables."""
    cell = cell.strip().replace(",", "").replace("\\", "")
    return 0 if cell in {"", "-"} else int(cell)


def _split_pair(cell: str, types: Sequence[str]) -> tuple[str, str]:
    """``(Biological Process Gene)`` -> the two type names (they may contain spaces)."""
    text = cell.strip().strip("()").replace(",", " ")
    text = " ".join(text.split())
    for first in types:
        for second in types:
            if text == f"{first} {second}":
                return first, second
    raise ValueError(f"unknown entity-type pair {cell!r}")


def _relation_types(name: str, types: Sequence[str]) -> tuple[str, str]:
    """Head and tail type from the name's ``…::Head:Tail`` suffix (longest types first)."""
    ordered = sorted(types, key=len, reverse=True)
    for head in ordered:
        for tail in ordered:
            if name.endswith(f":{head}:{tail}"):
                return head, tail
    raise ValueError(f"relation {name!r} does not end with ':<Type>:<Type>'")


def load_shape(
    drkg_dir: Path, names_dir: Path | None = None, kg_slice_dir: Path | None = None
) -> DrkgShape:
    """Parse the DRKG statistics; real relation counts come from the optional extra dirs."""
    header, rows = _read_table(drkg_dir / "entity_counts.tsv")
    sources = header[1:-1]
    types = [row[0].strip() for row in rows]
    entities = {row[0].strip(): _count(row[-1]) for row in rows}
    by_source = {
        (row[0].strip(), source): _count(value)
        for row in rows
        for source, value in zip(sources, row[1:-1], strict=True)
        if _count(value)
    }
    pair_header, pair_rows = _read_table(drkg_dir / "interaction_counts.tsv")
    if pair_header[1:-1] != sources:
        raise ValueError("entity_counts.tsv and interaction_counts.tsv list different sources")
    triples: dict[tuple[str, str, str], int] = {}
    for row in pair_rows:
        type_a, type_b = _split_pair(row[0], types)
        values = [_count(value) for value in row[1:-1]]
        if sum(values) != _count(row[-1]):
            raise ValueError(f"row {row[0]} does not add up to its total")
        for source, value in zip(sources, values, strict=True):
            if value:
                triples[(type_a, type_b, source)] = value
    source_of = {source.lower(): source for source in sources}
    relations = []
    with (drkg_dir / "relation_glossary.tsv").open(newline="", encoding="utf-8") as handle:
        for record in csv.DictReader(handle, delimiter="\t"):
            name = record["Relation-name"].strip()
            head, tail = _relation_types(name, types)
            relations.append(Relation(name, source_of[record["Data-source"].lower()], head, tail))
    shape = DrkgShape(types, sources, entities, by_source, triples, relations)
    shape.relation_weights = _known_relation_counts(shape, names_dir, kg_slice_dir)
    return shape


def _known_relation_counts(
    shape: DrkgShape, names_dir: Path | None, kg_slice_dir: Path | None
) -> dict[str, float]:
    """Real triple counts per relation: Hetionet metaedges, else DRKG-slice frequencies."""
    known: dict[str, float] = {}
    if kg_slice_dir is not None and kg_slice_dir.is_dir():
        counts: Counter[str] = Counter()
        for path in sorted(kg_slice_dir.glob("*.tsv")):
            with path.open(encoding="utf-8") as handle:
                for line in handle:
                    parts = line.split("\t")
                    if len(parts) == 3:
                        counts[parts[1]] += 1
        known.update(counts)
    metaedges = names_dir / "metaedges.tsv" if names_dir is not None else None
    if metaedges is not None and metaedges.is_file():
        by_abbreviation = {
            relation.name.split("::")[1]: relation.name
            for relation in shape.relations
            if relation.name.startswith("Hetionet::")
        }
        with metaedges.open(newline="", encoding="utf-8") as handle:
            for record in csv.DictReader(handle, delimiter="\t"):
                name = by_abbreviation.get(record.get("abbreviation", ""))
                if name is not None:
                    known[name] = float(record["edges"])
    valid = {relation.name for relation in shape.relations}
    return {name: count for name, count in known.items() if name in valid}


# --------------------------------------------------------------------------- planning


def apportion(total: int, weights: Sequence[float], minimum: int = 0) -> list[int]:
    """Split ``total`` into integers proportional to ``weights`` (largest remainder).

    Parts below ``minimum`` are raised to it, taking the difference from the largest parts,
    so exact real counts (which already respect the minimum) come back unchanged.
    """
    count = len(weights)
    if total < minimum * count:
        raise ValueError(f"cannot give {count} parts at least {minimum} of {total}")
    weight_sum = float(sum(weights))
    if weight_sum <= 0:
        weights, weight_sum = [1.0] * count, float(count)
    exact = [total * weight / weight_sum for weight in weights]
    shares = [int(value) for value in exact]
    order = sorted(range(count), key=lambda index: (shares[index] - exact[index], index))
    for index in order[: total - sum(shares)]:
        shares[index] += 1
    deficit = sum(max(0, minimum - share) for share in shares)
    shares = [max(minimum, share) for share in shares]
    while deficit:
        largest = max(range(count), key=lambda index: (shares[index], -index))
        take = min(deficit, shares[largest] - minimum)
        shares[largest] -= take
        deficit -= take
    return shares


def _scaled(value: int, scale: float) -> int:
    """``value * scale`` rounded, but at least 1 for a non-empty cell."""
    return max(1, round(value * scale)) if value else 0


@dataclass
class Plan:
    """Integer counts for one scale: entities per type and source, triples per relation."""

    entities: dict[str, int]
    subsets: dict[tuple[str, str], int]
    relation_counts: dict[str, int]


def plan_counts(shape: DrkgShape, scale: float, rng: np.random.Generator) -> Plan:
    """Scale every table cell; split each (pair, source) cell between its relations."""
    entities = {name: max(1, round(count * scale)) for name, count in shape.entities.items()}
    subsets = {
        key: min(entities[key[0]], _scaled(count, scale))
        for key, count in shape.entities_by_source.items()
    }
    relation_counts: dict[str, int] = {}
    for (type_a, type_b, source), count in shape.triples.items():
        relations = shape.block_relations(type_a, type_b, source)
        if not relations:
            raise ValueError(f"no relation in the glossary for {source} {type_a}-{type_b}")
        total = max(len(relations), _scaled(count, scale))
        if all(relation.name in shape.relation_weights for relation in relations):
            weights = [shape.relation_weights[relation.name] for relation in relations]
        else:  # unknown split: a skewed 1/k split in a seed-dependent order
            ranks = rng.permutation(len(relations))
            weights = [1.0 / (rank + 1) for rank in ranks]
        for relation, share in zip(relations, apportion(total, weights, 1), strict=True):
            relation_counts[relation.name] = share
    return Plan(entities, subsets, relation_counts)


# --------------------------------------------------------------------------- sampling


class _Entities:
    """Global entity indices, names, Zipf weights and per-(type, source) subsets."""

    def __init__(self, shape: DrkgShape, plan: Plan, rng: np.random.Generator, zipf: float):
        self.types = list(shape.types)
        self.offsets: dict[str, int] = {}
        names: list[str] = []
        weights = []
        for entity_type in self.types:
            count = plan.entities[entity_type]
            self.offsets[entity_type] = len(names)
            names.extend(f"{entity_type}::{ID_PREFIX}{index:06d}" for index in range(count))
            ranks = rng.permutation(count).astype(np.float64)
            weights.append((ranks + 1.0) ** -zipf)
        self.names = names
        self.total = len(names)
        self.weights = np.concatenate(weights)
        self.subsets: dict[tuple[str, str], np.ndarray] = {}
        for entity_type in self.types:
            self._lay_out(entity_type, shape.sources, plan, rng)
        self._cdfs: dict[tuple[str, str], np.ndarray] = {}

    def _lay_out(
        self, entity_type: str, sources: Sequence[str], plan: Plan, rng: np.random.Generator
    ) -> None:
        """Give each source a contiguous arc of a shuffled circle: arcs cover every entity."""
        count = plan.entities[entity_type]
        sizes = {source: plan.subsets.get((entity_type, source), 0) for source in sources}
        sizes = {source: size for source, size in sizes.items() if size}
        if not sizes:
            return
        shortfall = count - sum(sizes.values())
        if shortfall > 0:  # rounding at tiny scales: widen the largest arc
            largest = max(sizes, key=lambda source: sizes[source])
            sizes[largest] = min(count, sizes[largest] + shortfall)
        circle = self.offsets[entity_type] + rng.permutation(count)
        start = 0
        for source, size in sizes.items():
            self.subsets[(entity_type, source)] = circle[(start + np.arange(size)) % count]
            start += size

    def sample(
        self, entity_type: str, source: str, size: int, rng: np.random.Generator
    ) -> np.ndarray:
        """``size`` entities of the source's subset, drawn with replacement by Zipf weight."""
        key = (entity_type, source)
        subset = self.subsets[key]
        cdf = self._cdfs.get(key)
        if cdf is None:
            cdf = np.cumsum(self.weights[subset])
            cdf /= cdf[-1]
            self._cdfs[key] = cdf
        picks = np.searchsorted(cdf, rng.random(size), side="right")
        return subset[np.minimum(picks, len(subset) - 1)]


def _allocate_forced(
    shape: DrkgShape, plan: Plan, entities: _Entities, rng: np.random.Generator
) -> dict[tuple[str, int], np.ndarray]:
    """Spread every subset's entities over its relations' head/tail slots, once each.

    Returns (relation, side) -> entities that must appear on that side of that relation,
    so no entity is isolated. At tiny scales a relation may have fewer triples than
    forced entities; the excess is dropped (and shows up as isolated entities).
    """
    slots: dict[tuple[str, str], list[tuple[str, int]]] = {}
    for relation in shape.relations:
        for side, entity_type in enumerate((relation.head, relation.tail)):
            slots.setdefault((entity_type, relation.source), []).append((relation.name, side))
    forced: dict[tuple[str, int], np.ndarray] = {}
    for key, subset in entities.subsets.items():
        places = slots.get(key, [])
        capacity = [plan.relation_counts[name] for name, _side in places]
        if not places or sum(capacity) == 0:
            continue
        shares = apportion(len(subset), capacity)
        members = rng.permutation(subset)
        start = 0
        for place, share in zip(places, shares, strict=True):
            forced[place] = members[start : start + share]
            start += share
    for relation in shape.relations:
        heads = forced.get((relation.name, 0), np.empty(0, np.int64))
        tails = forced.get((relation.name, 1), np.empty(0, np.int64))
        excess = len(heads) + len(tails) - plan.relation_counts[relation.name]
        if excess > 0:
            tails = tails[: max(0, len(tails) - excess)]
            heads = heads[: plan.relation_counts[relation.name] - len(tails)]
            forced[(relation.name, 0)], forced[(relation.name, 1)] = heads, tails
    return forced


@dataclass
class _RelationSampler:
    """Draws ``count`` distinct (head, tail) pairs of one relation as int64 keys."""

    relation: Relation
    count: int
    entities: _Entities
    rng: np.random.Generator

    def _heads(self, size: int) -> np.ndarray:
        return self.entities.sample(self.relation.head, self.relation.source, size, self.rng)

    def _tails(self, size: int) -> np.ndarray:
        return self.entities.sample(self.relation.tail, self.relation.source, size, self.rng)

    def keys(self, forced_heads: np.ndarray, forced_tails: np.ndarray) -> tuple[np.ndarray, int]:
        """Unique ``head * N + tail`` keys in random order, and the duplicates added."""
        heads = np.concatenate([forced_heads, self._heads(len(forced_tails))])
        tails = np.concatenate([self._tails(len(forced_heads)), forced_tails])
        heads, tails = self._fix_loops(heads, tails, len(forced_heads))
        total = self.entities.total
        keys = np.unique(heads * total + tails)  # forced pairs; random order restored below
        need = self.count - len(keys)
        duplicates = 0
        if need > 0:
            capacity = self._capacity()
            if capacity - len(keys) < need or self.count > _DENSE_FRACTION * capacity:
                extra, duplicates = self._enumerate(keys, need)
            else:
                extra = self._reject(keys, need)
            keys = np.concatenate([keys, extra])
        return self.rng.permutation(keys[: self.count]), duplicates

    def _fix_loops(
        self, heads: np.ndarray, tails: np.ndarray, n_forced_heads: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Redraw the free end of self-loops (same-type relations)."""
        if self.relation.head != self.relation.tail:
            return heads, tails
        for _ in range(50):
            loops = np.flatnonzero(heads == tails)
            if loops.size == 0:
                break
            free_tail = loops[loops < n_forced_heads]
            free_head = loops[loops >= n_forced_heads]
            tails[free_tail] = self._tails(free_tail.size)
            heads[free_head] = self._heads(free_head.size)
        keep = heads != tails
        return heads[keep], tails[keep]

    def _capacity(self) -> int:
        """Distinct (head, tail) pairs available, self-loops excluded."""
        head_set = self.entities.subsets[(self.relation.head, self.relation.source)]
        tail_set = self.entities.subsets[(self.relation.tail, self.relation.source)]
        loops = np.intersect1d(head_set, tail_set).size
        return head_set.size * tail_set.size - loops

    def _reject(self, existing: np.ndarray, need: int) -> np.ndarray:
        """Sequential weighted sampling without replacement: draw, drop seen keys, repeat."""
        total = self.entities.total
        seen = np.sort(existing)
        found: list[np.ndarray] = []
        accept = 1.0
        for _ in range(_MAX_ROUNDS):
            if need <= 0:
                return np.concatenate(found) if found else np.empty(0, np.int64)
            size = int(min(_MAX_BATCH, need / max(accept, 1 / 64) * 1.1 + 64))
            heads, tails = self._heads(size), self._tails(size)
            keys = (heads * total + tails)[heads != tails]
            if seen.size:
                pos = np.minimum(np.searchsorted(seen, keys), seen.size - 1)
                keys = keys[seen[pos] != keys]
            _, first = np.unique(keys, return_index=True)
            keys = keys[np.sort(first)]  # unique, still in random draw order
            accept = max(keys.size / size, 1e-6)
            keys = keys[:need]
            found.append(keys)
            seen = np.sort(np.concatenate([seen, keys]))
            need -= keys.size
        extra, _ = self._enumerate(seen, need)
        return np.concatenate([*found, extra])

    def _enumerate(self, existing: np.ndarray, need: int) -> tuple[np.ndarray, int]:
        """Exact weighted sampling without replacement over all pairs (dense relations).

        Efraimidis-Spirakis: keep the ``need`` pairs with the smallest Exp(1)/weight.
        Returns the keys and how many of them had to repeat (not enough distinct pairs).
        """
        head_set = self.entities.subsets[(self.relation.head, self.relation.source)]
        tail_set = self.entities.subsets[(self.relation.tail, self.relation.source)]
        if head_set.size * tail_set.size > _MAX_ENUMERATED_PAIRS:
            raise RuntimeError(f"{self.relation.name}: cannot reach {self.count} distinct pairs")
        total = self.entities.total
        heads = np.repeat(head_set, tail_set.size)
        tails = np.tile(tail_set, head_set.size)
        keep = heads != tails
        keys = heads[keep] * total + tails[keep]
        keys = keys[~np.isin(keys, existing)]
        weights = self.entities.weights[keys // total] * self.entities.weights[keys % total]
        order = np.argsort(self.rng.exponential(size=keys.size) / weights, kind="stable")
        chosen = keys[order[:need]]
        duplicates = need - chosen.size
        if duplicates > 0:  # more triples than distinct pairs: repeat (tiny scales only)
            pool = np.concatenate([existing, chosen])
            if pool.size == 0:  # a one-entity same-type subset: only self-loops exist
                pool = head_set * total + head_set
            chosen = np.concatenate([chosen, self.rng.choice(pool, duplicates)])
        return chosen, max(duplicates, 0)


# --------------------------------------------------------------------------- writing


def _write_lines(
    handle: BinaryIO, names: list[str], relation: str, keys: np.ndarray, total: int, chunk: int
) -> int:
    """Append ``head<TAB>relation<TAB>tail`` lines in chunks; return bytes written."""
    written = 0
    middle = f"\t{relation}\t"
    for start in range(0, keys.size, chunk):
        part = keys[start : start + chunk]
        heads = (part // total).tolist()
        tails = (part % total).tolist()
        pairs = zip(heads, tails, strict=True)
        text = "".join([names[h] + middle + names[t] + "\n" for h, t in pairs])
        data = text.encode("utf-8")
        handle.write(data)
        written += len(data)
    return written


def generate(
    shape: DrkgShape,
    out: Path,
    *,
    seed: int = 0,
    scale: float = 1.0,
    zipf: float = DEFAULT_ZIPF,
    chunk_lines: int = 500_000,
) -> SynthStats:
    """Write the synthetic ``drkg.tsv`` to ``out`` (atomically) and return its statistics."""
    if not 0 < scale <= 1.0:
        raise ValueError("scale must be in (0, 1]")
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    rng = np.random.default_rng(seed)
    plan = plan_counts(shape, scale, rng)
    entities = _Entities(shape, plan, rng, zipf)
    forced = _allocate_forced(shape, plan, entities, rng)
    timings["plan"] = time.perf_counter() - clock
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    sample_s = write_s = 0.0
    duplicates = size = lines = 0
    degree = np.zeros(entities.total, np.int64)
    with tmp.open("wb", buffering=1 << 22) as handle:
        for relation in shape.relations:
            count = plan.relation_counts.get(relation.name, 0)
            if count == 0:
                continue
            started = time.perf_counter()
            sampler = _RelationSampler(relation, count, entities, rng)
            empty = np.empty(0, np.int64)
            keys, repeated = sampler.keys(
                forced.get((relation.name, 0), empty), forced.get((relation.name, 1), empty)
            )
            duplicates += repeated
            degree += np.bincount(keys // entities.total, minlength=entities.total)
            degree += np.bincount(keys % entities.total, minlength=entities.total)
            middle = time.perf_counter()
            size += _write_lines(
                handle, entities.names, relation.name, keys, entities.total, chunk_lines
            )
            lines += keys.size
            sample_s += middle - started
            write_s += time.perf_counter() - middle
    os.replace(tmp, out)
    timings["sample"] = sample_s
    timings["write"] = write_s
    timings["total"] = time.perf_counter() - clock
    max_degree = {
        entity_type: int(degree[offset : offset + plan.entities[entity_type]].max())
        for entity_type, offset in entities.offsets.items()
    }
    return SynthStats(
        path=str(out),
        seed=seed,
        scale=scale,
        zipf=zipf,
        entities=int(np.count_nonzero(degree)),
        entities_by_type=dict(plan.entities),
        isolated_entities=int(entities.total - np.count_nonzero(degree)),
        triples=lines,
        relations=sum(1 for count in plan.relation_counts.values() if count),
        duplicates=duplicates,
        bytes=size,
        seconds={key: round(value, 2) for key, value in timings.items()},
        max_degree=max_degree,
    )


# --------------------------------------------------------------------------- CLI


def _default_data_dir() -> Path:
    """``settings.data_dir`` when the package is importable, else ``../shared/data``."""
    try:
        from kedrec.settings import get_settings

        return get_settings().data_dir
    except ImportError:  # running the script outside the project's environment
        return (Path(__file__).resolve().parents[1] / ".." / "shared" / "data").resolve()


def main(argv: Iterable[str] | None = None) -> int:
    """Parse arguments, generate the file and print machine info, timings and statistics."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output drkg.tsv path")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of DRKG's size")
    parser.add_argument("--zipf", type=float, default=DEFAULT_ZIPF, help="degree skew exponent")
    parser.add_argument("--data-dir", type=Path, default=None, help="default settings.data_dir")
    args = parser.parse_args(list(argv) if argv is not None else None)
    data_dir = args.data_dir or _default_data_dir()
    print(json.dumps({"machine": machine_info()}))
    started = time.perf_counter()
    shape = load_shape(data_dir / "drkg", data_dir / "names", data_dir / "kg_slice")
    stats = generate(shape, args.out, seed=args.seed, scale=args.scale, zipf=args.zipf)
    stats.seconds["load_shape"] = round(time.perf_counter() - started - stats.seconds["total"], 2)
    print(json.dumps(asdict(stats), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
