"""The kedrec CLI: groups are wired, and project errors become one red line with exit 1."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from kedrec_cli.main import app

runner = CliRunner()


def test_help_lists_every_group() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for group in ("neo4j", "data", "graph", "lit"):
        assert group in result.output


def test_graph_schema_maps_all_107_relations() -> None:
    result = runner.invoke(app, ["graph", "schema"])
    assert result.exit_code == 0, result.output


def test_project_error_is_one_line_with_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"NEO4J_URI": "bolt://127.0.0.1:1", "PATH": "/usr/bin:/bin"}
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            "from kedrec_cli.main import main; main()",
            "graph",
            "stats",
            "--no-check",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert completed.returncode == 1
    lines = [line for line in completed.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "not reachable" in lines[0] and "kedrec neo4j start" in lines[0]
    assert "Traceback" not in completed.stderr
