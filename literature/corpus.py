"""Walk the local corpus folder and yield every document it holds, whatever its format.

The layout is the one of ``<data_dir>/literature/corpus`` (see its README). Unknown files are
ignored; files that fail to parse are yielded as ``CorruptFile`` so the caller can count and
report them. Richer copies come first (JATS full text before the PMC JSONL abstract, API v2
records before legacy ones), so keeping the first copy of each document ID keeps the best.
"""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from literature.documents import Document
from literature.errors import CorpusFormatError
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


def iter_corpus(corpus_dir: Path) -> Iterator[CorpusItem]:
    """Yield every document of the corpus folder, and a report for each corrupt file.

    Args:
        corpus_dir: The corpus root (``pubtator/``, ``pubmedqa/``, ``ctgov_v2_json/`` …).

    Yields:
        ``CorpusItem``s; ``folder`` is the path of the containing folder relative to the root.
    """
    root = corpus_dir

    def rel(path: Path) -> str:
        return str(path.parent.relative_to(root))

    for path in sorted(root.glob("pubtator/*/*")):
        if path.suffix.lower() in {".pubtator", ".txt"} and not path.name.startswith("README"):
            if path.parent.name not in {"bc5cdr", "biored", "ncbi_disease"}:
                continue
            try:
                with path.open(encoding="utf-8") as handle:
                    yield from _docs(rel(path), parse_pubtator(handle, path.parent.name))
            except (CorpusFormatError, UnicodeDecodeError, ValueError) as error:
                yield _bad(rel(path), path, error)

    for path in sorted(root.glob("pubmedqa/*.json")):
        if path.name != "ori_pqal.json" and not path.name.startswith("ori_"):
            continue
        try:
            yield from _docs(rel(path), parse_pubmedqa(read_json(path)))
        except (CorpusFormatError, AttributeError, TypeError) as error:
            yield _bad(rel(path), path, error)

    for path in sorted(root.glob("pmc_rct_evidence_inference/nxml/*.nxml")):
        try:
            doc = parse_jats(path.read_bytes(), collection="pmc_rct_evidence_inference")
            yield CorpusItem(rel(path), doc)
        except CorpusFormatError as error:
            yield _bad(rel(path), path, error)
    for path in sorted(root.glob("**/*.tar.gz")) + sorted(root.glob("**/*.tgz")):
        for member, result in iter_oa_tarball(path):
            if isinstance(result, Document):
                yield CorpusItem(rel(path), result)
            else:
                yield _bad(rel(path), f"{path}:{member}", result)
    for path in sorted(root.glob("pmc_rct_evidence_inference/*.jsonl.gz")):
        for number, record in iter_jsonl_gz(path):
            try:
                if isinstance(record, CorpusFormatError):
                    raise record
                yield CorpusItem(rel(path), parse_pmc_rct_record(record))
            except CorpusFormatError as error:
                yield _bad(rel(path), f"{path}:{number}", error)

    for path in sorted(root.glob("ddi_corpus/*.zip")):
        try:
            for member, result in iter_ddi_zip(path):
                if isinstance(result, Document):
                    yield CorpusItem(rel(path), result)
                else:
                    yield _bad(rel(path), f"{path}:{member}", result)
        except (OSError, zipfile.BadZipFile) as error:
            yield _bad(rel(path), path, error)

    for path in sorted(root.glob("ctgov_v2_json/*.json")):
        try:
            yield from _docs(rel(path), parse_ctgov_v2_payload(read_json(path)))
        except (CorpusFormatError, AttributeError, TypeError) as error:
            yield _bad(rel(path), path, error)
    for path in sorted(root.glob("ctgov_legacy_xml/raw_xml_sample/*.xml")):
        try:
            yield CorpusItem(rel(path), parse_ctgov_legacy_xml(path.read_bytes()))
        except CorpusFormatError as error:
            yield _bad(rel(path), path, error)
    for path in sorted(root.glob("ctgov_legacy_xml/*.jsonl.gz")):
        for number, record in iter_jsonl_gz(path):
            try:
                if isinstance(record, CorpusFormatError):
                    raise record
                yield CorpusItem(rel(path), parse_ctgov_legacy_record(record))
            except (CorpusFormatError, AttributeError, TypeError) as error:
                yield _bad(rel(path), f"{path}:{number}", error)
