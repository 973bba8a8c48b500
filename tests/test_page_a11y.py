"""The page in Chromium, light and dark, desktop and phone: axe-core finds no serious or
critical violation, every mark's text stands at 4.5:1 or better against its background,
answers are named and copied as plain text, and the input and send button are named.
Screenshots go to ``$ASSISTANT_TEST_ARTIFACTS`` (default ``test-artifacts/``)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import chromium, serve_in_process

from assistant import Assistant

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(300),
    pytest.mark.filterwarnings("ignore::Warning:gradio.queueing"),
]

ROOT = Path(__file__).resolve().parents[1]
ANSWERED = "How many police officers were injured?"
ABSENT = "Who won the 2019 football world cup?"
VIEWPORTS = {"desktop": (1400, 900), "phone": (390, 844)}
#: Text on the page's own marks and subdued text, by CSS selector.
MARKED = [
    "#page-head .sub",
    "#chat blockquote.quote .qtext",
    "#chat blockquote.quote .where",
    "#chat .quote-inline",
    "#chat a.qref",
    "#chat .nid-banner",
    "#doc-view .seg.hl",
    "#doc-view sup.qnum",
    "footer a",
]
MAP_MARKED = [
    '.claims-map .seg[data-status="cited"]',
    '.claims-map .seg[data-status="uncited"]',
    '.claims-map .seg[data-status="hedged"]',
    '.claims-map .seg[data-status="quoted"]',
    ".badge.b-cited",
    ".badge.b-uncited",
]

# The WCAG contrast ratio of an element's text against the first opaque background behind it.
CONTRAST_JS = """(selector) => {
  const parse = (c) => { const m = c.match(/[\\d.]+/g); return m ? m.map(Number) : null; };
  const lum = ([r, g, b]) => { const f = (v) => { v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const background = (el) => { for (; el; el = el.parentElement) {
      const c = parse(getComputedStyle(el).backgroundColor);
      if (c && (c.length < 4 || c[3] > 0.5)) return c; }
    return [255, 255, 255]; };
  const out = [];
  for (const el of document.querySelectorAll(selector)) {
    if (!el.offsetParent && getComputedStyle(el).position !== "fixed") continue;
    if (!el.textContent.trim()) continue;
    const fg = parse(getComputedStyle(el).color), bg = background(el);
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    out.push((a + 0.05) / (b + 0.05));
    if (out.length >= 5) break;
  }
  return out;
}"""
PLACEHOLDER_JS = """() => {
  const el = document.querySelector('#question textarea');
  const parse = (c) => c.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => { const f = (v) => { v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  let bgEl = el, bg = null;
  for (; bgEl; bgEl = bgEl.parentElement) { const c = parse(getComputedStyle(bgEl).backgroundColor);
    if (c.length < 4 || c[3] > 0.5) { bg = c; break; } }
  const fg = parse(getComputedStyle(el, '::placeholder').color);
  const [a, b] = [lum(fg), lum(bg || [255, 255, 255])].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}"""


@pytest.fixture(scope="module")
def served(bot: Assistant) -> Iterator[str]:
    with serve_in_process(bot) as url:
        yield url


def _shot(page, name: str) -> Path:
    folder = Path(os.environ.get("ASSISTANT_TEST_ARTIFACTS", ROOT / "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


def assert_legible(name: str, figures: dict[str, list[float]], violations: list[dict]) -> None:
    """Every measured text at 4.5:1 or better and no serious axe violation; the figures are
    kept beside the screenshots (``NAME-contrast.json``) and the lowest is printed."""
    folder = Path(os.environ.get("ASSISTANT_TEST_ARTIFACTS", ROOT / "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}-contrast.json").write_text(json.dumps(figures, indent=1), encoding="utf-8")
    print(f"{name} lowest contrast:", min(min(v) for v in figures.values() if v))
    assert {s: round(min(v), 2) for s, v in figures.items() if v and min(v) < 4.5} == {}
    assert violations == [], json.dumps(violations, indent=1)


def _axe(page) -> list[dict]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "nodes": [(n["target"], n.get("failureSummary", "")[:160]) for n in v["nodes"]][:4],
        }
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("device", list(VIEWPORTS))
def test_page_is_accessible_and_legible(served: str, scheme: str, device: str) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    expect = sync_api.expect
    width, height = VIEWPORTS[device]
    figures: dict[str, list[float]] = {}
    with sync_api.sync_playwright() as p:
        browser = chromium(p)
        try:
            context = browser.new_context(
                viewport={"width": width, "height": height}, color_scheme=scheme
            )
            context.grant_permissions(["clipboard-read", "clipboard-write"])
            page = context.new_page()
            page.set_default_timeout(60_000)
            page.goto(served)
            box = page.get_by_role("textbox", name="Your question")
            expect(box).to_be_visible()
            expect(page.get_by_role("button", name="Ask", exact=True)).to_be_visible()
            if scheme == "dark":
                assert page.evaluate("document.body.classList.contains('dark')")
            box.fill(ANSWERED)
            page.get_by_role("button", name="Ask", exact=True).click()
            reply = page.locator('[data-testid="bot"]').last
            expect(reply.locator("blockquote.quote")).to_have_count(1)
            # named by its text, not its markup
            label = reply.get_attribute("aria-label") or ""
            assert label.startswith("Answer: The author writes: “") and "<" not in label
            box.fill(ABSENT)
            box.press("Enter")
            expect(page.locator('[data-testid="bot"]').last).to_contain_text("Not in the document")
            # a sourcing question is answered from the evidence status of its quotes;
            # a reader's comment is the reader's, with no source note
            box.fill("Is the claim about the CIA backed by a source?")
            box.press("Enter")
            sourced = page.locator('[data-testid="bot"]').nth(2)
            expect(sourced.locator("p").first).to_contain_text("Sources: [")
            expect(sourced.locator("p").first).to_contain_text("cites footnote")
            box.fill("What does the reader comment say?")
            box.press("Enter")
            comment = page.locator('[data-testid="bot"]').nth(3)
            expect(comment).to_contain_text("A reader's comment says")
            expect(comment.locator("p").first).not_to_contain_text("gives no source")
            page.locator('[data-testid="bot"] a.qref').first.click()
            expect(page.locator("#doc-view mark.active-quote").first).to_be_visible()
            for selector in MARKED:
                figures[selector] = page.evaluate(CONTRAST_JS, selector)
            figures["#question textarea::placeholder"] = [page.evaluate(PLACEHOLDER_JS)]
            _shot(page, f"a11y-{device}-{scheme}-answer")
            violations = _axe(page)
            page.get_by_role("tab", name="Claims map").click()
            expect(page.locator(".claims-map .badge").first).to_be_visible()
            for selector in MAP_MARKED:
                figures[selector] = page.evaluate(CONTRAST_JS, selector)
            _shot(page, f"a11y-{device}-{scheme}-claims-map")
            violations += _axe(page)
            # the copy button copies plain text: the quotes and where they stand
            page.get_by_role("tab", name="Document").click()
            page.locator('#chat button[aria-label="Copy message"]').nth(1).click()
            copied = page.evaluate("navigator.clipboard.readText()")
            assert "<" not in copied and "Quotes:" in copied and "chars " in copied
        finally:
            browser.close()
    assert_legible(f"a11y-{device}-{scheme}", figures, violations)
    measured = [s for s, v in figures.items() if v]
    assert len(measured) >= 10  # the marks were on screen to be measured


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("device", list(VIEWPORTS))
def test_page_keeps_the_reader_oriented(served: str, device: str, scheme: str) -> None:
    """No jump on load; each answer shown from its start; a way back from the document to
    the answer; clearing the chat clears the marks it left in the document."""
    sync_api = pytest.importorskip("playwright.sync_api")
    expect = sync_api.expect
    width, height = VIEWPORTS[device]
    with sync_api.sync_playwright() as p:
        browser = chromium(p)
        try:
            page = browser.new_page(
                viewport={"width": width, "height": height}, color_scheme=scheme
            )
            page.set_default_timeout(60_000)
            page.goto(served)
            expect(page.locator("#page-head h1")).to_be_visible()
            page.wait_for_timeout(1500)  # the page script has run
            assert page.evaluate("window.scrollY") == 0  # the title stays in view
            assert page.evaluate("document.activeElement.tagName") == "TEXTAREA"
            box = page.get_by_role("textbox", name="Your question")
            for question in (ANSWERED, "What does the reader comment say?", ABSENT):
                box.fill(question)
                box.press("Enter")
                expect(page.locator('[data-testid="bot"] .answer')).to_have_count(
                    1 + [ANSWERED, "What does the reader comment say?", ABSENT].index(question)
                )
                page.wait_for_timeout(400)
            last = page.locator('[data-testid="bot"]').last
            top = last.evaluate("el => el.getBoundingClientRect().top")
            assert 0 <= top < height, f"the last answer starts off-screen ({top:.0f} px)"
            expect(last).to_contain_text("Not in the document")
            _shot(page, f"orient-{device}-{scheme}-answer-start")
            # follow a quote into the document, then come back
            first = page.locator('[data-testid="bot"]').first
            first.locator("a.qnum-link").first.click()
            expect(page.locator("#doc-view mark.active-quote").first).to_be_visible()
            back = page.get_by_role("link", name="↑ Back to the answer")
            expect(back).to_be_visible()
            back.click()
            page.wait_for_timeout(300)
            top = first.evaluate("el => el.getBoundingClientRect().top")
            assert -5 <= top < height, f"back to the answer left it off-screen ({top:.0f} px)"
            expect(back).to_be_hidden()
            # clearing the chat clears the document's marks and the input's error message
            assert page.locator("#doc-view .seg.hl").count() > 0
            box.fill("")
            box.press("Enter")
            error = page.locator("#question div.validation-error")
            expect(error).to_contain_text("Please type a question first")
            page.get_by_role("button", name="Clear").click()
            expect(error).to_be_hidden()
            expect(page.locator('[data-testid="bot"]')).to_have_count(0)
            expect(page.locator("#doc-view .seg.hl")).to_have_count(0)
            expect(page.locator("#doc-view mark.active-quote")).to_have_count(0)
        finally:
            browser.close()


def _report(path: Path) -> Path:
    """A long report (about 500 sentences, so its index builds in several batches)."""
    import random

    rng = random.Random(7)
    words = (
        "harbour council repairs pier ferry budget residents parking survey engineer "
        "contract tender schedule winter storm damage inspection committee vote funding"
    ).split()
    parts = ["# Kellby Harbour Works Report\n"]
    for phase in range(1, 13):
        parts.append(f"\n## Works phase {phase}\n\n")
        for _ in range(8):
            sentences = [
                " ".join(rng.choice(words) for _ in range(rng.randint(8, 18))).capitalize()
                + f" in {rng.randint(1990, 2020)}."
                for _ in range(5)
            ]
            parts.append(" ".join(sentences) + "\n\n")
    parts.append("The engineer Marta Olsen signed the report on behalf of Kellby Council.\n")
    # new text each run: a cached index would build without a bar to watch
    parts.append(f"\nReport reference {uuid.uuid4().hex}.\n")
    path.write_text("".join(parts), encoding="utf-8")
    return path


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("device", list(VIEWPORTS))
def test_upload_shows_one_moving_bar_and_questions_about_the_new_document(
    served: str, tmp_path: Path, device: str, scheme: str
) -> None:
    """An upload shows one bar that moves with the indexing batches, then questions drawn
    from the new document; a document with no author's voice and no footnotes is framed
    as such: "The document says", no source notes, no footnote promise, no map badges on
    its headings."""
    sync_api = pytest.importorskip("playwright.sync_api")
    expect = sync_api.expect
    report = _report(tmp_path / "works.md")
    width, height = VIEWPORTS[device]
    figures: dict[str, list[float]] = {}
    with sync_api.sync_playwright() as p:
        browser = chromium(p)
        try:
            page = browser.new_page(
                viewport={"width": width, "height": height}, color_scheme=scheme
            )
            page.set_default_timeout(60_000)
            page.goto(served)
            page.locator("#load-doc").get_by_text("Load another document").click()
            page.set_input_files("#upload input[type=file]", str(report))
            seen: list[tuple[int, str]] = []
            status = page.locator("#doc-status")
            for _ in range(240):
                # read the bars in one go: one may vanish between two calls
                texts = page.evaluate(
                    """() => [...document.querySelectorAll('.progress-level')]
                       .filter((el) => el.offsetParent).map((el) => el.innerText)"""
                )
                seen.append((len(texts), texts[0] if texts else ""))
                if "Loaded" in status.inner_text():
                    break
                page.wait_for_timeout(100)
            expect(status).to_contain_text("Loaded Kellby Harbour Works Report")
            expect(status).to_contain_text("Ask about it in the box above")
            assert max(n for n, _ in seen) == 1, seen  # one bar, never several
            shown = {text for _, text in seen if "embedding" in text}
            assert len(shown) >= 2, seen  # it moved with the batches
            _shot(page, f"upload-{device}-{scheme}-suggestions")
            buttons = page.locator("#examples button")
            labels = [buttons.nth(i).inner_text() for i in range(buttons.count())]
            assert "What is said about Marta Olsen?" in labels  # its own names, answered
            # the header promises no footnotes: this report has none
            expect(page.locator("#page-head")).to_contain_text("Kellby Harbour Works Report")
            expect(page.locator("#page-head")).not_to_contain_text("footnote")
            buttons.filter(has_text="Marta Olsen").click()
            reply = page.locator('[data-testid="bot"]').last
            expect(reply).to_contain_text("Marta Olsen")
            expect(reply).to_contain_text("The document says")  # no author's voice here
            expect(reply).not_to_contain_text("The author writes")
            expect(reply).not_to_contain_text("gives no source")  # no apparatus, no notes
            expect(reply.locator(".where").first).to_contain_text("document body")
            expect(page.locator("#doc-view .seg.hl").first).to_be_visible()
            for selector in MARKED:
                figures[selector] = page.evaluate(CONTRAST_JS, selector)
            _shot(page, f"upload-{device}-{scheme}-answer")
            violations = _axe(page)
            page.get_by_role("tab", name="Claims map").click()
            legend = page.locator(".claims-legend")
            expect(legend).to_contain_text("has no footnotes or source list")
            expect(legend.locator('[data-status="cited"]')).to_have_count(0)
            # the title and the phase headings label the report: no badge on them
            headings = page.locator(".claims-map h2, .claims-map h3")
            expect(headings.first).to_be_visible()
            assert headings.count() >= 12
            expect(page.locator(".claims-map h2 .badge, .claims-map h3 .badge")).to_have_count(0)
            for selector in MAP_MARKED:
                figures[selector] = page.evaluate(CONTRAST_JS, selector)
            _shot(page, f"upload-{device}-{scheme}-claims-map")
            violations += _axe(page)
        finally:
            browser.close()
    assert_legible(f"upload-{device}-{scheme}", figures, violations)
