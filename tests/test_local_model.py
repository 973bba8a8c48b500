"""The LLM path against a real model server: llama-cpp-python's OpenAI-compatible server on
127.0.0.1 running the packaged gemma-3-270m base model (the ``local`` extra).

The model is not instruction-tuned: it answers in schema-valid JSON whose claims and
quotes are mostly invented.  That makes it the verifier's real adversary: every answer
must come from the model, yet no invented quote may reach the user and every claim without
a located quote must be marked unsupported.  ``make test`` installs the extra and sets
``ASSISTANT_REQUIRE_LOCAL_MODEL=1``, so in CI these tests run and cannot skip.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from harness import chromium, free_port

from assistant import Assistant
from assistant.eval.llm_run import run, summary
from assistant.eval.run import DATA, load_jsonl
from assistant.local_model import MAX_TOKENS, LocalModelServer, available
from assistant.openai_backend import OpenAIBackend, forget_servers

pytestmark = [
    pytest.mark.local_model,
    pytest.mark.timeout(3600),  # the dev run: about 30 min on 2 cores
    # Gradio's queue trips pandas deprecation warnings that are none of this app's business
    pytest.mark.filterwarnings("ignore::Warning:gradio.queueing"),
]

if not available():
    if os.environ.get("ASSISTANT_REQUIRE_LOCAL_MODEL") == "1":
        raise RuntimeError('the local model server is required here: pip install -e ".[local]"')
    pytest.skip('the local model server is not installed (".[local]")', allow_module_level=True)

#: ``ASSISTANT_LLM_LIMIT=N`` answers only the first N (a quick look while editing these tests)
LIMIT = int(os.environ.get("ASSISTANT_LLM_LIMIT") or 0) or None
QUESTIONS = load_jsonl(DATA / "questions.jsonl")[:LIMIT]


@pytest.fixture(scope="module")
def server() -> Any:
    forget_servers()  # negotiate from scratch, as a new process would
    with LocalModelServer() as s:
        yield s


@pytest.fixture(scope="module")
def llm_bot(bot: Assistant, server: LocalModelServer) -> Assistant:
    """The session's loaded article and index, answered by the real model."""
    return bot.with_answerer(OpenAIBackend(server.settings()))


@pytest.fixture(scope="module")
def dev_rows(llm_bot: Assistant, server: LocalModelServer) -> list:
    """Every dev question, answered once through the streaming path; figures printed."""
    rows = run(llm_bot, QUESTIONS, progress=True)
    figures = summary(rows)
    print("\nreal model server, article dev questions:", figures, file=sys.stderr)
    report = os.environ.get("ASSISTANT_LLM_REPORT")
    if report:
        import json

        Path(report).write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return rows


def test_the_answers_come_from_the_model(dev_rows: list) -> None:
    """From the model, except an answer the token cap cut before its first claim ended
    (this base model sometimes repeats itself inside its first claim until stopped): that
    one falls back to the offline answer, saying why.  Measured: 16 of the 118 dev
    questions, at a cap of 160 tokens and at 256 alike; none for any other reason."""
    assert len(dev_rows) == len(QUESTIONS) and (LIMIT or len(QUESTIONS) > 100)
    fell_back = [r for r in dev_rows if r.answer.backend != "openai"]
    for r in fell_back:
        notices = r.answer.notices
        assert any("cut off" in n and "language model failed" in n for n in notices), notices
    assert len(fell_back) <= len(dev_rows) // 5, [(r.id, r.answer.notices) for r in fell_back]
    assert sum(r.draft is not None for r in dev_rows) == len(dev_rows) - len(fell_back)
    # llama-cpp-python refuses json_schema; the backend settled on json_object at once
    from_model = [r for r in dev_rows if r.answer.backend == "openai"]
    assert {r.answer.output_mode for r in from_model} == {"json_object"}


def test_no_invented_quote_reaches_the_user(dev_rows: list, llm_bot: Assistant) -> None:
    """Every quote shown is the document's own text at its offsets; an offered string that
    is not in the document is never shown (the verifier removes it, or maps a near miss
    such as "the author claims that X" onto the document's own words X); removals are
    counted and said."""
    text = llm_bot.document.text
    assert sum(len(r.invented) for r in dev_rows) > 0  # the model invents: something to catch
    assert sum(r.answer.removed_quotes for r in dev_rows) > 0
    for r in dev_rows:
        for q in r.answer.quotes:
            assert text[q.start : q.end] == q.text
        shown = {" ".join(q.text.split()) for q in r.answer.quotes}
        assert not shown & {" ".join(i.split()) for i in r.invented}, r.id
        assert r.answer.removed_quotes <= len(r.offered) or r.draft is None
        if r.answer.removed_quotes:
            assert any("could not be found" in n for n in r.answer.notices), r.id


def test_every_claim_without_a_located_quote_is_unsupported(dev_rows: list) -> None:
    claims = [(r, c) for r in dev_rows for c in r.answer.claims]
    assert claims  # the model makes claims: some are shown, labelled
    for r, c in claims:
        if not c.quotes:
            assert not c.supported, (r.id, c.text)
        if not c.supported:
            assert "[unsupported]" in r.answer.text or r.answer.status == "not_in_document"


def test_answers_are_streamed_and_capped(dev_rows: list) -> None:
    """Each answer streamed its text as it came; none ran past the token cap: a cut-off
    answer keeps what it finished and says so."""
    assert sum(r.deltas > 0 for r in dev_rows) >= len(dev_rows) // 2
    for r in dev_rows:
        usage = r.draft.usage if r.draft else None
        if usage and usage.completion_tokens:
            assert usage.completion_tokens <= MAX_TOKENS
        if r.draft and any("cut off" in n for n in r.draft.notices):
            assert r.answer.backend == "openai"


def test_the_token_cap_bounds_an_answer(llm_bot: Assistant) -> None:
    """Asked outside the stream (where the server reports usage): never past the cap."""
    backend = llm_bot.answerer
    passages = [h.passage for h in llm_bot.retrieve("What did the rioters do?").hits]
    draft = backend.draft("Describe everything the rioters did, in detail.", passages)
    assert draft.usage is not None and 0 < draft.usage.completion_tokens <= MAX_TOKENS


def test_a_server_that_dies_mid_answer_falls_back_with_a_notice(bot: Assistant) -> None:
    """The server is killed after its first streamed chunk: the offline answer comes
    instead, with a notice saying the model failed."""
    question = "How many police officers were injured?"
    with LocalModelServer() as doomed:

        class DiesAfterFirstChunk(OpenAIBackend):
            def _create(self, messages, **extra):  # type: ignore[no-untyped-def]
                mode, response = super()._create(messages, **extra)
                return mode, _KillAfterFirst(response, doomed) if extra.get("stream") else response

        llm = bot.with_answerer(DiesAfterFirstChunk(doomed.settings()))
        answer = llm.ask(question)
        assert doomed.process is None  # it was killed
    assert answer.backend == "extractive"
    assert any("language model failed" in n for n in answer.notices), answer.notices
    assert answer.status == "answered" and answer.quotes  # the offline answer, verified


class _KillAfterFirst:
    """The model's stream, which kills the server once the first chunk has arrived."""

    def __init__(self, stream: Any, server: LocalModelServer) -> None:
        self.stream, self.server = stream, server

    def __enter__(self) -> _KillAfterFirst:
        self.stream.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stream.__exit__(*exc)

    def __iter__(self) -> Any:
        for i, chunk in enumerate(self.stream):
            yield chunk
            if i == 0:
                self.server.kill()


@pytest.mark.browser
def test_the_page_streams_the_real_models_answer_then_the_verified_one(
    llm_bot: Assistant, dev_rows: list
) -> None:
    """Through the page: the model's draft streams in (seen by a MutationObserver), then
    the verified answer replaces it, naming the backend and its output mode."""
    sync_api = pytest.importorskip("playwright.sync_api")
    expect = sync_api.expect
    root = str(Path(__file__).resolve().parents[1])
    if root not in sys.path:
        sys.path.insert(0, root)
    app = importlib.import_module("app")
    # a question the model streamed claim text for (temperature 0: it does so again)
    question = next(r.question for r in dev_rows if r.deltas > 2)
    port = free_port()
    demo = app.build_app(llm_bot)
    app.launch(demo, port, prevent_thread_lock=True, quiet=True)
    try:
        with sync_api.sync_playwright() as p:
            browser = chromium(p)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 950})
                page.set_default_timeout(60_000)
                page.goto(f"http://127.0.0.1:{port}/")
                expect(page.get_by_test_id("backend")).to_contain_text("output: json_object")
                page.evaluate(
                    """() => {
                      window.__drafts = 0;
                      new MutationObserver(() => {
                        const bots = document.querySelectorAll('[data-testid="bot"]');
                        const last = bots[bots.length - 1];
                        if (last && last.textContent.includes('Checking the quotes'))
                          window.__drafts++;
                      }).observe(document.body, {subtree: true, childList: true,
                                                 characterData: true});
                    }"""
                )
                box = page.get_by_placeholder("Ask a question about the document")
                box.fill(question)
                box.press("Enter")
                reply = page.locator('[data-testid="bot"]').last
                expect(reply).to_contain_text("openai (json_object output)", timeout=120_000)
                expect(reply).not_to_contain_text("Checking the quotes")
                assert page.evaluate("window.__drafts") > 0  # the draft was on screen
                folder = Path(os.environ.get("ASSISTANT_TEST_ARTIFACTS", "test-artifacts"))
                folder.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(folder / "page-real-model.png"))
            finally:
                browser.close()
    finally:
        demo.close()
