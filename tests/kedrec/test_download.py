"""Resumable download and DRKG fetch against a real loopback HTTP server (127.0.0.1 only)."""

from __future__ import annotations

import hashlib
import io
import random
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from graph_store.drkg_fetch import DRKG_URL, MANIFEST_NAME, fetch_drkg
from kedrec.download import download, part_path, redact_url
from kedrec.errors import DataFormatError, DownloadError
from kedrec.settings import KedrecSettings

TRIPLES = [
    ("Gene::2157", "GNBR::E::Gene:Gene", "Gene::2157"),
    ("Compound::DB00001", "DRUGBANK::target::Compound:Gene", "Gene::2147"),
    ("Compound::DB00003", "DRUGBANK::treats::Compound:Disease", "Disease::MESH:D003550"),
]


@dataclass
class ServerState:
    """What the fake server serves and what it saw; tests flip the behaviour switches."""

    files: dict[str, bytes] = field(default_factory=dict)
    ignore_range: bool = False
    fail_next: int = 0
    truncate_next_after: int | None = None
    requests: list[dict[str, object]] = field(default_factory=list)

    @property
    def bytes_served(self) -> int:
        return sum(int(request["sent"]) for request in self.requests)  # type: ignore[call-overload]


class _Handler(BaseHTTPRequestHandler):
    state: ServerState

    def log_message(self, format: str, *args: object) -> None:  # quiet test output
        return

    def do_GET(self) -> None:
        state = self.state
        record: dict[str, object] = {
            "path": self.path,
            "range": self.headers.get("Range"),
            "status": 0,
            "sent": 0,
        }
        state.requests.append(record)
        path = self.path.split("?", 1)[0]
        if state.fail_next > 0:
            state.fail_next -= 1
            self._reply(record, 500, b"boom")
            return
        data = state.files.get(path)
        if data is None:
            self._reply(record, 404, b"not found")
            return
        wanted = self.headers.get("Range")
        if wanted and not state.ignore_range:
            start = int(wanted.removeprefix("bytes=").split("-", 1)[0])
            if start >= len(data):
                self._reply(record, 416, b"", {"Content-Range": f"bytes */{len(data)}"})
                return
            content_range = f"bytes {start}-{len(data) - 1}/{len(data)}"
            self._reply(record, 206, data[start:], {"Content-Range": content_range})
            return
        self._reply(record, 200, data)

    def _reply(
        self,
        record: dict[str, object],
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
    ) -> None:
        record["status"] = status
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        cut = self.state.truncate_next_after
        if cut is not None and status in (200, 206):
            self.state.truncate_next_after = None
            body = body[:cut]
            self.close_connection = True
        self.wfile.write(body)
        self.wfile.flush()
        record["sent"] = len(body)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[tuple[str, ServerState]]:
    state = ServerState()
    handler = type("Handler", (_Handler,), {"state": state})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 1_600_000_000
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    tar.addfile(info)


def make_drkg_tarball() -> bytes:
    """A tiny drkg.tar.gz with the real archive's layout (``./drkg.tsv``, ``./embed/…``)."""
    drkg = "".join("\t".join(triple) + "\n" for triple in TRIPLES).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        _add_dir(tar, ".")
        _add(tar, "./drkg.tsv", drkg)
        _add(tar, "./entity2src.tsv", b"Gene::2157\tGNBR\n")
        _add(tar, "./relation_glossary.tsv", b"Relation-name\tData-source\n")
        _add_dir(tar, "./embed")
        _add(tar, "./embed/entities.tsv", b"Gene::2157\t0\n")
        _add(tar, "./embed/Readme.md", b"# embeddings\n")
        # incompressible, so the archive is large enough to cut mid-transfer
        _add(tar, "./embed/DRKG_TransE_l2_entity.npy", random.Random(0).randbytes(50_000))
    return buffer.getvalue()


def make_tarball(build: object) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        build(tar)  # type: ignore[operator]
    return buffer.getvalue()


def test_fetch_drkg_downloads_extracts_and_records_manifest(
    server: tuple[str, ServerState], tmp_path: Path
) -> None:
    base, state = server
    archive = make_drkg_tarball()
    state.files["/dataset/DRKG/drkg.tar.gz"] = archive
    dest = tmp_path / "drkg"

    result = fetch_drkg(dest, f"{base}/dataset/DRKG/drkg.tar.gz", show_progress=False)

    assert not result.skipped
    assert result.drkg_tsv == dest / "drkg.tsv"
    lines = result.drkg_tsv.read_text().splitlines()
    assert [tuple(line.split("\t")) for line in lines] == TRIPLES
    for name in ("entity2src.tsv", "relation_glossary.tsv", "embed/entities.tsv"):
        assert (dest / name).is_file()
    manifest = result.manifest
    assert manifest["archive"]["sha256"] == hashlib.sha256(archive).hexdigest()
    assert manifest["archive"]["size"] == len(archive)
    assert manifest["triples"] == len(TRIPLES)
    assert manifest["files"]["embed/entities.tsv"] == len(b"Gene::2157\t0\n")
    assert manifest["fetched_at"]
    assert (dest / MANIFEST_NAME).is_file()
    assert (dest / "drkg.tar.gz").read_bytes() == archive
    assert not part_path(dest / "drkg.tar.gz").exists()
    assert sorted(p.name for p in dest.iterdir() if p.name.startswith(".")) == []


def test_second_fetch_is_a_no_op(server: tuple[str, ServerState], tmp_path: Path) -> None:
    base, state = server
    state.files["/drkg.tar.gz"] = make_drkg_tarball()
    dest = tmp_path / "drkg"
    first = fetch_drkg(dest, f"{base}/drkg.tar.gz", show_progress=False)
    served = len(state.requests)

    second = fetch_drkg(dest, f"{base}/drkg.tar.gz", show_progress=False)

    assert second.skipped
    assert len(state.requests) == served
    assert second.manifest == first.manifest


def test_fetch_redoes_a_damaged_extraction_without_downloading(
    server: tuple[str, ServerState], tmp_path: Path
) -> None:
    base, state = server
    state.files["/drkg.tar.gz"] = make_drkg_tarball()
    dest = tmp_path / "drkg"
    fetch_drkg(dest, f"{base}/drkg.tar.gz", show_progress=False)
    served = len(state.requests)
    (dest / "drkg.tsv").write_text("truncated")

    again = fetch_drkg(dest, f"{base}/drkg.tar.gz", show_progress=False)

    assert not again.skipped
    assert len(state.requests) == served  # the kept archive was reused
    assert len(again.drkg_tsv.read_text().splitlines()) == len(TRIPLES)


def test_other_url_is_fetched_again(server: tuple[str, ServerState], tmp_path: Path) -> None:
    base, state = server
    state.files["/a/drkg.tar.gz"] = make_drkg_tarball()
    new_triples = make_tarball(lambda tar: _add(tar, "./drkg.tsv", b"x\tr\ty\n"))
    state.files["/b/drkg.tar.gz"] = new_triples
    dest = tmp_path / "drkg"
    fetch_drkg(dest, f"{base}/a/drkg.tar.gz", show_progress=False)

    other = fetch_drkg(dest, f"{base}/b/drkg.tar.gz", show_progress=False)

    assert not other.skipped
    assert other.drkg_tsv.read_text() == "x\tr\ty\n"
    assert other.manifest["archive"]["sha256"] == hashlib.sha256(new_triples).hexdigest()
    assert state.requests[-1]["path"] == "/b/drkg.tar.gz"


def test_resume_from_part_file_uses_range(server: tuple[str, ServerState], tmp_path: Path) -> None:
    base, state = server
    data = make_drkg_tarball()
    state.files["/drkg.tar.gz"] = data
    dest = tmp_path / "drkg.tar.gz"
    kept = len(data) // 3
    part_path(dest).write_bytes(data[:kept])

    result = download(f"{base}/drkg.tar.gz", dest, show_progress=False)

    assert dest.read_bytes() == data
    assert [request["range"] for request in state.requests] == [f"bytes={kept}-"]
    assert state.requests[0]["status"] == 206
    assert state.bytes_served == len(data) - kept
    assert result.resumed_from == kept
    assert result.downloaded_bytes == len(data) - kept
    assert result.sha256 == hashlib.sha256(data).hexdigest()


def test_dropped_connection_is_resumed(server: tuple[str, ServerState], tmp_path: Path) -> None:
    base, state = server
    data = make_drkg_tarball()
    state.files["/drkg.tar.gz"] = data
    state.truncate_next_after = 1000
    dest = tmp_path / "drkg.tar.gz"
    sleeps: list[float] = []

    result = download(
        f"{base}/drkg.tar.gz", dest, show_progress=False, backoff_s=0.5, sleep=sleeps.append
    )

    assert dest.read_bytes() == data
    assert [request["range"] for request in state.requests] == [None, "bytes=1000-"]
    assert state.bytes_served == len(data)
    assert sleeps == [0.5]
    assert result.downloaded_bytes == len(data)


def test_server_ignoring_range_restarts(server: tuple[str, ServerState], tmp_path: Path) -> None:
    base, state = server
    data = make_drkg_tarball()
    state.files["/drkg.tar.gz"] = data
    state.ignore_range = True
    dest = tmp_path / "drkg.tar.gz"
    part_path(dest).write_bytes(b"stale bytes that must not survive")

    result = download(f"{base}/drkg.tar.gz", dest, show_progress=False)

    assert dest.read_bytes() == data
    assert state.requests[0]["range"] == "bytes=33-"
    assert state.requests[0]["status"] == 200
    assert result.downloaded_bytes == len(data)


def test_complete_part_file_answered_416_is_kept(
    server: tuple[str, ServerState], tmp_path: Path
) -> None:
    base, state = server
    data = make_drkg_tarball()
    state.files["/drkg.tar.gz"] = data
    dest = tmp_path / "drkg.tar.gz"
    part_path(dest).write_bytes(data)

    result = download(f"{base}/drkg.tar.gz", dest, show_progress=False)

    assert dest.read_bytes() == data
    assert state.requests[0]["status"] == 416
    assert result.downloaded_bytes == 0


def test_checksum_mismatch_raises_and_removes_part(
    server: tuple[str, ServerState], tmp_path: Path
) -> None:
    base, state = server
    state.files["/drkg.tar.gz"] = make_drkg_tarball()
    dest = tmp_path / "drkg.tar.gz"

    with pytest.raises(DownloadError, match="sha256") as caught:
        download(f"{base}/drkg.tar.gz", dest, sha256="0" * 64, show_progress=False)

    assert f"{base}/drkg.tar.gz" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert not dest.exists()
    assert not part_path(dest).exists()


def test_md5_and_expected_size_are_checked(server: tuple[str, ServerState], tmp_path: Path) -> None:
    base, state = server
    data = make_drkg_tarball()
    state.files["/f.bin"] = data
    good = download(
        f"{base}/f.bin",
        tmp_path / "f.bin",
        md5=hashlib.md5(data).hexdigest(),
        expected_size=len(data),
        show_progress=False,
    )
    assert good.size == len(data)
    with pytest.raises(DownloadError, match="expected"):
        download(
            f"{base}/f.bin",
            tmp_path / "g.bin",
            expected_size=len(data) + 1,
            retries=0,
            show_progress=False,
        )


def test_existing_complete_file_is_not_downloaded_again(
    server: tuple[str, ServerState], tmp_path: Path
) -> None:
    base, state = server
    data = make_drkg_tarball()
    state.files["/f.bin"] = data
    dest = tmp_path / "f.bin"
    download(f"{base}/f.bin", dest, show_progress=False)
    again = download(
        f"{base}/f.bin", dest, sha256=hashlib.sha256(data).hexdigest(), show_progress=False
    )
    assert again.skipped
    assert len(state.requests) == 1


def test_404_is_one_clear_line_without_secrets(
    server: tuple[str, ServerState], tmp_path: Path
) -> None:
    base, state = server
    url = f"{base}/missing.tar.gz?X-Amz-Signature=topsecret"

    with pytest.raises(DownloadError) as caught:
        download(url, tmp_path / "missing.tar.gz", show_progress=False, backoff_s=0)

    message = str(caught.value)
    assert "404" in message
    assert f"{base}/missing.tar.gz" in message
    assert "topsecret" not in message
    assert "check the URL" in message
    assert "\n" not in message
    assert len(state.requests) == 1  # a 404 is not retried


def test_500_then_success_is_retried(server: tuple[str, ServerState], tmp_path: Path) -> None:
    base, state = server
    data = make_drkg_tarball()
    state.files["/drkg.tar.gz"] = data
    state.fail_next = 2
    sleeps: list[float] = []

    download(
        f"{base}/drkg.tar.gz",
        tmp_path / "drkg.tar.gz",
        retries=3,
        backoff_s=1.0,
        sleep=sleeps.append,
        show_progress=False,
    )

    assert [request["status"] for request in state.requests] == [500, 500, 200]
    assert sleeps == [1.0, 2.0]  # exponential backoff
    assert (tmp_path / "drkg.tar.gz").read_bytes() == data


def test_persistent_500_gives_up(server: tuple[str, ServerState], tmp_path: Path) -> None:
    base, state = server
    state.files["/drkg.tar.gz"] = b"x"
    state.fail_next = 10

    with pytest.raises(DownloadError, match="after 3 attempts"):
        download(
            f"{base}/drkg.tar.gz",
            tmp_path / "drkg.tar.gz",
            retries=2,
            sleep=lambda _s: None,
            show_progress=False,
        )
    assert len(state.requests) == 3


def test_unreachable_server_gives_up(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"127\.0\.0\.1:9/x.*after 2 attempts"):
        download(
            "http://127.0.0.1:9/x",
            tmp_path / "x",
            retries=1,
            sleep=lambda _s: None,
            timeout_s=2,
            show_progress=False,
        )


def _traversal(tar: tarfile.TarFile) -> None:
    _add(tar, "./drkg.tsv", b"a\tb\tc\n")
    _add(tar, "../evil.txt", b"owned")


def _absolute(tar: tarfile.TarFile) -> None:
    _add(tar, "./drkg.tsv", b"a\tb\tc\n")
    _add(tar, "/tmp/kedrec-evil.txt", b"owned")


def _symlink(tar: tarfile.TarFile) -> None:
    _add(tar, "./drkg.tsv", b"a\tb\tc\n")
    info = tarfile.TarInfo("./embed")
    info.type = tarfile.SYMTYPE
    info.linkname = "/etc"
    tar.addfile(info)


@pytest.mark.parametrize("build", [_traversal, _absolute, _symlink])
def test_malicious_members_are_rejected(
    server: tuple[str, ServerState], tmp_path: Path, build: object
) -> None:
    base, state = server
    state.files["/drkg.tar.gz"] = make_tarball(build)
    dest = tmp_path / "out" / "drkg"

    with pytest.raises(DataFormatError, match="unsafe member"):
        fetch_drkg(dest, f"{base}/drkg.tar.gz", show_progress=False)

    assert not (dest / "evil.txt").exists()
    assert not Path("/tmp/kedrec-evil.txt").exists()
    assert not (dest / "drkg.tsv").exists()
    assert not (dest / MANIFEST_NAME).exists()
    assert not (dest / ".extract-tmp").exists()


def test_archive_without_drkg_tsv_is_refused(
    server: tuple[str, ServerState], tmp_path: Path
) -> None:
    base, state = server
    state.files["/drkg.tar.gz"] = make_tarball(lambda tar: _add(tar, "./other.tsv", b"x\n"))

    with pytest.raises(DataFormatError, match=r"no drkg\.tsv"):
        fetch_drkg(tmp_path / "drkg", f"{base}/drkg.tar.gz", show_progress=False)


def test_not_a_tarball_is_refused(server: tuple[str, ServerState], tmp_path: Path) -> None:
    base, state = server
    state.files["/drkg.tar.gz"] = b"<html>error page</html>"

    with pytest.raises(DataFormatError, match="not a readable tar archive"):
        fetch_drkg(tmp_path / "drkg", f"{base}/drkg.tar.gz", show_progress=False)


def test_cli_fetch_drkg(server: tuple[str, ServerState], tmp_path: Path) -> None:
    from kedrec_cli.main import app

    base, state = server
    state.files["/drkg.tar.gz"] = make_drkg_tarball()
    dest = tmp_path / "drkg"

    result = CliRunner().invoke(
        app, ["data", "fetch", "drkg", "--url", f"{base}/drkg.tar.gz", "--dest", str(dest)]
    )

    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith(str(dest / "drkg.tsv"))
    assert (dest / "drkg.tsv").is_file()


def test_default_url_and_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from graph_store import drkg_fetch
    from kedrec.settings import get_settings

    monkeypatch.delenv("KEDREC_DRKG_URL", raising=False)
    assert KedrecSettings().drkg_url == DRKG_URL
    monkeypatch.setenv("KEDREC_CACHE_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        assert drkg_fetch.default_drkg_dir() == tmp_path / "drkg"
    finally:
        get_settings.cache_clear()


def test_redact_url_drops_credentials() -> None:
    safe = redact_url("https://user:pw@example.org:8443/a/b.tar.gz?token=abc")
    assert safe == "https://example.org:8443/a/b.tar.gz?…"
