"""LoRA training of a tiny LLaMA: adapter vs base weights, resume, the loss, the outputs."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from transformers import TrainerCallback

from distill.config import StudentConfig
from distill.data import build_examples
from distill.layout import STUDENT_FORMAT, StudentLayout
from distill.train import train_student, weights_sha256
from distill.trainer import (
    WeightedCollator,
    WeightedLossTrainer,
    logits_to_keep,
    selection_accuracy,
    weighted_loss,
)
from kedrec.errors import ConfigError, DataFormatError


def tiny_config(base: Path, **overrides: Any) -> StudentConfig:
    values: dict[str, Any] = {
        "base_model": f"local:{base}",
        "max_steps": 4,
        "grad_accum": 2,
        "learning_rate": 5e-3,
        "warmup_steps": 0,
        "eval_steps": 2,
        "save_steps": 2,
        "logging_steps": 1,
        "max_length": 8192,
        "threads": 2,
        "rationale_weight": 0.5,
    }
    values.update(overrides)
    return StudentConfig(**values)


class Snapshot(TrainerCallback):
    """Every parameter of the model as training begins (trl's test pattern)."""

    def __init__(self) -> None:
        self.before: dict[str, torch.Tensor] = {}

    def on_train_begin(self, args, state, control, model=None, **kwargs):  # type: ignore[no-untyped-def]
        self.before = {n: p.detach().clone() for n, p in model.named_parameters()}


class Crash(RuntimeError):
    pass


class CrashAfterSave(TrainerCallback):
    """Fail like a killed process right after the checkpoint of ``step`` is written."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_save(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
        if state.global_step == self.step:
            raise Crash(f"crash after the checkpoint of step {self.step}")


def adapter_tensors(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(StudentLayout(folder).adapter / "adapter_model.safetensors"))


def test_lora_training_changes_the_adapter_and_not_the_base(
    tiny_base: Path, trajectory_file: Path, sets_dir: Path, names, tmp_path: Path
) -> None:
    snapshot, lines = Snapshot(), []
    out = tmp_path / "student"
    result = train_student(
        [trajectory_file],
        out,
        tiny_config(tiny_base),
        sets_dir=sets_dir,
        callbacks=[snapshot],
        printer=lines.append,
        names=names,
    )
    after = dict(result.model.named_parameters())
    lora = [n for n in snapshot.before if "lora_" in n]
    base = [n for n in snapshot.before if "lora_" not in n]
    assert len(lora) == 2 * 2 * 7, "A and B of 7 modules in 2 layers"
    for name in lora:
        assert not torch.equal(snapshot.before[name], after[name]), f"{name} did not train"
    for name in base:
        assert torch.equal(snapshot.before[name], after[name]), f"{name} changed"
        assert not after[name].requires_grad

    layout = result.layout
    assert (layout.adapter / "adapter_config.json").is_file()
    assert (layout.adapter / "tokenizer.json").is_file()
    assert sorted(p.name for p in layout.checkpoints.iterdir()) == [
        "checkpoint-2",
        "checkpoint-4",
    ]
    assert not layout.merged.exists()
    student = json.loads(layout.student_json.read_text())
    assert student["format"] == STUDENT_FORMAT and student["adapter"] == "adapter"
    assert student["base_model"]["weights_sha256"] == weights_sha256(tiny_base)
    assert student["base_model"]["spec"] == f"local:{tiny_base}"
    assert student["data"]["train_examples"] == 4 and student["data"]["val_examples"] == 2
    assert student["data"]["trajectories"][0]["sha256"]
    assert student["config"]["rationale_weight"] == 0.5 and student["seeds"]["seed"] == 0
    assert student["libraries"]["peft"] and "git_commit" in student["provenance"]
    assert student["prompt"]["end_of_turn"] == "<|im_end|>"
    assert student["records"]["bundle_versions"]
    training = student["training"]
    assert training["steps"] == 4 and training["best_selection_accuracy"] is not None
    assert training["tokens_per_second"] > 0 and training["precision"] == "fp32"
    assert any("eval_selection_accuracy" in entry for entry in student["log_history"])
    assert "# KEDRec student" in layout.model_card.read_text()
    assert json.loads(layout.data_report.read_text())["kept"] == {"train": 4, "val": 2}
    assert any("tok/s" in line and "ETA" in line for line in lines)
    assert any("selection accuracy" in line for line in lines)

    with pytest.raises(ConfigError, match="already holds a student"):
        train_student([trajectory_file], out, tiny_config(tiny_base), sets_dir=sets_dir)


def test_resume_after_a_crash_gives_the_uninterrupted_result(
    tiny_base: Path, trajectory_file: Path, sets_dir: Path, names, tmp_path: Path
) -> None:
    def run(out: Path, **kwargs: Any) -> Any:
        return train_student(
            [trajectory_file],
            out,
            tiny_config(tiny_base),
            sets_dir=sets_dir,
            printer=lambda _: None,
            names=names,
            **kwargs,
        )

    run(tmp_path / "whole")
    with pytest.raises(Crash):
        run(tmp_path / "crashed", callbacks=[CrashAfterSave(step=2)])
    assert not StudentLayout(tmp_path / "crashed").adapter.exists()
    resumed = run(tmp_path / "crashed", resume=True)
    assert resumed.metrics["resumed_from"] == "checkpoint-2"
    expected, got = adapter_tensors(tmp_path / "whole"), adapter_tensors(tmp_path / "crashed")
    assert expected.keys() == got.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-5, atol=1e-6)

    def losses(out: Path) -> list[tuple[int, float]]:
        history = json.loads(StudentLayout(out).student_json.read_text())["log_history"]
        return [(e["step"], e["loss"]) for e in history if "loss" in e]

    steps_and_losses = losses(tmp_path / "whole")
    assert [step for step, _ in steps_and_losses] == [1, 2, 3, 4]
    resumed_losses = losses(tmp_path / "crashed")
    assert [step for step, _ in resumed_losses] == [1, 2, 3, 4]
    assert [loss for _, loss in resumed_losses] == pytest.approx(
        [loss for _, loss in steps_and_losses], rel=1e-5
    )

    with pytest.raises(ConfigError, match="--resume with other lora_r"):
        train_student(
            [trajectory_file],
            tmp_path / "crashed",
            tiny_config(tiny_base, lora_r=4),
            sets_dir=sets_dir,
            resume=True,
            names=names,
        )


def test_eq6_term_trains_a_head_changes_the_loss_and_resumes_exactly(
    tiny_base: Path, trajectory_file: Path, sets_dir: Path, names, tmp_path: Path
) -> None:
    """μ > 0 adds the embedding term (real MiniLM targets), checkpoints the head, and a
    crashed run resumed from its checkpoint ends with the uninterrupted run's adapter and head."""
    from safetensors.torch import load_file

    from distill.rationale_embedding import HEAD_FILE

    def run(out: Path, weight: float, **kwargs: Any) -> Any:
        return train_student(
            [trajectory_file],
            out,
            tiny_config(tiny_base, embedding_weight=weight, early_stopping_patience=0),
            sets_dir=sets_dir,
            printer=lines.append,
            names=names,
            **kwargs,
        )

    lines: list[str] = []
    plain = run(tmp_path / "plain", 0.0)
    whole = run(tmp_path / "whole", 2.0)
    assert any("Eq. 6 term: μ = 2.0, 6 teacher rationales embedded" in line for line in lines)
    assert not (tmp_path / "plain" / HEAD_FILE).exists()
    head = load_file(str(tmp_path / "whole" / HEAD_FILE))
    assert head["projection.weight"].shape == (384, 64), "MiniLM's 384 from the tiny 64"
    assert (tmp_path / "whole" / "checkpoints" / "checkpoint-2" / HEAD_FILE).is_file()
    assert not hasattr(whole.model, "rationale_head"), "the student itself has no head"
    assert whole.metrics["train_loss"] > plain.metrics["train_loss"], "the term adds to the loss"

    with pytest.raises(Crash):
        run(tmp_path / "crashed", 2.0, callbacks=[CrashAfterSave(step=2)])
    resumed = run(tmp_path / "crashed", 2.0, resume=True)
    assert resumed.metrics["resumed_from"] == "checkpoint-2"
    expected, got = adapter_tensors(tmp_path / "whole"), adapter_tensors(tmp_path / "crashed")
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(
        load_file(str(tmp_path / "crashed" / HEAD_FILE))["projection.weight"],
        head["projection.weight"],
        rtol=1e-5,
        atol=1e-6,
    )


def test_merge_writes_an_hf_folder_equal_to_base_plus_adapter(
    tiny_base: Path, trajectory_file: Path, sets_dir: Path, names, tmp_path: Path
) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = tmp_path / "merged-student"
    config = tiny_config(tiny_base, max_steps=2, merge=True, early_stopping_patience=0)
    train_student(
        [trajectory_file], out, config, sets_dir=sets_dir, printer=lambda _: None, names=names
    )
    layout = StudentLayout(out)
    merged = AutoModelForCausalLM.from_pretrained(layout.merged).eval()
    base = AutoModelForCausalLM.from_pretrained(tiny_base)
    adapted = PeftModel.from_pretrained(base, layout.adapter).eval()
    ids = torch.tensor([[1, 200, 300, 400, 500]])
    with torch.inference_mode():
        torch.testing.assert_close(merged(ids).logits, adapted(ids).logits, rtol=1e-4, atol=1e-5)
    assert (layout.merged / "tokenizer.json").is_file()
    assert json.loads(layout.student_json.read_text())["merged"] == "merged"


def test_no_training_example_is_one_error_with_the_fix(
    tiny_base: Path, trajectory_file: Path, sets_dir: Path, names, tmp_path: Path
) -> None:
    with pytest.raises(DataFormatError, match=r"6 too_long\): raise --max-length \(prompts are"):
        train_student(
            [trajectory_file],
            tmp_path / "s",
            tiny_config(tiny_base, max_length=1024),
            sets_dir=sets_dir,
            names=names,
        )


# -- the loss ---------------------------------------------------------------------------------


def test_weighted_loss_is_the_weighted_sum_per_example() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 11)
    labels = torch.tensor([[-100, -100, 3, 5, 7], [-100, -100, -100, 2, 9]])
    # Eq. 8 weights: 1 on the name's tokens, λ / n_rest on the rest's (λ = 0.5)
    weights = torch.tensor([[0, 0, 1.0, 0.25, 0.25], [0, 0, 0, 1.0, 0.5]])
    loss, per_example = weighted_loss(logits, labels, weights)
    logprobs = torch.log_softmax(logits, dim=-1)
    # kept logit j sits at position j + 1 (of 5) and predicts the label at position j + 2
    first = -(1.0 * logprobs[0, 0, 3] + 0.25 * logprobs[0, 1, 5] + 0.25 * logprobs[0, 2, 7])
    second = -(1.0 * logprobs[1, 1, 2] + 0.5 * logprobs[1, 2, 9])
    torch.testing.assert_close(per_example, torch.stack([first, second]))
    torch.testing.assert_close(loss, (first + second) / 2)
    assert logits_to_keep(labels) == 4


def test_left_padding_and_kept_logits_give_each_examples_own_loss(
    tiny_base: Path, trajectory_file: Path, smollm2_tokenizer, sets_dir: Path, names
) -> None:
    from transformers import AutoModelForCausalLM

    data = build_examples(
        [trajectory_file],
        smollm2_tokenizer,
        sets_dir=sets_dir,
        max_length=8192,
        rationale_weight=0.5,
        names=names,
    )
    model = AutoModelForCausalLM.from_pretrained(tiny_base).eval()
    collate = WeightedCollator(smollm2_tokenizer.pad_token_id)
    compute = WeightedLossTrainer.compute_loss
    pair = data.train[:2]
    assert pair[0].n_tokens != pair[1].n_tokens, "the batch needs padding"
    with torch.inference_mode():
        batch = collate(pair)
        together = model(**{k: batch[k] for k in ("input_ids", "attention_mask", "position_ids")})
        _, per_example = weighted_loss(together.logits, batch["labels"], batch["loss_weights"])
        for index, example in enumerate(pair):
            alone = collate([example])
            full = model(input_ids=alone["input_ids"]).logits  # every position, no padding
            expected, _ = weighted_loss(full, alone["labels"], alone["loss_weights"])
            no_head = SimpleNamespace(rationale_head=None, embedding_weight=0.0)
            kept = compute(no_head, model, alone)  # type: ignore[arg-type]  # the last K logits
            torch.testing.assert_close(kept, expected, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(per_example[index], expected, rtol=1e-4, atol=1e-4)
        accuracy = selection_accuracy(model, smollm2_tokenizer, data.val)
    assert accuracy in (0.0, 0.5, 1.0)
