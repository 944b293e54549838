"""The synthetic DRKG generator keeps DRKG's shape: counts per type, per cell, real relations."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import hashlib
import importlib.util
import re
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

from kedrec.settings import get_settings

REPO = Path(__file__).resolve().parents[2]
SCALE = 0.01
ID = re.compile(r"^(?P<type>[A-Z][A-Za-z ]+)::SYN\d{6}$")


def _load_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "synthetic_drkg", REPO / "bench/synthetic_drkg.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["synthetic_drkg"] = module
    spec.loader.exec_module(module)
    return module


synth = _load_module()
DATA = get_settings().data_dir
pytestmark = pytest.mark.skipif(
    not (DATA / "drkg" / "interaction_counts.tsv").is_file(),
    reason="needs the DRKG statistics in settings.data_dir/drkg",
)


@pytest.fixture(scope="module")
def shape():  # type: ignore[no-untyped-def]
    return synth.load_shape(DATA / "drkg", DATA / "names", DATA / "kg_slice")


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory, shape):  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("synth") / "drkg.tsv"
    stats = synth.generate(shape, out, seed=0, scale=SCALE)
    return out, stats


def _glossary() -> set[str]:
    lines = (DATA / "drkg" / "relation_glossary.tsv").read_text(encoding="utf-8").splitlines()
    return {line.split("\t")[0] for line in lines[1:] if line.strip()}


def test_shape_matches_drkg_readme(shape) -> None:  # type: ignore[no-untyped-def]
    assert len(shape.types) == 13
    assert sum(shape.entities.values()) == 97_238
    assert sum(shape.triples.values()) == 5_874_261
    assert len(shape.relations) == 107
    assert {relation.name for relation in shape.relations} == _glossary()
    assert len({(a, b) for a, b, _source in shape.triples}) == 17
    for type_a, type_b, source in shape.triples:
        assert shape.block_relations(type_a, type_b, source), (type_a, type_b, source)
    entity_ids = (DATA / "drkg" / "entities.tsv").read_text(encoding="utf-8").splitlines()[1:]
    assert {line.split("::", 1)[0] for line in entity_ids} == set(shape.types)


def test_relation_orientation_follows_the_name(shape) -> None:  # type: ignore[no-untyped-def]
    by_name = {relation.name: relation for relation in shape.relations}
    inhibitor = by_name["DGIDB::INHIBITOR::Gene:Compound"]
    assert (inhibitor.head, inhibitor.tail) == ("Gene", "Compound")
    assert by_name["Hetionet::PCiC::Pharmacologic Class:Compound"].head == "Pharmacologic Class"
    drug_gene = by_name["bioarx::DrugHumGen:Compound:Gene"]
    assert (drug_gene.head, drug_gene.tail, drug_gene.source) == (
        "Compound",
        "Gene",
        "Bibliography",
    )
    assert by_name["Hetionet::DrD::Disease:Disease"].source == "Hetionet"


def test_full_scale_plan_is_exact(shape) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    plan = synth.plan_counts(shape, 1.0, np.random.default_rng(0))
    assert plan.entities == shape.entities
    assert sum(plan.relation_counts.values()) == 5_874_261
    source_of = {relation.name: relation for relation in shape.relations}
    cells: Counter[tuple[str, str, str]] = Counter()
    for name, count in plan.relation_counts.items():
        relation = source_of[name]
        pair = tuple(sorted((relation.head, relation.tail)))
        cells[(*pair, relation.source)] += count
    assert {key: cells[key] for key in shape.triples} == shape.triples
    # real per-relation counts where the data has them (Hetionet metaedges)
    assert plan.relation_counts["Hetionet::GpBP::Gene:Biological Process"] == 559_504
    assert plan.relation_counts["Hetionet::AeG::Anatomy:Gene"] == 526_407
    assert plan.relation_counts["Hetionet::CtD::Compound:Disease"] == 755


def test_apportion_is_exact() -> None:
    assert synth.apportion(10, [1, 1, 1]) == [4, 3, 3]
    assert synth.apportion(7, [0.5, 0.25, 0.25], minimum=1) == [3, 2, 2]
    assert synth.apportion(5, [100, 1, 1], minimum=1) == [3, 1, 1]
    assert synth.apportion(726_495, [102_240, 526_407, 97_848], 1) == [102_240, 526_407, 97_848]
    assert sum(synth.apportion(1_379_271, [3.0, 1.0, 0.1])) == 1_379_271


def test_small_graph_lines_relations_and_types(small, shape) -> None:  # type: ignore[no-untyped-def]
    out, stats = small
    names = _glossary()
    by_name = {relation.name: relation for relation in shape.relations}
    relations: Counter[str] = Counter()
    cells: Counter[tuple[str, str, str]] = Counter()
    entities: dict[str, set[str]] = {}
    lines = out.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == ""
    for line in lines[:-1]:
        head, relation, tail = line.split("\t")  # exactly three fields
        head_match, tail_match = ID.match(head), ID.match(tail)
        assert head_match and tail_match, line
        assert relation in names, relation
        spec = by_name[relation]
        assert (head_match["type"], tail_match["type"]) == (spec.head, spec.tail), line
        relations[relation] += 1
        cells[(*sorted((spec.head, spec.tail)), spec.source)] += 1
        entities.setdefault(head_match["type"], set()).add(head)
        entities.setdefault(tail_match["type"], set()).add(tail)
    assert set(relations) == names  # all 107 relations used
    assert stats.triples == len(lines) - 1
    for (type_a, type_b, source), count in shape.triples.items():
        expected = max(
            len(shape.block_relations(type_a, type_b, source)), max(1, round(count * SCALE))
        )
        assert cells[(type_a, type_b, source)] == expected, (type_a, type_b, source)
    assert len(cells) == len(shape.triples)
    for entity_type, total in shape.entities.items():
        assert len(entities[entity_type]) == max(1, round(total * SCALE)), entity_type
    assert stats.isolated_entities == 0
    duplicates = sum(count - 1 for count in Counter(lines[:-1]).values() if count > 1)
    assert stats.duplicates == duplicates


def test_degrees_are_skewed(small) -> None:  # type: ignore[no-untyped-def]
    out, _stats = small
    degree: Counter[str] = Counter()
    for line in out.read_text(encoding="utf-8").splitlines():
        head, _relation, tail = line.split("\t")
        if head.startswith("Gene::"):
            degree[head] += 1
        if tail.startswith("Gene::"):
            degree[tail] += 1
    values = sorted(degree.values(), reverse=True)
    top = sum(values[: len(values) // 10])
    assert top > 0.3 * sum(values)  # the top 10% of genes hold far more than 10% of edges


def test_deterministic_by_seed(tmp_path: Path, shape, small) -> None:  # type: ignore[no-untyped-def]
    out, _stats = small
    again = tmp_path / "again.tsv"
    other = tmp_path / "other.tsv"
    synth.generate(shape, again, seed=0, scale=SCALE)
    synth.generate(shape, other, seed=1, scale=SCALE)

    def digest(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    assert digest(again) == digest(out)
    assert digest(other) != digest(out)


def test_no_duplicates_at_tenth_scale(tmp_path: Path, shape) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "drkg.tsv"
    stats = synth.generate(shape, out, seed=3, scale=0.1)
    lines = out.read_bytes().split(b"\n")[:-1]
    assert stats.duplicates == 0
    assert len(set(lines)) == len(lines) == stats.triples
    assert not any(line.split(b"\t")[0] == line.split(b"\t")[2] for line in lines)


def test_cli_prints_machine_info_and_stats(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "cli" / "drkg.tsv"
    assert synth.main(["--out", str(out), "--seed", "0", "--scale", "0.002"]) == 0
    printed = capsys.readouterr().out
    assert '"cores"' in printed and '"python"' in printed and '"platform"' in printed
    assert '"seconds"' in printed
    assert out.is_file() and not out.with_name("drkg.tsv.tmp").exists()
