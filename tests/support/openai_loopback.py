"""A real OpenAI-compatible chat-completions server on 127.0.0.1 that replays scripted replies.

Tests point ``OPENAI_BASE_URL`` at :attr:`OpenAILoopback.url` and run the real client
(``ChatOpenAI``) against it, over real HTTP, plain and streaming (SSE). Each request is
recorded (path, headers, JSON body) so tests can check what the client sent: tool schemas,
the model name, the ``Authorization`` header. The server itself never logs anything.

Load it from a test module (tests are collected with ``--import-mode=importlib``)::

    spec = importlib.util.spec_from_file_location("openai_loopback", HERE / "openai_loopback.py")

then::

    with OpenAILoopback() as server:
        server.script([reply("hello"), reply(tool_calls=[("lookup", {"q": "x"})])])
        server.script([reply('{"choice": "Metformin"}')])  # a JSON reply (structured output)
        server.script([reply(status=400, error_message="response_format is not supported")])
        ...  # OPENAI_BASE_URL=server.url
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class ScriptedReply:
    """One assistant turn the server will return."""

    content: str | None = None
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    prompt_tokens: int = 11
    completion_tokens: int = 7
    status: int = 200
    """Any other status returns an OpenAI-style error body with this code."""
    headers: dict[str, str] = field(default_factory=dict)
    """Extra response headers, e.g. ``{"retry-after-ms": "10"}`` on a 429."""
    delay_s: float = 0.0
    """Seconds the server waits before sending this reply (on top of the server's delay)."""
    error_message: str | None = None
    """The error body's message (default "scripted error"), e.g. one naming response_format."""
    finish_reason: str | None = None
    """Override of the (non-streamed) finish reason, e.g. "length" for a reply cut at
    max_tokens."""


def reply(
    content: str | None = None,
    tool_calls: list[tuple[str, dict[str, Any]]] | None = None,
    **kwargs: Any,
) -> ScriptedReply:
    """Build a :class:`ScriptedReply` (text, tool calls as ``(name, arguments)``, usage)."""
    return ScriptedReply(content=content, tool_calls=list(tool_calls or []), **kwargs)


@dataclass
class RecordedRequest:
    """What the client sent."""

    method: str
    path: str
    headers: dict[str, str]
    """Header names in lower case (HTTP header names are case-insensitive)."""
    body: dict[str, Any]


class OpenAILoopback:
    """``POST /v1/chat/completions`` (plain and ``stream``) and ``GET /v1/models`` on loopback."""

    def __init__(
        self,
        model: str = "loopback-model",
        *,
        responder: Callable[[RecordedRequest], ScriptedReply] | None = None,
        delay_s: float = 0.0,
    ) -> None:
        """Prepare a server (not started) that reports ``model`` in ``/v1/models``.

        Args:
            model: The model ``/v1/models`` lists.
            responder: Builds the reply to a request when the script is empty (instead of
                the 500 "no scripted reply left"); it runs in the request's thread.
            delay_s: Seconds every chat completion waits before its reply (a server's
                latency; concurrent requests wait concurrently).
        """
        self.model = model
        self.responder = responder
        self.delay_s = delay_s
        self.requests: list[RecordedRequest] = []
        self._script: deque[ScriptedReply] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL for ``OPENAI_BASE_URL`` (ends in ``/v1``)."""
        if self._server is None:
            raise RuntimeError("server not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def script(self, replies: list[ScriptedReply]) -> None:
        """Queue replies, returned in order, one per chat-completions request."""
        with self._lock:
            self._script.extend(replies)

    def pending(self) -> int:
        """How many scripted replies are still queued."""
        with self._lock:
            return len(self._script)

    def start(self) -> OpenAILoopback:
        """Listen on a free port of 127.0.0.1 in a daemon thread."""
        handler = type("Handler", (_Handler,), {"loopback": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="openai-loopback", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> OpenAILoopback:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _next_reply(self, request: RecordedRequest) -> ScriptedReply | None:
        with self._lock:
            self.requests.append(request)
            return self._script.popleft() if self._script else None


class _Handler(BaseHTTPRequestHandler):
    loopback: OpenAILoopback
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Stay silent: request lines and headers must never reach the logs."""

    def do_GET(self) -> None:
        if self.path.rstrip("/") != "/v1/models":
            self._send_json(404, _error("not found", 404))
            return
        self._send_json(
            200, {"object": "list", "data": [{"id": self.loopback.model, "object": "model"}]}
        )

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send_json(400, _error("body is not JSON", 400))
            return
        request = RecordedRequest(
            "POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body
        )
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send_json(404, _error("not found", 404))
            return
        scripted = self.loopback._next_reply(request)
        if scripted is None and self.loopback.responder is not None:
            scripted = self.loopback.responder(request)
        if scripted is None:
            self._send_json(500, _error("no scripted reply left", 500))
            return
        delay = self.loopback.delay_s + scripted.delay_s
        if delay > 0:
            time.sleep(delay)
        if scripted.status != 200:
            message = scripted.error_message or "scripted error"
            self._send_json(scripted.status, _error(message, scripted.status), scripted.headers)
            return
        model = str(body.get("model", self.loopback.model))
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            self._send_stream(scripted, model, include_usage)
        else:
            self._send_json(200, _completion(scripted, model))

    def _send_json(
        self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_stream(self, scripted: ScriptedReply, model: str, include_usage: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        for event in _stream_events(scripted, model, include_usage):
            self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


def _error(message: str, code: int) -> dict[str, Any]:
    return {"error": {"message": message, "type": "loopback_error", "code": code}}


def _usage(scripted: ScriptedReply) -> dict[str, int]:
    return {
        "prompt_tokens": scripted.prompt_tokens,
        "completion_tokens": scripted.completion_tokens,
        "total_tokens": scripted.prompt_tokens + scripted.completion_tokens,
    }


def _call_ids(scripted: ScriptedReply) -> list[str]:
    return [f"call_loop{index}" for index in range(len(scripted.tool_calls))]


def _completion(scripted: ScriptedReply, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": scripted.content}
    if scripted.tool_calls:
        message["tool_calls"] = [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)},
            }
            for call_id, (name, arguments) in zip(
                _call_ids(scripted), scripted.tool_calls, strict=True
            )
        ]
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": scripted.finish_reason
                or ("tool_calls" if scripted.tool_calls else "stop"),
            }
        ],
        "usage": _usage(scripted),
    }


def _stream_events(
    scripted: ScriptedReply, model: str, include_usage: bool
) -> list[dict[str, Any]]:
    """The chunks OpenAI sends: role, content pieces, tool-call pieces, finish, usage."""
    base = {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    events = [chunk({"role": "assistant", "content": ""})]
    text = scripted.content or ""
    for start in range(0, len(text), 4):  # several small pieces, like a real server
        events.append(chunk({"content": text[start : start + 4]}))
    for index, (call_id, (name, arguments)) in enumerate(
        zip(_call_ids(scripted), scripted.tool_calls, strict=True)
    ):
        encoded = json.dumps(arguments)
        head = {"index": index, "id": call_id, "type": "function"}
        events.append(
            chunk({"tool_calls": [{**head, "function": {"name": name, "arguments": ""}}]})
        )
        half = len(encoded) // 2
        for part in (encoded[:half], encoded[half:]):
            events.append(
                chunk({"tool_calls": [{"index": index, "function": {"arguments": part}}]})
            )
    events.append(chunk({}, "tool_calls" if scripted.tool_calls else "stop"))
    if include_usage:
        events.append({**base, "choices": [], "usage": _usage(scripted)})
    return events
