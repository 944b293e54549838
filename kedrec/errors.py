"""One root error for the project, with a subclass per area.

Messages are one line that names the problem and the fix (a setting, a command).
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
