"""``kedrec lit ingest`` on a folder with nothing it reads fails with one clear error, exit 1."""

from __future__ import annotations

import re
import sys
from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from literature.cli import lit_app
from literature.corpus import LAYOUT, check_corpus_dir, corpus_files, iter_corpus
from literature.errors import EmptyCorpusError, LiteratureError

runner = CliRunner()
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def unrecognised_folder(root: Path) -> Path:
    """Files that look like corpus files but are none of the ``LAYOUT``."""
    files = {
        "notes.txt": "not a corpus file",
        "abstracts.json": "[]",
        "pubtator/other_set/docs.pubtator": "1|t|Title\n",  # not bc5cdr/biored/ncbi_disease
        "pubtator/bc5cdr/README.txt": "readme",  # READMEs are skipped
        "pubtator/bc5cdr/docs.csv": "a,b",  # wrong suffix
        "pubmedqa/test_set.json": "{}",  # only ori_*.json
        "ctgov_v2_json/nested/studies.json": "[]",  # one level too deep
        "ctgov_legacy_xml/NCT0001.xml": "<x/>",  # XML only under raw_xml_sample/
        "ddi_corpus/ddi.tar": "",
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture(params=["empty", "unrecognised"])
def barren(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """An empty corpus folder, or one holding only files ingest does not read."""
    root = tmp_path / "corpus"
    root.mkdir()
    return unrecognised_folder(root) if request.param == "unrecognised" else root


def test_ingest_cli_fails_on_a_folder_with_nothing_it_reads(barren: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "lancedb"
    result = runner.invoke(
        lit_app, ["ingest", "--corpus-dir", str(barren), "--index-dir", str(index_dir)]
    )
    assert result.exit_code != 0
    error = result.exception
    assert isinstance(error, EmptyCorpusError), result.output
    assert isinstance(error, LiteratureError)
    message = str(error)
    assert "\n" not in message
    assert str(barren) in message
    for expected in LAYOUT.values():  # the message describes the layout it expects
        assert expected in message
    assert "seen" not in result.output  # no empty report table
    assert not index_dir.exists()  # failed before opening (or creating) the index


def test_kedrec_lit_ingest_prints_one_red_line_and_exits_1(
    barren: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kedrec_cli.main import main

    buffer = StringIO()
    console = Console(file=buffer, force_terminal=True, color_system="standard", width=60)
    monkeypatch.setattr("kedrec.console.console", console)
    monkeypatch.setattr(sys, "argv", ["kedrec", "lit", "ingest", "--corpus-dir", str(barren)])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    lines = [line for line in buffer.getvalue().splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("\x1b[31merror:")
    plain = ANSI.sub("", lines[0])
    assert plain.startswith(f"error: corpus folder {barren} holds no file that ingest reads")


def test_iter_corpus_raises_before_the_first_item(barren: Path) -> None:
    assert not any(corpus_files(barren).values())
    with pytest.raises(EmptyCorpusError, match="expected any of pubtator/"):
        iter_corpus(barren)  # raised at the call, not at the first next()


def test_missing_folder_is_a_literature_error(tmp_path: Path) -> None:
    with pytest.raises(LiteratureError, match="is missing") as raised:
        check_corpus_dir(tmp_path / "nope")
    assert not isinstance(raised.value, EmptyCorpusError)


def test_one_recognised_file_is_enough_even_if_corrupt(tmp_path: Path) -> None:
    """Negative control: a known file that fails to parse is reported, not an empty corpus."""
    root = unrecognised_folder(tmp_path)
    (root / "pubmedqa" / "ori_pqal.json").write_text("{not json", encoding="utf-8")
    assert check_corpus_dir(root)["pubmedqa"] == [root / "pubmedqa" / "ori_pqal.json"]
    items = list(iter_corpus(root))
    assert len(items) == 1
    assert items[0].corrupt is not None


@pytest.mark.parametrize(
    "name",
    [
        "pubtator/bc5cdr/CDR_sample.PubTator",
        "pubtator/ncbi_disease/train.txt",
        "pubmedqa/ori_pqal.json",
        "pmc_rct_evidence_inference/nxml/PMC1.nxml",
        "some/where/oa_package.tar.gz",
        "pmc_rct_evidence_inference/records.jsonl.gz",
        "ddi_corpus/DDICorpus.zip",
        "ctgov_v2_json/studies.json",
        "ctgov_legacy_xml/raw_xml_sample/NCT0001.xml",
        "ctgov_legacy_xml/studies.jsonl.gz",
    ],
)
def test_each_layout_entry_is_recognised(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")
    assert [p for files in check_corpus_dir(tmp_path).values() for p in files] == [path]
