r"""The student's prompt and answer text: one function each, shared by training and inference.

The student is plan mode with a local model: the instruction of
:func:`agent.plan_answer.plan_messages` (never rationalized: the student is not told the
label) over the set's rendered evidence bundle, rendered with the tokenizer's chat template and
generation prompt (:func:`llm.choice.render_prompt`). At inference the choice is scored after
``"Choice: "`` and the rest is written field by field after ``"Choice: <name>\n"``; in training
the same prompt is followed by the whole answer in the layout of :mod:`agent.sections` and the
end-of-turn token. :func:`student_prompt` is that prompt, byte for byte, for both sides.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.plan_answer import CHOICE_PREFIX, plan_messages, plan_turns
from agent.records import FinalAnswer
from agent.sections import render_sections
from llm.choice import render_prompt
from tasks.task_sets import TaskSet

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = [
    "CHOICE_PREFIX",
    "choice_span",
    "end_of_turn",
    "selection_completion",
    "student_completion",
    "student_prompt",
    "student_turns",
]


_SENTINEL = "\x00kedrec-answer\x00"


def student_turns(task_set: TaskSet, evidence_text: str) -> list[dict[str, str]]:
    """The student's chat turns: the plan instruction (not rationalized) over the evidence."""
    return plan_turns(plan_messages(task_set, evidence_text, rationalize=False))


def student_prompt(
    tokenizer: PreTrainedTokenizerBase, task_set: TaskSet, evidence_text: str
) -> str:
    """The text the student reads before its answer: chat template + generation prompt.

    Args:
        tokenizer: The student's tokenizer (the base model's; it has a chat template).
        task_set: The question (its label is never shown).
        evidence_text: The set's rendered evidence bundle (a record's ``evidence_text``).

    Returns:
        ``render_prompt(tokenizer, student_turns(task_set, evidence_text), "")``.
    """
    return render_prompt(tokenizer, student_turns(task_set, evidence_text), "")


def end_of_turn(tokenizer: PreTrainedTokenizerBase) -> str:
    """The text the chat template closes an assistant turn with (``<|im_end|>`` for SmolLM2).

    Read from the template itself (an assistant turn with a sentinel, up to the next
    whitespace), so LLaMA-3's ``<|eot_id|>`` and ChatML's ``<|im_end|>`` both come out right;
    the tokenizer's EOS token when the template writes nothing after the turn.
    """
    turns = [{"role": "user", "content": "x"}, {"role": "assistant", "content": _SENTINEL}]
    try:
        text = tokenizer.apply_chat_template(turns, tokenize=False)
    except Exception:  # a template that refuses this conversation
        text = ""
    if isinstance(text, str) and _SENTINEL in text:
        after = text.split(_SENTINEL, 1)[1]
        token = after.split()[0] if after.split() else ""
        if token:
            return token
    eos = tokenizer.eos_token
    if not isinstance(eos, str) or not eos:
        raise ValueError("the tokenizer has no end-of-turn token: set its eos_token")
    return eos


def student_completion(
    tokenizer: PreTrainedTokenizerBase, answer: FinalAnswer, task_set: TaskSet
) -> str:
    """The training target: the answer in the layout, choice := the label, then end-of-turn.

    The selection is supervised by the ground truth (paper Eq. 7): whatever the teacher chose,
    the ``Choice:`` line names the set's relevant candidate (records whose choice differs are
    filtered out before, unless rationalized).
    """
    labelled = answer.model_copy(update={"choice": task_set.answer.id})
    return render_sections(labelled, task_set.candidates) + end_of_turn(tokenizer)


def selection_completion(task_set: TaskSet) -> str:
    r"""The target of a selection-only example: ``Choice: <the label's name>\n``, nothing else.

    No end-of-turn token: at inference the student goes on after this line with the fields of
    the layout, so a selection-only example must not teach it to stop there.
    """
    return f"{CHOICE_PREFIX}{task_set.answer.name}\n"


def choice_span(completion: str) -> tuple[int, int]:
    r"""Character span of the chosen name and its newline in a completion (after ``Choice: ``).

    Raises:
        ValueError: The completion does not start with ``Choice: <name>\n``.
    """
    if not completion.startswith(CHOICE_PREFIX) or "\n" not in completion:
        raise ValueError(f"a completion must start with {CHOICE_PREFIX!r}<name>\\n")
    return len(CHOICE_PREFIX), completion.index("\n") + 1
