"""The page's HTML: document offsets survive rendering, highlights are exact, labels are text."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest

from assistant.audit import ASSERTING, audit
from assistant.page_html import answer_html, render_claims_map, render_document
from assistant.present import to_terminal
from assistant.types import Answer, Claim, Quote
from index.load import load_document

pytestmark = pytest.mark.fast


class Segments(HTMLParser):
    """Collects every ``span.seg`` (offsets, classes, text) and every badge's text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.segs: list[dict] = []
        self.badges: list[str] = []
        self._in: dict | None = None
        self._badge: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "span" and "seg" in classes:
            self._in = {**a, "classes": classes, "text": ""}
        elif tag == "span" and "badge" in classes:
            self._badge = []

    def handle_endtag(self, tag):
        if tag == "span" and self._in is not None:
            self.segs.append(self._in)
            self._in = None
        elif tag == "span" and self._badge is not None:
            self.badges.append("".join(self._badge))
            self._badge = None

    def handle_data(self, data):
        if self._in is not None:
            self._in["text"] += data
        if self._badge is not None:
            self._badge.append(data)


def parse(markup: str) -> Segments:
    p = Segments()
    p.feed(markup)
    return p


@pytest.fixture(scope="module")
def evidence(document):
    return {e.sentence.id: e for e in audit(document)}


def test_every_rendered_segment_is_the_document_text_at_its_offsets(document, evidence):
    segs = parse(render_document(document, evidence)).segs
    assert segs, "nothing rendered"
    for seg in segs:
        start, end = int(seg["data-start"]), int(seg["data-end"])
        assert document.text[start:end] == seg["text"]
    covered = "".join(seg["text"] for seg in segs)
    for block in document.blocks:  # every block's text is shown, in order
        assert block.text in covered


def test_highlights_cover_exactly_the_quoted_spans(document, evidence):
    i = document.text.index("over 100 police injured")
    quote = Quote(document.text[i : i + 23], i, i + 23, "body", (9,))
    markup = render_document(document, evidence, [quote])
    highlighted = [s for s in parse(markup).segs if "hl" in s["classes"]]
    assert "".join(s["text"] for s in highlighted) == quote.text
    assert int(highlighted[0]["data-start"]) == quote.start
    assert int(highlighted[-1]["data-end"]) == quote.end
    assert 'id="quote-1"' in markup  # numbered like the chat
    unnumbered = render_document(document, evidence, [quote], numbered=False)
    assert 'id="quote-1"' not in unnumbered and 'class="seg hl"' in unnumbered


def test_structure_is_rendered_with_labels(document, evidence):
    markup = render_document(document, evidence)
    assert markup.count('<h2 class="b-title">') == 1
    assert markup.count('<h3 class="b-heading">') == 2
    assert "Photo caption" in markup and "Reader comment" in markup
    assert '<blockquote class="b-comment">' in markup


def test_claims_map_labels_every_sentence_in_text_and_counts_them(document, evidence):
    markup = render_claims_map(document, evidence)
    parsed = parse(markup)
    statuses = [e.status for e in evidence.values() if e.sentence.section in ASSERTING]
    # one text badge per sentence that asserts something (the legend's four come first):
    # the title, dateline, alt text and headings label the document, they claim nothing
    assert len(parsed.badges) == len(statuses) + 4
    assert len(statuses) < len(evidence)
    for status in ("cited", "uncited", "hedged", "quoted"):
        m = re.search(rf'<b class="count" data-status="{status}">(\d+)</b>', markup)
        assert m and int(m.group(1)) == statuses.count(status)
    assert any(b.startswith("cited [9]") for b in parsed.badges)
    assert f"<b>{len(statuses)}</b> sentences" in markup
    assert "has no footnotes or source list" not in markup  # the article has them


def test_document_markup_is_escaped(tmp_path):
    path = tmp_path / "evil.html"
    path.write_text(
        "<html><body><h1>Title &lt;script&gt;</h1><p>The code &lt;script&gt;alert(1)&lt;/script&gt;"
        " is text here. <b>Bold</b> words stay.</p><script>alert(2)</script></body></html>",
        encoding="utf-8",
    )
    doc = load_document(path)
    ev = {e.sentence.id: e for e in audit(doc)}
    markup = render_document(doc, ev)
    assert "<script>" not in markup and "&lt;script&gt;" in markup
    assert "alert(2)" not in markup  # the loader drops script elements entirely
    for seg in parse(markup).segs:
        assert doc.text[int(seg["data-start"]) : int(seg["data-end"])] == seg["text"]


def shown(markup: str) -> str:
    """The markup without the plain-text copy every answer carries for page.js."""
    return re.sub(r'<span class="copy-text">[^<]*</span>', "", markup)


def test_every_answer_carries_its_plain_text_for_copy_and_its_accessible_name():
    answer = _answer()
    out = answer_html(answer)
    m = re.search(r'<span class="copy-text">([^<]*)</span>', out)
    assert m and html.unescape(m.group(1)) == to_terminal(answer)
    assert "“over 100 police injured.[9]”" in html.unescape(m.group(1))
    assert "\n" not in m.group(1)  # one line: Markdown keeps the HTML block whole


def _answer(**kw) -> Answer:
    quote = Quote("over 100 police injured.[9]", 4155, 4182, "body", (9,))
    base = dict(
        question="q",
        status="answered",
        text="The author writes: “over 100 police injured.[9]” [1] Police wore [2] hats. "
        "[unsupported]",
        quotes=[quote],
        claims=[Claim("a", True, (0,)), Claim("Police wore hats.", False)],
        backend="extractive",
    )
    base.update(kw)
    return Answer(**base)


def test_answer_html_numbers_links_and_labels():
    out = answer_html(_answer())
    assert '<span class="quote-inline">“over 100 police injured.[9]”</span>' in out
    assert out.count('href="#q-4155-4182"') == 3  # the ref, the number and "show in document"
    assert "[9]</a>" not in out  # the document's own footnote marker is not a link
    assert "[2]" in out and 'href="#q-' not in out.split("Police wore")[1].split("hats")[0]
    assert '<span class="unsupported"' in out and "⚠ unsupported" in out  # text, not colour only
    assert '<blockquote class="quote"' in out and "footnote 9" in out and "document body" in out
    assert "nid-banner" not in out


def test_not_in_document_looks_different_and_links_closest_passages():
    closest = Quote("Some text.", 10, 20, "body")
    ans = _answer(
        status="not_in_document",
        text="The document does not say.\n\nThe closest passages, which do not answer it: "
        "“Some text.” (article body)",
        quotes=[],
        claims=[],
        closest=[closest],
    )
    out = answer_html(ans)
    assert 'class="nid-banner"' in out and "Not in the document." in out
    assert 'href="#q-10-20"' in out
    assert shown(out).count("The document does not say.") == 1


def test_notices_are_shown_once_as_notices():
    notice = "The language model failed (timeout); this answer comes from the offline backend."
    ans = _answer(notices=[notice], text=f"Note: {notice}\n\nThe author writes: “x” [1]")
    out = answer_html(ans)
    assert shown(out).count(html.escape(notice)) == 1
    assert '<div class="notice" role="note">' in out


def test_answer_text_is_escaped():
    ans = _answer(text="<img src=x onerror=alert(1)> and <script>alert(1)</script>", quotes=[])
    out = answer_html(ans)
    assert "<img" not in out and "<script>" not in out and "&lt;script&gt;" in out


def test_answer_html_names_the_article_body_of_an_authored_document(document):
    assert "article body" in answer_html(_answer(), document)
