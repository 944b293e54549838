"""Agent tools and the ``kedrec lit`` CLI against the session's real index."""

from __future__ import annotations

import inspect
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kedrec.settings import get_settings
from literature.cli import lit_app
from literature.tools import clinical_trials_search, local_search, pubmed_search

FREE_TEXT_TOOLS = (pubmed_search, clinical_trials_search)

CORPUS = get_settings().data_dir / "literature" / "corpus"


def test_free_text_tools_document_their_output() -> None:
    signatures = {tool.__name__: str(inspect.signature(tool)) for tool in FREE_TEXT_TOOLS}
    assert signatures == {
        "pubmed_search": "(query: 'str', max_results: 'int' = 10) -> 'str'",
        "clinical_trials_search": "(condition: 'str | None' = None, intervention: "
        "'str | None' = None, max_results: 'int' = 10) -> 'str'",
    }
    assert all(tool.__doc__ and "Returns" in tool.__doc__ for tool in FREE_TEXT_TOOLS)


def test_local_search_says_it_answered_locally(index_settings: Path) -> None:
    text = local_search("galantamine alzheimer", "ct", "trials of galantamine")
    assert "[NCT:NCT00000172 | CT |" in text
    assert text.splitlines()[-1].startswith("Status: ")
    assert "live APIs are off" in text and "source=ct" in text


def test_pubmed_search_falls_back_to_local_index(
    index_settings: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEDREC_LIT_PUBMED_BASE_URL", "http://127.0.0.1:9/eutils/")
    monkeypatch.setenv("KEDREC_LIT_MAX_RETRIES", "0")
    monkeypatch.setenv("KEDREC_LIT_HTTP_CACHE_DIR", str(tmp_path))
    get_settings.cache_clear()
    text = pubmed_search("riluzole amyotrophic lateral sclerosis")
    assert "answered from the local index" in text
    assert "[PMC:" in text


def test_clinical_trials_search_offline_mode(
    index_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEDREC_LIT_OFFLINE", "1")
    get_settings.cache_clear()
    text = clinical_trials_search("alcohol dependence", "acamprosate")
    assert "offline mode" in text
    assert "| CT |" in text


def test_cli_search_and_stats(index_settings: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        lit_app, ["search", "Galantamine | Alzheimer's disease", "--source", "ct"]
    )
    assert result.exit_code == 0, result.output
    assert "NCT:NCT00000172" in result.output
    result = runner.invoke(lit_app, ["search", "riluzole", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["passages"]
    result = runner.invoke(lit_app, ["stats", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["documents_by_source"]["CT"] > 0


def test_cli_ingest_small_corpus_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "ctgov_v2_json").mkdir(parents=True)
    shutil.copy(
        CORPUS / "ctgov_v2_json" / "dgg32_ctg-studies_50_mixed.json", corpus / "ctgov_v2_json"
    )
    (corpus / "ctgov_v2_json" / "broken.json").write_text("[{", encoding="utf-8")
    monkeypatch.setenv("KEDREC_LIT_INGEST_BATCH_DOCS", "4")
    get_settings.cache_clear()
    args = ["ingest", "--corpus-dir", str(corpus), "--index-dir", str(tmp_path / "db"), "--json"]
    runner = CliRunner()
    first = runner.invoke(lit_app, [*args, "--max-docs", "6"])
    assert first.exit_code == 0, first.output
    report = json.loads(first.output[first.output.index("{") :])
    assert report["added_docs"] == 6
    assert report["corrupt"][0]["path"].endswith("broken.json")
    second = runner.invoke(lit_app, [*args, "--max-docs", "2"])
    report = json.loads(second.output[second.output.index("{") :])
    assert report["already_indexed"] == 6 and report["added_docs"] == 2
    get_settings.cache_clear()
