"""Build a chat model from a :class:`ChatModelSpec` (``model`` is 'provider:model').

Providers:

- ``openai:<model>``: ``ChatOpenAI`` on the OpenAI API or any OpenAI-compatible server
  (vLLM, llama.cpp server, Ollama) named by ``OPENAI_BASE_URL``; the key is
  ``OPENAI_API_KEY``. This is where a strong teacher runs.
- ``local:smollm2``: the bundled SmolLM2-135M-Instruct in this process (tiny, for trying
  the pipeline offline; not a useful teacher).
- ``local:<folder>``: any HF LLaMA-architecture instruct folder in this process.
- ``student:<folder>``: a distilled student (``kedrec distill train --out <folder>``): its
  LoRA adapter on its base, or its ``merged/`` folder (:mod:`llm.student`). It answers in plan
  mode only (no tool calling).

The key is read here only, handed to the client as a secret and never logged.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

from langchain_core.language_models import BaseChatModel

from kedrec.errors import ConfigError
from kedrec.settings import KedrecSettings, get_settings
from llm.local_model import (
    SMOLLM2_DIR,
    SMOLLM2_NAME,
    LocalChatModel,
    LocalModelError,
    ensure_smollm2,
    is_model_folder,
)

logger = logging.getLogger(__name__)

PROVIDERS = ("openai", "local", "student")
LOCAL_PLACEHOLDER_KEY = "not-needed"
"""Sent as the key to a local OpenAI-compatible server started without one."""


def is_student(model: str) -> bool:
    """Whether a ``provider:model`` spec names a distilled student (``student:<folder>``):
    such a model answers in plan mode only (it was never trained to call tools).
    """
    return model.strip().lower().startswith("student:")


def is_in_process(model: str) -> bool:
    """Whether a ``provider:model`` spec runs in this process (``local:…``, ``student:…``):
    its plan answer scores the choice by log-likelihood before writing anything else.
    """
    return model.partition(":")[0].strip().lower() in ("local", "student")


def local_dtype(spec: ChatModelSpec) -> str:
    """The spec's ``local_dtype`` (``AgentContext`` has one; other specs mean ``auto``)."""
    return str(getattr(spec, "local_dtype", "auto"))


class ChatModelConfigError(ConfigError):
    """``KEDREC_AGENT_MODEL`` or the provider's environment (key, base URL) is wrong."""


class ChatModelSpec(Protocol):
    """What :func:`load_chat_model` reads: any object with these attributes will do.

    ``agent.context.AgentContext`` satisfies it. The OpenAI key and base URL are not part of
    it: they come from ``OPENAI_API_KEY`` and ``OPENAI_BASE_URL``.
    """

    @property
    def model(self) -> str:
        """'provider:model', e.g. 'openai:gpt-4o-mini', 'local:smollm2', 'local:/path'."""
        ...

    @property
    def temperature(self) -> float:
        """Sampling temperature (0 is greedy)."""
        ...

    @property
    def max_tokens(self) -> int:
        """New tokens per model turn."""
        ...


def load_chat_model(spec: ChatModelSpec, settings: KedrecSettings | None = None) -> BaseChatModel:
    """Return the chat model ``spec.model`` names, with its temperature and token limit.

    Args:
        spec: Model string, temperature and max_tokens (an ``AgentContext``, for one).
        settings: Where the converted local model is cached; default ``get_settings()``.

    Returns:
        A LangChain chat model that supports ``bind_tools`` and streaming.

    Raises:
        ChatModelConfigError: Unknown provider, empty model name or missing API key.
        LocalModelError: The local model could not be found or converted (for a student
            folder: ``llm.student.StudentModelError``).
    """
    provider, _, name = spec.model.partition(":")
    provider, name = provider.strip().lower(), name.strip()
    if provider not in PROVIDERS:
        raise ChatModelConfigError(
            f"unknown model provider {provider!r} in {spec.model!r}: use one of "
            f"{', '.join(p + ':<model>' for p in PROVIDERS)} (KEDREC_AGENT_MODEL)"
        )
    if not name:
        raise ChatModelConfigError(
            f"no model name in {spec.model!r}: e.g. openai:gpt-4o-mini or local:smollm2 "
            "(KEDREC_AGENT_MODEL)"
        )
    if provider == "openai":
        return _openai_model(name, spec)
    if provider == "student":
        return _student_model(name, spec, settings)
    return _local_model(name, spec, settings or get_settings())


def is_local_url(url: str) -> bool:
    """Return True for a server on this machine or a private network (keys are optional there).

    Loopback, private and link-local addresses, ``localhost`` and single-label host names
    (Docker Compose services such as ``http://vllm:8000/v1``) count as local.

    Args:
        url: A base URL.

    Returns:
        Whether a placeholder key may be sent.
    """
    host = (urlparse(url).hostname or "").lower()
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    if "." not in host and ":" not in host:  # a single-label name: a Compose service
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


def _openai_model(name: str, spec: ChatModelSpec) -> BaseChatModel:
    try:
        from langchain_openai import ChatOpenAI
    except ImportError as e:
        raise ChatModelConfigError(
            "openai models need langchain-openai: pip install -e '.[agent]'"
        ) from e
    base_url = os.environ.get("OPENAI_BASE_URL") or None
    key = os.environ.get("OPENAI_API_KEY") or None
    if key is None:
        if not (base_url and is_local_url(base_url)):
            raise ChatModelConfigError(
                f"openai:{name} needs OPENAI_API_KEY (or OPENAI_BASE_URL pointing at a local "
                "OpenAI-compatible server, which may run without a key)"
            )
        key = LOCAL_PLACEHOLDER_KEY
    # 429 / 5xx / timeouts: the openai client retries with exponential backoff and jitter
    # (honouring Retry-After); an AgentContext carries api_max_retries, other specs the setting
    max_retries = getattr(spec, "api_max_retries", None)
    if max_retries is None:
        max_retries = get_settings().agent.api_max_retries
    logger.info("chat model openai:%s at %s", name, base_url or "the OpenAI API")
    return ChatOpenAI(
        model=name,
        temperature=spec.temperature,
        max_tokens=spec.max_tokens,
        base_url=base_url,
        api_key=key,  # pydantic turns it into a SecretStr
        stream_usage=True,
        max_retries=int(max_retries),
    )


def _local_model(name: str, spec: ChatModelSpec, settings: KedrecSettings) -> BaseChatModel:
    if name.lower() == SMOLLM2_NAME:
        folder = ensure_smollm2(settings.cache_dir)
        label = SMOLLM2_DIR
    else:
        folder = Path(name).expanduser()
        if not folder.is_dir():
            raise ChatModelConfigError(
                f"local model {name!r} is neither 'smollm2' nor an existing folder: use "
                "local:smollm2 or local:/path/to/hf-llama-folder (KEDREC_AGENT_MODEL)"
            )
        if not is_model_folder(folder):
            raise LocalModelError(
                f"{folder} is not an HF model folder (needs config.json, *.safetensors and "
                "tokenizer.json)"
            )
        label = folder.name
    logger.info("chat model local:%s from %s", label, folder)
    return LocalChatModel(
        model_path=str(folder),
        model_name=label,
        temperature=spec.temperature,
        max_tokens=spec.max_tokens,
        dtype=local_dtype(spec),
    )


def _student_model(
    name: str, spec: ChatModelSpec, settings: KedrecSettings | None
) -> BaseChatModel:
    """A student folder as a LocalChatModel (checked now, weights loaded on first use)."""
    from llm.student import StudentChatModel, read_student_info

    folder = Path(name).expanduser()
    read_student_info(folder)  # a malformed folder fails here, in one line naming the fix
    logger.info("chat model student:%s", folder)
    return StudentChatModel(
        model_path=str(folder),
        student_dir=str(folder),
        cache_dir=str(settings.cache_dir) if settings is not None else None,
        model_name=f"student:{folder.name}",
        temperature=spec.temperature,
        max_tokens=spec.max_tokens,
        dtype=local_dtype(spec),
    )
