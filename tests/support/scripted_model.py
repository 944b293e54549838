"""A scripted chat model for agent tests: replays AIMessages and records what it was sent.

The only fake in the agent tests (the project's standard: spec'd fakes for the LLM only);
tools, Neo4j and LanceDB are real.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import PrivateAttr

USAGE = {"input_tokens": 100, "output_tokens": 20, "total_tokens": 120}

_ids = itertools.count()


def tool_call(tool: str, /, **args: Any) -> dict[str, Any]:
    """One tool call for a scripted turn (its ID is filled in when replayed)."""
    return {"name": tool, "args": args, "id": None, "type": "tool_call"}


def turn(*calls: dict[str, Any], content: str = "") -> AIMessage:
    """A scripted model turn with tool calls (or plain text) and fixed token usage."""
    return AIMessage(content=content, tool_calls=list(calls), usage_metadata=USAGE)


class ScriptedChatModel(BaseChatModel):
    """Replays ``script`` turn by turn, then ``then`` forever (or fails when it is None)."""

    script: list[AIMessage]
    then: AIMessage | None = None

    _position: int = PrivateAttr(default=0)
    _sent: list[list[BaseMessage]] = PrivateAttr(default_factory=list)
    _tools: list[list[str] | None] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    @property
    def sent(self) -> list[list[BaseMessage]]:
        """The messages of every call, in order."""
        return self._sent

    @property
    def tools_seen(self) -> list[list[str] | None]:
        """The tool names bound at every call (None when called without tools)."""
        return self._tools

    def bind_tools(
        self, tools: Sequence[BaseTool | Callable[..., Any] | dict[str, Any]], **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self._sent.append(list(messages))
        tools = kwargs.get("tools")
        self._tools.append([t["function"]["name"] for t in tools] if tools else None)
        if self._position < len(self.script):
            scripted = self.script[self._position]
            self._position += 1
        elif self.then is not None:
            scripted = self.then
        else:
            raise AssertionError(f"script exhausted after {self._position} turns")
        calls = [{**call, "id": f"call_{next(_ids)}"} for call in scripted.tool_calls]
        message = AIMessage(
            content=scripted.content,
            tool_calls=calls,
            usage_metadata=scripted.usage_metadata,
            id=f"scripted-{next(_ids)}",
        )
        return ChatResult(generations=[ChatGeneration(message=message)])
