"""Download, safely extract and verify the full DRKG (``drkg.tar.gz``, ≈200 MB).

The archive goes to ``<cache_dir>/drkg/drkg.tar.gz`` and unpacks beside it
(``drkg.tsv``, ``entity2src.tsv``, ``relation_glossary.tsv``, ``embed/``). A
``manifest.json`` written last records the source, size, sha256 and date; when it is
present and the files still match it, :func:`fetch_drkg` does nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import httpx

from kedrec.console import console
from kedrec.download import download, part_path, redact_url
from kedrec.errors import DataFormatError
from kedrec.settings import get_settings

DRKG_URL = "https://dgl-data.s3-us-west-2.amazonaws.com/dataset/DRKG/drkg.tar.gz"
"""Official download (DGL's S3 bucket, as in the DRKG README); also ``settings.drkg_url``."""

ARCHIVE_NAME = "drkg.tar.gz"
MANIFEST_NAME = "manifest.json"
REQUIRED_FILES = ("drkg.tsv",)
OPTIONAL_ENTRIES = ("entity2src.tsv", "relation_glossary.tsv", "embed")
_EXTRACT_TMP = ".extract-tmp"


@dataclass(frozen=True)
class DrkgFetchResult:
    """Where the DRKG files are and what the manifest says about them."""

    dest_dir: Path
    drkg_tsv: Path
    manifest_path: Path
    manifest: dict[str, Any]
    skipped: bool
    """True when everything was already downloaded, extracted and verified."""


def default_drkg_dir() -> Path:
    """``<cache_dir>/drkg``: downloads live in the cache, never in the repository."""
    return get_settings().cache_dir / "drkg"


def fetch_drkg(
    dest_dir: Path | None = None,
    url: str | None = None,
    *,
    sha256: str | None = None,
    expected_size: int | None = None,
    force: bool = False,
    keep_archive: bool = True,
    retries: int = 5,
    backoff_s: float = 1.0,
    client: httpx.Client | None = None,
    show_progress: bool = True,
) -> DrkgFetchResult:
    """Download ``drkg.tar.gz`` into ``dest_dir``, extract it safely and record a manifest.

    ``dest_dir`` defaults to ``<cache_dir>/drkg`` and ``url`` to ``settings.drkg_url``.
    A verified earlier run with the same URL is a no-op unless ``force``. An interrupted
    download resumes. ``keep_archive`` keeps the tarball so a re-extract needs no network.
    """
    dest_dir = Path(dest_dir) if dest_dir is not None else default_drkg_dir()
    url = url or get_settings().drkg_url
    manifest_path = dest_dir / MANIFEST_NAME
    if not force:
        manifest = _verified_manifest(dest_dir, url, sha256)
        if manifest is not None:
            return DrkgFetchResult(
                dest_dir, dest_dir / "drkg.tsv", manifest_path, manifest, skipped=True
            )
    dest_dir.mkdir(parents=True, exist_ok=True)
    archive = dest_dir / ARCHIVE_NAME
    if force or _recorded_url(manifest_path) not in (None, redact_url(url)):
        archive.unlink(missing_ok=True)  # a kept archive from another URL is not reused
        part_path(archive).unlink(missing_ok=True)
    fetched = download(
        url,
        archive,
        expected_size=expected_size,
        sha256=sha256,
        retries=retries,
        backoff_s=backoff_s,
        client=client,
        show_progress=show_progress,
        description="drkg.tar.gz",
    )
    console.print(f"extracting {archive} …")
    files = extract_drkg(archive, dest_dir)
    manifest = {
        "url": redact_url(url),
        "archive": {"name": ARCHIVE_NAME, "size": fetched.size, "sha256": fetched.sha256},
        "fetched_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "triples": count_lines(dest_dir / "drkg.tsv"),
        "files": files,
    }
    _write_json(manifest_path, manifest)
    if not keep_archive:
        archive.unlink(missing_ok=True)
    return DrkgFetchResult(dest_dir, dest_dir / "drkg.tsv", manifest_path, manifest, False)


def extract_drkg(archive: Path, dest_dir: Path) -> dict[str, int]:
    """Safely unpack ``archive`` into ``dest_dir``; return ``{relative path: size}``.

    Members are checked before anything is written: absolute paths, ``..`` parts, links and
    device files are refused. Unpacking goes to a temporary folder that is moved into place
    only after the layout (``drkg.tsv`` present and tab-separated) checks out.
    """
    tmp = dest_dir / _EXTRACT_TMP
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        with _open_tar(archive) as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(member, archive)
            # The "data" filter (Python >= 3.11.4) re-checks paths and drops unsafe modes.
            if hasattr(tarfile, "data_filter"):
                tar.extractall(tmp, members=members, filter="data")
            else:
                tar.extractall(tmp, members=members)
        root = _find_root(tmp, archive)
        _check_layout(root, archive)
        files = _list_files(root)
        for entry in sorted(root.iterdir()):
            target = dest_dir / entry.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
            os.replace(entry, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return files


def count_lines(path: Path) -> int:
    """Number of newline-terminated lines (triples in ``drkg.tsv``), read in chunks."""
    count = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 22):
            count += chunk.count(b"\n")
    return count


def _open_tar(archive: Path) -> tarfile.TarFile:
    """Open a (gzip) tarball, turning a corrupt file into a one-line error."""
    try:
        return tarfile.open(archive, "r:*")
    except (tarfile.TarError, OSError, EOFError) as error:
        raise DataFormatError(
            f"{archive} is not a readable tar archive ({error}); delete it and run "
            "`kedrec data fetch drkg` again"
        ) from None


def _check_member(member: tarfile.TarInfo, archive: Path) -> None:
    """Refuse members that could write outside the target folder or are not plain data."""
    name = member.name
    parts = PurePosixPath(name.replace("\\", "/")).parts
    unsafe = (
        name.startswith(("/", "\\"))
        or (len(name) > 1 and name[1] == ":")
        or ".." in parts
        or not (member.isfile() or member.isdir())
    )
    if unsafe:
        raise DataFormatError(
            f"unsafe member {name!r} in {archive} (absolute path, '..', link or device); "
            "refusing to extract, delete the archive and fetch it again from the official URL"
        )


def _find_root(tmp: Path, archive: Path) -> Path:
    """The folder holding ``drkg.tsv``: the top level or a single wrapping folder."""
    if (tmp / "drkg.tsv").is_file():
        return tmp
    entries = [entry for entry in tmp.iterdir() if not entry.name.startswith(".")]
    if len(entries) == 1 and (entries[0] / "drkg.tsv").is_file():
        return entries[0]
    raise DataFormatError(
        f"{archive} has no drkg.tsv at its top level; it is not the DRKG archive, "
        "check the URL (KEDREC_DRKG_URL or --url)"
    )


def _check_layout(root: Path, archive: Path) -> None:
    """``drkg.tsv`` must be non-empty ``head<TAB>relation<TAB>tail``; report optional parts."""
    for name in REQUIRED_FILES:
        if not (root / name).is_file():
            raise DataFormatError(f"{archive} lacks {name}; check the URL (--url)")
    with (root / "drkg.tsv").open("rb") as handle:
        first = handle.readline().rstrip(b"\r\n")
    if first.count(b"\t") != 2 or not all(first.split(b"\t")):
        raise DataFormatError(
            f"drkg.tsv in {archive} does not start with a head<TAB>relation<TAB>tail line; "
            "check the URL (--url)"
        )
    missing = [name for name in OPTIONAL_ENTRIES if not (root / name).exists()]
    if missing:
        console.print(f"[yellow]{archive} has no {', '.join(missing)} (optional)[/yellow]")


def _list_files(root: Path) -> dict[str, int]:
    """Relative path → size for every extracted file (recorded in the manifest)."""
    return {
        path.relative_to(root).as_posix(): path.stat().st_size
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _read_manifest(path: Path) -> dict[str, Any] | None:
    """The parsed manifest, or ``None`` when it is missing or unreadable."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def _recorded_url(path: Path) -> str | None:
    """The (redacted) URL an earlier fetch recorded, if any."""
    manifest = _read_manifest(path)
    return None if manifest is None else manifest.get("url")


def _verified_manifest(dest_dir: Path, url: str, sha256: str | None) -> dict[str, Any] | None:
    """The manifest if it is for ``url`` (and ``sha256``) and every file still has its size."""
    manifest = _read_manifest(dest_dir / MANIFEST_NAME)
    if manifest is None or manifest.get("url") != redact_url(url):
        return None
    recorded = manifest.get("archive", {}).get("sha256", "")
    if sha256 and recorded.lower() != sha256.strip().lower():
        return None
    files = manifest.get("files")
    if not isinstance(files, dict) or "drkg.tsv" not in files:
        return None
    for name, size in files.items():
        path = dest_dir / name
        if not path.is_file() or path.stat().st_size != size:
            return None
    return manifest


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write JSON atomically so a crash never leaves a half manifest that looks valid."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
