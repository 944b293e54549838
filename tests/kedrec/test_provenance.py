"""Provenance: the commit a process records is the checkout it started from."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import kedrec.provenance as provenance


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A one-commit git repository standing in for the project's checkout."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "code.py").write_text("x = 1\n")
    _git(repo, "add", "code.py")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "one")
    monkeypatch.setattr(provenance, "REPO_ROOT", repo)
    provenance.git_commit.cache_clear()
    yield repo
    provenance.git_commit.cache_clear()


def test_the_commit_is_read_once_per_process(checkout: Path) -> None:
    first = _git(checkout, "rev-parse", "HEAD")
    assert provenance.git_commit() == first
    (checkout / "code.py").write_text("x = 2\n")  # edited and committed while a run goes on
    _git(checkout, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qam", "two")
    assert _git(checkout, "rev-parse", "HEAD") != first
    assert provenance.run_metadata()["git_commit"] == first
    provenance.git_commit.cache_clear()  # a new process reads the new commit
    assert provenance.git_commit() == _git(checkout, "rev-parse", "HEAD")


def test_uncommitted_changes_mark_the_commit_dirty(checkout: Path) -> None:
    (checkout / "code.py").write_text("x = 3\n")
    assert provenance.git_commit() == _git(checkout, "rev-parse", "HEAD") + "-dirty"
