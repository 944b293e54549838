"""One plan-mode answer, made so that it always parses, whatever the model.

The choice can never be invalid:

- **local models** (``local:…``): each candidate's name is scored as the continuation of
  ``Choice: `` by log-likelihood (:mod:`llm.choice`; rule and abstention margin from the
  context), then the model writes the rest of the layout after the chosen name (prefill);
- **OpenAI-compatible servers**: structured output with a JSON schema whose ``choice`` is an
  enum of the candidates' names (:mod:`llm.structured`); servers without it get the text path;
- **any other chat model**: the layout as text, parsed by :func:`agent.sections.parse_sections`
  and re-asked with the error (``context.max_answer_retries`` times) when no candidate is named.

With ``context.rationalize`` the choice is the label, given in the instruction (STaR's
rationalization): the model only explains it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ConfigDict

from agent.answer import AnswerFormatError, coerce_answers, coerce_choice, coerce_confidence
from agent.context import AgentContext
from agent.prompts import (
    PLAN_PROMPT,
    PLAN_REPAIR_PROMPT,
    PLAN_SYSTEM,
    PRIOR_PROMPT,
    QUESTION_IDS,
    RATIONALIZE_NOTE,
    render_questions,
    render_task,
)
from agent.records import INSUFFICIENT, ChoiceScores, FinalAnswer, TokenUsage
from agent.sections import (
    CHOICE_LABEL,
    CITATIONS_LABEL,
    LABELS,
    RATIONALE_LABEL,
    layout,
    parse_sections,
    render_sections,
)
from agent.state import AgentTask
from evidence.ids import find_ids
from kedrec.errors import ConfigError
from llm.chat_models import is_in_process
from tasks.task_sets import NamedEntity, TaskSet

CHOICE_PREFIX = f"{CHOICE_LABEL}: "
"""Where the assistant's answer starts; candidates are scored as its continuation."""


class PlanAnswer(BaseModel):
    """An answer with how it was made (before the citation check)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    answer: FinalAnswer
    message: AIMessage
    choice_scores: ChoiceScores | None = None
    tokens: TokenUsage = TokenUsage()
    model_seconds: float = 0.0


def plan_messages(task_set: TaskSet, evidence_text: str, rationalize: bool) -> list[AnyMessage]:
    """The plan instruction for a set: system message and one user message.

    Without ``rationalize`` this is byte for byte what the student is trained on and sees.
    """
    note = ""
    if rationalize:
        answer = task_set.answer
        note = RATIONALIZE_NOTE.format(name=answer.name, id=answer.id)
    prompt = PLAN_PROMPT.format(
        task=render_task(AgentTask.from_task_set(task_set)),
        evidence=evidence_text,
        questions=render_questions(),
        note=note,
        layout=layout(),
    )
    return [SystemMessage(PLAN_SYSTEM), HumanMessage(prompt)]


def prior_messages(candidates: Sequence[NamedEntity]) -> list[dict[str, str]]:
    """The evidence-free context of the mutual-information choice (drug-name priors)."""
    names = "\n".join(f"{chr(ord('A') + i)}. {c.name}" for i, c in enumerate(candidates))
    return [
        {"role": "system", "content": PLAN_SYSTEM},
        {"role": "user", "content": PRIOR_PROMPT.format(candidates=names, layout=layout())},
    ]


CHAT_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


def plan_turns(messages: Sequence[AnyMessage]) -> list[dict[str, str]]:
    """The instruction as ``{"role", "content"}`` chat turns: what a local model's chat
    template renders (for the teacher's answer and the student's training prompt alike).
    """
    return [{"role": CHAT_ROLES[m.type], "content": str(m.content)} for m in messages]


def _usage(message: AIMessage) -> TokenUsage:
    usage: Mapping[str, Any] = message.usage_metadata or {}
    return TokenUsage(
        input_tokens=int(usage.get("input_tokens", 0)),
        output_tokens=int(usage.get("output_tokens", 0)),
    )


def answer_plan(
    model: BaseChatModel,
    messages: list[AnyMessage],
    task_set: TaskSet,
    context: AgentContext,
) -> PlanAnswer:
    """Answer the instruction with the path that fits ``model`` (see the module docstring).

    Raises:
        AnswerFormatError: The text path named no candidate after every retry.
    """
    from llm.local_model import LocalChatModel

    started = time.perf_counter()
    if context.choice_only and not isinstance(model, LocalChatModel):
        raise ConfigError(choice_only_error(context.model))
    if isinstance(model, LocalChatModel):
        result = _local_answer(model, messages, task_set, context)
    elif _is_openai(model):
        result = _structured_answer(model, messages, task_set, context)
    else:
        result = _text_answer(model, messages, task_set, context)
    return result.model_copy(update={"model_seconds": time.perf_counter() - started})


def choice_only_error(model: str) -> str:
    """Why ``choice_only`` cannot answer with ``model``, and what to do instead."""
    return (
        f"choice_only needs an in-process model (local:…, student:…) whose choice is scored "
        f"before the rationale, not {model!r}: unset KEDREC_AGENT_CHOICE_ONLY / drop "
        "--choice-only for it"
    )


def check_choice_only(context: AgentContext) -> None:
    """Refuse ``choice_only`` up front where it cannot hold (agent mode, an API model).

    Raises:
        ConfigError: ``choice_only`` with agent mode or a model that is not in-process.
    """
    if not context.choice_only:
        return
    if context.mode != "plan":
        raise ConfigError("choice_only is a plan-mode setting: use --mode plan or drop it")
    if not is_in_process(context.model):
        raise ConfigError(choice_only_error(context.model))


def _is_openai(model: BaseChatModel) -> bool:
    try:
        from langchain_openai import ChatOpenAI
    except ImportError:  # the agent extra is not installed
        return False
    return isinstance(model, ChatOpenAI)


def _with_choice(text: str, task_set: TaskSet, choice: str, confidence: float) -> FinalAnswer:
    parsed = parse_sections(text, task_set.candidates, choice=choice)
    return parsed.model_copy(update={"confidence": confidence})


def _local_answer(
    model: Any, messages: list[AnyMessage], task_set: TaskSet, context: AgentContext
) -> PlanAnswer:
    """Choice by candidate log-likelihood (or the label), then the layout after it."""
    from llm.choice import score_options
    from llm.prefill import generate_fields

    scores: ChoiceScores | None = None
    if context.rationalize:
        chosen, confidence = task_set.answer.id, 1.0
    else:
        names = [c.name for c in task_set.candidates]
        scored = score_options(
            model.backend,
            plan_turns(messages),
            CHOICE_PREFIX,
            names,
            prior_messages=(
                prior_messages(task_set.candidates)
                if context.choice_rule == "mutual_info"
                else None
            ),
        )
        best = scored.best(context.choice_rule)
        scores = ChoiceScores(
            rule=context.choice_rule,
            scores=list(best.scores),
            loglik=[o.loglik for o in scored.options],
            n_tokens=[o.n_tokens for o in scored.options],
            prior=[float(o.prior) for o in scored.options if o.prior is not None] or None,
            margin=best.margin,
            abstain_margin=context.abstain_margin,
        )
        confidence = best.confidence
        abstain = best.margin < context.abstain_margin
        chosen = INSUFFICIENT if abstain else task_set.candidates[best.index].id
    name = next((c.name for c in task_set.candidates if c.id == chosen), INSUFFICIENT)
    prefill = f"{CHOICE_PREFIX}{name}\n"
    if context.choice_only:  # the choice above is final: nothing after it can change it
        text, tokens = prefill, TokenUsage()
    else:
        cited = citation_choices(str(messages[-1].content), task_set)
        generated = generate_fields(
            model.backend, plan_turns(messages), prefill, field_budgets(context.max_tokens, cited)
        )
        text = prefill + generated.text
        tokens = TokenUsage(
            input_tokens=generated.prompt_tokens, output_tokens=generated.new_tokens
        )
    return PlanAnswer(
        answer=_with_choice(text, task_set, chosen, confidence),
        message=AIMessage(content=text),
        choice_scores=scores,
        tokens=tokens,
    )


MAX_CITATION_CHOICES = 40
"""The evidence IDs a local model chooses its citations from (first shown first)."""

CITATIONS_PICKED = 3
"""How many IDs a local model cites."""

MIN_FIELD_TOKENS = 6
"""Tokens a local model writes in a free field before it may end it (see FieldSpec)."""


def citation_choices(prompt: str, task_set: TaskSet) -> tuple[str, ...]:
    """The IDs the instruction's evidence shows, in order, without the task's own IDs."""
    own = {task_set.disease.id, *(c.id for c in task_set.candidates)}
    shown = [found for _, _, found in find_ids(prompt) if found not in own]
    return tuple(dict.fromkeys(shown))[:MAX_CITATION_CHOICES]


def field_budgets(max_tokens: int, citations: tuple[str, ...] = ()) -> list[Any]:
    """The fields after the choice with their token budgets: ``max_tokens`` split so the
    rationale gets twice a domain answer's share. Citations are picked among ``citations``
    (the evidence's IDs) by likelihood, so they always verify; with none, written freely.
    """
    from llm.prefill import FieldSpec

    labels = [label for label in LABELS if label != CHOICE_LABEL]
    weights = [2 if label == RATIONALE_LABEL else 1 for label in labels]
    unit = max_tokens / sum(weights)
    specs = []
    for label, weight in zip(labels, weights, strict=True):
        choices = citations if label == CITATIONS_LABEL else ()
        budget = max(8, int(unit * weight))
        floor = 0 if choices else min(MIN_FIELD_TOKENS, budget)
        specs.append(FieldSpec(label, budget, choices, CITATIONS_PICKED, floor))
    return specs


def _structured_answer(
    model: BaseChatModel, messages: list[AnyMessage], task_set: TaskSet, context: AgentContext
) -> PlanAnswer:
    """JSON-schema structured output (choice: an enum of the names); text path if refused."""
    from llm.structured import StructuredOutputUnsupported, choice_schema, structured_answer

    names = [c.name for c in task_set.candidates]
    if context.rationalize:
        names = [task_set.answer.name]
    schema = choice_schema(names, list(QUESTION_IDS))
    try:
        data, usage = structured_answer(model, messages, schema)
    except StructuredOutputUnsupported as refused:  # refused, or a reply that is not the JSON
        result = _text_answer(model, messages, task_set, context)
        spent = getattr(refused, "usage", {}) or {}
        result.tokens.input_tokens += int(spent.get("input_tokens", 0))
        result.tokens.output_tokens += int(spent.get("output_tokens", 0))
        return result
    choice = coerce_choice(data.get("choice", ""), task_set.candidates)
    if context.rationalize:
        choice = task_set.answer.id
    answer = FinalAnswer(
        choice=choice,
        confidence=coerce_confidence(data.get("confidence", 0.5)),
        answers=coerce_answers(data.get("answers", {})),
        rationale=str(data.get("rationale", "")),
        citations=[str(c) for c in data.get("citations", [])],
    )
    tokens = TokenUsage(
        input_tokens=int(usage.get("input_tokens", 0)),
        output_tokens=int(usage.get("output_tokens", 0)),
    )
    text = render_sections(answer, task_set.candidates)
    return PlanAnswer(answer=answer, message=AIMessage(text), tokens=tokens)


def _text_answer(
    model: BaseChatModel, messages: list[AnyMessage], task_set: TaskSet, context: AgentContext
) -> PlanAnswer:
    """The layout as text; re-asked with the error while no candidate is named."""
    conversation = list(messages)
    tokens = TokenUsage()
    error: AnswerFormatError | None = None
    for _ in range(1 + context.max_answer_retries):
        reply = model.invoke(conversation)
        usage = _usage(reply)
        tokens.input_tokens += usage.input_tokens
        tokens.output_tokens += usage.output_tokens
        text = str(reply.content)
        try:
            answer = parse_sections(text, task_set.candidates)
        except AnswerFormatError as failure:
            error = failure
            conversation += [reply, HumanMessage(PLAN_REPAIR_PROMPT.format(error=failure))]
            continue
        if context.rationalize:
            answer = answer.model_copy(update={"choice": task_set.answer.id})
        return PlanAnswer(answer=answer, message=AIMessage(text), tokens=tokens)
    raise AnswerFormatError(
        f"malformed answer after {1 + context.max_answer_retries} attempts: {error}"
    )
