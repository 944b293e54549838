"""The LangGraph teacher (agent mode: ReAct over the tools), its runs, trajectories and chat."""

from __future__ import annotations

from typing import Any

__all__ = ["graph"]


def __getattr__(name: str) -> Any:
    """Import the compiled teacher ``graph`` on first use (LangGraph is slow to import)."""
    if name == "graph":
        from agent.graph import graph

        return graph
    raise AttributeError(f"module 'agent' has no attribute {name!r}")
