"""Settings: defaults, environment precedence, validation, secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from kedrec.settings import KedrecSettings, Neo4jSettings


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
