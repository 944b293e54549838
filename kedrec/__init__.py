"""KEDRec core: settings, shared types, errors and the ``kedrec`` command line."""

__version__ = "0.1.0"
