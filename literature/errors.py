"""Errors of the literature area, all under the project's root error."""

from kedrec.errors import KedrecError


class LiteratureError(KedrecError):
    """Literature ingest, index, retrieval or a literature client failed."""


class CorpusFormatError(LiteratureError):
    """A corpus or fixture file could not be parsed."""


class EmptyCorpusError(LiteratureError):
    """The corpus folder holds none of the files ingest reads (``literature.corpus.LAYOUT``)."""


class ClientError(LiteratureError):
    """A live literature API (PubMed, ClinicalTrials.gov) failed after its retries."""


class IndexMissingError(LiteratureError):
    """The LanceDB literature index has not been built yet."""
