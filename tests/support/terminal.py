"""Scripted terminal input for the chat REPL tests (``chat_repl(input_fn=...)``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable


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
