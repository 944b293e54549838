"""What a teacher run produces: the final answer, every tool call, and the trajectory record.

These models are the contract between the agent graph, the collector (one JSON line per task
set), the evidence bundle and, later, distillation and evaluation.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from evidence.citations import CitationCheck

__all__ = [
    "INSUFFICIENT",
    "ChoiceScores",
    "CitationCheck",
    "DomainAnswer",
    "FinalAnswer",
    "TeacherRun",
    "TokenUsage",
    "ToolCallRecord",
]

INSUFFICIENT = "insufficient evidence"


class DomainAnswer(BaseModel):
    """The answer to one of the fixed domain questions (see agent.prompts.DOMAIN_QUESTIONS)."""

    question_id: str
    answer: str


class FinalAnswer(BaseModel):
    """The teacher's structured answer for one task set."""

    choice: str = Field(
        description="The chosen candidate's DRKG ID or exact name, or 'insufficient evidence'."
    )
    confidence: float = Field(ge=0.0, le=1.0)
    answers: list[DomainAnswer] = Field(default_factory=list)
    rationale: str
    citations: list[str] = Field(
        default_factory=list,
        description="IDs the rationale cites: graph entity/edge IDs, PMID:…, PMC:…, NCT:….",
    )


class ToolCallRecord(BaseModel):
    """One tool call of a run, with what it returned and how long it took."""

    step: int
    tool: str
    arguments: dict[str, Any]
    result: str
    error: str | None = None
    latency_ms: float
    edges: list[tuple[str, str, str]] = Field(
        default_factory=list,
        description="Graph edges the result showed, (head ID, type or relation, tail ID); "
        "the citation check verifies edge citations against them.",
    )


class TokenUsage(BaseModel):
    """Tokens counted over all model turns of a run."""

    input_tokens: int = 0
    output_tokens: int = 0


class ChoiceScores(BaseModel):
    """How a plan-mode choice was made from candidate log-likelihoods (local models)."""

    rule: str = Field(description="sum, mean or mutual_info (AgentSettings.choice_rule).")
    scores: list[float] = Field(description="Each candidate's score under the rule.")
    loglik: list[float] = Field(description="Summed log-probability of each candidate's name.")
    n_tokens: list[int]
    prior: list[float] | None = Field(None, description="Log-likelihood without evidence.")
    margin: float = Field(description="Best score minus the other's.")
    abstain_margin: float


class TeacherRun(BaseModel):
    """Everything one teacher run did; a trajectory record is this plus set metadata."""

    status: Literal["ok", "failed"]
    mode: Literal["agent", "plan"] = Field("agent", description="How the teacher answered.")
    rationalized: bool = Field(
        False, description="The teacher was told the label (gold-label rationale)."
    )
    abstained: bool = Field(False, description="The answer is 'insufficient evidence'.")
    choice_scores: ChoiceScores | None = None
    failure_reason: str | None = None
    answer: FinalAnswer | None = None
    choice_id: str | None = Field(None, description="The chosen candidate's ID, if any.")
    messages: list[dict[str, Any]] = Field(default_factory=list)
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    citation_check: CitationCheck = Field(default_factory=CitationCheck)
    tokens: TokenUsage = Field(default_factory=TokenUsage)
    model_seconds: float = 0.0
    tool_seconds: float = Field(0.0, description="Tool (agent) or evidence-bundle (plan) time.")
    wall_seconds: float = 0.0
    steps: int = 0
    step_limit_reached: bool = Field(
        False, description="The run spent context.max_steps turns and was forced to answer."
    )
