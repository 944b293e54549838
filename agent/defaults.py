"""The process-wide defaults of runs that are given no tools or model: Studio, chat, the CLI.

One Neo4j driver on the settings' database, opened on first use and shared by every default
tool set (unmasked: these runs are not evaluations, so no pair is hidden), and one chat model
per ``(model, temperature, max_tokens)``. :func:`close_default_tools` closes the driver and
forgets the tools, e.g. at the end of a CLI command or between tests.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.tools import BaseTool
    from neo4j import Driver

    from agent.context import AgentContext
    from graph_store.tools import GraphTools

_lock = threading.RLock()
_driver: Driver | None = None
_graph_tools: GraphTools | None = None
_tools: dict[tuple[str, bool], list[BaseTool]] = {}
_models: dict[tuple[str, float, int], BaseChatModel] = {}


def default_graph_tools() -> GraphTools:
    """Unmasked graph tools on the settings' Neo4j (the driver is opened once per process)."""
    global _driver, _graph_tools
    with _lock:
        if _graph_tools is None:
            from graph_store.connection import open_driver
            from graph_store.tools import GraphTools
            from kedrec.settings import get_settings

            settings = get_settings()
            _driver = open_driver(settings.neo4j)
            _graph_tools = GraphTools.from_settings(_driver, settings.neo4j)
        return _graph_tools


def default_tools(context: AgentContext) -> list[BaseTool]:
    """The teacher's tools on :func:`default_graph_tools`, with the context's literature."""
    key = (context.literature_source, context.use_live_apis)
    with _lock:
        if key not in _tools:
            from agent.tools import make_tools

            _tools[key] = make_tools(
                default_graph_tools(),
                literature_source=context.literature_source,
                use_live_apis=context.use_live_apis,
            )
        return _tools[key]


def close_default_tools() -> None:
    """Close the default driver and forget the default tools (the next use reopens them)."""
    global _driver, _graph_tools
    with _lock:
        driver, _driver, _graph_tools = _driver, None, None
        _tools.clear()
    if driver is not None:
        driver.close()


def default_model(context: AgentContext) -> BaseChatModel:
    """The chat model for ``context.model``, loaded once per model, temperature and length."""
    key = (context.model, context.temperature, context.max_tokens)
    with _lock:
        if key not in _models:
            from llm.chat_models import load_chat_model

            _models[key] = load_chat_model(context)
        return _models[key]
