"""Faults injected for real while the assistant serves: the index folder deleted or
corrupted, a build killed midway, the Chroma server stopped, the model server stopped or
answering garbage.  Each ends in an answer or a clear error, and then in recovery.

The model-server cases already covered in ``test_openai_e2e.py`` (HTTP 500/429, malformed
JSON, slow replies) are not repeated here; these add a server that is really gone and one
that answers with something that is not JSON at all.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError
from harness import LIGHTHOUSE, ROOT, free_port, predict, serve_in_process, stop, write
from scripted_server import TEST_API_KEY, Reply, ScriptedServer, answer

from assistant import Assistant, AssistantError, web
from assistant.openai_backend import OpenAIBackend
from index.corpus import Corpus
from index.load import load_document
from index.settings import IndexSettings
from index.store import Index

pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")

QUESTION = "Who built the lighthouse?"
BUILDER = "built in 1871 by the engineer Marta Olsen"


@pytest.fixture
def doc_path(tmp_path: Path) -> Path:
    return write(tmp_path / "lighthouse.md", LIGHTHOUSE)


@pytest.fixture
def page_bot(doc_path: Path, tmp_path: Path, bot: Assistant) -> Assistant:
    """An offline assistant on the short document with its own index cache (the session
    ``bot`` is requested only so the embedding model is loaded once per run)."""
    b = Assistant(doc_path, backend="extractive", cache_dir=tmp_path / "cache")
    b.ask(QUESTION)  # build and load the index, as a running page has
    return b


def assert_builder(data: dict, text: str) -> None:
    assert data["status"] == "answered", data
    assert any(BUILDER in q["text"] for q in data["quotes"]), data
    for q in data["quotes"]:
        assert text[q["start"] : q["end"]] == q["text"]


def no_build(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on, embedding any document fails the test: what is on disk must be used."""
    original = Index._add_documents

    def refuse(self: Index, docs: list, report: object, progress: bool = False) -> list:
        if docs:
            raise AssertionError(f"unexpected rebuild of {self.folder}: {[d.id for d in docs]}")
        return original(self, docs, report, progress)

    monkeypatch.setattr(Index, "_add_documents", refuse)


# -- the index folder deleted or corrupted while the page runs --------------------------------


def _delete(path: Path) -> None:
    shutil.rmtree(path)


def _garbage_sqlite(path: Path) -> None:
    (path / "chroma" / "chroma.sqlite3").write_bytes(b"not a database " * 512)


def _empty_chroma(path: Path) -> None:
    shutil.rmtree(path / "chroma")
    (path / "chroma").mkdir()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("fault", [_delete, _garbage_sqlite, _empty_chroma])
def test_index_broken_while_the_page_runs_is_rebuilt(page_bot, fault, monkeypatch) -> None:
    text = page_bot.document.text
    with serve_in_process(page_bot) as url:
        client = Client(url, verbose=False)
        assert_builder(predict(client, "/ask", question=QUESTION), text)
        path = page_bot.index.folder
        fault(path)
        for _ in range(2):  # the first question after the fault, and the one after it
            assert_builder(predict(client, "/ask", question=QUESTION), text)
    # a restarted page answers too, and the restart after it uses the folder as it is
    cache = path.parents[1]
    restarted = Assistant(page_bot.document_path, backend="extractive", cache_dir=cache)
    assert restarted.ask(QUESTION).quotes
    assert list(restarted.index.records) == [page_bot.document.id]
    no_build(monkeypatch)
    fresh = Assistant(page_bot.document_path, backend="extractive", cache_dir=cache)
    assert fresh.ask(QUESTION).quotes


@pytest.mark.timeout(120)
def test_unusable_cache_is_a_clear_error_then_recovers(page_bot: Assistant) -> None:
    """The whole index folder replaced by a file: nothing can be rebuilt, so the page says
    so in words; once the folder is usable again the same page answers."""
    text = page_bot.document.text
    root = page_bot.index.folder.parent
    with serve_in_process(page_bot) as url:
        client = Client(url, verbose=False)
        _garbage_sqlite(page_bot.index.folder)  # the open store breaks...
        shutil.rmtree(root)  # ...and it cannot be rebuilt where it was
        root.write_text("not a folder")
        with pytest.raises(AppError) as info:
            predict(client, "/ask", question=QUESTION)
        message = str(info.value)
        assert "index" in message.lower() and "Traceback" not in message
        root.unlink()
        assert_builder(predict(client, "/ask", question=QUESTION), text)


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "damage",
    [
        "chroma/chroma.sqlite3",
        "derived/bm25/params.index.json",
        "derived/vocab.json",
        "derived/vocab.npy",
        "derived/meta.json",
        "manifest.sqlite",
    ],
)
def test_corrupted_index_on_disk_is_rebuilt_at_start(page_bot, damage, monkeypatch) -> None:
    """A page restarted on a damaged index folder rebuilds what is damaged instead of
    refusing to start; the next start then loads the repaired folder as it is."""
    path = page_bot.index.folder
    target = path / damage
    assert target.exists(), sorted(p.name for p in target.parent.iterdir())
    target.write_bytes(b"\x00garbage{" * 64)
    fresh = Assistant(page_bot.document_path, backend="extractive", cache_dir=path.parents[1])
    assert_builder(fresh.ask(QUESTION).to_dict(), page_bot.document.text)
    no_build(monkeypatch)
    again = Assistant(page_bot.document_path, backend="extractive", cache_dir=path.parents[1])
    assert again.ask(QUESTION).quotes


@pytest.mark.timeout(120)
@pytest.mark.parametrize("fault", [_delete, _empty_chroma])
def test_restart_in_the_same_process_sees_the_store_on_disk(page_bot, fault, monkeypatch) -> None:
    """Chroma caches one client per folder, and each thread's connection holds the file it
    opened: after the folder is emptied, a restart in the same process must rebuild what is
    gone from disk instead of reading the deleted file, so a later start, with no cached
    client at all, finds the store whole."""
    path = page_bot.index.folder
    fault(path)
    restarted = Assistant(page_bot.document_path, backend="extractive", cache_dir=path.parents[1])
    assert_builder(restarted.ask(QUESTION).to_dict(), page_bot.document.text)
    assert (path / "chroma" / "chroma.sqlite3").exists()
    restarted.index.close()  # drops every cached client: the next start reads only the disk
    no_build(monkeypatch)
    again = Assistant(page_bot.document_path, backend="extractive", cache_dir=path.parents[1])
    assert_builder(again.ask(QUESTION).to_dict(), page_bot.document.text)


# -- a build killed midway -------------------------------------------------------------------

BIG_PARAGRAPH = (
    "The harbour board met on a grey morning and discussed the lamp, the tides and the "
    "cost of paint. Members disagreed about the budget for the coming winter season. "
)


@pytest.mark.timeout(240)
def test_build_killed_midway_leaves_the_previous_index_serving(
    tmp_path: Path, bot: Assistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``assistant index --rebuild`` SIGKILLed while it embeds: the index that was there
    keeps serving the running page, and a restart loads it without building."""
    body = "\n\n".join(f"{BIG_PARAGRAPH} Meeting number {i} ended at noon." for i in range(400))
    doc = write(tmp_path / "harbour.md", LIGHTHOUSE + "\n\n## Minutes\n\n" + body + "\n")
    cache = tmp_path / "cache"
    served = Assistant(doc, backend="extractive", cache_dir=cache)
    served.ask(QUESTION)
    path = served.index.folder
    meta = (path / "derived" / "meta.json").read_text()
    env = {**os.environ, "ASSISTANT_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1"}
    env.pop("ASSISTANT_CHROMA_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant", "--document", str(doc), "index", "--rebuild"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not list(path.parent.glob(".build-*")):  # the rebuild has started embedding
            assert proc.poll() is None, "the rebuild ended before it could be killed"
            assert time.monotonic() < deadline, "the rebuild never started"
            time.sleep(0.02)
        time.sleep(0.3)
        assert proc.poll() is None, "the rebuild finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        stop(proc)
    assert proc.returncode == -signal.SIGKILL
    assert (path / "derived" / "meta.json").read_text() == meta  # the previous one, untouched
    assert_builder(served.ask(QUESTION).to_dict(), served.document.text)  # still serving
    leftovers = list(path.parent.glob(".build-*"))
    assert leftovers  # a SIGKILLed build cannot clean up after itself...
    hours_ago = time.time() - 7 * 3600
    for folder in leftovers:
        os.utime(folder, (hours_ago, hours_ago))
    small = Assistant(write(tmp_path / "small.md", LIGHTHOUSE), "extractive", cache_dir=cache)
    small.ask(QUESTION)  # ...so the next build (of anything) sweeps what it left
    assert not list(path.parent.glob(".build-*"))
    no_build(monkeypatch)
    restarted = Assistant(doc, backend="extractive", cache_dir=cache)
    assert_builder(restarted.ask(QUESTION).to_dict(), restarted.document.text)


# -- the model server gone, or answering garbage ---------------------------------------------


class PinnedServer(ScriptedServer):
    """A scripted server that can come back on the port it had (a restarted model server)."""

    def __init__(self, port: int = 0, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._pinned = port

    def start(self) -> PinnedServer:
        from http.server import ThreadingHTTPServer
        from threading import Thread

        import scripted_server

        if self._httpd is not None:
            return self
        self._stopping.clear()
        handler = type("Handler", (scripted_server._Handler,), {"scripted": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self._pinned), handler)
        self._httpd.daemon_threads = True
        self._pinned = self._httpd.server_address[1]
        self._thread = Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self


@pytest.fixture
def llm_bot_factory(bot: Assistant, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENAI_API_KEY", TEST_API_KEY)

    def make(url: str) -> Assistant:
        b = bot.with_answerer(OpenAIBackend(base_url=url, timeout=2.0, max_retries=0))
        return b

    return make


INJURED = "over 100 police injured"
POLICE = "How many police officers were injured?"


@pytest.mark.timeout(120)
def test_model_server_stopped_then_back(llm_bot_factory) -> None:
    server = PinnedServer().start()
    llm = llm_bot_factory(server.url)
    try:
        server.enqueue(answer(("The author writes that over 100 police were injured.", [INJURED])))
        assert llm.ask(POLICE).backend == "openai"
        port = server.port
        server.stop()  # the model server is gone: connection refused
        down = llm.ask(POLICE)
        assert down.backend == "extractive" and INJURED in " ".join(q.text for q in down.quotes)
        assert any("cannot reach the model API" in n for n in down.notices), down.notices
        server = PinnedServer(port).start()  # back on the same address
        server.enqueue(answer(("The author writes that over 100 police were injured.", [INJURED])))
        back = llm.ask(POLICE)
        assert back.backend == "openai" and not back.notices
    finally:
        server.stop()


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "reply",
    [
        Reply(body="<html><body>502 Bad Gateway</body></html>"),
        Reply(body={"unexpected": "shape"}),
        Reply(body=b"\xff\xfe\x00garbage".decode("latin-1")),
        Reply(content="I think about 100, roughly."),
    ],
    ids=["html", "wrong-json", "bytes", "prose"],
)
def test_model_server_answering_garbage_falls_back_with_a_notice(llm_bot_factory, reply) -> None:
    with ScriptedServer() as server:
        server.enqueue(reply)
        a = llm_bot_factory(server.url).ask(POLICE)
    assert a.backend == "extractive" and a.status == "answered"
    assert INJURED in " ".join(q.text for q in a.quotes)
    assert any("language model failed" in n for n in a.notices), a.notices
    assert "Traceback" not in a.text


def test_every_deliberate_error_is_an_assistant_error(tmp_path: Path) -> None:
    """The loader's and the index's failures surface as the project's own errors."""
    with pytest.raises(AssistantError):
        load_document(write(tmp_path / "x.txt", b"\x00\x01binary"))
    with pytest.raises(AssistantError):
        Index.open(
            Corpus([write(tmp_path / "d.txt", "A title\n\nOne line.\n")]),
            settings=IndexSettings(cache_dir=str(write(tmp_path / "file", "not a folder"))),
        )


# -- the Chroma server stopped and started again ----------------------------------------------

CHROMA = Path(sys.executable).with_name("chroma")


def start_chroma(data: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """``chroma run`` on 127.0.0.1:port, ready when its heartbeat answers."""
    import httpx

    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [str(CHROMA), "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text(errors="replace")[-2000:]
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).raise_for_status()
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    stop(proc)
    raise AssertionError("chroma did not start")


@pytest.mark.timeout(180)
def test_chroma_server_down_is_a_clear_error_then_recovers(
    doc_path: Path, tmp_path: Path, bot: Assistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The vectors live on a Chroma server (``ASSISTANT_CHROMA_URL``).  Server stopped: the
    page says so in words.  Server back with its data: answers again.  Server back empty
    (its data lost): the index is rebuilt on it and answers again."""
    if not CHROMA.exists():
        pytest.skip(f"no chroma command at {CHROMA}")
    port, log = free_port(), tmp_path / "chroma.log"
    monkeypatch.setenv("ASSISTANT_CHROMA_URL", f"http://127.0.0.1:{port}")
    chroma = start_chroma(tmp_path / "chroma-data", port, log)
    try:
        b = Assistant(doc_path, backend="extractive", cache_dir=tmp_path / "cache")
        text = b.document.text
        with serve_in_process(b) as url:
            client = Client(url, verbose=False)
            assert_builder(predict(client, "/ask", question=QUESTION), text)
            assert b.index.chroma_url  # really on the server, not embedded
            stop(chroma)  # the server goes away
            for _ in range(2):
                with pytest.raises(AppError) as info:
                    predict(client, "/ask", question=QUESTION)
                message = str(info.value)
                assert "Chroma server" in message and f"127.0.0.1:{port}" in message, message
            chat = list(web.make_chat_fn(b)(QUESTION, []))[-1]
            assert chat.startswith("**Sorry, I could not answer that:**") and "Chroma" in chat
            chroma = start_chroma(tmp_path / "chroma-data", port, log)  # back, with its data
            assert_builder(predict(client, "/ask", question=QUESTION), text)
            stop(chroma)
            chroma = start_chroma(tmp_path / "chroma-empty", port, log)  # back, data lost
            assert_builder(predict(client, "/ask", question=QUESTION), text)
            assert_builder(predict(client, "/ask", question=QUESTION), text)
    finally:
        stop(chroma)
