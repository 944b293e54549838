"""What one evidence step returns: text lines, the edges each line shows, and the query.

An :class:`Observation` is the unit both readers of the evidence share: the teacher's tool
returns its :attr:`~Observation.text` to the model, and the student's bundle renders the same
lines (cut to a budget, whole lines only). Because every line carries the edges it shows, a
cut bundle still knows exactly which IDs and edges its reader saw, and the citation check can
hold an answer to that and nothing more.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from evidence.ids import ids_in

Edge = tuple[str, str, str]
"""``(head ID, relationship type or DRKG relation, tail ID)``; ``''`` when the type is unknown."""


def edge_keys(head: str, edge_type: str | None, relation: str | None, tail: str) -> list[Edge]:
    """The keys one graph edge can be cited by: its Neo4j type and its DRKG relation."""
    keys = [(head, (edge_type or "").upper(), tail)]
    if relation:
        keys.append((head, relation, tail))
    return keys


class EvidenceLine(BaseModel):
    """One line of evidence text and the graph edges it shows."""

    text: str
    edges: list[Edge] = Field(default_factory=list)


class Observation(BaseModel):
    """The result of one evidence step, as text lines plus what was asked."""

    tool: str = Field(description="The step (and teacher tool) name, e.g. 'drug_profile'.")
    arguments: dict[str, Any] = Field(description="The step's arguments, IDs resolved.")
    query: str = Field(description="What was run: the step call, or the BM25 query text.")
    lines: list[EvidenceLine]
    result: Any = Field(None, description="The underlying tool result as JSON.")

    @property
    def text(self) -> str:
        """The evidence text: the lines, one per line."""
        return "\n".join(line.text for line in self.lines)

    @property
    def ids(self) -> list[str]:
        """Every citable ID the text shows (normalised, sorted)."""
        return ids_in(self.text)

    @property
    def edges(self) -> list[Edge]:
        """Every edge the lines show, in line order, without repeats."""
        return list(dict.fromkeys(edge for line in self.lines for edge in line.edges))
