"""The package layering: each package imports only packages below it (no cycles, no upward use).

Every ``import`` and ``from … import`` in every module is checked, including imports inside
functions and under ``TYPE_CHECKING``: a lazy upward import is still an upward dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

LAYERS: dict[str, int] = {
    "kedrec": 0,
    "graph_store": 1,
    "llm": 1,
    "kge": 2,
    "literature": 2,
    "tasks": 3,
    "evidence": 4,
    "agent": 5,
    "distill": 6,
    "eval": 7,
    "kedrec_cli": 8,
}
"""The pipeline, bottom to top. A package may import packages of a strictly lower layer."""


def imported_packages(path: Path) -> list[tuple[int, str]]:
    """(line, top-level first-party package) for every import in a module."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [(node.lineno, n.split(".")[0]) for n in names if n.split(".")[0] in LAYERS]
    return found


def layer_violations(root: Path = REPO) -> list[str]:
    """Every import of a package from the same or a higher layer, as ``file:line a -> b``."""
    problems = []
    for package, layer in LAYERS.items():
        for path in sorted((root / package).rglob("*.py")):
            for line, target in imported_packages(path):
                if target != package and LAYERS[target] >= layer:
                    where = path.relative_to(root)
                    problems.append(f"{where}:{line} {package} -> {target}")
    return problems


def test_every_package_has_a_layer() -> None:
    packages = {p.parent.name for p in REPO.glob("*/__init__.py")}
    assert packages - {"tests", "bench", "scripts"} == set(LAYERS)


def test_no_package_imports_a_higher_or_sibling_layer() -> None:
    assert layer_violations() == []


def test_the_check_catches_an_upward_import(tmp_path: Path) -> None:
    """Negative control: a lower package importing a higher one is reported."""
    for package in LAYERS:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "graph_store" / "bad.py").write_text(
        "def f():\n    from agent.graph import graph\n    return graph\n"
    )
    (tmp_path / "llm" / "sibling.py").write_text("import graph_store.tools\n")
    assert layer_violations(tmp_path) == [
        "graph_store/bad.py:2 graph_store -> agent",
        "llm/sibling.py:1 llm -> graph_store",
    ]


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_package_is_installed(package: str) -> None:
    """pyproject's package list names every package (a fresh install must ship it)."""
    text = (REPO / "pyproject.toml").read_text()
    assert f'"{package}*"' in text or (package.startswith("kedrec") and '"kedrec*"' in text)
