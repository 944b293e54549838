"""The DRKG triple parser on real lines and on every kind of malformed line."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph_store.drkg_format import ParseReport, iter_triples, parse_relation
from kedrec.errors import DataFormatError


def test_parse_relation_three_part_and_bioarx_two_part() -> None:
    relation = parse_relation("DGIDB::ALLOSTERIC MODULATOR::Gene:Compound")
    assert (relation.source, relation.name) == ("DGIDB", "ALLOSTERIC MODULATOR")
    assert (relation.head_type, relation.tail_type) == ("Gene", "Compound")
    bioarx = parse_relation("bioarx::DrugHumGen:Compound:Gene")
    assert (bioarx.source, bioarx.name, bioarx.head_type, bioarx.tail_type) == (
        "bioarx",
        "DrugHumGen",
        "Compound",
        "Gene",
    )
    spaced = parse_relation("Hetionet::GpBP::Gene:Biological Process")
    assert spaced.tail_type == "Biological Process"


@pytest.mark.parametrize("text", ["DRUGBANK", "DRUGBANK::treats", "a::b::c::d", "X::y::Compound"])
def test_parse_relation_rejects_malformed(text: str) -> None:
    with pytest.raises(ValueError, match="not 'source::name::HeadType:TailType'"):
        parse_relation(text)


def test_every_real_glossary_relation_parses(settings) -> None:  # type: ignore[no-untyped-def]
    lines = (settings.drkg_dir / "relation_glossary.tsv").read_text().splitlines()[1:]
    relations = [parse_relation(line.split("\t")[0]) for line in lines]
    assert len(relations) == 107
    assert {r.source for r in relations} >= {"DRUGBANK", "GNBR", "Hetionet", "STRING", "bioarx"}


def test_real_slice_parses_without_errors(slice_files: list[Path]) -> None:
    report = ParseReport()
    triples = sum(1 for _ in iter_triples(slice_files, report))
    assert triples == report.triples == 58_725
    assert report.malformed == 0
    assert report.relations["Hetionet::CtD::Compound:Disease"] == 755


def test_malformed_lines_are_reported_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "bad.tsv"
    path.write_text(
        "Compound::DB00001\tDRUGBANK::target::Compound:Gene\tGene::2147\n"  # 1 ok
        "Compound::DB00001\tDRUGBANK::target::Compound:Gene\n"  # 2 two fields
        "\n"  # 3 blank
        "DB00002\tDRUGBANK::target::Compound:Gene\tGene::1956\n"  # 4 no type
        "Compound::DB00003\tDRUGBANK-target\tGene::1\n"  # 5 bad relation
        "Compound::DB00004\tDRUGBANK::target::Compound:Gene\tDisease::DOID:1\n"  # 6 type clash
        "Gene::2147\tDRUGBANK::target::Compound:Gene\tCompound::DB00001\n"  # 7 reversed, kept
        "a\tb\tc\td\n"  # 8 four fields
    )
    report = ParseReport()
    triples = list(iter_triples([path], report))
    assert [t.head for t in triples] == ["Compound::DB00001", "Gene::2147"]
    assert report.lines == 8 and report.blank == 1 and report.reversed_direction == 1
    assert report.malformed == 5
    reasons = {error.line_number: error.reason for error in report.errors}
    assert set(reasons) == {2, 4, 5, 6, 8}
    assert "3 tab-separated fields, found 2" in reasons[2]
    assert "not 'Type::id'" in reasons[4]
    assert "do not match relation types" in reasons[6]
    assert "5 malformed" in report.summary()


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="does not exist"):
        list(iter_triples([tmp_path / "nope.tsv"]))


def test_streaming_keeps_memory_bounded(tmp_path: Path) -> None:
    """A 200k-line file streams triple by triple (a generator, not a list)."""
    path = tmp_path / "big.tsv"
    line = "Gene::1\tSTRING::BINDING::Gene:Gene\tGene::2\n"
    path.write_text(line * 200_000)
    stream = iter_triples([path])
    first = next(stream)
    assert first.relation.name == "BINDING"
    assert sum(1 for _ in stream) == 199_999
