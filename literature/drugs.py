"""Find which graph drugs a text mentions: one Aho–Corasick automaton over all names.

The names are DrugBank's (via ``graph_store.names``): ~20k drugs, ~55k names and synonyms.
Matching is case-insensitive on word boundaries (the characters around a hit must not be
letters or digits). Names shorter than ``min_chars`` (default 4: "AD", "ICE", "Ra") are
ignored because they are mostly abbreviations that collide with ordinary words; so are a few
synonyms that are common English words.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from literature.errors import LiteratureError

logger = logging.getLogger(__name__)

AMBIGUOUS_NAMES = frozenset(
    {
        "water",
        "oxygen",
        "sodium",
        "calcium",
        "iron",
        "gold",
        "silver",
        "zinc",
        "copper",
        "sulfur",
        "carbon",
        "nitrogen",
        "hydrogen",
        "helium",
        "alcohol",
        "ethanol",
        "glucose",
        "dextrose",
        "sucrose",
        "protein",
        "insulin human",
        "vitamin",
        "placebo",
        "control",
        "standard",
        "saline",
        "serum",
        "plasma",
        "albumin",
        "cells",
        "tissue",
        "urea",
        "acid",
        "base",
        "salt",
        "ozone",
        "light",
        "heat",
        "tablet",
        "capsule",
        "injection",
        "cream",
    }
)
"""Lower-cased synonyms never matched: substances or words too generic to signal a drug."""


class DrugMatcher:
    """Case-insensitive whole-word matcher of drug names and synonyms to DrugBank IDs."""

    def __init__(self, names: Iterable[tuple[str, Iterable[str]]], min_chars: int = 4) -> None:
        """Build the automaton.

        Args:
            names: ``(drug ID, names and synonyms)`` pairs; IDs like ``DB00945``.
            min_chars: Names shorter than this are skipped (ambiguous abbreviations).

        Raises:
            LiteratureError: ``pyahocorasick`` is not installed.
        """
        try:
            import ahocorasick
        except ImportError as error:
            raise LiteratureError(
                "pyahocorasick missing: pip install 'kedrec[literature]'"
            ) from error
        table: dict[str, set[str]] = {}
        for drug_id, spellings in names:
            for spelling in spellings:
                key = spelling.strip().lower()
                if len(key) < min_chars or key in AMBIGUOUS_NAMES:
                    continue
                table.setdefault(key, set()).add(drug_id)
        self._automaton = ahocorasick.Automaton()
        for key, ids in table.items():
            self._automaton.add_word(key, (len(key), tuple(sorted(ids))))
        if table:
            self._automaton.make_automaton()
        self.size = len(table)
        logger.debug("drug matcher: %d names (min %d chars)", self.size, min_chars)

    def find(self, text: str) -> list[str]:
        """Return the sorted drug IDs whose name or synonym occurs in ``text`` as whole words."""
        if not self.size:
            return []
        lowered = text.lower()
        found: set[str] = set()
        limit = len(lowered)
        for end, (length, ids) in self._automaton.iter(lowered):
            start = end - length + 1
            if start > 0 and lowered[start - 1].isalnum():
                continue
            if end + 1 < limit and lowered[end + 1].isalnum():
                continue
            found.update(ids)
        return sorted(found)


def load_drug_matcher(names_dir: Path, min_chars: int = 4) -> DrugMatcher:
    """Build a matcher from the graph's drug vocabulary (``graph_store.names``).

    Args:
        names_dir: The names folder (``settings.names_dir``).
        min_chars: Shortest name matched.

    Returns:
        A matcher whose IDs are DrugBank IDs (``DB00945``).
    """
    from graph_store.names import load_name_index

    index = load_name_index(names_dir)
    pairs = (
        (entity_id.partition("::")[2], (name.name, *name.synonyms))
        for entity_id, name in index.compound_names()
    )
    return DrugMatcher(pairs, min_chars=min_chars)
