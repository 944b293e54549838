"""Run-time configuration of the teacher agent (read by every node through the runtime).

Fields left at their default are filled from the upper-cased environment variable with the
``KEDREC_AGENT_`` prefix (``KEDREC_AGENT_MODEL=openai:gpt-4o-mini``) or ``.env``, like the
LangGraph templates' ``Context``. Defaults, descriptions and the parsing of those variables are
:class:`kedrec.settings.AgentSettings`'s. Secrets (``OPENAI_API_KEY``) are read by the
chat-model factory only.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from agent.prompts import PROMPT_VERSION
from kedrec.settings import (
    AgentSettings,
    ChoiceRule,
    LiteratureSource,
    LocalDtype,
    TeacherMode,
    field_default,
    field_description,
    read_settings,
)


def _setting(name: str) -> Any:
    """A dataclass field with :class:`AgentSettings`' class default and description."""
    return field(
        default=field_default(AgentSettings, name),
        metadata={"description": field_description(AgentSettings, name)},
    )


@dataclass(kw_only=True)
class AgentContext:
    """How one teacher run is configured."""

    model: str = _setting("model")
    temperature: float = _setting("temperature")
    max_tokens: int = _setting("max_tokens")
    max_steps: int = _setting("max_steps")
    max_answer_retries: int = _setting("max_answer_retries")
    literature_source: LiteratureSource = _setting("literature_source")  # noqa: RUF009 (a Field)
    use_live_apis: bool = _setting("use_live_apis")
    mode: TeacherMode = _setting("mode")  # noqa: RUF009 (a Field)
    choice_rule: ChoiceRule = _setting("choice_rule")  # noqa: RUF009 (a Field)
    abstain_margin: float = _setting("abstain_margin")
    local_dtype: LocalDtype = _setting("local_dtype")  # noqa: RUF009 (a Field)
    rationalize: bool = _setting("rationalize")
    choice_only: bool = _setting("choice_only")
    price_input_per_mtok: float = _setting("price_input_per_mtok")
    price_output_per_mtok: float = _setting("price_output_per_mtok")
    api_max_retries: int = _setting("api_max_retries")
    prompt_version: str = field(
        default=PROMPT_VERSION,
        metadata={
            "description": "Hash of the prompt templates (agent.prompts.PROMPT_VERSION), "
            "computed, not configured; recorded with every trajectory."
        },
    )

    def __post_init__(self) -> None:
        """Fill fields still at their default from KEDREC_AGENT_<NAME> (or ``.env``).

        Raises:
            ConfigError: A KEDREC_AGENT_* value does not parse (one line naming it).
        """
        at_default = [
            item.name
            for item in fields(self)
            if item.name != "prompt_version" and getattr(self, item.name) == item.default
        ]
        if not at_default:
            return
        configured = read_settings(AgentSettings)
        for name in at_default:
            setattr(self, name, getattr(configured, name))
