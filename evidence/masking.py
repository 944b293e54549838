"""The one masking rule: a set's hidden pairs are added to whatever the tools already hide.

Hiding is only ever widened, never replaced: a caller that passes tools masked for a whole
evaluation (every val/test label) and a set with its own label pairs gets the union, so no
path through the evidence layer can show a label the caller meant to hide.
"""

from __future__ import annotations

from collections.abc import Iterable

from graph_store.masking import HiddenPairs
from graph_store.tools import GraphTools


def masked_tools(graph_tools: GraphTools, hidden_pairs: Iterable[tuple[str, str]]) -> GraphTools:
    """Tools hiding ``hidden_pairs`` plus any pairs ``graph_tools`` already hide.

    Returns ``graph_tools`` itself when it already hides them all (its caches are kept).
    """
    wanted = HiddenPairs.of(hidden_pairs).pairs
    if wanted <= graph_tools.hidden.pairs:
        return graph_tools
    return graph_tools.with_hidden(HiddenPairs(graph_tools.hidden.pairs | wanted))
