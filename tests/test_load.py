"""Many people on one page at once: the bounded form of ``benchmarks/load_test.py`` (20
concurrent ``gradio_client`` sessions against an ``assistant serve`` process), and two
browser sessions that load different documents at the same time without seeing each
other's.  The full run (500 questions) is ``make load-test``; see the README.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from harness import (
    LIGHTHOUSE,
    ROOT,
    chromium,
    free_port,
    server_env,
    start_server,
    stop,
    wait_ready,
    write,
)

from assistant import Assistant
from index.document import Document

pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")

SESSIONS = 20
QUESTIONS = 60  # three per session: a question, another, a follow-up
MAX_GROWTH_MB = 100.0


def _load_test() -> ModuleType:
    spec = importlib.util.spec_from_file_location("load_test", ROOT / "benchmarks/load_test.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["load_test"] = module  # dataclasses look their module up while defined
    spec.loader.exec_module(module)
    return module


load_test = _load_test()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, bot: Assistant) -> Iterator[tuple[str, int]]:
    """``assistant serve`` (offline, the default article and index cache) on a free port."""
    bot.ask("How many police officers were injured?")  # the article's index exists on disk
    log = tmp_path_factory.mktemp("load") / "server.log"
    port = free_port()
    proc = start_server(port, log, server_env())
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_ready(url, proc, log)
        yield url, proc.pid
    finally:
        stop(proc)


@pytest.mark.timeout(300)
def test_concurrent_sessions_get_their_own_answers(
    server: tuple[str, int], document: Document
) -> None:
    url, pid = server
    report = load_test.run_load(
        url,
        sessions=SESSIONS,
        questions=QUESTIONS,
        timeout=180,
        pid=pid,
        document_text=document.text,
        request_timeout=90,
    )
    summary = report.summary()
    folder = Path(os.environ.get("ASSISTANT_TEST_ARTIFACTS", ROOT / "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "load-bounded.json").write_text(json.dumps(summary, indent=1))
    print("load (bounded):", json.dumps(summary))
    assert report.questions == QUESTIONS, summary
    assert not report.errors, report.errors[:5]
    assert not report.isolation_failures, report.isolation_failures[:5]
    assert not report.verbatim_failures, report.verbatim_failures[:5]
    assert not report.timed_out
    assert report.growth_mb is not None and report.growth_mb < MAX_GROWTH_MB, summary
    assert report.percentile(95) < 60_000, summary


def test_report_fails_on_what_it_should() -> None:
    """The pass/fail rule the full run exits with."""
    report = load_test.Report(sessions=1, questions=1, latencies_ms=[5.0])
    report.rss_before_mb, report.rss_after_mb = 500.0, 520.0
    assert report.ok(max_growth_mb=50)
    report.rss_after_mb = 700.0
    assert not report.ok(max_growth_mb=50)
    report.rss_after_mb = 510.0
    report.isolation_failures.append("session 1: got the answer to another question")
    assert not report.ok(max_growth_mb=50)


HARBOUR = """# Harbour Minutes

The new harbour crane was delivered in 2004 by the firm Brandt & Sons.

## Costs

The crane cost 2.5 million crowns, paid by the port authority.
"""


@pytest.mark.browser
@pytest.mark.timeout(240)
def test_browser_sessions_keep_their_own_documents(server: tuple[str, int], tmp_path: Path):
    """Two readers load different documents at the same moment and ask at the same moment;
    each gets answers from their own document only, and a third still has the article."""
    sync_api = pytest.importorskip("playwright.sync_api")
    expect = sync_api.expect
    url, _pid = server
    docs = {
        "lighthouse": (write(tmp_path / "lighthouse.md", LIGHTHOUSE), "Who built the lighthouse?"),
        "harbour": (write(tmp_path / "harbour.md", HARBOUR), "Who delivered the crane?"),
    }
    expected = {"lighthouse": "Marta Olsen", "harbour": "Brandt & Sons"}
    titles = {"lighthouse": "The Lighthouse Report", "harbour": "Harbour Minutes"}
    with sync_api.sync_playwright() as p:
        browser = chromium(p)
        try:
            pages = {}
            for name in (*docs, "article"):
                context = browser.new_context(viewport={"width": 1300, "height": 900})
                page = context.new_page()
                page.set_default_timeout(60_000)
                page.goto(url)
                pages[name] = page
            for name, (path, _q) in docs.items():  # both uploads in flight together
                pages[name].locator("#load-doc").get_by_text("Load another document").click()
                pages[name].set_input_files("#upload input[type=file]", str(path))
            for name in docs:
                expect(pages[name].locator("#page-head h1")).to_have_text(titles[name])
            for name, (_path, question) in docs.items():  # both questions in flight together
                box = pages[name].get_by_placeholder("Ask a question about the document")
                box.fill(question)
                box.press("Enter")
            article = pages["article"].get_by_placeholder("Ask a question about the document")
            article.fill("How many police officers were injured?")
            article.press("Enter")
            for name in docs:
                reply = pages[name].locator('[data-testid="bot"]').last
                expect(reply.locator("blockquote.quote")).to_have_count(1)
                expect(reply).to_contain_text(expected[name])
                other = next(n for n in docs if n != name)
                expect(reply).not_to_contain_text(expected[other])
                expect(pages[name].locator("#doc-view")).not_to_contain_text(expected[other])
            reply = pages["article"].locator('[data-testid="bot"]').last
            expect(reply).to_contain_text("100 police injured")
            expect(pages["article"].locator("#page-head h1")).to_contain_text("Colour Revolution")
        finally:
            browser.close()


def test_sessions_over_the_api_share_nothing(server: tuple[str, int]) -> None:
    """Two clients, the same follow-up at the same time, different earlier questions: each
    follow-up is read with its own client's history."""
    from gradio_client import Client

    url, _pid = server
    earlier = {
        "a": "Which countries have offered to send troops?",
        "b": "What happened in Shymkent and Taraz?",
    }
    results: dict[str, dict] = {}

    def ask(name: str) -> None:
        client = Client(url, verbose=False)
        history = [
            {"role": "user", "content": earlier[name]},
            {"role": "assistant", "content": "(an earlier answer)"},
        ]
        results[name] = load_test._decode(
            client.predict(question="and why?", history=history, api_name="/chat")
        )

    threads = [threading.Thread(target=ask, args=(n,)) for n in earlier]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for name, question in earlier.items():
        assert results[name]["standalone_question"] == f"{question} and why?"
