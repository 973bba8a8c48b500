"""The same assistant against a real Chroma server: ``chroma run`` on 127.0.0.1 and a free
port, started for this module and stopped after it (by its own process handle).

Covers the client factory, a corpus and a single document kept on the server with the
same answers as the embedded store, incremental updates reaching the server, a server
collection lost behind our back, and a server that is not there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import free_port, stop

from assistant.core import Assistant, default_document
from assistant.errors import AssistantError, IndexBuildError
from index.corpus import Corpus
from index.settings import IndexSettings, Settings
from index.store import Index, chroma_client, server_url

CHROMA_URL_ENV = "ASSISTANT_CHROMA_URL"

pytestmark = pytest.mark.chroma_server

QUESTIONS = [
    "How many police officers were injured?",
    "Who closed the port?",
    "What did Jen Psaki say about the claims that the US was behind the violence?",
    "What is the GDP of France?",
]
HARBOUR = (
    "Harbour Report\n\n"
    "Fishing boats returned early because of the storm. The harbour master closed the port "
    "at noon. Police said two officers were injured while helping the fishermen.\n"
)


def _heartbeat(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A ``chroma run`` server on a free loopback port; yields its URL."""
    chroma = Path(sys.executable).with_name("chroma")
    if not chroma.exists():
        pytest.skip("the chroma command is not installed next to this Python")
    data = tmp_path_factory.mktemp("chroma-server")
    port = free_port()
    log = (data / "server.log").open("w")
    args = ["run", "--path", str(data / "db"), "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(
        [str(chroma), *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not _heartbeat(url):
            if proc.poll() is not None:
                pytest.fail(f"chroma run exited: {(data / 'server.log').read_text()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail("chroma run did not answer its heartbeat within 60 s")
            time.sleep(0.2)
        yield url
    finally:
        stop(proc)
        log.close()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(default_document(), docs / "kazakhstan.txt")
    (docs / "harbour.txt").write_text(HARBOUR, encoding="utf-8")
    return docs


def _answers(b: Assistant) -> list[tuple]:
    out = []
    for q in QUESTIONS:
        a = b.ask(q)
        out.append((a.status, [(q.document_id, q.start, q.end) for q in a.quotes], a.text))
    return out


# -- the client factory ---------------------------------------------------------------------------


def test_client_factory_picks_the_server_from_the_url(chroma_server: str, tmp_path: Path) -> None:
    client = chroma_client(chroma_server)
    assert type(client).__name__ == "Client"  # chromadb's HTTP-backed client
    assert client.heartbeat() > 0
    assert server_url(None) is None and server_url(" ") is None
    assert server_url(f"{chroma_server}/") == chroma_server
    embedded = chroma_client(None, tmp_path / "chroma")
    assert embedded.count_collections() == 0
    assert (tmp_path / "chroma").is_dir()


def test_bad_or_unreachable_server_is_a_clear_error() -> None:
    with pytest.raises(IndexBuildError, match="not a Chroma server URL"):
        chroma_client("ftp://example.org")
    with pytest.raises(IndexBuildError, match="cannot reach the Chroma server"):
        chroma_client(f"http://127.0.0.1:{free_port()}")


def test_the_environment_variable_selects_the_server(
    chroma_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CHROMA_URL_ENV, chroma_server)
    assert Settings.from_env().index.chroma_url == chroma_server
    # an explicit empty URL forces the embedded store
    assert Assistant(backend="extractive", chroma_url="").settings.index.chroma_url is None


# -- a corpus on the server -----------------------------------------------------------------------


def test_corpus_on_the_server_answers_as_embedded(
    chroma_server: str, folder: Path, tmp_path: Path, bot: Assistant
) -> None:
    embedded = Assistant(documents=folder, backend="extractive", cache_dir=tmp_path / "e")
    served = Assistant(
        documents=folder, backend="extractive", cache_dir=tmp_path / "s", chroma_url=chroma_server
    )
    assert _answers(served) == _answers(embedded)
    index = served.index
    assert index.chroma_url == chroma_server
    assert not (index.folder / "chroma").exists()  # the vectors live on the server
    remote = chroma_client(chroma_server).get_collection(index.collection_name)
    assert remote.count() == index.passages == embedded.index.passages


def test_incremental_updates_reach_the_server(
    chroma_server: str, folder: Path, tmp_path: Path, bot: Assistant
) -> None:
    cache = tmp_path / "s"
    served = Assistant(
        documents=folder, backend="extractive", cache_dir=cache, chroma_url=chroma_server
    )
    remote = chroma_client(chroma_server).get_collection(served.index.collection_name)
    before = remote.count()
    (folder / "ferry.txt").write_text("Ferry News\n\nThe ferry to Kellby was cancelled.\n")
    report = served.sync()
    assert (report.added, report.removed) == (1, 0)
    assert remote.count() == before + report.embedded
    (folder / "harbour.txt").unlink()
    report = served.sync()
    assert (report.added, report.removed, report.embedded) == (0, 1, 0)
    assert remote.count() == served.index.passages
    # a new process (here: a new index object) sees the same state and does no work
    again = Index.open(
        Corpus(folder),
        served.embedder,
        IndexSettings(cache_dir=str(cache), chroma_url=chroma_server),
    )
    assert (again.last_sync.added, again.last_sync.embedded) == (0, 0)


def test_collection_lost_on_the_server_is_rebuilt(
    chroma_server: str, folder: Path, tmp_path: Path, bot: Assistant
) -> None:
    served = Assistant(
        documents=folder, backend="extractive", cache_dir=tmp_path / "s", chroma_url=chroma_server
    )
    name = served.index.collection_name
    chroma_client(chroma_server).delete_collection(name)
    settings = IndexSettings(cache_dir=str(tmp_path / "s"), chroma_url=chroma_server)
    again = Index.open(Corpus(folder), served.embedder, settings)
    assert again.last_sync.rebuilt_store  # the manifest no longer matches the server...
    assert again.last_sync.added == 2  # ...so every document is indexed again
    assert chroma_client(chroma_server).get_collection(name).count() == again.passages


# -- one document on the server -------------------------------------------------------------------


def test_single_document_on_the_server(
    chroma_server: str, tmp_path: Path, bot: Assistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CHROMA_URL_ENV, chroma_server)
    served = Assistant(backend="extractive", cache_dir=tmp_path / "s")
    answer = served.ask(QUESTIONS[0])
    assert served.index.chroma_url == chroma_server
    assert not (served.index.folder / "chroma").exists()
    remote = chroma_client(chroma_server).get_collection(served.index.collection_name)
    assert remote.count() == served.index.passages
    assert [(q.start, q.end) for q in answer.quotes] == [
        (q.start, q.end) for q in bot.ask(QUESTIONS[0]).quotes
    ]
    # no temporary collections are left behind by the build
    names = [c.name for c in chroma_client(chroma_server).list_collections()]
    assert not [n for n in names if n.startswith("tmp-")]


def test_no_server_is_a_clear_error(folder: Path, tmp_path: Path, bot: Assistant) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    b = Assistant(documents=folder, backend="extractive", cache_dir=tmp_path / "x", chroma_url=dead)
    with pytest.raises(AssistantError, match="cannot reach the Chroma server"):
        b.ask("Who closed the port?")
