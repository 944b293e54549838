"""One error root: every exception class defined anywhere in the project derives from KedrecError.

The check imports every module of every project package (no module is skipped: an import that
fails fails the test) and inspects the classes each module defines, nested ones included.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from kedrec.errors import KedrecError

REPO = Path(__file__).resolve().parents[2]
NOT_PACKAGES = {"tests", "bench", "scripts"}

ALLOWED: dict[str, str] = {}
"""Exceptions that may stay outside the root, each with the reason it never reaches a caller."""


def project_packages(root: Path = REPO) -> list[str]:
    """Every top-level package of the checkout (a folder with ``__init__.py``)."""
    return sorted(
        p.parent.name for p in root.glob("*/__init__.py") if p.parent.name not in NOT_PACKAGES
    )


def module_names(root: Path, packages: list[str]) -> list[str]:
    """The dotted name of every ``.py`` file under the packages (namespace folders included)."""
    names = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def defined_classes(module: ModuleType) -> Iterator[type]:
    """Classes whose home is ``module``, with the classes nested inside them."""
    stack = [value for value in vars(module).values() if inspect.isclass(value)]
    seen: set[type] = set()
    while stack:
        cls = stack.pop()
        if cls in seen or cls.__module__ != module.__name__:
            continue
        seen.add(cls)
        yield cls
        stack.extend(value for value in vars(cls).values() if inspect.isclass(value))


def foreign_exceptions(modules: list[str]) -> list[str]:
    """``module.Class`` of every exception defined in ``modules`` that is not a KedrecError."""
    found = set()
    for name in modules:
        module = importlib.import_module(name)
        for cls in defined_classes(module):
            if issubclass(cls, BaseException) and not issubclass(cls, KedrecError):
                found.add(f"{cls.__module__}.{cls.__qualname__}")
    return sorted(found)


def test_walk_covers_every_package_and_module() -> None:
    packages = project_packages()
    assert {"kedrec", "graph_store", "llm", "kge", "literature", "tasks", "evidence"} <= set(
        packages
    )
    assert {"agent", "distill", "eval", "kedrec_cli"} <= set(packages)
    modules = module_names(REPO, packages)
    python_files = sum(len(list((REPO / p).rglob("*.py"))) for p in packages)
    assert len(modules) == len(set(modules)) == python_files
    assert any(name.count(".") >= 2 for name in modules)  # sub-packages are walked too


def test_every_project_exception_derives_from_kedrec_error() -> None:
    found = foreign_exceptions(module_names(REPO, project_packages()))
    assert [name for name in found if name not in ALLOWED] == [], (
        "derive these from kedrec.errors.KedrecError (or an area error under it)"
    )
    stale = sorted(set(ALLOWED) - set(found))
    assert stale == [], f"no longer needed in ALLOWED (now a KedrecError or gone): {stale}"


def test_area_errors_are_kedrec_errors() -> None:
    """The errors the area modules export, by name (a rename shows up here)."""
    from kedrec.errors import ConfigError, LeakageError
    from kge.errors import EmbeddingError, UnknownEmbeddingIdError
    from literature.errors import ClientError, IndexMissingError, LiteratureError
    from llm.chat_models import ChatModelConfigError
    from llm.local_model import LocalModelError

    for error in (EmbeddingError, UnknownEmbeddingIdError, LiteratureError, ClientError):
        assert issubclass(error, KedrecError)
    assert issubclass(IndexMissingError, LiteratureError)
    assert issubclass(LocalModelError, KedrecError) and issubclass(LeakageError, KedrecError)
    assert issubclass(ChatModelConfigError, ConfigError)


def test_the_check_catches_a_stray_exception(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Negative control: exceptions outside the root are reported, nested ones too."""
    package = tmp_path / "strayerrors"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "good.py").write_text(
        "from kedrec.errors import ConfigError, KedrecError\n"
        "class Good(KedrecError):\n    pass\n"
        "class AlsoGood(ConfigError):\n    pass\n"
    )
    (package / "sub" / "bad.py").write_text(
        "class Bad(ValueError):\n    pass\n"
        "class Holder:\n    class Inner(RuntimeError):\n        pass\n"
        "from json import JSONDecodeError  # imported, not defined here: not reported\n"
    )
    (package / "nopkg").mkdir()
    (package / "nopkg" / "loose.py").write_text("class Loose(Exception):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        modules = module_names(tmp_path, ["strayerrors"])
        assert "strayerrors.nopkg.loose" in modules
        assert foreign_exceptions(modules) == [
            "strayerrors.nopkg.loose.Loose",
            "strayerrors.sub.bad.Bad",
            "strayerrors.sub.bad.Holder.Inner",
        ]
    finally:
        for name in [m for m in sys.modules if m.split(".")[0] == "strayerrors"]:
            del sys.modules[name]
