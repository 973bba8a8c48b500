"""Security: the page binds to loopback, a planted API key never shows up anywhere a person
or a log could see it, uploads are limited and stay in the data folder, and nothing
connects beyond the machine.

One ``assistant serve --backend openai`` process is started per module, cold (its own cache
folder), under a ``sitecustomize`` that refuses and records every connection or name lookup
that is not loopback.  Its model server is the scripted one in this process, and its API
key is planted: a unique value that must never come back out.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from gradio_client import Client
from harness import (
    LIGHTHOUSE,
    free_port,
    predict,
    serve_in_process,
    server_env,
    start_server,
    stop,
    tail,
    wait_ready,
    write,
)
from scripted_server import Reply, ScriptedServer, answer

from assistant import Assistant, web
from assistant.errors import BackendError
from assistant.openai_backend import OpenAIBackend
from assistant.page_html import answer_html

pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")

POLICE = "How many police officers were injured?"
INJURED = "over 100 police injured"

#: Refuses, and records, any connection or name lookup that is not loopback.
GUARD = r"""
import ipaddress, os, socket

_LOG = os.environ["NET_GUARD_LOG"]


def _loopback(host):
    if isinstance(host, bytes):
        host = host.decode()
    if host is None or host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _record(what, target):
    with open(_LOG, "a") as f:
        f.write(f"{os.getpid()} {what} {target!r}\n")


def _guard(method):
    def guarded(self, address, *args):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
            _record(method.__name__, address)
            raise OSError(101, "network is unreachable (blocked by the test guard)")
        return method(self, address, *args)
    return guarded


socket.socket.connect = _guard(socket.socket.connect)
socket.socket.connect_ex = _guard(socket.socket.connect_ex)
_getaddrinfo = socket.getaddrinfo


def getaddrinfo(host, *args, **kwargs):
    if not _loopback(host):
        _record("getaddrinfo", host)
        raise socket.gaierror(socket.EAI_NONAME, "lookup blocked by the test guard")
    return _getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = getaddrinfo
with open(_LOG + ".loaded", "a") as f:  # proof that a process ran under the guard
    f.write(f"{os.getpid()}\n")
"""


@dataclass
class Served:
    url: str
    proc: subprocess.Popen[bytes]
    key: str
    model: ScriptedServer
    cache: Path
    log: Path
    net_log: Path
    guard: Path
    outputs: list[str]  # every response body the tests saw, grepped at the end


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, bot: Assistant) -> Iterator[Served]:
    bot.embedder.warm()  # the model export exists before a second process looks for it
    root = tmp_path_factory.mktemp("security")
    guard = write(root / "guard" / "sitecustomize.py", GUARD).parent
    net_log = root / "net-attempts.log"
    key = f"sk-planted-{uuid.uuid4().hex}"
    log = root / "server.log"
    port = free_port()
    with ScriptedServer() as model:
        env = server_env(
            OPENAI_API_KEY=key,
            OPENAI_BASE_URL=model.url,
            ASSISTANT_CACHE_DIR=str(root / "cache"),
            PYTHONPATH=os.pathsep.join(filter(None, [str(guard), os.environ.get("PYTHONPATH")])),
            NET_GUARD_LOG=str(net_log),
        )
        proc = start_server(port, log, env, "--backend", "openai")
        try:
            url = f"http://127.0.0.1:{port}/"
            wait_ready(url, proc, log)
            yield Served(url, proc, key, model, root / "cache", log, net_log, guard, [])
        finally:
            stop(proc)


def tcp_sockets(pid: int) -> list[tuple[str, int, str, int, str]]:
    """(local ip, port, remote ip, port, state) of every TCP socket the process holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    states = {"0A": "LISTEN", "01": "ESTABLISHED"}
    found = []
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        for line in lines:
            parts = line.split()
            if parts[9] not in inodes:
                continue
            (lip, lport), (rip, rport) = (_addr(parts[1], family), _addr(parts[2], family))
            found.append((lip, lport, rip, rport, states.get(parts[3], parts[3])))
    return found


def _addr(field: str, family: int) -> tuple[str, int]:
    hexip, hexport = field.split(":")
    raw = bytes.fromhex(hexip)
    raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))  # host byte order
    return socket.inet_ntop(family, raw), int(hexport, 16)


def _is_loopback(ip: str) -> bool:
    return (
        ip.startswith("127.") or ip in ("::1", "::ffff:127.0.0.1") or ip.startswith("::ffff:127.")
    )


# -- binding -------------------------------------------------------------------------------


def test_server_listens_on_loopback_only(served: Served) -> None:
    listening = [s for s in tcp_sockets(served.proc.pid) if s[4] == "LISTEN"]
    port = int(served.url.rsplit(":", 1)[1].strip("/"))
    assert any(s[1] == port for s in listening), listening
    assert all(s[0] == "127.0.0.1" for s in listening), listening


def test_loopback_is_the_default_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASSISTANT_HOST", raising=False)
    assert web.parse_args([]).host == "127.0.0.1" == web.HOST
    seen: dict = {}

    class Demo:
        def launch(self, **kwargs: object) -> None:
            seen.update(kwargs)

    web.launch(Demo(), 7999)  # type: ignore[arg-type]
    assert seen["server_name"] == "127.0.0.1"
    assert seen["max_file_size"] == web.MAX_UPLOAD_BYTES
    assert not seen.get("share")


# -- the planted key -------------------------------------------------------------------------


def ask_raw(url: str, api: str, *data: object) -> tuple[str, str, object]:
    """The page's REST API as any client sees it: (everything received, as text; the last
    event's kind; its data decoded)."""
    posted = httpx.post(f"{url}gradio_api/call/{api}", json={"data": list(data)}, timeout=30)
    event_id = posted.json()["event_id"]
    stream = httpx.get(f"{url}gradio_api/call/{api}/{event_id}", timeout=120).text
    kind, payload = re.findall(r"^event: (\w+)\ndata: (.*)$", stream, re.MULTILINE)[-1]
    data = json.loads(payload)
    if kind == "complete":
        data = json.loads(data[0]) if isinstance(data[0], str) else data[0]
    return posted.text + stream, kind, data


def test_planted_key_never_leaves_through_the_page(served: Served) -> None:
    """Failures of every kind, each carrying the key in what the model server says, reach
    the reader only as notices; the key is in none of the answers, pages, API responses or
    the server's log, though it was really sent to the model server."""
    key, model, out = served.key, served.model, served.outputs
    model.enqueue_error(401, f"Incorrect API key provided: {key}. Find yours at ...")
    model.enqueue_error(500, f"upstream crashed while using {key}", times=3)
    model.enqueue_error(400, f"bad request from {key}")
    model.enqueue(Reply(body=f"<html>gateway error for {key}</html>"))
    model.enqueue_refusal(f"I will not answer, {key}.")
    model.enqueue(Reply(content=f'{{"status": "answered", "claims": [{{"text": "{key}'))
    for _ in range(6):
        raw, kind, data = ask_raw(served.url, "ask", POLICE)
        out.append(raw)
        assert kind == "complete" and data["backend"] == "extractive", raw  # offline stands in
        assert any(INJURED in q["text"] for q in data["quotes"])
        assert "language model failed" in data["text"]  # and says why
    assert model.pending == 0, "not every scripted failure was exercised"
    model.enqueue_error(500, f"rewrite failed for {key}", times=3)
    model.enqueue_error(500, f"draft failed for {key}", times=3)
    history = [{"role": "user", "content": "Tell me about the riots"}]
    raw, kind, data = ask_raw(served.url, "chat", "and the police?", history)
    out.append(raw)
    assert kind == "complete" and len(data["notices"]) >= 2, raw
    raw, kind, data = ask_raw(served.url, "ask", "")  # an error message of our own
    out.append(raw)
    assert kind == "error" and "empty" in raw
    for path in ("", "config", "gradio_api/info", "gradio_api/openapi.json", "manifest.json"):
        out.append(httpx.get(served.url + path, timeout=30).text)
    client = Client(served.url, verbose=False)
    out.append(json.dumps(client.view_api(print_info=False, return_format="dict")))
    model.enqueue(answer(("The author writes that over 100 police were injured.", [INJURED])))
    good = predict(client, "/ask", question=POLICE)
    assert good["backend"] == "openai"  # the key does work: the model server was used
    sent = [r.headers.get("authorization", "") for r in model.history]
    assert sent and all(h == f"Bearer {key}" for h in sent)
    for text in out:
        assert key not in text
    assert key not in served.log.read_text(errors="replace"), tail(served.log)
    for f in served.cache.rglob("*"):
        if f.is_file():
            assert key.encode() not in f.read_bytes(), f


@pytest.mark.timeout(120)
def test_planted_key_in_process_logs_answers_and_errors(
    bot: Assistant, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same in one process, with every logger at DEBUG (``openai``, ``httpx`` and
    ``httpcore`` included) and timeouts too; the answers' full JSON and their HTML."""
    key = f"sk-planted-{uuid.uuid4().hex}"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    with ScriptedServer() as model:
        llm = bot.with_answerer(OpenAIBackend(base_url=model.url, timeout=0.5, max_retries=1))
        model.enqueue_delay(2).enqueue_delay(2)  # a timeout, retried once
        model.enqueue_error(401, f"Incorrect API key provided: {key}")
        model.enqueue_error(500, f"boom {key}", times=2)
        model.enqueue_error(422, f"unprocessable {key}")
        model.enqueue(Reply(body={"error": {"message": f"odd {key}"}}))
        model.enqueue_refusal(f"no, {key}")
        model.enqueue(Reply(status=200, content=f"not json {key}"))
        for _ in range(7):
            a = llm.ask(POLICE)
            assert a.backend == "extractive" and a.notices
            seen += [json.dumps(a.to_full_dict()), answer_html(a), repr(a)]
        model.enqueue_error(500, f"boom {key}", times=2)
        with pytest.raises(BackendError) as info:
            llm.answerer.draft(POLICE, [])
        seen += [str(info.value), repr(info.value), repr(llm.answerer), llm.backend_label]
        sent = {r.headers.get("authorization") for r in model.history}
    assert sent == {f"Bearer {key}"}
    for text in [*seen, caplog.text]:
        assert key not in text


@pytest.mark.timeout(120)
def test_a_model_echoing_the_key_shows_it_masked_streamed_or_not(
    bot: Assistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model (or a proxy in front of it) that writes the key into its answer: the page's
    streamed draft and the verified answer show "***", however the key is split."""
    key = f"sk-planted-{uuid.uuid4().hex}"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    quote = bot.document.text[bot.document.text.index("over 100 police injured") :][:23]
    echo = answer((f"The key is {key}; over 100 police were injured.", [quote]))
    with ScriptedServer() as model:
        llm = bot.with_answerer(OpenAIBackend(base_url=model.url, timeout=5, max_retries=0))
        for size in (1, 7, 64):  # the key split across many deltas, a few, or one
            model.enqueue_answer(echo, chunk_size=size)
            pieces = list(llm.stream(POLICE))
            streamed = "".join(p for p in pieces if isinstance(p, str))
            final = pieces[-1]
            assert "The key is ***" in streamed, streamed
            assert final.backend == "openai" and "***" in final.text
            for text in (streamed, json.dumps(final.to_full_dict()), answer_html(final)):
                assert key not in text
        model.enqueue_answer(echo)
        assert key not in json.dumps(llm.answerer.draft(POLICE, []).__dict__, default=str)


def test_secret_filter_masks_a_secret_split_anywhere() -> None:
    from assistant.openai_backend import SecretFilter

    secret = "sk-abcabd"
    text = f"x{secret}y sk-abc {secret}{secret} sk-ab"
    expected = text.replace(secret, "***")
    for size in range(1, len(text) + 1):
        f = SecretFilter(secret)
        out = "".join(f.feed(text[i : i + size]) for i in range(0, len(text), size)) + f.flush()
        assert out == expected, size


# -- uploads ---------------------------------------------------------------------------------


def test_uploads_are_size_limited_and_stay_in_the_data_folder(served: Served) -> None:
    uploads = served.cache / "uploads"
    tag = uuid.uuid4().hex[:8]
    names = [
        f"../../../../escape-{tag}.txt",
        f"..\\..\\..\\escape-{tag}.txt",
        f"/etc/escape-{tag}.txt",
        f"....//....//escape-{tag}.txt",
        f"%2e%2e%2fescape-{tag}.txt",
    ]
    files = [("files", (name, b"A title\n\nSome words.\n", "text/plain")) for name in names]
    r = httpx.post(served.url + "gradio_api/upload", files=files, timeout=60)
    assert r.status_code == 200, r.text
    stored = [Path(p).resolve() for p in r.json()]
    assert len(stored) == len(names)
    for p in stored:
        assert p.is_relative_to(uploads.resolve()), p
        assert p.is_file()
    outside = [served.cache.parent, Path("/etc"), Path("/tmp"), Path(__file__).parents[1]]
    for folder in outside:
        assert not list(folder.glob(f"escape-{tag}*")), folder
    big = b"x" * (web.MAX_UPLOAD_BYTES + 1)
    r = httpx.post(
        served.url + "gradio_api/upload", files=[("files", ("big.txt", big))], timeout=60
    )
    assert r.status_code == 413, (r.status_code, r.text[:200])
    assert not [p for p in uploads.rglob("big.txt")]
    served.outputs.append(r.text)


# -- nothing leaves the machine --------------------------------------------------------------


def test_the_guard_does_block_and_record(served: Served, tmp_path: Path) -> None:
    """The guard itself works: the same sitecustomize in a fresh interpreter refuses an
    outside address and an outside name, and records both."""
    log = tmp_path / "attempts.log"
    code = (
        "import socket, httpx\n"
        "for url in ('http://198.51.100.7/', 'http://example.com/'):\n"
        "    try:\n"
        "        httpx.get(url, timeout=2)\n"
        "    except httpx.HTTPError:\n"
        "        pass\n"
    )
    env = {**os.environ, "PYTHONPATH": str(served.guard), "NET_GUARD_LOG": str(log)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    recorded = log.read_text()
    assert "198.51.100.7" in recorded and "example.com" in recorded


def test_no_connection_left_the_machine(served: Served) -> None:
    """After start-up (index built cold), answers, failures, uploads and page loads: the
    guarded server tried nothing beyond loopback, and holds no outside connection."""
    client = Client(served.url, verbose=False)
    served.model.enqueue(
        answer(("The author writes that over 100 police were injured.", [INJURED]))
    )
    assert predict(client, "/ask", question=POLICE)["status"] == "answered"
    loaded = Path(str(served.net_log) + ".loaded").read_text().split()
    assert str(served.proc.pid) in loaded  # the server really ran under the guard
    attempts = served.net_log.read_text() if served.net_log.exists() else ""
    assert attempts == "", attempts
    for text in served.outputs:  # everything the earlier tests received, once more
        assert served.key not in text
    assert served.key not in served.log.read_text(errors="replace")
    for _lip, _lport, rip, rport, state in tcp_sockets(served.proc.pid):
        assert state == "LISTEN" or _is_loopback(rip), (rip, rport, state)


def guard_in_process(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """This process's sockets refuse (and record) anything that is not loopback."""
    attempts: list[str] = []
    loopback = {"localhost", "127.0.0.1", "::1", "", None}

    def ok(host: object) -> bool:
        return host in loopback or str(host).startswith("127.")

    def wrap(method):
        def guarded(self, address, *args):
            if self.family in (socket.AF_INET, socket.AF_INET6) and not ok(address[0]):
                attempts.append(f"{method.__name__} {address!r}")
                raise OSError(101, "network is unreachable (blocked by the test guard)")
            return method(self, address, *args)

        return guarded

    lookup = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if not ok(host.decode() if isinstance(host, bytes) else host):
            attempts.append(f"getaddrinfo {host!r}")
            raise socket.gaierror(socket.EAI_NONAME, "lookup blocked by the test guard")
        return lookup(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", wrap(socket.socket.connect))
    monkeypatch.setattr(socket.socket, "connect_ex", wrap(socket.socket.connect_ex))
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return attempts


@pytest.mark.timeout(120)
def test_offline_page_works_with_the_network_cut_off(
    bot: Assistant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default set-up (no key, no Chroma server) in this process with outside
    connections refused: a new document is indexed and answered, the page is served and
    used over HTTP, and nothing even tried to reach out."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ASSISTANT_CHROMA_URL", raising=False)
    attempts = guard_in_process(monkeypatch)
    with pytest.raises(httpx.HTTPError):
        httpx.get("http://198.51.100.7/", timeout=2)
    assert attempts and "198.51.100.7" in attempts[0]  # the guard bites
    attempts.clear()
    doc = write(tmp_path / "lighthouse.md", LIGHTHOUSE)
    local = Assistant(doc, cache_dir=tmp_path / "cache")
    assert local.backend_name == "extractive"
    assert local.ask("Who built the lighthouse?").quotes
    with serve_in_process(local) as url:
        client = Client(url, verbose=False)
        data = predict(client, "/chat", question="Who built the lighthouse?", history=[])
        assert any("Marta Olsen" in q["text"] for q in data["quotes"])
        assert httpx.get(url, timeout=30).status_code == 200
    assert attempts == [], attempts
