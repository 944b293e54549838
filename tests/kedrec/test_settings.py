"""Settings: defaults, environment precedence, validation, secrets."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from kedrec.errors import ConfigError
from kedrec.settings import (
    AgentSettings,
    KedrecSettings,
    KGESettings,
    Neo4jSettings,
    TasksSettings,
    field_default,
    field_description,
    read_settings,
)


def test_env_overrides_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NEO4J_URI", "bolt://127.0.0.1:9999")
    monkeypatch.setenv("NEO4J_PASSWORD", "s3cret-value")
    monkeypatch.setenv("KEDREC_DATA_DIR", str(tmp_path))
    settings = KedrecSettings()
    assert settings.neo4j.uri == "bolt://127.0.0.1:9999"
    assert settings.data_dir == tmp_path
    assert settings.kg_slice_dir == tmp_path / "kg_slice"
    assert "s3cret-value" not in repr(settings) and "s3cret-value" not in str(settings.neo4j)
    assert settings.neo4j.password.get_secret_value() == "s3cret-value"


def test_default_data_dir_is_shared_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KEDREC_DATA_DIR", raising=False)
    settings = KedrecSettings()
    assert settings.data_dir.parts[-2:] == ("shared", "data")
    assert (settings.data_dir / "kg_slice").is_dir()


def test_invalid_port_is_rejected() -> None:
    with pytest.raises(ValidationError, match="outside 1-65535"):
        Neo4jSettings(bolt_port=70000)


# -- one sub-model per area, each with its own prefix ------------------------------------------

AREA_ENV = [
    ("kge", "KEDREC_KGE_DIM", "64", "dim", 64),
    ("kge", "KEDREC_KGE_MODEL", "rotate", "model", "rotate"),
    ("tasks", "KEDREC_TASKS_SETS_PER_DISEASE", "3", "sets_per_disease", 3),
    ("tasks", "KEDREC_TASKS_VAL_FRACTION", "0.2", "val_fraction", 0.2),
    ("agent", "KEDREC_AGENT_MAX_STEPS", "5", "max_steps", 5),
    ("agent", "KEDREC_AGENT_LITERATURE_SOURCE", "ct", "literature_source", "ct"),
    (
        "distill",
        "KEDREC_DISTILL_BASE_MODEL",
        "local:/models/llama",
        "base_model",
        "local:/models/llama",
    ),
    ("eval", "KEDREC_EVAL_BOOTSTRAP_SAMPLES", "200", "bootstrap_samples", 200),
    ("eval", "KEDREC_EVAL_SEED", "7", "seed", 7),
]


@pytest.mark.parametrize(("section", "variable", "raw", "name", "expected"), AREA_ENV)
def test_each_area_reads_its_own_prefix(
    monkeypatch: pytest.MonkeyPatch,
    section: str,
    variable: str,
    raw: str,
    name: str,
    expected: object,
) -> None:
    default = getattr(getattr(KedrecSettings(), section), name)
    assert default != expected
    monkeypatch.setenv(variable, raw)
    settings = KedrecSettings()
    assert getattr(getattr(settings, section), name) == expected
    for other in ("kge", "tasks", "agent", "distill", "eval"):  # same name, other prefix
        model = type(getattr(settings, other))
        if other != section and name in model.model_fields:
            assert getattr(getattr(settings, other), name) == field_default(model, name)


def test_seed_is_per_area(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEDREC_TASKS_SEED", "3")
    settings = KedrecSettings()
    assert (settings.tasks.seed, settings.kge.seed, settings.eval.seed) == (3, 0, 0)


def test_output_dirs_default_under_the_cache_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for variable in ("KEDREC_TASKS_SETS_DIR", "KEDREC_DISTILL_OUT_DIR", "KEDREC_EVAL_OUT_DIR"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("KEDREC_CACHE_DIR", str(tmp_path / "cache"))
    settings = KedrecSettings()
    assert settings.task_sets_dir == tmp_path / "cache" / "task_sets"
    assert settings.students_dir == tmp_path / "cache" / "students"
    assert settings.eval_dir == tmp_path / "cache" / "eval"
    assert settings.distill.base_model == "local:smollm2" == settings.agent.model
    assert settings.eval.bootstrap_samples == 1000
    monkeypatch.setenv("KEDREC_TASKS_SETS_DIR", str(tmp_path / "sets"))
    monkeypatch.setenv("KEDREC_DISTILL_OUT_DIR", str(tmp_path / "students"))
    monkeypatch.setenv("KEDREC_EVAL_OUT_DIR", str(tmp_path / "eval"))
    settings = KedrecSettings()
    assert settings.task_sets_dir == tmp_path / "sets"
    assert settings.students_dir == tmp_path / "students"
    assert settings.eval_dir == tmp_path / "eval"


def settings_models() -> list[type[BaseSettings]]:
    """The root and every sub-model it holds."""
    subs = [f.annotation for f in KedrecSettings.model_fields.values()]
    return [
        KedrecSettings,
        *(m for m in subs if isinstance(m, type) and issubclass(m, BaseSettings)),
    ]


def test_every_area_has_a_prefixed_sub_model_and_every_field_a_description() -> None:
    models = settings_models()
    prefixes = {m.__name__: m.model_config.get("env_prefix") for m in models}
    assert prefixes == {
        "KedrecSettings": "KEDREC_",
        "Neo4jSettings": "NEO4J_",
        "LiteratureSettings": "KEDREC_LIT_",
        "EvidenceSettings": "KEDREC_EVIDENCE_",
        "KGESettings": "KEDREC_KGE_",
        "TasksSettings": "KEDREC_TASKS_",
        "AgentSettings": "KEDREC_AGENT_",
        "DistillSettings": "KEDREC_DISTILL_",
        "EvalSettings": "KEDREC_EVAL_",
    }
    missing = [
        f"{m.__name__}.{name}"
        for m in models
        for name, info in m.model_fields.items()
        if not (info.description or "").strip()
    ]
    assert missing == []
    assert all((m.__doc__ or "").strip() for m in models)


def test_invalid_area_value_is_one_config_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KEDREC_AGENT_LITERATURE_SOURCE", "arxiv")
    with pytest.raises(ConfigError, match="KEDREC_AGENT_LITERATURE_SOURCE") as caught:
        read_settings(AgentSettings)
    assert "\n" not in str(caught.value)
    monkeypatch.setenv("KEDREC_TASKS_TOP_K", "0")
    with pytest.raises(ValidationError):
        TasksSettings()


# -- the config objects take their defaults from the settings (defined once) -------------------


def test_kge_config_defaults_are_the_kge_settings() -> None:
    from kge.config import KGEConfig

    config = KGEConfig()
    for name in KGESettings.model_fields:
        assert getattr(config, name) == field_default(KGESettings, name), name
        assert KGEConfig.model_fields[name].description == field_description(KGESettings, name)


def test_kge_config_defaults_ignore_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A recorded config means the same everywhere: only the CLI reads KEDREC_KGE_*."""
    from kge.config import KGEConfig

    monkeypatch.setenv("KEDREC_KGE_DIM", "16")
    assert KGEConfig().dim == 128 and KGESettings().dim == 16


def test_sampling_config_defaults_are_the_tasks_settings() -> None:
    from tasks.sampling import SamplingConfig

    config = SamplingConfig()
    shared = set(TasksSettings.model_fields) - {"sets_dir"}
    assert shared == {f.name for f in dataclasses.fields(SamplingConfig)}
    for name in shared:
        assert getattr(config, name) == field_default(TasksSettings, name), name


def test_agent_context_mirrors_the_agent_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.context import AgentContext
    from kedrec.settings import LiteratureSource

    context_fields = {f.name: f for f in dataclasses.fields(AgentContext)}
    computed = {"prompt_version"}  # a hash of the prompt templates, not a setting
    assert set(context_fields) - computed == set(AgentSettings.model_fields)
    context_fields = {k: v for k, v in context_fields.items() if k not in computed}
    for name, item in context_fields.items():
        assert item.default == field_default(AgentSettings, name)
        assert item.metadata["description"] == field_description(AgentSettings, name)
    literal = AgentSettings.model_fields["literature_source"].annotation
    assert typing.get_args(literal) == typing.get_args(LiteratureSource)

    monkeypatch.setenv("KEDREC_AGENT_MAX_STEPS", "4")
    monkeypatch.setenv("KEDREC_AGENT_USE_LIVE_APIS", "true")
    monkeypatch.setenv("KEDREC_AGENT_MODEL", "openai:gpt-4o-mini")
    context = AgentContext(model="local:smollm2-explicit")
    assert (context.max_steps, context.use_live_apis) == (4, True)
    assert context.model == "local:smollm2-explicit"  # an explicit value beats the environment
    monkeypatch.setenv("KEDREC_AGENT_MAX_STEPS", "many")
    with pytest.raises(ConfigError, match="KEDREC_AGENT_MAX_STEPS"):
        AgentContext()
