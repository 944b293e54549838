"""The kedrec CLI: every group is wired and lists its commands, ``graph schema`` prints the real
mapping, option defaults come from the settings, and project errors become one red line, exit 1.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from graph_store.drkg_format import parse_relation
from graph_store.schema import RELATION_TYPES, relationship_type
from kedrec.errors import KedrecError
from kedrec.settings import get_settings
from kedrec_cli.main import app

runner = CliRunner()

TOP_LEVEL = {
    "neo4j",
    "demo",
    "data",
    "graph",
    "lit",
    "embed",
    "teacher",
    "recommend",
    "chat",
    "sets",
    "eval",
    "distill",
}
"""Every command group and top-level command of ``kedrec``."""

ANSI = re.compile(r"\x1b\[[0-9;]*m")
RED = "\x1b[31m"


def root_command() -> Any:
    return typer.main.get_command(app)


def subcommands(command: Any) -> dict[str, Any]:
    """The visible sub-commands of a group ({} for a plain command)."""
    return {n: c for n, c in getattr(command, "commands", {}).items() if not c.hidden}


def listed_commands(help_text: str) -> list[str]:
    """Command names in the 'Commands' panel of a rich ``--help`` (continuation lines skipped)."""
    lines = help_text.splitlines()
    start = next(i for i, line in enumerate(lines) if re.search(r"[─-] Commands ", line))
    names = []
    for line in lines[start + 1 :]:
        if line.startswith(("╰", "+")):
            break
        match = re.match(r"^[│|] (\S+)\s", line)
        if match:
            names.append(match.group(1))
    return names


def run_kedrec(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``kedrec ARGS`` in a fresh interpreter, through ``kedrec_cli.main.main``."""
    return subprocess.run(
        [sys.executable, "-c", "from kedrec_cli.main import main; main()", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONIOENCODING": "utf-8", **env},
        timeout=120,
    )


# -- groups and commands ---------------------------------------------------------------------


def test_app_has_exactly_the_expected_groups_and_commands() -> None:
    assert set(subcommands(root_command())) == TOP_LEVEL


def test_top_level_help_lists_every_group_and_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    assert sorted(listed_commands(result.output)) == sorted(TOP_LEVEL)


@pytest.mark.parametrize("name", sorted(TOP_LEVEL))
def test_help_of_each_lists_its_sub_commands(name: str) -> None:
    command = subcommands(root_command())[name]
    result = runner.invoke(app, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert re.search(rf"Usage: \S+ {name} \[OPTIONS\]", ANSI.sub("", result.output))
    expected = subcommands(command)
    if name in ("recommend", "chat", "demo"):
        assert expected == {}  # a plain command: no Commands panel
        assert "Commands" not in result.output
    else:
        assert expected, f"group {name} has no commands"
        assert sorted(listed_commands(result.output)) == sorted(expected)


def test_listed_commands_reads_only_the_commands_panel() -> None:
    """Negative control for the parser: options and wrapped descriptions are not commands."""
    text = (
        "╭─ Options ───╮\n│ --help  Show this. │\n╰─────╯\n"
        "╭─ Commands ──╮\n│ build   Build sets │\n│         and more.  │\n"
        "│ show    Show │\n╰─────╯\n"
    )
    assert listed_commands(text) == ["build", "show"]


# -- graph schema ----------------------------------------------------------------------------


def schema_rows(output: str) -> dict[str, str]:
    """DRKG relation -> type, from the rows of ``kedrec graph schema``'s table."""
    rows = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in re.split(r"[│┃|]", line)[1:-1]]
        if len(cells) == 2 and "::" in cells[0]:
            assert cells[0] not in rows, f"{cells[0]} printed twice"
            rows[cells[0]] = cells[1]
    return rows


def glossary_relations() -> list[str]:
    glossary = get_settings().drkg_dir / "relation_glossary.tsv"
    return [line.split("\t")[0] for line in glossary.read_text().splitlines()[1:] if line]


def test_graph_schema_prints_every_relation_with_its_type() -> None:
    completed = run_kedrec("graph", "schema", COLUMNS="250")
    assert completed.returncode == 0, completed.stderr
    rows = schema_rows(completed.stdout + completed.stderr)
    relations = glossary_relations()
    assert len(relations) == 107  # DRKG's relation glossary
    assert len(rows) == len(relations)
    assert sorted(rows) == sorted(relations)
    assert rows["DRUGBANK::treats::Compound:Disease"] == "TREATS"
    assert rows["Hetionet::CpD::Compound:Disease"] == "PALLIATES"
    assert rows["DGIDB::ALLOSTERIC MODULATOR::Gene:Compound"] == "DGIDB_ALLOSTERIC_MODULATOR"
    curated = {relation: rows.get(relation) for relation in RELATION_TYPES}
    assert curated == RELATION_TYPES  # every relation of schema.py's table, with its type
    assert rows == {r: relationship_type(parse_relation(r)) for r in relations}


def test_schema_rows_parses_a_table() -> None:
    """Negative control: header and border lines are not mappings."""
    text = (
        "┃ DRKG relation  ┃ type   ┃\n┡━━━━╇━━━━┩\n"
        "│ A::b::C:D      │ TREATS │\n│ Hetionet::CcSE::Compound:Side Effect │ CAUSES │\n└──┴──┘\n"
    )
    assert schema_rows(text) == {
        "A::b::C:D": "TREATS",
        "Hetionet::CcSE::Compound:Side Effect": "CAUSES",
    }


# -- option defaults come from the settings ---------------------------------------------------


EMBED_TRAIN_DEFAULTS = {
    "model": "complex",
    "dim": 128,
    "epochs": 50,
    "seed": 0,
    "lr": 0.01,
    "batch_size": 4096,
    "patience": 5,
    "val_fraction": 0.05,
    "val_max": 2000,
    "optimizer": "adam",
    "threads": 2,
}
SETS_BUILD_DEFAULTS = {
    "seed": 0,
    "top_k": 50,
    "sets_per_disease": 1,
    "train_sets_per_disease": 4,
    "val_fraction": 0.15,
    "test_fraction": 0.15,
    "model": "complex",
    "epochs": 50,
    "dim": 128,
    "benchmark": True,
}


@pytest.fixture
def clean_settings(monkeypatch: pytest.MonkeyPatch) -> Any:
    """No KEDREC_KGE_* / KEDREC_TASKS_* in the environment; fresh settings before and after."""
    for variable in list(os.environ):
        if variable.startswith(("KEDREC_KGE_", "KEDREC_TASKS_")):
            monkeypatch.delenv(variable)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def parsed(group: str, name: str, *args: str) -> dict[str, Any]:
    """The parameters ``kedrec GROUP NAME ARGS`` would run with (nothing is executed)."""
    command = subcommands(subcommands(root_command())[group])[name]
    return command.make_context(name, list(args)).params


def option_names(group: str, name: str) -> list[str]:
    command = subcommands(subcommands(root_command())[group])[name]
    return [option for param in command.params for option in param.opts]


def test_option_names_are_unchanged() -> None:
    assert option_names("embed", "train") == [
        "files",
        "--model",
        "--dim",
        "--epochs",
        "--hold-out-file",
        "--seed",
        "--out",
        "--lr",
        "--batch-size",
        "--patience",
        "--val-fraction",
        "--val-max",
        "--optimizer",
        "--threads",
    ]
    assert option_names("sets", "build") == [
        "files",
        "--out",
        "--seed",
        "--top-k",
        "--sets-per-disease",
        "--train-sets-per-disease",
        "--val-fraction",
        "--test-fraction",
        "--model",
        "--epochs",
        "--dim",
        "--benchmark",
        "--benchmark-file",
    ]
    assert option_names("sets", "import") == ["file", "--out", "--graph", "--seed"]
    assert option_names("sets", "mimic") == [
        "--mimic-dir",
        "--out",
        "--min-admissions",
        "--graph",
        "--embeddings",
        "--top-k",
    ]


def test_teacher_collect_choice_only_is_tristate() -> None:
    """Unset keeps KEDREC_AGENT_CHOICE_ONLY; the flag pair sets it either way."""
    base = ("--sets", "s.jsonl", "--out", "o.jsonl")
    assert parsed("teacher", "collect", *base)["choice_only"] is None
    assert parsed("teacher", "collect", *base, "--choice-only")["choice_only"] is True
    assert parsed("teacher", "collect", *base, "--whole-answers")["choice_only"] is False
    assert parsed("distill", "train", "--trajectories", "t.jsonl")["embedding_weight"] is None
    assert parsed("distill", "train", "--trajectories", "t", "--embedding-weight", "0.5")[
        "embedding_weight"
    ] == pytest.approx(0.5)


def test_option_defaults_are_unchanged_without_environment(clean_settings: Any) -> None:
    params = parsed("embed", "train")
    assert {k: params[k] for k in EMBED_TRAIN_DEFAULTS} == EMBED_TRAIN_DEFAULTS
    params = parsed("sets", "build")
    assert {k: params[k] for k in SETS_BUILD_DEFAULTS} == SETS_BUILD_DEFAULTS
    assert parsed("sets", "import", "bench.tsv")["seed"] == 0


def test_option_defaults_follow_the_settings(clean_settings: pytest.MonkeyPatch) -> None:
    clean_settings.setenv("KEDREC_KGE_DIM", "64")
    clean_settings.setenv("KEDREC_KGE_MODEL", "distmult")
    clean_settings.setenv("KEDREC_KGE_NUM_THREADS", "1")
    clean_settings.setenv("KEDREC_TASKS_TOP_K", "30")
    clean_settings.setenv("KEDREC_TASKS_SEED", "4")
    get_settings.cache_clear()
    train = parsed("embed", "train")
    assert (train["dim"], train["model"], train["threads"], train["seed"]) == (
        64,
        "distmult",
        1,
        0,
    )
    build = parsed("sets", "build")
    assert (build["dim"], build["model"], build["top_k"], build["seed"]) == (64, "distmult", 30, 4)
    assert parsed("embed", "train", "--dim", "8")["dim"] == 8  # an option beats the setting


def test_help_shows_the_default_and_its_variable() -> None:
    result = runner.invoke(app, ["embed", "train", "--help"], env={"COLUMNS": "200"})
    text = ANSI.sub("", result.output)
    assert re.search(r"128\s+or\s+KEDREC_KGE_DIM", text), text


def test_sets_dir_follows_the_tasks_settings(clean_settings: Any, tmp_path: Path) -> None:
    from tasks.cli import default_sets_dir

    assert default_sets_dir() == get_settings().cache_dir / "task_sets"
    clean_settings.setenv("KEDREC_TASKS_SETS_DIR", str(tmp_path))
    get_settings.cache_clear()
    assert default_sets_dir() == tmp_path


# -- errors ----------------------------------------------------------------------------------


@pytest.fixture
def recording_console(monkeypatch: pytest.MonkeyPatch) -> StringIO:
    """kedrec's console, as a colour terminal 40 columns wide, written to a buffer."""
    buffer = StringIO()
    console = Console(file=buffer, force_terminal=True, color_system="standard", width=40)
    monkeypatch.setattr("kedrec.console.console", console)
    return buffer


def test_kedrec_error_in_a_command_is_one_red_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, recording_console: StringIO
) -> None:
    from kedrec_cli.main import main

    message = "relation X has [bold]no type[/bold]: a long message that is wider than the console"

    def refuse(relation: Any) -> str:
        raise KedrecError(message)

    monkeypatch.setattr("graph_store.schema.relationship_type", refuse)
    monkeypatch.setattr(sys, "argv", ["kedrec", "graph", "schema"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    lines = [line for line in recording_console.getvalue().splitlines() if line.strip()]
    assert len(lines) == 1, lines  # not wrapped, no traceback
    assert lines[0].startswith(f"{RED}error:")
    assert ANSI.sub("", lines[0]) == f"error: {message}"  # markup in the message is escaped


def test_other_exceptions_are_not_swallowed(
    monkeypatch: pytest.MonkeyPatch, recording_console: StringIO
) -> None:
    """Negative control: only project errors become the red line; a bug still raises."""
    from kedrec_cli.main import main

    def crash(relation: Any) -> str:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("graph_store.schema.relationship_type", crash)
    monkeypatch.setattr(sys, "argv", ["kedrec", "graph", "schema"])
    with pytest.raises(ZeroDivisionError):
        main()
    assert "error:" not in recording_console.getvalue()


def test_project_error_is_one_red_line_with_exit_1_in_a_real_process() -> None:
    completed = run_kedrec(
        "graph", "stats", "--no-check", NEO4J_URI="bolt://127.0.0.1:1", FORCE_COLOR="1"
    )
    assert completed.returncode == 1
    lines = [line for line in completed.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith(f"{RED}error:")
    plain = ANSI.sub("", lines[0])
    assert "not reachable" in plain and "kedrec neo4j start" in plain
    assert "Traceback" not in completed.stderr
