"""Settings from the environment and ``.env``, one sub-model per area.

Each area reads its own variables (``NEO4J_URI``, ``KEDREC_DATA_DIR``, ...), so the names
users already know from Neo4j's tooling work unchanged. ``get_settings()`` builds the root once.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
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
        None, description="Neo4j home built by the launcher; default <cache_dir>/neo4j/<version>."
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
    neo4j: Neo4jSettings = Field(default_factory=Neo4jSettings)

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
