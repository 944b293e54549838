"""What every output records about how it was made: code version, git commit, time, machine."""

from __future__ import annotations

import functools
import platform
import subprocess
from datetime import UTC, datetime
from typing import Any

from kedrec import __version__
from kedrec.settings import REPO_ROOT


@functools.cache
def git_commit() -> str | None:
    """The checkout's commit (with ``-dirty`` when it has uncommitted changes), if any.

    Read once per process: a long run records the code it started with, not a commit made in
    the checkout while it ran (and records do not each cost two ``git`` calls).
    """
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}-dirty" if dirty else commit


def run_metadata() -> dict[str, Any]:
    """Version, commit, UTC time and machine, for manifests and result files."""
    return {
        "kedrec_version": __version__,
        "git_commit": git_commit(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": f"{platform.machine()} {platform.system()} {platform.release()}",
    }
