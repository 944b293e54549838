"""The student graph: the plan graph (:mod:`agent.plan`) with the distilled student as its model.

The student runs exactly what the plan-mode teacher runs, with fixed nodes and no agent loop::

    START → gather_evidence → answer → verify → END

the one evidence layer (masked with the set's hidden pairs), then one answer on the plan prompt
(the choice by candidate log-likelihood, the rest of the layout field by field: the student is a
:class:`~llm.local_model.LocalChatModel`), then the citation check against the bundle. Its
records are the teacher's :class:`~agent.records.TeacherRun` with ``mode='plan'``.

A student never rationalizes: it is never told the label. :func:`run_student` and
:func:`student_context` force ``mode='plan'`` and ``rationalize=False`` whatever the given
context says; a caller invoking :func:`build_student_graph`'s graph itself (LangGraph Studio)
must pass such a context too (``rationalize`` defaults to off).

``langgraph.json`` serves :data:`graph` as ``student``: the compiled plan graph whose model is
the folder named by ``KEDREC_STUDENT_DIR``, read and loaded at the first answer (importing
this module needs no student; without the variable a run fails at its answer, in one line).
"""

from __future__ import annotations

import copy
import os
import threading
from pathlib import Path
from typing import Any

from agent.context import AgentContext
from agent.defaults import default_model
from agent.plan import build_plan_graph, run_plan
from agent.records import TeacherRun
from evidence.bundle import EvidenceBundle
from graph_store.tools import GraphTools
from kedrec.errors import ConfigError
from llm.local_model import LocalBackend
from llm.student import STUDENT_PREFIX, StudentChatModel, load_student_backend
from tasks.task_sets import TaskSet

STUDENT_DIR_ENV = "KEDREC_STUDENT_DIR"
"""The student folder the served graph (``langgraph.json``: ``student``) answers with."""


def student_model_name(student_dir: Path | str) -> str:
    """The model string of a student folder: ``student:<folder>``."""
    return f"{STUDENT_PREFIX}{student_dir}"


def student_dir_of(model: str) -> Path:
    """The folder of a ``student:<folder>`` model string.

    Raises:
        ConfigError: ``model`` is not ``student:<folder>``.
    """
    provider, _, name = model.partition(":")
    if provider.strip().lower() != STUDENT_PREFIX.rstrip(":") or not name.strip():
        raise ConfigError(
            f"{model!r} is not a student: use --model student:DIR with a folder from "
            "`kedrec distill train --out DIR`"
        )
    return Path(name.strip()).expanduser()


def student_context(student_dir: Path | str, context: AgentContext | None = None) -> AgentContext:
    """A plan-mode context for the student: ``context`` (or the defaults) with the student as
    the model, ``mode='plan'`` and ``rationalize=False``.

    The fields are set on a copy (not ``dataclasses.replace``, whose ``__post_init__`` would
    refill fields equal to their default from ``KEDREC_AGENT_*``), so ``KEDREC_AGENT_MODE=agent``
    or ``KEDREC_AGENT_RATIONALIZE=1`` never reach a student.
    """
    result = copy.copy(context) if context is not None else AgentContext()
    result.model = student_model_name(student_dir)
    result.mode = "plan"
    result.rationalize = False
    return result


def build_student_graph(
    student_dir: Path | str,
    graph_tools: GraphTools | None = None,
    literature_index: Any = None,
    *,
    context: AgentContext | None = None,
    checkpointer: Any = None,
) -> Any:
    """The plan graph with the student as its model.

    Args:
        student_dir: The student folder (``student.json``, ``adapter/`` or ``merged/``).
        graph_tools: Graph tools (the set's hidden pairs are added); default: the settings'.
        literature_index: A ``LiteratureIndex``; default: the settings' index.
        context: Temperature and token limit of the model (default: the settings').
        checkpointer: A LangGraph checkpointer (None: no persistence).

    Returns:
        The compiled plan graph named "KEDRec student"; invoke it with ``{"task_set": …}`` and
        ``context=student_context(student_dir)`` (never with ``rationalize``).

    Raises:
        StudentModelError: The folder is malformed (checked now; weights load at first answer).
    """
    model = default_model(student_context(student_dir, context))
    return build_plan_graph(
        graph_tools=graph_tools,
        model=model,
        literature_index=literature_index,
        checkpointer=checkpointer,
        name="KEDRec student",
    )


def run_student(
    task_set: TaskSet,
    *,
    student_dir: Path | str,
    graph_tools: GraphTools | None,
    context: AgentContext | None = None,
    literature_index: Any = None,
    bundle: EvidenceBundle | None = None,
) -> TeacherRun:
    """Answer one task set with the student (plan mode); what happens in the run is recorded.

    Args:
        task_set: The question; its hidden pairs are masked in every evidence step.
        student_dir: The student folder.
        graph_tools: Graph tools on the database to use (None: the settings').
        context: Literature source, choice rule, abstention margin, tokens (default: the
            settings'); model, mode and rationalize are forced (:func:`student_context`).
        literature_index: The literature index (default: the settings').
        bundle: The set's evidence bundle when already built (the collector passes it).

    Returns:
        The run record with ``mode='plan'`` and ``rationalized=False``.

    Raises:
        StudentModelError: The folder is malformed (before the run starts).
    """
    run_context = student_context(student_dir, context)
    return run_plan(
        task_set,
        context=run_context,
        graph_tools=graph_tools,
        model=default_model(run_context),
        literature_index=literature_index,
        bundle=bundle,
    )


def served_student_dir() -> Path:
    """The student folder of the served graph: ``KEDREC_STUDENT_DIR``.

    Raises:
        ConfigError: ``KEDREC_STUDENT_DIR`` is not set.
    """
    folder = os.environ.get(STUDENT_DIR_ENV, "").strip()
    if not folder:
        raise ConfigError(
            f"{STUDENT_DIR_ENV} is not set: point it at a student folder (`kedrec distill "
            "train --out DIR`) to serve the student graph"
        )
    return Path(folder).expanduser()


_served_lock = threading.Lock()


class EnvStudentChatModel(StudentChatModel):
    """The served graph's model: the student in ``KEDREC_STUDENT_DIR``, read at first answer.

    So the module-level :data:`graph` is a real compiled graph at import (LangGraph loads the
    module to serve it) without a student; a run without the variable fails at its answer
    with the one-line :class:`~kedrec.errors.ConfigError`, recorded as the run's failure.
    """

    student_dir: str = f"${STUDENT_DIR_ENV}"
    model_path: str = f"${STUDENT_DIR_ENV}"
    model_name: str = "student"

    @property
    def backend(self) -> LocalBackend:
        """The student in ``KEDREC_STUDENT_DIR``, loaded on first use (then kept)."""
        with _served_lock:
            if self._backend is None:
                folder = served_student_dir()
                self._backend = load_student_backend(folder, self.num_threads)
                self.model_name = f"student:{folder.name}"
            return self._backend


graph = build_plan_graph(model=EnvStudentChatModel(), name="KEDRec student")
"""The student graph LangGraph serves (``langgraph.json``: ``student``): the plan graph on the
settings' Neo4j and index, with the student in ``KEDREC_STUDENT_DIR`` (loaded at first answer;
unset, the run fails there with a one-line error). Invoke it with a plan-mode context
(:func:`student_context`); ``rationalize`` must stay off."""
