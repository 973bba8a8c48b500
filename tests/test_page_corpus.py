"""The chat page over a corpus: quotes name their document, the pane shows the documents an
answer quotes and highlights each quote in its own document, and a picker shows any other."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import BAKE, HARBOUR, chromium, serve_in_process

from assistant import Assistant, web
from assistant.core import default_document
from assistant.errors import DocumentError
from assistant.page_html import answer_html, render_documents
from assistant.web import document_choices, document_views, find_choices
from index.settings import Settings

pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")

_SEG = re.compile(r'<span class="seg[^"]*" data-start="(\d+)" data-end="(\d+)"[^>]*>')


#: These tests check how an answer drawn from several documents is put together and shown,
#: not whether a passage answers: they pin the hand-written answerer, whose choices on
#: these small documents are known.  The default's (the reader's) judgement is measured by the
#: evaluation; ``test_pipeline.py`` records where it abstains on them.
PINNED = Settings.preset("rules")


@pytest.fixture(scope="module")
def corpus_bot(bot: Assistant, tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    root = tmp_path_factory.mktemp("page-corpus")
    docs = root / "docs"
    docs.mkdir()
    shutil.copy(default_document(), docs / "kazakhstan.txt")
    (docs / "harbour.txt").write_text(HARBOUR, encoding="utf-8")
    (docs / "bake.md").write_text(BAKE, encoding="utf-8")
    return Assistant(
        documents=docs, backend="extractive", cache_dir=root / "cache", settings=PINNED
    )


@pytest.fixture(scope="module")
def served(corpus_bot: Assistant) -> Iterator[str]:
    with serve_in_process(corpus_bot) as url:
        yield url


def test_answer_links_name_the_document_and_the_pane_shows_each(corpus_bot: Assistant) -> None:
    answer = corpus_bot.ask("How many police officers were injured?")
    ids = list(dict.fromkeys(q.document_id for q in answer.quotes))
    assert len(ids) >= 2, "the answer should draw on the article and the harbour report"
    out = answer_html(answer, corpus=True)
    for q in answer.quotes:
        assert f'href="#q-{q.document_id}-{q.start}-{q.end}"' in out
        assert f"“{q.document_title}”" in out  # each quote says which document it is from
    pane = render_documents([corpus_bot.document_parts(i) for i in ids], answer.quotes)
    assert pane.count('class="doc-part"') == len(ids)
    for i in ids:
        document, _ = corpus_bot.document_parts(i)
        article = pane.split(f'data-doc="{i}"', 1)[1].split("</article>", 1)[0]
        for _, end in _SEG.findall(article):  # segments index their own document
            assert int(end) <= len(document.text)
        marked = [q for q in answer.quotes if q.document_id == i]
        for n, q in enumerate(answer.quotes, start=1):  # numbers as in the chat, per document
            assert (f'id="quote-{n}"' in article) == (q in marked)
    # single-document links keep their short form
    assert 'href="#q-' in answer_html(answer) and f"#q-{ids[0]}-" not in answer_html(answer)
    # each quote's section is named as its own document calls it: the article has an
    # author's voice ("article body"), the harbour report has none ("document body")
    named = answer_html(answer, corpus=True, documents=web.quoted_documents(corpus_bot, answer))
    for q in answer.quotes:
        block = named.split(f'data-start="{q.start}" data-end="{q.end}"', 1)[1]
        where = block.split('<span class="where">', 1)[1].split("</span>", 1)[0]
        noun = "article" if q.document_title.startswith("Kazakhstan") else "document"
        assert q.section != "body" or f"{noun} body" in where, where
        copy = named.split('class="copy-text">', 1)[1]
        assert f"“{q.document_title}”, {noun} body" in copy or q.section != "body", copy


def test_views_and_picker_list_the_corpus(corpus_bot: Assistant) -> None:
    choices = document_choices(corpus_bot)
    assert {title for title, _ in choices} >= {"Harbour Report", "Village Bake Sale"}
    head, doc_html, map_html = document_views(corpus_bot)
    assert "3 documents" in head and "only from these 3 documents" in head
    bake = next(i for title, i in choices if title == "Village Bake Sale")
    _, doc_html, map_html = document_views(corpus_bot, selected=bake)
    assert "bake sale raised 300 pounds" in doc_html and "claims-legend" in map_html


def test_answers_can_be_limited_to_chosen_documents(corpus_bot: Assistant, bot: Assistant) -> None:
    ids = {d["title"]: d["id"] for d in corpus_bot.documents}
    question = "How many police officers were injured?"
    harbour = corpus_bot.ask(question, within=[ids["Harbour Report"]])
    assert harbour.status == "answered"
    assert {q.document_id for q in harbour.quotes} == {ids["Harbour Report"]}
    assert corpus_bot.ask(question, within=[ids["Village Bake Sale"]]).status == "not_in_document"
    with pytest.raises(DocumentError, match="no document"):
        corpus_bot.ask(question, within=["0000000000000000"])
    # one document: its own id is fine, another is an error
    assert bot.ask(question, within=[bot.document.id]).status == "answered"
    with pytest.raises(DocumentError):
        bot.ask(question, within=[ids["Harbour Report"]])


def test_corpus_api_lists_documents_and_answers_from_chosen_ones(
    served: str, corpus_bot: Assistant
) -> None:
    from gradio_client import Client

    client = Client(served, verbose=False)
    listed = json.loads(client.predict(api_name="/documents"))
    assert {d["title"] for d in listed} >= {"Harbour Report", "Village Bake Sale"}
    harbour = next(d["id"] for d in listed if d["title"] == "Harbour Report")
    question = "How many police officers were injured?"
    everywhere = json.loads(client.predict(question=question, api_name="/ask"))
    assert len({q["document_id"] for q in everywhere["quotes"]}) >= 2
    only = json.loads(client.predict(question, [harbour], api_name="/ask"))
    assert only["status"] == "answered"
    assert {q["document_id"] for q in only["quotes"]} == {harbour}
    for q in only["quotes"]:  # offsets index the quote's own document
        document, _ = corpus_bot.document_parts(q["document_id"])
        assert document.text[q["start"] : q["end"]] == q["text"]
    with pytest.raises(Exception, match="no document"):
        client.predict(question, ["not-a-document"], api_name="/ask")


@pytest.mark.filterwarnings("ignore::UserWarning:gradio.mcp")
@pytest.mark.timeout(180)
def test_corpus_tools_over_mcp(corpus_bot: Assistant) -> None:
    from harness import free_port
    from test_mcp import result_text, with_session

    from assistant import web

    port = free_port()
    demo = web.build_app(corpus_bot)
    web.launch(demo, port, prevent_thread_lock=True, quiet=True, mcp_server=True)
    url = f"http://127.0.0.1:{port}/gradio_api/mcp/"
    try:
        tools = {t.name: t for t in with_session(url, lambda s: s.list_tools()).tools}
        assert {"ask", "documents", "chat"} <= set(tools)
        assert "document_ids" in tools["ask"].inputSchema["properties"]
        listed = json.loads(result_text(with_session(url, lambda s: s.call_tool("documents", {}))))
        bake = next(d["id"] for d in listed if d["title"] == "Village Bake Sale")
        arguments = {"question": "How much did the bake sale raise?", "document_ids": [bake]}
        result = with_session(url, lambda s: s.call_tool("ask", arguments))
        assert not result.isError, result.content
        answer = json.loads(result_text(result))
        assert answer["status"] == "answered"
        assert {q["document_id"] for q in answer["quotes"]} == {bake}
    finally:
        demo.close()


@pytest.mark.browser
@pytest.mark.timeout(240)
@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_corpus_page_in_chromium(
    served: str, corpus_bot: Assistant, device: str, scheme: str
) -> None:
    """The corpus page, light and dark, desktop and phone: each quote names its document
    and its section as that document calls it, highlights in its own document, and the
    marks stand at 4.5:1 or better with no serious accessibility violation."""
    from test_page_a11y import CONTRAST_JS, MAP_MARKED, MARKED, VIEWPORTS, _axe, assert_legible

    sync_api = pytest.importorskip("playwright.sync_api")
    expect = sync_api.expect
    harbour_id = next(d["id"] for d in corpus_bot.documents if d["title"] == "Harbour Report")
    width, height = VIEWPORTS[device]
    figures: dict[str, list[float]] = {}
    with sync_api.sync_playwright() as p:
        browser = chromium(p)
        try:
            page = browser.new_page(
                viewport={"width": width, "height": height}, color_scheme=scheme
            )
            page.set_default_timeout(30_000)
            page.goto(served)
            expect(page.locator("#page-head h1")).to_have_text("3 documents")
            expect(page.locator("#examples")).to_have_count(0)  # the article's examples
            box = page.get_by_placeholder("Ask a question about the document")
            box.fill("How many police officers were injured?")
            box.press("Enter")
            reply = page.locator('[data-testid="bot"]').first
            expect(reply.locator("blockquote.quote").first).to_be_visible(timeout=60_000)
            expect(reply).to_contain_text("Harbour Report")
            doc = page.locator("#doc-view")
            expect(doc.locator(".doc-part")).to_have_count(2)  # both documents quoted
            expect(doc.locator(f'.doc[data-doc="{harbour_id}"] .seg.hl')).to_contain_text(
                "two officers were injured"
            )
            # the harbour quote's link highlights it in the harbour report, not the article
            link = reply.locator(f'blockquote.quote a.qnum-link[href^="#q-{harbour_id}-"]')
            link.click()
            active = doc.locator(f'.doc[data-doc="{harbour_id}"] mark.active-quote')
            expect(active.first).to_be_visible()
            assert "two officers were injured" in "".join(active.all_inner_texts())
            expect(doc.locator("mark.active-quote")).to_have_count(active.count())
            harbour = reply.locator("blockquote.quote").filter(has_text="Harbour Report")
            expect(harbour.first.locator(".where")).to_contain_text("document body")
            article = reply.locator("blockquote.quote").filter(has_text="Kazakhstan")
            expect(article.first.locator(".where")).to_contain_text("article body")
            for selector in MARKED:
                figures[selector] = page.evaluate(CONTRAST_JS, selector)
            _shot(page, f"page-corpus-{device}-{scheme}-answer")
            violations = _axe(page)

            # the picker shows any document of the corpus, with its claims map
            page.locator("#doc-picker input").fill("Village")
            page.get_by_role("option", name="Village Bake Sale").click()
            expect(doc).to_contain_text("bake sale raised 300 pounds")
            page.locator("#tab-claims-button").click()
            expect(page.locator("#claims-view .claims-legend")).to_contain_text("sentences")
            expect(page.locator("#claims-view")).to_contain_text("Mrs Jones")
            for selector in MAP_MARKED:
                figures.setdefault(selector, []).extend(page.evaluate(CONTRAST_JS, selector))
            _shot(page, f"page-corpus-{device}-{scheme}-claims-map")
            violations += _axe(page)
            page.locator("#tab-document-button").click()

            # limited to the bake sale report, the police question is not answered
            page.locator("#only-shown input").check()
            box.fill("How many police officers were injured?")
            box.press("Enter")
            scoped = page.locator('[data-testid="bot"]').nth(1)
            expect(scoped.locator(".nid-banner")).to_be_visible(timeout=60_000)
            page.locator("#only-shown input").uncheck()
            box.fill("How much did the bake sale raise?")
            box.press("Enter")
            third = page.locator('[data-testid="bot"]').nth(2)
            expect(third).to_contain_text("300 pounds", timeout=60_000)
            expect(third).to_contain_text("Village Bake Sale")
        finally:
            browser.close()
    assert_legible(f"corpus-{device}-{scheme}", figures, violations)


def _shot(page, name: str) -> Path:
    from test_app import _shot as shot

    return shot(page, name)


def test_find_choices_keeps_the_shown_document_first(monkeypatch: pytest.MonkeyPatch) -> None:
    choices = [("Harbour Report", "h"), ("Village Bake Sale", "b"), ("Harbour Lights", "l")]
    assert find_choices(choices, "harb") == [("Harbour Report", "h"), ("Harbour Lights", "l")]
    # the shown document stays listed: first when it matches, last when it does not
    assert find_choices(choices, "", keep="b")[0] == ("Village Bake Sale", "b")
    assert find_choices(choices, "HARB", keep="b")[-1] == ("Village Bake Sale", "b")
    assert find_choices(choices, "lights", keep="l") == [("Harbour Lights", "l")]
    monkeypatch.setattr(web, "PICKER_LIMIT", 2)
    assert len(find_choices(choices)) == 2
    limited = find_choices(choices, "harb", keep="b")
    assert limited == [("Harbour Report", "h"), ("Village Bake Sale", "b")]


@pytest.mark.browser
@pytest.mark.timeout(240)
def test_a_large_corpus_is_searched_from_the_picker(
    corpus_bot: Assistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past ``PICKER_LIMIT`` documents the page lists only a few titles and asks the server
    for the others as the reader types (here the limit is 1, so 3 documents are "many")."""
    sync_api = pytest.importorskip("playwright.sync_api")
    expect = sync_api.expect
    monkeypatch.setattr(web, "PICKER_LIMIT", 1)
    with serve_in_process(corpus_bot) as url, sync_api.sync_playwright() as p:
        browser = chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 950})
            page.set_default_timeout(30_000)
            page.goto(url)
            expect(page.locator("#doc-picker")).to_contain_text("type to search their titles")
            picker = page.locator("#doc-picker input")
            picker.click()
            expect(page.get_by_role("option")).to_have_count(1)  # the page carries one title
            picker.fill("")
            picker.press_sequentially("Village", delay=40)
            option = page.get_by_role("option", name="Village Bake Sale")
            expect(option).to_be_visible()  # found on the server
            option.click()
            expect(page.locator("#doc-view")).to_contain_text("bake sale raised 300 pounds")
            box = page.get_by_placeholder("Ask a question about the document")
            box.fill("How much did the bake sale raise?")
            box.press("Enter")
            reply = page.locator('[data-testid="bot"]').first
            expect(reply).to_contain_text("300 pounds", timeout=60_000)
            expect(picker).to_have_value("Village Bake Sale")
        finally:
            browser.close()
