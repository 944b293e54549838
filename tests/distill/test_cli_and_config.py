"""``kedrec distill train`` options, the config's checks and the end-of-turn token."""

from __future__ import annotations

import copy
import json
from dataclasses import fields
from pathlib import Path

import pytest
from typer.testing import CliRunner

from distill.cli import distill_app
from distill.config import LLAMA_TARGET_MODULES, StudentConfig, config_help, default_threads
from distill.prompting import end_of_turn
from kedrec.errors import ConfigError

LLAMA3_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<|start_header_id|>{{ message['role'] }}"
    "<|end_header_id|>\n\n{{ message['content'] | trim }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)


def test_every_config_field_has_help_and_the_defaults_fit_a_cpu() -> None:
    config = StudentConfig()
    assert all(config_help()[f.name] for f in fields(StudentConfig))
    assert config.base_model == "local:smollm2" and config.max_length == 2560
    assert config.target_modules == LLAMA_TARGET_MODULES
    assert config.threads == default_threads() and not config.gradient_checkpointing
    assert config.precision == "auto" and not config.bf16(
        cuda_available=False, bf16_supported=False
    )
    assert config.bf16(cuda_available=True, bf16_supported=True)
    assert StudentConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"lora_r": 0}, "lora_r must be at least 1"),
        ({"save_steps": 30, "eval_steps": 20}, "multiple of eval_steps"),
        ({"rationale_weight": -1}, "rationale_weight"),
        ({"precision": "fp16"}, "precision must be"),
    ],
)
def test_bad_values_are_one_line_errors(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        StudentConfig(**overrides)  # type: ignore[arg-type]


def test_end_of_turn_is_read_from_the_chat_template(smollm2_tokenizer) -> None:
    assert end_of_turn(smollm2_tokenizer) == "<|im_end|>"
    llama3 = copy.deepcopy(smollm2_tokenizer)
    llama3.chat_template = LLAMA3_TEMPLATE
    assert end_of_turn(llama3) == "<|eot_id|>"


def test_dry_run_prints_the_data_report(
    trajectory_file: Path, sets_dir: Path, tiny_base: Path, tmp_path: Path
) -> None:
    out = tmp_path / "student"
    result = CliRunner().invoke(
        distill_app,
        [
            "train",
            "--trajectories",
            str(trajectory_file),
            "--sets",
            str(sets_dir),
            "--base",
            f"local:{tiny_base}",
            "--out",
            str(out),
            "--max-length",
            "8192",
            "--dry-run",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["data"]["kept"] == {"train": 4, "val": 2}
    assert json.loads((out / "data_report.json").read_text())["records"] == 6
    assert not (out / "adapter").exists()
