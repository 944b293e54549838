"""The ``kedrec`` command line: it imports every package, so no package imports it."""
