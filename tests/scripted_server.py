"""A scripted OpenAI-compatible chat server for tests: real HTTP, canned replies.

Tests talk to it through the real ``openai`` client, so retries, timeouts, streaming and
error mapping are exercised exactly as in production, with no network and no model.
Modelled on simonw/llm's ``MockModel``: ``enqueue`` replies, then inspect ``history``.

    with ScriptedServer() as server:
        server.enqueue(answer(("The author claims X.", ["X"])))
        backend = OpenAIBackend(base_url=server.url, api_key="sk-test")
        draft = backend.draft("What is X?", passages)
        assert server.history[0].body["model"] == backend.model

Every 429/5xx reply carries ``retry-after-ms`` (``retry_after_ms``, 10 ms by default),
which the client honours instead of its 0.5 s/1 s/2 s backoff, so retry tests stay fast;
set ``server.retry_after_ms = None`` to exercise the client's real exponential backoff.
When the queue is empty the server answers 500 with a message saying so.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")

#: A recognisable fake key: tests assert it never appears in a prompt or request body.
TEST_API_KEY = "sk-test-0123456789-SECRET"
_DISCONNECTS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)

#: What llama-cpp-python's server answers to ``response_format: {"type": "json_schema"}``.
LLAMA_CPP_PYTHON_REFUSAL: dict[str, Any] = {
    "error": {
        "message": "[{'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
        "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema'}]",
        "type": "internal_server_error",
    }
}


def answer(*claims: tuple[str, list[str]], status: str | None = None) -> dict[str, Any]:
    """A grounded-answer object: ``answer(("claim", ["quote"]))``; no claims -> not found."""
    return {
        "status": status or ("answered" if claims else "not_in_document"),
        "claims": [{"text": text, "quotes": list(quotes)} for text, quotes in claims],
    }


@dataclass
class Reply:
    """One scripted reply.  ``status`` != 200 sends an error; otherwise a completion
    (streamed as server-sent events when the request asked for ``stream: true``)."""

    content: str | None = None
    refusal: str | None = None
    finish_reason: str = "stop"
    status: int = 200
    error: str = ""  # error message for status != 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # raw response body (dict -> JSON, str -> text), sent as-is
    delay: float = 0.0  # seconds to wait before answering (timeouts)
    usage: tuple[int, int] | None = None  # (prompt, completion); estimated when None
    chunk_size: int = 8  # characters per streamed content delta
    chunk_delay: float = 0.0  # seconds between streamed chunks


@dataclass
class RecordedRequest:
    """What the client sent: path, headers (lower-cased names), and the parsed JSON body."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list((self.body or {}).get("messages") or [])

    @property
    def stream(self) -> bool:
        return bool((self.body or {}).get("stream"))


class ScriptedServer:
    """Threaded HTTP server on 127.0.0.1 (free port) answering from a queue of replies."""

    def __init__(
        self,
        model: str = "gpt-4o-mini",
        retry_after_ms: int | None = 10,
        responder: Callable[[dict], Reply | dict | str] | None = None,
        formats: tuple[str, ...] = ("json_schema", "json_object", "text"),
        refusal: tuple[int, Any] = (500, LLAMA_CPP_PYTHON_REFUSAL),
    ) -> None:
        self.model = model
        #: the ``response_format`` types this server takes ("text": none given); others get
        #: ``refusal`` (status, body), without consuming a scripted reply
        self.formats = formats
        self.refusal = refusal
        self.retry_after_ms = retry_after_ms
        #: answers requests when the queue is empty (a stand-in model for whole eval runs)
        self.responder = responder
        self.history: list[RecordedRequest] = []
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> ScriptedServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        handler = type("Handler", (_Handler,), {"scripted": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; handlers still sleeping on a delay are woken and abandoned."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("ScriptedServer is not running; call start()")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The base URL to give the client (``OPENAI_BASE_URL`` / ``base_url``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    # -- scripting -------------------------------------------------------------------------

    def enqueue(self, *replies: Reply | dict | str) -> ScriptedServer:
        """Queue replies: a dict is a JSON answer, a str raw message content, or a Reply."""
        with self._lock:
            self._queue.extend(_as_reply(r) for r in replies)
        return self

    def enqueue_answer(self, obj: dict, **options: Any) -> ScriptedServer:
        """A JSON answer object as the message content (``answer(...)`` builds one)."""
        return self.enqueue(Reply(content=json.dumps(obj, ensure_ascii=False), **options))

    def enqueue_content(self, content: str, **options: Any) -> ScriptedServer:
        """Raw message content, e.g. malformed JSON or a rewritten question."""
        return self.enqueue(Reply(content=content, **options))

    def enqueue_refusal(
        self, text: str = "I can't help with that.", **options: Any
    ) -> ScriptedServer:
        """A refusal: ``message.refusal`` set, ``content`` null."""
        return self.enqueue(Reply(refusal=text, **options))

    def enqueue_truncated(self, content: str | None = None, **options: Any) -> ScriptedServer:
        """``finish_reason: "length"`` with cut-off content (default: half a JSON answer)."""
        if content is None:
            content = json.dumps(answer(("The author claims", ["a quote"])))[:30]
        return self.enqueue(Reply(content=content, finish_reason="length", **options))

    def enqueue_error(
        self,
        status: int,
        message: str = "",
        *,
        retry_after: str | None = None,
        times: int = 1,
        **options: Any,
    ) -> ScriptedServer:
        """An HTTP error with an OpenAI-shaped body; ``times`` queues it repeatedly."""
        headers = dict(options.pop("headers", {}))
        if retry_after is not None:
            headers["Retry-After"] = retry_after
        message = message or f"scripted HTTP {status}"
        for _ in range(times):
            self.enqueue(Reply(status=status, error=message, headers=dict(headers), **options))
        return self

    def enqueue_rate_limit(self, times: int = 1, **options: Any) -> ScriptedServer:
        """HTTP 429 with ``Retry-After: 0``."""
        return self.enqueue_error(
            429, "Rate limit reached (scripted)", retry_after="0", times=times, **options
        )

    def enqueue_delay(
        self, seconds: float, reply: Reply | dict | str | None = None
    ) -> ScriptedServer:
        """Sleep ``seconds`` before answering (default reply: a not-found answer)."""
        if reply is None:
            reply = answer()
        if isinstance(reply, dict):
            reply = Reply(content=json.dumps(reply, ensure_ascii=False))
        elif isinstance(reply, str):
            reply = Reply(content=reply)
        reply.delay = seconds
        return self.enqueue(reply)

    @property
    def pending(self) -> int:
        """Replies not yet consumed."""
        with self._lock:
            return len(self._queue)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self.history.clear()

    def _record_and_pop(self, request: RecordedRequest, consume: bool) -> Reply | None:
        with self._lock:
            self.history.append(request)
            if consume and self._queue:
                return self._queue.popleft()
        if consume and self.responder is not None:
            return _as_reply(self.responder(request.body))
        return None


def _as_reply(reply: Reply | dict | str) -> Reply:
    if isinstance(reply, dict):
        return Reply(content=json.dumps(reply, ensure_ascii=False))
    if isinstance(reply, str):
        return Reply(content=reply)
    return reply


_PASSAGE = re.compile(r"<passage id=\"[^\"]+\"[^>]*>\n(.*?)\n</passage>", re.S)


def first_passage_responder(body: dict) -> Reply | dict | str:
    """A deterministic stand-in model: rewrites return the question as is; answers quote the
    first retrieved passage, framed as the author's, or say not_in_document when none."""
    messages = body.get("messages", [])
    prompt = "\n".join(str(m.get("content", "")) for m in messages)
    if "response_format" not in body:  # the follow-up rewrite asks for plain text
        m = re.search(r"<latest_message>\n(.*?)\n</latest_message>", prompt, re.S)
        return m.group(1) if m else "What does the document say?"
    passages = _PASSAGE.findall(prompt)
    if not passages:
        return answer()
    return answer((f"The author writes that {passages[0]}", [passages[0]]))


class _Handler(BaseHTTPRequestHandler):
    scripted: ScriptedServer
    server_version = "ScriptedOpenAI/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging; tests inspect ``history`` instead."""

    def do_POST(self) -> None:
        scripted = self.scripted
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        path = self.path.split("?", 1)[0].rstrip("/")
        is_chat = path in CHAT_PATHS
        request = RecordedRequest(
            "POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body, raw
        )
        refused = (
            is_chat
            and isinstance(body, dict)
            and ((body.get("response_format") or {}).get("type") or "text") not in scripted.formats
        )
        reply = scripted._record_and_pop(
            request, consume=is_chat and isinstance(body, dict) and not refused
        )
        try:
            if refused:
                status, refusal_body = scripted.refusal
                self._send_body(status, "", {}, refusal_body)
            elif not is_chat:
                self._send_body(404, f"ScriptedServer: no route for POST {self.path}", {})
            elif not isinstance(body, dict):
                self._send_body(400, "ScriptedServer: request body is not a JSON object", {})
            elif reply is None:
                number = len(scripted.history)
                self._send_body(
                    500, f"ScriptedServer: no scripted reply left in the queue (request #{number})"
                )
            else:
                if reply.delay and scripted._stopping.wait(reply.delay):
                    return
                if reply.status != 200 or reply.body is not None:
                    self._send_body(reply.status, reply.error, reply.headers, reply.body)
                elif body.get("stream"):
                    self._stream(reply, body)
                else:
                    self._json(200, _completion(reply, body, scripted.model))
        except _DISCONNECTS:
            pass  # the client gave up (timeout); nothing left to tell it

    def do_GET(self) -> None:
        with self.scripted._lock:
            self.scripted.history.append(
                RecordedRequest(
                    "GET", self.path, {k.lower(): v for k, v in self.headers.items()}, None, b""
                )
            )
        with contextlib.suppress(*_DISCONNECTS):
            self._send_body(404, f"ScriptedServer: no route for GET {self.path}", {})

    # -- writers -----------------------------------------------------------------------------

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_body(
        self, status: int, message: str, headers: dict[str, str] | None = None, body: Any = None
    ) -> None:
        """An error (OpenAI-shaped ``{"error": ...}`` unless ``body`` is given) or a raw body."""
        headers = dict(headers or {})
        retry_ms = self.scripted.retry_after_ms
        retryable = status == 429 or status >= 500
        if retryable and retry_ms is not None and "retry-after-ms" not in _lower(headers):
            headers["retry-after-ms"] = str(retry_ms)
        if body is None:
            kind = {401: "invalid_request_error", 429: "requests"}.get(status, "server_error")
            code = {401: "invalid_api_key", 429: "rate_limit_exceeded"}.get(status)
            body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
        if isinstance(body, str | bytes):
            data = body.encode("utf-8") if isinstance(body, str) else body
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            return
        self._json(status, body, headers)

    def _stream(self, reply: Reply, body: dict) -> None:
        model = body.get("model") or self.scripted.model
        base = {
            "id": f"chatcmpl-scripted-{len(self.scripted.history)}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }
        first: dict[str, Any] = {"role": "assistant", "content": ""}
        if reply.refusal is not None:
            first = {"role": "assistant", "content": None, "refusal": ""}
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.close_connection = True

        def send(payload: dict | str) -> None:
            data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
            self.wfile.write(f"data: {data}\n\n".encode())
            self.wfile.flush()

        def choice(delta: dict, finish: str | None = None) -> dict:
            return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

        send(choice(first))
        field_name = "refusal" if reply.refusal is not None else "content"
        text = reply.refusal if reply.refusal is not None else (reply.content or "")
        for piece in _pieces(text, reply.chunk_size):
            if reply.chunk_delay and self.scripted._stopping.wait(reply.chunk_delay):
                return
            send(choice({field_name: piece}))
        send(choice({}, reply.finish_reason))
        if (body.get("stream_options") or {}).get("include_usage"):
            send({**base, "choices": [], "usage": _usage(reply, body)})
        send("[DONE]")


def _lower(headers: dict[str, str]) -> set[str]:
    return {name.lower() for name in headers}


def _pieces(text: str, size: int) -> Iterable[str]:
    size = max(1, size)
    return (text[i : i + size] for i in range(0, len(text), size))


def _usage(reply: Reply, body: dict) -> dict[str, int]:
    """Scripted token counts, or a deterministic estimate (~4 characters per token)."""
    if reply.usage is not None:
        prompt, completion = reply.usage
    else:
        chars = sum(len(str(m.get("content") or "")) for m in body.get("messages") or [])
        prompt = max(1, chars // 4)
        completion = max(1, len(reply.content or reply.refusal or "") // 4)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _completion(reply: Reply, body: dict, default_model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model") or default_model,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": reply.content,
                    "refusal": reply.refusal,
                },
                "finish_reason": reply.finish_reason,
                "logprobs": None,
            }
        ],
        "usage": _usage(reply, body),
    }
