"""The Gradio layer: the chat generator, history conversion, the /ask API and the real page."""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import pytest
from harness import chromium, free_port, serve_in_process
from scripted_server import answer

from assistant import Assistant
from assistant.errors import BackendError
from assistant.openai_backend import OpenAIBackend
from assistant.page_html import answer_html
from assistant.types import Answer, Quote


def _import_app():
    """``app.py`` lives at the project root, which pytest does not put on ``sys.path``."""
    root = str(Path(__file__).resolve().parents[1])
    if root not in sys.path:
        sys.path.insert(0, root)
    return importlib.import_module("app")


app = _import_app()
ROOT = Path(__file__).resolve().parents[1]
QUESTION = "How many police officers were injured?"
INJURED = "over 100 police injured"


# Gradio's queue trips pandas deprecation warnings that are none of this app's business.
pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")


@pytest.fixture(scope="module")
def app_bot(bot: Assistant) -> Assistant:
    """The offline assistant (conftest's session ``bot``: the model loads once per run),
    warmed the way ``main()`` warms it before launch."""
    app.warm(bot)
    return bot


@pytest.fixture(scope="module")
def served(app_bot: Assistant) -> Iterator[str]:
    """The app launched in a background thread on a free loopback port; yields its URL."""
    with serve_in_process(app_bot) as url:
        yield url


class StubBot:
    """Streams a canned draft, then a canned answer (or raises); records what it was given."""

    def __init__(self, deltas=(), final: Answer | None = None, error: Exception | None = None):
        self.deltas, self.final, self.error = list(deltas), final, error
        self.calls: list[tuple[str, list[dict]]] = []

    def stream(self, question, history):
        self.calls.append((question, history))
        yield from self.deltas
        if self.error is not None:
            raise self.error
        yield self.final


def canned_answer() -> Answer:
    quote = Quote("over 100 police injured.[9]", 10, 37, "body", (9,))
    return Answer("q", "answered", "Over 100 police were injured. [1]", [quote], [], "openai")


# -- the chat function on the real assistant -----------------------------------------------


def test_chat_answers_with_quote_and_reference(app_bot):
    t0 = time.perf_counter()
    outputs = list(app.make_chat_fn(app_bot)(QUESTION, []))
    elapsed = time.perf_counter() - t0
    final = outputs[-1]
    assert INJURED in final
    start = app_bot.document.text.index("Government buildings were stormed")
    assert f'href="#q-{start}-' in final  # the numbered quote links to its span…
    assert '<blockquote class="quote"' in final and ">[1]</a>" in final
    assert "article body" in final and "footnote 9" in final  # …with its section and footnote
    assert elapsed < 10, f"an answer from a warmed assistant took {elapsed:.1f} s"


@pytest.mark.parametrize("message", ["", "   \n ", [], [{"type": "text", "text": " "}]])
def test_empty_message_is_a_friendly_message(app_bot, message):
    outputs = list(app.make_chat_fn(app_bot)(message, []))
    assert len(outputs) == 1
    assert "Please ask a question about the document" in outputs[0]
    assert "Traceback" not in outputs[0] and "QuestionError" not in outputs[0]


def test_follow_up_with_gradio_history(app_bot):
    history = [
        {"role": "user", "content": [{"type": "text", "text": "Tell me about the riots"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Some answer."}]},
    ]
    final = list(app.make_chat_fn(app_bot)("How many police were injured?", history))[-1]
    assert INJURED in final


def test_api_function_returns_the_answer_contract(app_bot):
    ask = app.make_api_fn(app_bot)
    data = json.loads(ask(QUESTION))  # JSON text: MCP clients get it verbatim
    assert set(data) == {"question", "status", "text", "quotes", "claims", "backend"}
    assert data["status"] == "answered"
    assert any(INJURED in q["text"] for q in data["quotes"])
    with pytest.raises(gr.Error, match="empty"):
        ask("  ")


def test_build_app_has_title_chat_and_ask_endpoints(app_bot):
    demo = app.build_app(app_bot)
    assert demo.title == app_bot.document.title  # the browser tab
    public = {fn.api_name for fn in demo.fns.values() if fn.api_visibility == "public"}
    assert public == {"chat", "ask"}  # the page's own events are not API endpoints
    config = str(demo.get_config_file())
    assert "Colour Revolution" in config
    assert "only from this document" in config
    assert all(q in config for q in app.EXAMPLES)
    assert "Claims map" in config and 'class="doc"' in config and "claims-legend" in config
    assert "offline (extractive" in config  # the backend in use is shown


# -- streaming, errors and history conversion (no model needed) -----------------------------


def test_stream_shows_draft_then_replaces_it_with_the_verified_answer():
    final = canned_answer()
    stub = StubBot(deltas=["Over 100 ", "police"], final=final)
    outputs = list(app.make_chat_fn(stub)("How many?", []))
    assert outputs[0].startswith("Over 100 ") and "Checking the quotes" in outputs[0]
    assert outputs[1].startswith("Over 100 police") and "Checking the quotes" in outputs[1]
    assert outputs[-1] == answer_html(final)


def test_llm_stream_over_http_then_verified(openai_env, app_bot):
    """The real OpenAI backend against the scripted server: deltas stream, then the answer."""
    llm_bot = app_bot.with_answerer(OpenAIBackend(timeout=5.0, max_retries=0))
    openai_env.enqueue(answer(("The author writes that over 100 police were injured.", [INJURED])))
    outputs = list(app.make_chat_fn(llm_bot)(QUESTION, []))
    assert len(outputs) >= 2
    assert all(app.CHECKING in o for o in outputs[:-1])  # the unverified draft is labelled
    final = outputs[-1]
    assert app.CHECKING not in final
    assert "over 100 police were injured" in final and "[1]" in final and "openai" in final


def test_assistant_errors_become_chat_messages():
    stub = StubBot(deltas=["partial "], error=BackendError("the model is unreachable"))
    outputs = list(app.make_chat_fn(stub)("Anything?", []))
    assert outputs[-1] == "**Sorry, I could not answer that:** the model is unreachable."


def test_unexpected_errors_do_not_leak_a_traceback(caplog):
    stub = StubBot(error=RuntimeError("boom"))
    outputs = list(app.make_chat_fn(stub)("Anything?", []))
    assert "something went wrong" in outputs[-1] and "boom" not in outputs[-1]
    assert "unexpected error" in caplog.text


def test_chat_passes_plain_text_history():
    stub = StubBot(final=canned_answer())
    history = [
        {"role": "user", "content": [{"type": "text", "text": "Who rioted?"}]},
        {"role": "assistant", "content": "Rioters did.\n\n<sub>answered · extractive</sub>"},
    ]
    list(app.make_chat_fn(stub)([{"type": "text", "text": "And why?"}], history))
    assert stub.calls == [
        (
            "And why?",
            [
                {"role": "user", "content": "Who rioted?"},
                {"role": "assistant", "content": "Rioters did."},
            ],
        )
    ]


def test_history_conversion_handles_parts_files_and_components():
    history = [
        {"role": "system", "content": "ignored"},
        {
            "role": "user",
            "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": "there"}],
        },
        {"role": "user", "content": [{"type": "file", "file": {"path": "/tmp/x.png"}}]},
        {"role": "user", "content": ("/tmp/x.png",)},
        {"role": "user", "content": {"path": "/tmp/x.png"}},
        {"role": "assistant", "content": gr.Image()},
        {"role": "assistant", "content": ["plain", {"type": "text", "text": "part"}]},
        {"role": "assistant", "content": None},
        {"role": "user", "content": "  spaced  "},
        gr.ChatMessage(role="assistant", content="as an object"),
    ]
    assert app.to_history(history) == [
        {"role": "user", "content": "Hello\nthere"},
        {"role": "assistant", "content": "plain\npart"},
        {"role": "user", "content": "spaced"},
        {"role": "assistant", "content": "as an object"},
    ]
    assert app.to_history(None) == []
    # the page shows typed questions escaped; the rewriter gets them back as typed
    escaped = [{"role": "user", "content": "Is 5 &lt; 6 &amp; <b>x</b>?"}]
    assert app.to_history(escaped) == [{"role": "user", "content": "Is 5 < 6 & <b>x</b>?"}]
    assert app.content_text({"text": "no type key"}) == "no type key"


def test_port_comes_from_flag_or_environment(monkeypatch):
    monkeypatch.delenv("ASSISTANT_PORT", raising=False)
    assert app.parse_args([]).port == 7860
    monkeypatch.setenv("ASSISTANT_PORT", "7999")
    assert app.parse_args([]).port == 7999
    assert app.parse_args(["--port", "8001"]).port == 8001
    args = app.parse_args(["--document", "x.md", "--backend", "extractive"])
    assert (args.document, args.backend) == ("x.md", "extractive")


def test_telemetry_is_off():
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"
    assert os.environ["ANONYMIZED_TELEMETRY"] == "False"


# -- over HTTP ----------------------------------------------------------------------------


def test_ask_and_chat_endpoints_over_http(served):
    from gradio_client import Client

    client = Client(served, verbose=False)
    data = json.loads(client.predict(question=QUESTION, api_name="/ask"))
    assert data["status"] == "answered" and data["backend"] == "extractive"
    assert any(INJURED in q["text"] for q in data["quotes"])
    history = [
        {"role": "user", "content": "What happened in Shymkent and Taraz?"},
        {"role": "assistant", "content": "Government buildings were stormed."},
    ]
    reply = client.predict(question="And how many police?", history=history, api_name="/chat")
    data = json.loads(reply)
    assert data["standalone_question"].startswith("What happened in Shymkent and Taraz?")
    assert any(INJURED in q["text"] for q in data["quotes"])


def _shot(page, name: str) -> Path:
    """Screenshots are test artifacts (``$ASSISTANT_TEST_ARTIFACTS`` or ``test-artifacts/``)."""
    folder = Path(os.environ.get("ASSISTANT_TEST_ARTIFACTS", ROOT / "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000
    print(f"screenshot: {path}")
    return path


def _in_view(locator, container) -> bool:
    """Whether ``locator``'s box lies inside ``container``'s visible box (after scrolling)."""
    box, pane = locator.bounding_box(), container.bounding_box()
    return bool(box and pane and pane["y"] <= box["y"] <= pane["y"] + pane["height"])


SECOND_DOC = """# The Lighthouse Report

The harbour lighthouse at Kellby was built in 1871 by the engineer Marta Olsen.[1]

## Repairs

Some reports say the lamp failed twice in 1990. The council spent 40,000 crowns on repairs.

## Footnotes

[1] Kellby Harbour Archive.
"""


@pytest.mark.browser
@pytest.mark.timeout(240)
def test_chat_page_in_chromium(served, app_bot, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    expect = sync_api.expect
    text = app_bot.document.text
    quote_start = text.index("Government buildings were stormed")
    quote_text = text[quote_start : text.index("[9]", quote_start) + 3]

    with sync_api.sync_playwright() as p:
        browser = chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 950})
            page.set_default_timeout(30_000)
            page.goto(served)
            expect(page.locator("#page-head h1")).to_contain_text("Colour Revolution")
            expect(page.get_by_test_id("backend")).to_contain_text("offline")
            doc = page.locator("#doc-view")
            expect(doc.locator("h2")).to_contain_text("Colour Revolution")  # the document
            expect(doc.locator("blockquote.b-comment")).to_contain_text("excellent analysis")
            _shot(page, "page-start")

            box = page.get_by_placeholder("Ask a question about the document")
            box.fill("   ")  # a blank message is stopped in the page, with a hint
            box.press("Enter")
            expect(page.get_by_text("Please type a question first.")).to_be_visible()
            expect(page.locator('[data-testid="bot"]')).to_have_count(0)

            box.fill(QUESTION)
            box.press("Enter")
            reply = page.locator('[data-testid="bot"]').first
            expect(reply.locator("blockquote.quote")).to_have_count(1, timeout=60_000)
            expect(reply).to_contain_text("100 police injured")
            expect(reply.locator("blockquote.quote")).to_contain_text("[1]")
            expect(reply.locator("blockquote.quote")).to_contain_text("footnote 9")
            expect(reply.locator("blockquote.quote")).to_contain_text("article body")
            expect(page.locator('[data-testid="user"]')).to_contain_text(QUESTION)
            # the last answer's passage stays highlighted and numbered in the document
            expect(doc.locator(".seg.hl")).to_contain_text("over 100 police injured")
            expect(doc.locator("#quote-1")).to_have_count(1)
            page.wait_for_timeout(800)  # the pane scrolls to the answer's first passage
            assert _in_view(doc.locator(".seg.hl").first, doc), "the pane did not follow"

            doc.evaluate("el => el.scrollTo(0, 0)")
            reply.locator("blockquote.quote a.qnum-link").click()
            active = doc.locator("mark.active-quote")
            expect(active.first).to_be_visible()
            assert "".join(active.all_inner_texts()) == quote_text  # exactly the quoted span
            page.wait_for_timeout(600)  # smooth scrolling
            assert _in_view(active.first, doc), "the document did not scroll to the quote"
            _shot(page, "page-quote-clicked")

            box.fill("What is the population of Kazakhstan?")
            box.press("Enter")
            nid = page.locator('[data-testid="bot"]').nth(1).locator(".nid-banner")
            expect(nid).to_contain_text("Not in the document", timeout=60_000)

            page.locator("#tab-claims-button").click()
            claims = page.locator("#claims-view")
            expect(claims.locator(".claims-legend")).to_contain_text("sentences")
            expect(claims.locator('.count[data-status="cited"]')).to_have_text(
                str(sum(e.status == "cited" for e in app_bot.document_parts()[1].values()))
            )
            expect(claims.locator(".badge.b-hedged").first).to_be_visible()
            _shot(page, "page-claims-map")

            # asked while the claims map is open: the document shows it when brought back
            box.fill("What does the reader comment say?")
            box.press("Enter")
            third = page.locator('[data-testid="bot"]').nth(2)
            expect(third.locator("blockquote.quote").first).to_be_visible(timeout=60_000)
            page.locator("#tab-document-button").click()
            expect(doc.locator(".seg.hl").first).to_contain_text("excellent analysis")
            marked = "".join(doc.locator(".seg.hl").all_inner_texts())
            assert "over 100 police injured" not in marked  # the earlier answer's marks went
            assert doc.locator("#quote-1").count() == 1
            page.locator("#tab-claims-button").click()

            # a quote clicked while the claims map is open brings the document back
            reply.locator("blockquote.quote a.qnum-link").click()
            expect(doc.locator("mark.active-quote").first).to_be_visible()

            second = tmp_path / "lighthouse.md"
            second.write_text(SECOND_DOC, encoding="utf-8")
            page.locator("#load-doc").get_by_text("Load another document").click()
            page.set_input_files("#upload input[type=file]", str(second))
            expect(page.locator("#page-head h1")).to_have_text(
                "The Lighthouse Report", timeout=60_000
            )
            expect(page.locator('[data-testid="bot"]')).to_have_count(0)  # a fresh chat
            expect(doc).to_contain_text("Marta Olsen")
            box.fill("Who built the lighthouse?")
            box.press("Enter")
            reply2 = page.locator('[data-testid="bot"]').last
            expect(reply2.locator("blockquote.quote")).to_have_count(1, timeout=60_000)
            expect(reply2).to_contain_text("Marta Olsen")
            reply2.locator("blockquote.quote a.qnum-link").click()
            expect(doc.locator("mark.active-quote").first).to_contain_text("Marta Olsen")
            _shot(page, "page-second-document")

            # another session still has the default article
            other = browser.new_page(viewport={"width": 1400, "height": 950})
            other.goto(served)
            expect(other.locator("#page-head h1")).to_contain_text("Colour Revolution")
            other.close()

            page.get_by_role("button", name="Back to the default article").click()
            expect(page.locator("#page-head h1")).to_contain_text("Colour Revolution")
        finally:
            browser.close()


@pytest.mark.browser
@pytest.mark.timeout(180)
def test_page_rejects_a_bad_upload_and_keeps_the_document(served, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    expect = sync_api.expect
    bad = tmp_path / "photo.txt"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20)
    with sync_api.sync_playwright() as p:
        browser = chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 950})
            page.set_default_timeout(30_000)
            page.goto(served)
            page.locator("#load-doc").get_by_text("Load another document").click()
            page.set_input_files("#upload input[type=file]", str(bad))
            expect(page.locator("#doc-status")).to_contain_text("Could not load", timeout=60_000)
            expect(page.locator("#page-head h1")).to_contain_text("Colour Revolution")
            box = page.get_by_placeholder("Ask a question about the document")
            box.fill(QUESTION)
            box.press("Enter")
            reply = page.locator('[data-testid="bot"]').last
            expect(reply).to_contain_text("100 police injured", timeout=60_000)
        finally:
            browser.close()


@pytest.mark.browser
@pytest.mark.timeout(180)
def test_page_streams_a_model_draft_then_the_verified_answer(openai_env, app_bot):
    """The OpenAI backend against the scripted server: the draft streams into the page,
    labelled as unchecked, then the verified answer replaces it; a failure shows a notice."""
    sync_api = pytest.importorskip("playwright.sync_api")
    expect = sync_api.expect
    llm_bot = app_bot.with_answerer(OpenAIBackend(timeout=5.0, max_retries=0))
    openai_env.enqueue_answer(
        answer(
            ("The author writes that over 100 police were injured.", [INJURED]),
            ("The author says the police carried rifles.", ["the police carried rifles"]),
        ),
        chunk_delay=0.15,
    )
    openai_env.enqueue_error(500)
    port = free_port()
    demo = app.build_app(llm_bot)
    app.launch(demo, port, prevent_thread_lock=True, quiet=True)
    with sync_api.sync_playwright() as p:
        browser = chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 950})
            page.set_default_timeout(30_000)
            page.goto(f"http://127.0.0.1:{port}/")
            expect(page.get_by_test_id("backend")).to_contain_text("OpenAI-compatible model")
            box = page.get_by_placeholder("Ask a question about the document")
            box.fill(QUESTION)
            box.press("Enter")
            reply = page.locator('[data-testid="bot"]').last
            expect(reply).to_contain_text("Checking the quotes", timeout=30_000)  # the draft
            expect(reply.locator("blockquote.quote")).to_have_count(1, timeout=60_000)
            expect(reply).not_to_contain_text("Checking the quotes")
            expect(reply).to_contain_text("openai")
            # the statement whose quote is invented is kept, and marked in words and colour
            flagged = reply.locator(".unsupported")
            expect(flagged).to_have_count(1)
            expect(flagged).to_have_text("⚠ unsupported")
            expect(reply.locator("p").filter(has=page.locator(".unsupported"))).to_contain_text(
                "rifles"
            )
            colour = flagged.evaluate("el => getComputedStyle(el).backgroundColor")
            assert colour not in ("rgba(0, 0, 0, 0)", "transparent")

            box.fill("How many civilians were beaten?")
            box.press("Enter")
            failed = page.locator('[data-testid="bot"]').nth(1)
            # the follow-up rewrite and the answer both hit the failing server: both say so
            notice = failed.locator(".notice").filter(has_text="The language model failed")
            expect(notice).to_have_count(1, timeout=60_000)
            expect(failed).to_contain_text("offline extractive backend")
            _shot(page, "page-model-failed-notice")
        finally:
            browser.close()
            demo.close()
