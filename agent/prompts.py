"""The teacher's prompts: constants with named placeholders, checked when they are defined and
when they are filled, so a renamed placeholder fails loudly instead of leaking ``{…}`` into a
prompt. The fixed domain questions are here too: every trajectory answers the same ones, which
is what makes the teacher's explanations comparable and distillable. :data:`PROMPT_VERSION`
is computed from all of them, so every trajectory records the exact prompts it was made with.
"""

from __future__ import annotations

import hashlib
import json
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kedrec.errors import KedrecError

if TYPE_CHECKING:
    from agent.state import AgentTask


class PromptInputError(KedrecError):
    """A prompt was filled with missing or unexpected inputs."""


@dataclass(frozen=True)
class Prompt:
    """A prompt template whose placeholders are declared and validated."""

    name: str
    template: str
    inputs: frozenset[str]

    def __post_init__(self) -> None:
        """Refuse a template whose placeholders differ from the declared inputs."""
        found = placeholders(self.template)
        if found != self.inputs:
            raise PromptInputError(
                f"prompt {self.name}: placeholders {sorted(found)} != inputs {sorted(self.inputs)}"
            )

    def format(self, **values: object) -> str:
        """Fill every placeholder; a missing or unknown input raises PromptInputError."""
        missing = self.inputs - values.keys()
        unknown = values.keys() - self.inputs
        if missing or unknown:
            raise PromptInputError(
                f"prompt {self.name}: missing inputs {sorted(missing)}, "
                f"unknown inputs {sorted(unknown)}"
            )
        return self.template.format(**values)


def placeholders(template: str) -> frozenset[str]:
    """The named placeholders of a ``str.format`` template."""
    names = {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}
    if "" in names or any(name.isdigit() for name in names):
        raise PromptInputError(f"positional placeholder in template: {template[:60]!r}")
    return frozenset(names)


@dataclass(frozen=True)
class DomainQuestion:
    """One fixed question every final answer must address."""

    id: str
    question: str


DOMAIN_QUESTIONS: tuple[DomainQuestion, ...] = (
    DomainQuestion(
        "mechanism",
        "Mechanism: which targets, shared genes or pathways link each candidate to the "
        "disease? Cite gene and edge IDs.",
    ),
    DomainQuestion(
        "clinical",
        "Clinical evidence: what trials (phase, status, outcome) or curated indications "
        "support or contradict each candidate for this disease? Cite NCT IDs.",
    ),
    DomainQuestion(
        "literature",
        "Literature: what do papers report for each candidate in this disease, and how strong "
        "is that support (design, size, co-mention only)? Cite PMIDs/PMC IDs.",
    ),
    DomainQuestion(
        "safety",
        "Safety: which side effects, contraindications or interactions matter for patients "
        "with this disease?",
    ),
    DomainQuestion(
        "comparison",
        "Comparison: which candidate is better supported for this disease, and why?",
    ),
)
"""The domain questions, in answer order (mechanism → clinical → literature → safety →
comparison): the paper's explanation facets, fixed so answers can be compared across runs."""

QUESTION_IDS: tuple[str, ...] = tuple(q.id for q in DOMAIN_QUESTIONS)

SYSTEM_PROMPT = Prompt(
    "system",
    """You are a clinical pharmacology expert choosing a drug for a disease.

{task}

Gather evidence with the tools before answering:
- the knowledge graph (DRKG in Neo4j): drug_profile, disease_profile, mechanism_paths,
  direct_edges, candidate_drugs, similar_drugs, resolve_entity and read-only run_cypher;
- the literature: search_literature and, when offered, pubmed_search and
  clinical_trials_search.
Investigate both candidates. Some drug–disease edges may be hidden: absence of a direct edge is
not evidence against a drug, so look at mechanisms and literature too.

Your explanation must answer these questions:
{questions}

Cite only IDs that tools returned to you: graph IDs (Compound::DB00331, Gene::5562), edges
("Compound::DB00331 -TARGETS-> Gene::5562"), PMID:…, PMC:PMC…, NCT:NCT…. Never invent IDs.
You have at most {max_steps} tool-using turns. When you have enough evidence, stop calling
tools and reply in one short paragraph; you will then be asked for the final JSON answer.""",
    frozenset({"task", "questions", "max_steps"}),
)

TASK_PROMPT = Prompt(
    "task",
    """Disease: {disease_name} ({disease_id})
Candidate drugs:
{candidates}
Which candidate is the better treatment for this disease?""",
    frozenset({"disease_name", "disease_id", "candidates"}),
)

OPEN_TASK = """No task set is given: answer the user's question about drugs and diseases with
the tools."""
"""The task text of a run started without a task set (e.g. from LangGraph Studio)."""

FINAL_ANSWER_PROMPT = Prompt(
    "final_answer",
    """{note}Now give your final answer as ONE JSON object and nothing else:
{{
  "choice": one of {choices} or "insufficient evidence",
  "confidence": a number from 0 to 1,
  "answers": {{{answer_keys}}},
  "rationale": "why the chosen drug fits, citing IDs",
  "citations": ["IDs you cite, exactly as the tools returned them"]
}}
The "answers" object has one short answer per question id: {question_ids}.""",
    frozenset({"note", "choices", "answer_keys", "question_ids"}),
)

STEP_LIMIT_NOTE = (
    "You have used every tool-using turn and could not finish gathering evidence. Answer with "
    "the evidence you have; say what is missing, and lower your confidence.\n"
)

REPAIR_PROMPT = Prompt(
    "repair",
    """Your answer could not be used: {error}
Reply again with ONLY the JSON object described above.""",
    frozenset({"error"}),
)


PLAN_SYSTEM = """You are a clinical pharmacology expert choosing a drug for a disease. You
are given the evidence; use only it. Cite only IDs that appear in the evidence, exactly as
written there."""
"""The system message of plan mode (the teacher's and the student's)."""

PLAN_PROMPT = Prompt(
    "plan",
    """{task}

Evidence from the knowledge graph (DRKG) and the literature. The candidates' own drug–disease
edges are hidden: a missing direct edge is not evidence against a drug.

{evidence}

Answer these questions:
{questions}
{note}
Reply in exactly this layout, one line per field:
{layout}""",
    frozenset({"task", "evidence", "questions", "note", "layout"}),
)
"""The one instruction of plan mode: the task, the rendered evidence bundle, the domain
questions and the answer layout. The student is trained on exactly this text."""

PRIOR_PROMPT = Prompt(
    "prior",
    """Candidate drugs:
{candidates}
Which candidate is the better treatment?

Reply in exactly this layout, one line per field:
{layout}""",
    frozenset({"candidates", "layout"}),
)
"""The evidence-free context whose candidate log-likelihoods are each name's prior (the
mutual-information choice subtracts them, so a familiar drug name does not win by itself)."""

RATIONALIZE_NOTE = Prompt(
    "rationalize",
    """
The relevant drug for this disease is {name} ({id}). Choose it, and explain from the evidence
why it fits better than the other candidate.
""",
    frozenset({"name", "id"}),
)
"""The gold-label hint of ``--rationalize`` (STaR's rationalization): never in a student's
prompt, and such answers never count as teacher accuracy."""

PLAN_REPAIR_PROMPT = Prompt(
    "plan_repair",
    """Your answer could not be used: {error}
Reply again in exactly the layout above; the Choice line must name one candidate.""",
    frozenset({"error"}),
)


TEMPLATES: dict[str, str] = {
    **{
        prompt.name: prompt.template
        for prompt in (
            SYSTEM_PROMPT,
            TASK_PROMPT,
            FINAL_ANSWER_PROMPT,
            REPAIR_PROMPT,
            PLAN_PROMPT,
            PRIOR_PROMPT,
            RATIONALIZE_NOTE,
            PLAN_REPAIR_PROMPT,
        )
    },
    "plan_system": PLAN_SYSTEM,
    "open_task": OPEN_TASK,
    "step_limit_note": STEP_LIMIT_NOTE,
}
"""Every template text of the teacher, by name (what :data:`PROMPT_VERSION` hashes)."""


def prompt_version(
    templates: Mapping[str, str] = TEMPLATES,
    questions: Iterable[DomainQuestion] = DOMAIN_QUESTIONS,
) -> str:
    """``prompts-<12 hex>``: the SHA-256 of the templates and the domain questions."""
    payload = json.dumps(
        {
            "templates": dict(sorted(templates.items())),
            "questions": [[q.id, q.question] for q in questions],
        },
        ensure_ascii=False,
        sort_keys=True,
    )
    return f"prompts-{hashlib.sha256(payload.encode()).hexdigest()[:12]}"


PROMPT_VERSION = prompt_version()
"""The version of the teacher's prompts, recorded with every trajectory (AgentContext default)."""


def render_questions() -> str:
    """The domain questions as a bulleted list with their IDs."""
    return "\n".join(f"- {q.id}: {q.question}" for q in DOMAIN_QUESTIONS)


def render_task(task: AgentTask) -> str:
    """The task message: the disease and the candidates, lettered, with their IDs."""
    candidates = "\n".join(
        f"{chr(ord('A') + i)}. {c.name} ({c.id})" for i, c in enumerate(task.candidates)
    )
    return TASK_PROMPT.format(
        disease_name=task.disease.name, disease_id=task.disease.id, candidates=candidates
    )


def render_system(task: AgentTask | None, max_steps: int) -> str:
    """The system prompt of a run, with its task (or the open-conversation text)."""
    return SYSTEM_PROMPT.format(
        task=render_task(task) if task else OPEN_TASK,
        questions=render_questions(),
        max_steps=max_steps,
    )


def render_final_answer(task: AgentTask | None, *, step_limit_reached: bool) -> str:
    """The request for the structured final answer."""
    choices = ", ".join(f'"{c.id}"' for c in task.candidates) if task else '"a drug ID"'
    return FINAL_ANSWER_PROMPT.format(
        note=STEP_LIMIT_NOTE if step_limit_reached else "",
        choices=choices,
        answer_keys=", ".join(f'"{qid}": "..."' for qid in QUESTION_IDS),
        question_ids=", ".join(QUESTION_IDS),
    )
