"""One root error for the project, with a subclass per area.

Every exception class the project defines derives from :class:`KedrecError`, so the CLI
(``kedrec_cli.main.main``) turns each one into a single red ``error:`` line and exit code 1,
and callers can catch one root (``tests/kedrec/test_errors.py`` checks every module). Messages
are one line that names the problem and the fix (a setting, a command).

The areas and their errors:

* core (``kedrec``): :class:`ConfigError` (a setting; also ``read_settings``),
  :class:`DataFormatError` (an input file), :class:`DownloadError` (``kedrec.download``).
* graph store (``graph_store``): :class:`Neo4jServerError`, :class:`GraphLoadError`,
  :class:`GraphToolError` with :class:`EntityNotFoundError` and :class:`QueryRefusedError`.
* LLMs (``llm``): ``llm.local_model.LocalModelError``; ``llm.chat_models.ChatModelConfigError``
  is a :class:`ConfigError`; :class:`StructuredOutputUnsupported` (the server refuses a JSON
  schema for the answer) with ``llm.structured.StructuredOutputInvalid`` (its reply does not
  match the schema).
* embeddings (``kge``): ``kge.errors.EmbeddingError`` with ``EmbeddingsNotFoundError``,
  ``TrainingLockedError`` and ``UnknownEmbeddingIdError``.
* literature (``literature``): ``literature.errors.LiteratureError`` with
  ``CorpusFormatError``, ``ClientError`` and ``IndexMissingError``.
* task sets (``tasks``): :class:`DataFormatError` for a malformed task-set or benchmark file,
  :class:`LeakageError` when a held-out label leaks (``kedrec sets check-leakage``).
* teacher (``agent``): ``agent.answer.AnswerFormatError``, ``agent.prompts.PromptInputError``.
* student (``llm.student``): ``StudentModelError`` (a ``LocalModelError``: a student folder
  without adapter/ or merged/, or a malformed student.json).
* evaluation (``eval``): :class:`MetricError` (an unknown metric name, with near matches).
* evidence, distill: no errors of their own; they raise the ones above (distill's leak guard
  raises :class:`LeakageError`).

An area's errors live in its own ``errors`` module (``kge.errors``, ``literature.errors``) or
beside the code that raises them; the errors of areas without such a module live here.
"""


class KedrecError(Exception):
    """Root of every error KEDRec raises on purpose."""


class ConfigError(KedrecError):
    """A setting is missing or invalid."""


class DataFormatError(KedrecError):
    """An input file does not have the expected format."""


class DownloadError(KedrecError):
    """A download failed, was truncated or did not match its checksum."""


class Neo4jServerError(KedrecError):
    """The local Neo4j server could not be built, started, reached or stopped."""


class GraphLoadError(KedrecError):
    """Loading DRKG triples into Neo4j failed."""


class GraphToolError(KedrecError):
    """A Cypher tool was called with bad arguments or the graph could not answer."""


class EntityNotFoundError(GraphToolError):
    """No graph entity matches the given name or ID."""


class QueryRefusedError(GraphToolError):
    """A free-form Cypher query was refused before execution (not read-only, malformed, ...)."""


class LeakageError(KedrecError):
    """A held-out (val/test/benchmark) label is visible to a graph tool or to the embeddings."""


class StructuredOutputUnsupported(KedrecError):
    """The chat model or its server cannot return JSON constrained to a schema.

    Raised by ``llm.structured.structured_answer``; callers fall back to parsing the JSON
    from plain text (with a repair turn).
    """


class MetricError(KedrecError):
    """An evaluation metric is unknown, or cannot be computed on the given predictions."""


def failure_text(error: BaseException) -> str:
    """``"TypeName: first line of the message"``: how a run records an error it survived."""
    message = str(error)
    return f"{type(error).__name__}: {message.splitlines()[0] if message else ''}".strip()
