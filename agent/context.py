"""Run-time configuration of the teacher agent (read by every node through the runtime).

Fields left at their default are filled from the upper-cased environment variable with the
``KEDREC_AGENT_`` prefix (``KEDREC_AGENT_MODEL=openai:gpt-4o-mini``), like the LangGraph
templates' ``Context``. Secrets (``OPENAI_API_KEY``) are read by the chat-model factory only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Literal

LiteratureSource = Literal["ct", "pmc", "both", "none"]


@dataclass(kw_only=True)
class AgentContext:
    """How one teacher run is configured."""

    model: str = field(
        default="local:smollm2",
        metadata={
            "description": "'provider:model': 'local:smollm2' (bundled SmolLM2-135M-Instruct, "
            "offline), 'local:/path/to/hf-llama', or 'openai:gpt-4o-mini' (any "
            "OpenAI-compatible server via OPENAI_BASE_URL)."
        },
    )
    temperature: float = field(default=0.0, metadata={"description": "Sampling temperature."})
    max_tokens: int = field(default=1024, metadata={"description": "Tokens per model turn."})
    max_steps: int = field(
        default=12,
        metadata={"description": "Model turns before the run is forced to a final answer."},
    )
    max_answer_retries: int = field(
        default=2,
        metadata={"description": "Repairs of a malformed final answer before it is a failure."},
    )
    literature_source: LiteratureSource = field(
        default="both",
        metadata={"description": "Literature the tools may search: ct, pmc, both or none."},
    )
    use_live_apis: bool = field(
        default=False,
        metadata={"description": "Let pubmed_search / clinical_trials_search call the web."},
    )
    prompt_version: str = field(
        default="teacher-v1", metadata={"description": "Recorded with every trajectory."}
    )

    def __post_init__(self) -> None:
        """Fill fields still at their default from KEDREC_AGENT_<NAME>."""
        for item in fields(self):
            env = os.environ.get(f"KEDREC_AGENT_{item.name.upper()}")
            if env is None or getattr(self, item.name) != item.default:
                continue
            current = item.default
            if isinstance(current, bool):
                value: object = env.strip().lower() in {"1", "true", "yes"}
            elif isinstance(current, int):
                value = int(env)
            elif isinstance(current, float):
                value = float(env)
            else:
                value = env
            setattr(self, item.name, value)
