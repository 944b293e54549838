"""Walk the local corpus folder and yield every document it holds, whatever its format.

The layout is the one of ``<data_dir>/literature/corpus`` (see its README and ``LAYOUT``).
Unknown files are ignored, but a folder with none of the known files is an error
(``EmptyCorpusError``), not an empty corpus. Files that fail to parse are yielded as
``CorruptFile`` so the caller can count and report them. Richer copies come first (JATS full
text before the PMC JSONL abstract, API v2 records before legacy ones), so keeping the first
copy of each document ID keeps the best.
"""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from literature.documents import Document
from literature.errors import CorpusFormatError, EmptyCorpusError, LiteratureError
from literature.parsers import (
    iter_ddi_zip,
    iter_jsonl_gz,
    iter_oa_tarball,
    parse_ctgov_legacy_record,
    parse_ctgov_legacy_xml,
    parse_ctgov_v2_payload,
    parse_jats,
    parse_pmc_rct_record,
    parse_pubmedqa,
    parse_pubtator,
    read_json,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CorruptFile:
    """A file (or member, or line) that could not be parsed."""

    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class CorpusItem:
    """A parsed document, or a corruption report, with the corpus folder it came from."""

    folder: str
    document: Document | None
    corrupt: CorruptFile | None = None


def _docs(folder: str, docs: Iterator[Document] | list[Document]) -> Iterator[CorpusItem]:
    for doc in docs:
        yield CorpusItem(folder, doc)


def _bad(folder: str, path: Path | str, error: Exception) -> CorpusItem:
    return CorpusItem(folder, None, CorruptFile(str(path), str(error)))


PUBTATOR_SETS = ("bc5cdr", "biored", "ncbi_disease")

LAYOUT: dict[str, str] = {
    "pubtator": "pubtator/{bc5cdr,biored,ncbi_disease}/*.pubtator|*.txt",
    "pubmedqa": "pubmedqa/ori_*.json",
    "pmc_nxml": "pmc_rct_evidence_inference/nxml/*.nxml",
    "pmc_oa_tarballs": "*.tar.gz|*.tgz (PMC OA packages, in any subfolder)",
    "pmc_jsonl": "pmc_rct_evidence_inference/*.jsonl.gz",
    "ddi": "ddi_corpus/*.zip",
    "ctgov_v2": "ctgov_v2_json/*.json",
    "ctgov_legacy_xml": "ctgov_legacy_xml/raw_xml_sample/*.xml",
    "ctgov_legacy_jsonl": "ctgov_legacy_xml/*.jsonl.gz",
}
"""What ``iter_corpus`` reads, by kind, in reading order (paths relative to the corpus root)."""


def corpus_files(corpus_dir: Path) -> dict[str, list[Path]]:
    """Return the files ``iter_corpus`` would read, by ``LAYOUT`` kind; other files are ignored.

    Args:
        corpus_dir: The corpus root.

    Returns:
        For each kind of ``LAYOUT``, its files, sorted (empty lists included).
    """
    root = corpus_dir
    return {
        "pubtator": [
            path
            for path in sorted(root.glob("pubtator/*/*"))
            if path.suffix.lower() in {".pubtator", ".txt"}
            and not path.name.startswith("README")
            and path.parent.name in PUBTATOR_SETS
            and path.is_file()
        ],
        "pubmedqa": sorted(root.glob("pubmedqa/ori_*.json")),
        "pmc_nxml": sorted(root.glob("pmc_rct_evidence_inference/nxml/*.nxml")),
        "pmc_oa_tarballs": sorted(root.glob("**/*.tar.gz")) + sorted(root.glob("**/*.tgz")),
        "pmc_jsonl": sorted(root.glob("pmc_rct_evidence_inference/*.jsonl.gz")),
        "ddi": sorted(root.glob("ddi_corpus/*.zip")),
        "ctgov_v2": sorted(root.glob("ctgov_v2_json/*.json")),
        "ctgov_legacy_xml": sorted(root.glob("ctgov_legacy_xml/raw_xml_sample/*.xml")),
        "ctgov_legacy_jsonl": sorted(root.glob("ctgov_legacy_xml/*.jsonl.gz")),
    }


def check_corpus_dir(corpus_dir: Path) -> dict[str, list[Path]]:
    """Return ``corpus_files`` of a folder, or fail when it is missing or holds none of them.

    Args:
        corpus_dir: The corpus root.

    Returns:
        The recognised files by kind (at least one file in all).

    Raises:
        LiteratureError: The folder does not exist.
        EmptyCorpusError: The folder holds no file of the ``LAYOUT``.
    """
    if not corpus_dir.is_dir():
        raise LiteratureError(
            f"corpus folder {corpus_dir} is missing: set KEDREC_LIT_CORPUS_DIR or --corpus-dir"
        )
    files = corpus_files(corpus_dir)
    if not any(files.values()):
        raise EmptyCorpusError(
            f"corpus folder {corpus_dir} holds no file that ingest reads; expected any of "
            + ", ".join(LAYOUT.values())
        )
    return files


def iter_corpus(corpus_dir: Path) -> Iterator[CorpusItem]:
    """Yield every document of the corpus folder, and a report for each corrupt file.

    The folder is checked at the call, before the first item is asked for.

    Args:
        corpus_dir: The corpus root (``pubtator/``, ``pubmedqa/``, ``ctgov_v2_json/`` …; see
            ``LAYOUT``).

    Returns:
        An iterator of ``CorpusItem``s; ``folder`` is the containing folder relative to the root.

    Raises:
        LiteratureError: The folder does not exist.
        EmptyCorpusError: The folder holds no file of the ``LAYOUT``.
    """
    return _walk(corpus_dir, check_corpus_dir(corpus_dir))


def _walk(root: Path, files: dict[str, list[Path]]) -> Iterator[CorpusItem]:
    def rel(path: Path) -> str:
        return str(path.parent.relative_to(root))

    for path in files["pubtator"]:
        try:
            with path.open(encoding="utf-8") as handle:
                yield from _docs(rel(path), parse_pubtator(handle, path.parent.name))
        except (CorpusFormatError, UnicodeDecodeError, ValueError) as error:
            yield _bad(rel(path), path, error)

    for path in files["pubmedqa"]:
        try:
            yield from _docs(rel(path), parse_pubmedqa(read_json(path)))
        except (CorpusFormatError, AttributeError, TypeError) as error:
            yield _bad(rel(path), path, error)

    for path in files["pmc_nxml"]:
        try:
            doc = parse_jats(path.read_bytes(), collection="pmc_rct_evidence_inference")
            yield CorpusItem(rel(path), doc)
        except CorpusFormatError as error:
            yield _bad(rel(path), path, error)
    for path in files["pmc_oa_tarballs"]:
        for member, result in iter_oa_tarball(path):
            if isinstance(result, Document):
                yield CorpusItem(rel(path), result)
            else:
                yield _bad(rel(path), f"{path}:{member}", result)
    for path in files["pmc_jsonl"]:
        for number, record in iter_jsonl_gz(path):
            try:
                if isinstance(record, CorpusFormatError):
                    raise record
                yield CorpusItem(rel(path), parse_pmc_rct_record(record))
            except CorpusFormatError as error:
                yield _bad(rel(path), f"{path}:{number}", error)

    for path in files["ddi"]:
        try:
            for member, result in iter_ddi_zip(path):
                if isinstance(result, Document):
                    yield CorpusItem(rel(path), result)
                else:
                    yield _bad(rel(path), f"{path}:{member}", result)
        except (OSError, zipfile.BadZipFile) as error:
            yield _bad(rel(path), path, error)

    for path in files["ctgov_v2"]:
        try:
            yield from _docs(rel(path), parse_ctgov_v2_payload(read_json(path)))
        except (CorpusFormatError, AttributeError, TypeError) as error:
            yield _bad(rel(path), path, error)
    for path in files["ctgov_legacy_xml"]:
        try:
            yield CorpusItem(rel(path), parse_ctgov_legacy_xml(path.read_bytes()))
        except CorpusFormatError as error:
            yield _bad(rel(path), path, error)
    for path in files["ctgov_legacy_jsonl"]:
        for number, record in iter_jsonl_gz(path):
            try:
                if isinstance(record, CorpusFormatError):
                    raise record
                yield CorpusItem(rel(path), parse_ctgov_legacy_record(record))
            except (CorpusFormatError, AttributeError, TypeError) as error:
                yield _bad(rel(path), f"{path}:{number}", error)
