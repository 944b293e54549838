"""The teacher graph's state: a narrow input (the task and messages) and the full run state."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated

from langchain_core.messages import AnyMessage
from langgraph.graph import add_messages
from pydantic import BaseModel, Field

from agent.records import FinalAnswer, ToolCallRecord
from tasks.task_sets import NamedEntity


class AgentTask(BaseModel):
    """What the agent is asked: a disease and its candidate drugs; never the label."""

    set_id: str | None = None
    disease: NamedEntity
    candidates: list[NamedEntity] = Field(min_length=1)

    @classmethod
    def from_task_set(cls, task_set: object) -> AgentTask:
        """Copy the question part of an :class:`tasks.task_sets.TaskSet` (label left out)."""
        return cls.model_validate(task_set, from_attributes=True)


@dataclass
class InputState:
    """What a caller (run_teacher, LangGraph Studio) gives the graph."""

    messages: Annotated[Sequence[AnyMessage], add_messages] = field(default_factory=list)
    """The conversation: the task message, then model turns and tool results.

    Appended to (or updated by ID) through ``add_messages``; the system prompt is not stored
    here but prepended on every model call, as in the LangGraph react-agent template.
    """

    task: AgentTask | None = None
    """The task set's question. ``None`` for an open conversation (Studio)."""


@dataclass
class State(InputState):
    """The whole run: the input plus what the nodes record along the way."""

    steps: int = 0
    """Model turns taken by ``call_model`` so far; the run is forced to answer at
    ``context.max_steps``."""

    step_limit_reached: bool = False
    """Set when the last allowed turn still wanted tools; the final answer prompt then says
    the evidence gathering could not finish."""

    tool_records: Annotated[list[ToolCallRecord], operator.add] = field(default_factory=list)
    """Every tool call with its arguments, result, edges and latency, in call order."""

    model_seconds: Annotated[float, operator.add] = 0.0
    """Wall time spent in model calls (tool-using turns and final-answer turns)."""

    answer_attempts: int = 0
    """Final-answer attempts so far; at most ``1 + context.max_answer_retries``."""

    answer_error: str | None = None
    """Why the latest final-answer attempt could not be parsed (cleared on success)."""

    answer: FinalAnswer | None = None
    """The parsed final answer, before the citation check (which run_teacher applies)."""

    failure_reason: str | None = None
    """Set when the run ends without a usable answer (malformed output after every retry)."""
