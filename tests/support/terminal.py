"""Scripted terminal input for the chat REPL tests (``chat_repl(input_fn=...)``)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any


def scripted_input(lines: Iterable[str]) -> Callable[[str], str]:
    """An ``input``-like function that returns ``lines`` in turn, then raises EOFError (as
    ``input`` does at the end of stdin, which ends the REPL).
    """
    remaining = iter(lines)

    def read(prompt: str) -> str:
        try:
            return next(remaining)
        except StopIteration:
            raise EOFError from None

    return read


def run_chat(
    compiled: Any, saver: Any, *, context: Any, thread_id: str, lines: Iterable[str]
) -> str:
    """Run ``agent.chat.chat_repl`` over ``lines`` on the settings' graph and return what it
    printed (the default graph tools that ``/recommend`` opens are closed afterwards).
    """
    from rich.console import Console

    from agent.chat import chat_repl
    from agent.defaults import close_default_tools

    buffer = io.StringIO()
    try:
        chat_repl(
            compiled,
            saver,
            context=context,
            thread_id=thread_id,
            input_fn=scripted_input(lines),
            console=Console(file=buffer, width=300, color_system=None),
        )
    finally:
        close_default_tools()
    return buffer.getvalue()
