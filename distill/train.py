"""Train the LoRA student on teacher trajectories: ``kedrec distill train``.

:func:`train_student` reads trajectory files into examples (:mod:`distill.data`), puts a
peft LoRA adapter on a Hugging Face LLaMA-family causal LM (default ``local:smollm2``) and
trains it with transformers' ``Trainer`` and the per-token weighted loss of
:mod:`distill.trainer`. The output folder has the layout of :mod:`distill.layout`:
``adapter/``, ``student.json``, ``README.md``, ``data_report.json``, ``checkpoints/`` and,
with ``merge``, ``merged/``.

Reproducibility: ``student.json`` records the base model (spec, folder and the SHA-256 of its
weight files), the trajectory files' SHA-256, the example counts, the whole config and seeds,
the git commit (:func:`kedrec.provenance.run_metadata`), library versions and the prompt and
evidence-bundle versions of the records. ``resume`` continues from the last checkpoint of an
interrupted run (the Trainer restores optimizer, scheduler, RNG states and the data order),
refusing a config that differs from the interrupted run's in anything but speed.

CPU defaults (a laptop's 2 cores): fp32, ``torch.set_num_threads(threads)`` with every core,
no gradient checkpointing, batch 1 with 8 accumulation steps. On a GPU with bf16 the base is
loaded in bf16 (the LoRA weights stay fp32) and the Trainer autocasts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distill.config import StudentConfig, config_help
from distill.data import DataReport, StudentData, build_examples, file_sha256
from distill.layout import STUDENT_FORMAT, STUDENT_FORMAT_VERSION, StudentLayout
from kedrec.errors import ConfigError, DataFormatError

logger = logging.getLogger(__name__)

LOCAL_PREFIX = "local:"


@dataclass
class TrainResult:
    """What a training run produced (the files are in ``layout``)."""

    layout: StudentLayout
    report: DataReport
    metrics: dict[str, Any] = field(default_factory=dict)
    """What ``student.json`` records under ``training`` (empty for a dry run)."""
    model: Any = None
    """The trained peft model in memory (merged into the base with ``merge``)."""
    tokenizer: Any = None


def resolve_base(spec: str) -> Path:
    """The HF folder of a base model spec: ``local:smollm2``, ``local:<folder>`` or ``<folder>``.

    Raises:
        ConfigError: The folder is not an HF causal-LM folder with a tokenizer.
    """
    from kedrec.settings import DEFAULT_LOCAL_MODEL, get_settings
    from llm.local_model import ensure_smollm2, is_model_folder

    if spec == DEFAULT_LOCAL_MODEL:
        return ensure_smollm2(get_settings().cache_dir)
    folder = Path(spec.removeprefix(LOCAL_PREFIX)).expanduser()
    if not is_model_folder(folder):
        raise ConfigError(
            f"base model {spec!r}: {folder} is not an HF model folder (config.json, "
            "*.safetensors, tokenizer.json); use --base local:smollm2 or local:<folder>"
        )
    return folder


def weights_sha256(folder: Path) -> dict[str, str]:
    """SHA-256 of every weight file of an HF folder, by file name."""
    files = sorted([*folder.glob("*.safetensors"), *folder.glob("pytorch_model*.bin")])
    return {path.name: file_sha256(path) for path in files}


def library_versions() -> dict[str, str | None]:
    """Versions of the libraries that shape the student."""
    import importlib.metadata as metadata

    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in ("torch", "transformers", "peft", "accelerate", "tokenizers", "safetensors"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def train_student(
    trajectories: Sequence[Path],
    out_dir: Path,
    config: StudentConfig | None = None,
    *,
    sets_dir: Path | None = None,
    resume: bool = False,
    dry_run: bool = False,
    callbacks: Sequence[Any] = (),
    printer: Callable[[str], None] = print,
    names: Any = None,
) -> TrainResult:
    """Train a LoRA student on trajectory files and write it to ``out_dir``.

    Args:
        trajectories: JSONL files of ``kedrec teacher collect``.
        out_dir: The student folder (:mod:`distill.layout`).
        config: How to train; default :class:`StudentConfig()`.
        sets_dir: The task-set build the records were collected on (its test and benchmark
            diseases are refused in training data); default the settings' sets folder.
        resume: Continue from the last checkpoint in ``out_dir/checkpoints``.
        dry_run: Only build the examples and write ``data_report.json``.
        callbacks: Extra ``TrainerCallback`` objects (after the built-in ones).
        printer: Where progress lines go.
        names: The name index for the disease groups (default: the settings').

    Returns:
        The layout, data report, training metrics and the model in memory.

    Raises:
        ConfigError: The folder holds a student (without ``resume``), or ``resume`` with a
            config that differs from the interrupted run's, or a bad base model.
        DataFormatError: Bad trajectory files, or no training example survives the filters.
        LeakageError: A train or val record is about a test or benchmark disease.
    """
    from transformers import AutoTokenizer

    from kedrec.settings import get_settings

    config = config or StudentConfig()
    layout = StudentLayout(out_dir)
    if not dry_run:
        _check_out_dir(layout, config, resume)
    base_dir = resolve_base(config.base_model)
    tokenizer = AutoTokenizer.from_pretrained(base_dir, local_files_only=True)
    if not tokenizer.chat_template:
        raise ConfigError(f"{base_dir} has no chat template: the student needs an instruct model")
    sets_dir = sets_dir or get_settings().task_sets_dir
    data = build_examples(
        trajectories,
        tokenizer,
        sets_dir=sets_dir,
        max_length=config.max_length,
        rationale_weight=config.rationale_weight,
        keep_cleaned=config.keep_cleaned,
        names=names,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    layout.data_report.write_text(json.dumps(data.report.as_dict(), indent=2) + "\n")
    if dry_run:
        return TrainResult(layout=layout, report=data.report, tokenizer=tokenizer)
    return train_examples(
        data,
        out_dir,
        config,
        base_dir=base_dir,
        tokenizer=tokenizer,
        sets_dir=sets_dir,
        resume=resume,
        callbacks=callbacks,
        printer=printer,
    )


def train_examples(
    data: StudentData,
    out_dir: Path,
    config: StudentConfig,
    *,
    base_dir: Path,
    tokenizer: Any,
    sets_dir: Path,
    resume: bool = False,
    callbacks: Sequence[Any] = (),
    printer: Callable[[str], None] = print,
) -> TrainResult:
    """Train on examples already built (:func:`distill.data.build_examples`) and write the folder.

    :func:`train_student` is this after reading the trajectories; call it directly to train on
    examples of your own (``student.json`` records ``data.report``).

    Raises:
        ConfigError: As :func:`train_student`.
        DataFormatError: No training example.
    """
    layout = StudentLayout(out_dir)
    _check_out_dir(layout, config, resume)
    if not data.train:
        raise DataFormatError(_no_examples(data.report))
    out_dir.mkdir(parents=True, exist_ok=True)
    if not (resume and layout.train_config.exists()):  # a resumed run keeps the first config
        layout.train_config.write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    return _train(data, layout, config, base_dir, tokenizer, sets_dir, resume, callbacks, printer)


def _check_out_dir(layout: StudentLayout, config: StudentConfig, resume: bool) -> None:
    """Refuse to overwrite a student; on resume, refuse a different config."""
    has_checkpoints = layout.checkpoints.is_dir() and any(layout.checkpoints.glob("checkpoint-*"))
    if not resume and (has_checkpoints or layout.adapter.exists()):
        raise ConfigError(
            f"{layout.root} already holds a student: pass --resume to continue its last "
            "checkpoint, or choose another --out"
        )
    if resume and layout.train_config.is_file():
        started = StudentConfig.from_dict(json.loads(layout.train_config.read_text()))
        differs = config.differences(started)
        if differs:
            raise ConfigError(
                f"--resume with other {', '.join(differs)} than the interrupted run "
                f"({layout.train_config}): use the same options, or another --out"
            )


def _no_examples(report: DataReport) -> str:
    """The one-line error when no training example is left, with the likely fix."""
    dropped = ", ".join(f"{n} {reason}" for reason, n in report.dropped.most_common() if n)
    fix = "collect trajectories on train sets with `kedrec teacher collect`"
    if report.dropped["too_long"] and report.prompt_tokens:
        fix = (
            f"raise --max-length (prompts are {min(report.prompt_tokens)}–"
            f"{max(report.prompt_tokens)} tokens) or lower KEDREC_EVIDENCE_BUNDLE_CHARS "
            "before collecting"
        )
    elif report.dropped["invalid_citations"]:
        fix = "pass --keep-cleaned to keep answers whose invalid citations were removed"
    return f"no training examples in {report.records} records ({dropped or 'none kept'}): {fix}"


def _train(
    data: StudentData,
    layout: StudentLayout,
    config: StudentConfig,
    base_dir: Path,
    tokenizer: Any,
    sets_dir: Path,
    resume: bool,
    callbacks: Sequence[Any],
    printer: Callable[[str], None],
) -> TrainResult:
    """Build the peft model and the Trainer, train, and write the student folder."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        EarlyStoppingCallback,
        PrinterCallback,
        TrainingArguments,
        set_seed,
    )
    from transformers.trainer_utils import get_last_checkpoint

    from distill.trainer import (
        SELECTION_METRIC,
        ExampleDataset,
        ProgressCallback,
        WeightedCollator,
        WeightedLossTrainer,
    )

    torch.set_num_threads(config.threads)
    cuda = torch.cuda.is_available()
    bf16 = config.bf16(cuda, cuda and torch.cuda.is_bf16_supported())
    set_seed(config.seed)
    model = AutoModelForCausalLM.from_pretrained(
        base_dir,
        dtype=torch.bfloat16 if bf16 else torch.float32,
        local_files_only=True,
        device_map=config.device_map,
    )
    model.config.use_cache = False
    lora = LoraConfig(
        task_type="CAUSAL_LM",
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(config.target_modules),
        bias="none",
    )
    peft_model = get_peft_model(model, lora)
    evaluated = data.val[: config.eval_max_examples or None]
    has_eval = bool(evaluated)
    checkpoint = None
    if resume and layout.checkpoints.is_dir():
        checkpoint = get_last_checkpoint(str(layout.checkpoints))
    head = _rationale_head(peft_model, data, config, tokenizer, checkpoint, printer)
    trainable, total = peft_model.get_nb_trainable_parameters()
    args = TrainingArguments(
        output_dir=str(layout.checkpoints),
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        warmup_steps=config.warmup_steps,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        lr_scheduler_type="linear",
        logging_strategy="steps",
        logging_steps=_logging_steps(config, len(data.train)),
        eval_strategy="steps" if has_eval else "no",
        eval_steps=config.eval_steps,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        load_best_model_at_end=has_eval,
        metric_for_best_model=SELECTION_METRIC if has_eval else None,
        greater_is_better=True,
        seed=config.seed,
        data_seed=config.seed,
        bf16=bf16,
        use_cpu=not cuda,
        activation_checkpointing=config.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False},
        report_to="none",
        disable_tqdm=True,
        remove_unused_columns=False,
        label_names=["labels"],
        prediction_loss_only=True,
        include_num_input_tokens_seen="non_padding",
        dataloader_num_workers=0,
        dataloader_pin_memory=cuda,
    )
    progress = ProgressCallback(printer)
    stopping = (
        [EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience)]
        if has_eval and config.early_stopping_patience > 0
        else []
    )
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    trainer = WeightedLossTrainer(
        model=peft_model,
        args=args,
        train_dataset=ExampleDataset(data.train),
        eval_dataset=ExampleDataset(evaluated) if has_eval else None,
        data_collator=WeightedCollator(pad_id),
        processing_class=tokenizer,
        callbacks=[progress, *stopping, *_head_callbacks(head), *callbacks],
        selection_examples=evaluated,
        selection_rule=config.selection_rule,
        rationale_head=head,
        embedding_weight=config.embedding_weight,
    )
    trainer.remove_callback(PrinterCallback)  # ProgressCallback prints instead
    if resume and checkpoint is None:
        printer(f"no checkpoint in {layout.checkpoints}: starting from step 0")
    if not has_eval:
        printer("no validation examples: no early stopping, the last adapter is kept")
    printer(
        f"{len(data.train)} train / {len(data.val)} val examples ({len(evaluated)} evaluated); "
        f"LoRA r={config.lora_r}: {trainable:,} of {total:,} parameters trainable; "
        f"{'bf16' if bf16 else 'fp32'} on {'cuda' if cuda else f'{config.threads} CPU threads'}"
    )
    started = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=checkpoint)
    seconds = time.perf_counter() - started
    state = trainer.state
    final_eval: dict[str, Any] = {}
    if has_eval and state.best_metric is None:  # training ended before any evaluation
        final_eval = trainer.evaluate()
    trained: Any = trainer.model  # the PeftModel (the best checkpoint's adapter when validated)
    trained.save_pretrained(str(layout.adapter))
    tokenizer.save_pretrained(str(layout.adapter))
    if head is not None:
        from distill.rationale_embedding import save_head

        save_head(head, layout.root)  # the last step's head: a training aid, unused at inference
        del trained.rationale_head  # not part of the student (nor of its merged folder)
    metrics: dict[str, Any] = {
        "steps": state.global_step,
        "epochs": state.epoch,
        "train_loss": output.training_loss,  # mean over this session's steps
        "last_loss": next((e["loss"] for e in reversed(state.log_history) if "loss" in e), None),
        "best_step": state.best_global_step,
        "best_selection_accuracy": state.best_metric,
        "final_eval": final_eval or None,
        "seconds": round(seconds, 1),
        "seconds_per_step": round(progress.seconds_per_step, 3),
        "tokens_per_second": round(progress.tokens_per_second, 1),
        "tokens_seen": state.num_input_tokens_seen,
        "resumed_from": Path(checkpoint).name if checkpoint else None,
        "precision": "bf16" if bf16 else "fp32",
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "threads": config.threads,
        "trainable_parameters": trainable,
        "total_parameters": total,
        "early_stopped": bool(stopping) and state.global_step < state.max_steps,
    }
    model_out = trained
    if config.merge:
        model_out = trained.merge_and_unload()
        model_out.save_pretrained(str(layout.merged))
        tokenizer.save_pretrained(str(layout.merged))
    student = student_record(
        layout, config, base_dir, tokenizer, data, len(evaluated), sets_dir, metrics
    )
    student["log_history"] = state.log_history
    layout.student_json.write_text(json.dumps(student, indent=2, default=str) + "\n")
    layout.model_card.write_text(model_card(student, data.report))
    printer(
        f"student -> {layout.root} ({state.global_step} steps in {seconds:.0f}s; best "
        f"selection accuracy {state.best_metric if state.best_metric is not None else 'n/a'})"
    )
    return TrainResult(
        layout=layout, report=data.report, metrics=metrics, model=model_out, tokenizer=tokenizer
    )


def _rationale_head(
    peft_model: Any,
    data: StudentData,
    config: StudentConfig,
    tokenizer: Any,
    checkpoint: str | None,
    printer: Callable[[str], None],
) -> Any:
    """The Eq. 6 head (None when ``embedding_weight`` is 0), a trainable submodule of the
    peft model with targets attached to the examples; restored from ``checkpoint``.
    """
    if config.embedding_weight <= 0:
        return None
    from distill.prompting import end_of_turn
    from distill.rationale_embedding import RationaleHead, attach_targets, load_head
    from literature.embedding import get_embedder

    embedder = get_embedder(config.embedding_model)
    eot = end_of_turn(tokenizer)
    targets = sum(attach_targets(split, embedder.encode, eot) for split in (data.train, data.val))
    head = RationaleHead(peft_model.config.hidden_size, embedder.dimension)
    head.to(peft_model.get_output_embeddings().weight.device)  # where the last hidden state is
    if checkpoint is not None and not load_head(head, Path(checkpoint)):
        raise ConfigError(
            f"{checkpoint} has no rationale head but this run has embedding_weight > 0: "
            "resume with the interrupted run's options, or choose another --out"
        )
    peft_model.rationale_head = head  # a submodule: the optimizer and its state cover it
    printer(f"Eq. 6 term: μ = {config.embedding_weight}, {targets} teacher rationales embedded")
    return head


def _head_callbacks(head: Any) -> list[Any]:
    """The callback that checkpoints the Eq. 6 head, when there is one."""
    if head is None:
        return []
    from distill.rationale_embedding import HeadCheckpointCallback

    return [HeadCheckpointCallback(head)]


def student_record(
    layout: StudentLayout,
    config: StudentConfig,
    base_dir: Path,
    tokenizer: Any,
    data: StudentData,
    evaluated: int,
    sets_dir: Path,
    metrics: dict[str, Any],
) -> dict[str, Any]:
    """The contents of ``student.json`` (without the log history)."""
    from agent.prompts import PROMPT_VERSION
    from distill.prompting import CHOICE_PREFIX, end_of_turn
    from kedrec.provenance import run_metadata

    source = base_dir / "kedrec_source.json"
    template = str(tokenizer.chat_template or "")
    report = data.report
    return {
        "format": STUDENT_FORMAT,
        "format_version": STUDENT_FORMAT_VERSION,
        "base_model": {
            "spec": config.base_model,
            "folder": str(base_dir.resolve()),
            "weights_sha256": weights_sha256(base_dir),
            "source": json.loads(source.read_text()) if source.is_file() else None,
        },
        "adapter": layout.adapter.name,
        "merged": layout.merged.name if config.merge else None,
        "prompt": {
            "prompt_version": PROMPT_VERSION,
            "choice_prefix": CHOICE_PREFIX,
            "end_of_turn": end_of_turn(tokenizer),
            "chat_template_sha256": hashlib.sha256(template.encode()).hexdigest(),
        },
        "records": {
            "prompt_versions": dict(report.prompt_versions),
            "bundle_versions": dict(report.bundle_versions),
            "teacher_models": dict(report.teacher_models),
            "modes": dict(report.modes),
        },
        "data": {
            "trajectories": report.files,
            "sets_dir": str(sets_dir),
            "train_examples": len(data.train),
            "val_examples": len(data.val),
            "eval_examples": evaluated,
            "rationalized_examples": report.rationalized,
            "cleaned_examples": report.kept_cleaned,
            "dropped": {k: v for k, v in report.dropped.items() if v},
            "report": layout.data_report.name,
        },
        "config": config.to_dict(),
        "seeds": {"seed": config.seed, "data_seed": config.seed},
        "training": metrics,
        "libraries": library_versions(),
        "provenance": run_metadata(),
    }


def model_card(student: dict[str, Any], report: DataReport) -> str:
    """The student's README.md: what it is, its data, config and metrics."""
    data, training, base = student["data"], student["training"], student["base_model"]
    help_text = config_help()
    lines = [
        "---",
        f"base_model: {base['folder']}",
        "library_name: peft",
        "pipeline_tag: text-generation",
        "tags: [kedrec, lora, drug-recommendation, distillation]",
        "---",
        "",
        "# KEDRec student (LoRA)",
        "",
        f"A LoRA adapter on `{base['spec']}` (`{base['folder']}`), distilled from teacher "
        "trajectories: given a disease, two candidate drugs and the rendered evidence bundle, "
        "it chooses the relevant drug (`Choice:`) and explains it in KEDRec's answer layout. "
        "Load it with `student:<this folder>`.",
        "",
        "## Data",
        "",
        f"- trajectory files: {', '.join(f['path'] for f in data['trajectories'])}",
        f"- task-set build: {data['sets_dir']}",
        f"- examples: {data['train_examples']} train, {data['val_examples']} val "
        f"({data['eval_examples']} scored per evaluation); {data['rationalized_examples']} "
        f"rationalized, {data['cleaned_examples']} with removed citations",
        f"- dropped: {json.dumps(data['dropped'])}",
        f"- prompt tokens: {json.dumps(report.as_dict()['prompt_tokens'])}",
        f"- prompt version {student['prompt']['prompt_version']}; bundle versions "
        f"{', '.join(student['records']['bundle_versions']) or 'n/a'}",
        "",
        "## Training",
        "",
        "Loss: L = L_select + λ·L_rationale: −log p(chosen name and its newline) plus λ "
        "times the mean token cross-entropy of the rest of the answer, λ = "
        f"{student['config']['rationale_weight']}; prompt tokens masked; selection-only "
        "examples have L_select alone.",
        "",
        "| setting | value | meaning |",
        "|---|---|---|",
    ]
    for name, value in student["config"].items():
        lines.append(f"| {name} | `{value}` | {help_text.get(name, '')} |")
    lines += [
        "",
        "## Metrics",
        "",
        f"- steps: {training['steps']} ({training['epochs']:.2f} epochs) in "
        f"{training['seconds']} s; {training['seconds_per_step']} s/step, "
        f"{training['tokens_per_second']} tokens/s on {training['device']} "
        f"({training['precision']})",
        f"- training loss: {training['train_loss']:.4f}",
        f"- best validation selection accuracy: {training['best_selection_accuracy']} "
        f"(step {training['best_step']})",
        f"- trainable parameters: {training['trainable_parameters']:,} of "
        f"{training['total_parameters']:,}",
        "",
        "## Provenance",
        "",
        f"- git commit: {student['provenance'].get('git_commit')}",
        f"- libraries: {json.dumps(student['libraries'])}",
        "",
    ]
    return "\n".join(lines)


def _logging_steps(config: StudentConfig, examples: int) -> int:
    """``config.logging_steps``, but at least ten progress lines in a short run (a demo's
    11 steps would otherwise print nothing until step 10).
    """
    per_epoch = math.ceil(examples / (config.batch_size * config.grad_accum))
    steps = config.max_steps if config.max_steps > 0 else math.ceil(per_epoch * config.epochs)
    return max(1, min(config.logging_steps, steps // 10))
