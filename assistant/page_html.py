"""HTML for the chat page: the document with its structure, quote highlights, the claims map,
and answers as chat messages.

Every piece of document text is rendered inside a ``<span class="seg">`` that carries the
document offsets it shows (``data-start``/``data-end``, in code points) and nothing else, so
the page's script can find and highlight any exact span ``[start, end)`` a quote names.
All document and answer text is HTML-escaped: a document's markup stays data.
"""

from __future__ import annotations

import html
import itertools
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from assistant.audit import ASSERTING, STATUSES, SentenceEvidence, profile
from assistant.present import NOT_IN_DOCUMENT, backend_text, section_of, to_terminal
from assistant.types import Answer, Quote
from index.document import Block, Document, Sentence

STATUS_LABELS = {
    "cited": "cited",
    "uncited": "uncited",
    "hedged": "hedged",
    "quoted": "quoted speech",
}
#: ``{speaker}``: "the author" where the document has an author's voice, else "the document"
STATUS_HELP = {
    "cited": "carries a footnote marker; the footnote's source text is not in the document",
    "uncited": "{speaker} asserts it without a source",
    "hedged": "the text itself signals weak sourcing",
    "quoted": "someone else's words, quoted",
}
_BLOCK_LABELS = {
    "alt": "Photo alt text",
    "caption": "Photo caption",
    "comments_heading": "Reader comments",
    "comment": "Reader comment",
}
_REF = re.compile(r"\[(\d+)\]")
_INLINE_OPEN = '<span class="quote-inline">'
_INLINE = re.compile(f"({re.escape(_INLINE_OPEN)}.*?</span>)", re.DOTALL)


def esc(text: str) -> str:
    """Escape for HTML text and attributes; a CR is written as a reference so the browser's
    newline normalisation cannot shift offsets."""
    return html.escape(text, quote=True).replace("\r", "&#13;")


def span_href(start: int, end: int, document_id: str = "") -> str:
    """The link a quote carries; the page script highlights ``[start, end)`` on click, in
    the document ``document_id`` when the pane shows several (a corpus)."""
    return f"#q-{document_id}-{start}-{end}" if document_id else f"#q-{start}-{end}"


def quote_href(q: Quote, corpus: bool) -> str:
    return span_href(q.start, q.end, q.document_id if corpus else "")


# -- the document ------------------------------------------------------------------------


def _cuts(block: Block, sentences: Iterable[Sentence], spans: Iterable[tuple[int, int]]):
    points = {block.start, block.end}
    for s in sentences:
        points.update(p for p in (s.start, s.end) if block.start < p < block.end)
    for start, end in spans:
        points.update(p for p in (start, end) if block.start < p < block.end)
    return sorted(points)


def status_help(document: Document) -> dict[str, str]:
    """What each evidence status means, said of this document's speaker."""
    speaker = "the author" if profile(document).voice else "the document"
    out = {status: text.format(speaker=speaker) for status, text in STATUS_HELP.items()}
    if document.has_footnote_list:
        out["cited"] = "carries a footnote marker; the document's source list names the source"
    return out


def _status_label(ev: SentenceEvidence) -> str:
    label = STATUS_LABELS[ev.status]
    if ev.status == "cited" and ev.footnotes:
        label += " " + ", ".join(f"[{n}]" for n in ev.footnotes)
    return label


def render_document(
    document: Document,
    evidence: dict[str, SentenceEvidence],
    highlights: Sequence[Quote] = (),
    *,
    claims_map: bool = False,
    numbered: bool = True,
) -> str:
    """The document as structured HTML.  ``highlights`` are the last answer's quotes, shown
    marked and numbered as in the chat; ``claims_map`` colours every sentence by its evidence
    status and ends it with a text label (colour is never the only signal)."""
    # quotes keep the numbers the answer gives them; those of other documents are skipped
    mine = [
        (i, q)
        for i, q in enumerate(highlights, start=1)
        if not q.document_id or q.document_id == document.id
    ]
    spans = [(q.start, q.end) for _, q in mine]
    starts: dict[int, list[int]] = {}
    for i, q in mine if numbered else ():
        starts.setdefault(q.start, []).append(i)
    by_block: dict[int, list[Sentence]] = {}
    for s in document.sentences:
        by_block.setdefault(s.block_index, []).append(s)

    help_text = status_help(document)
    parts: list[str] = []
    notes: list[str] = []  # consecutive source-list entries, shown as one numbered list

    def flush_notes() -> None:
        if notes:
            parts.append(f'<ol class="b-footnotes">{"".join(notes)}</ol>')
            notes.clear()

    for block in document.blocks:
        sentences = by_block.get(block.index, [])
        inner: list[str] = []
        cuts = _cuts(block, sentences, spans)
        for a, b in itertools.pairwise(cuts):
            sentence = next((s for s in sentences if s.start <= a < s.end), None)
            classes = ["seg"]
            attrs = f' data-start="{a}" data-end="{b}"'
            if sentence is not None and sentence.id in evidence and sentence.section in ASSERTING:
                attrs += f' data-status="{evidence[sentence.id].status}"'
            covering = [i for i, q in mine if q.start <= a < q.end]
            if covering:
                classes.append("hl")
                attrs += f' data-q="{" ".join(map(str, covering))}"'
            for n in starts.get(a, []):
                inner.append(f'<sup class="qnum" id="quote-{n}">[{n}]</sup>')
            text = esc(document.text[a:b])
            inner.append(f'<span class="{" ".join(classes)}"{attrs}>{text}</span>')
            if (
                claims_map
                and sentence is not None
                and b == sentence.end
                and sentence.section in ASSERTING
            ):
                ev = evidence.get(sentence.id)
                if ev is not None:
                    inner.append(
                        f'<span class="badge b-{ev.status}" title="{esc(help_text[ev.status])}">'
                        f"{esc(_status_label(ev))}</span>"
                    )
        if block.kind == "note":  # the document's own source list: its entries, numbered
            note = document.note_at(block.start)
            # an entry without a number of its own is not given the list's next one
            value = f' value="{note.number}"' if note is not None else ' class="unnumbered"'
            notes.append(f"<li{value}>{''.join(inner)}</li>")
            continue
        flush_notes()
        parts.append(_wrap_block(block, "".join(inner)))
    flush_notes()
    classes = "doc claims-map" if claims_map else "doc"
    return (
        f'<article class="{classes}" data-doc="{esc(document.id)}" lang="en">'
        f"{''.join(parts)}</article>"
    )


def marks_html(document_id: str, quotes: Sequence[Quote], *, numbered: bool, nonce: int) -> str:
    """The last answer's spans for the page script to mark in the document already shown,
    so an answer does not re-send the whole document (``nonce``: every answer is news)."""
    spans = [
        [i, q.start, q.end]
        for i, q in enumerate(quotes, start=1)
        if not q.document_id or q.document_id == document_id
    ]
    spec = {"doc": document_id, "numbered": numbered, "spans": spans, "nonce": nonce}
    return f'<div class="doc-marks" data-marks="{esc(json.dumps(spec))}"></div>'


def render_documents(
    documents: Sequence[tuple[Document, dict[str, SentenceEvidence]]],
    highlights: Sequence[Quote] = (),
    *,
    numbered: bool = True,
) -> str:
    """Several documents of a corpus in one pane, each under its title, with the answer's
    quotes marked in the document each one quotes."""
    if len(documents) == 1:
        document, evidence = documents[0]
        return render_document(document, evidence, highlights, numbered=numbered)
    parts = []
    for document, evidence in documents:
        title = document.title or (document.path.name if document.path else document.id)
        parts.append(
            f'<section class="doc-part"><p class="doc-part-title">Document: <b>{esc(title)}</b>'
            f"</p>{render_document(document, evidence, highlights, numbered=numbered)}</section>"
        )
    return "".join(parts)


def _wrap_block(block: Block, inner: str) -> str:
    label = _BLOCK_LABELS.get(block.kind)
    head = f'<span class="blabel">{label}</span>' if label else ""
    kind = block.kind
    if kind == "title":
        return f'<h2 class="b-title">{inner}</h2>'
    if kind == "heading":
        return f'<h3 class="b-heading">{inner}</h3>'
    if kind == "comments_heading":
        return f'<h3 class="b-comments-heading">{head}{inner}</h3>'
    if kind == "comment":
        return f'<blockquote class="b-comment">{head}{inner}</blockquote>'
    if kind in ("alt", "caption"):
        return f'<figure class="b-{kind}">{head}{inner}</figure>'
    if kind == "dateline":
        return f'<p class="b-dateline">{inner}</p>'
    return f'<p class="b-{esc(kind)}">{inner}</p>'


def claims_counts(evidence: Iterable[SentenceEvidence]) -> Counter:
    """Evidence statuses of the sentences that assert something (not titles, datelines,
    headings or alt text)."""
    return Counter(ev.status for ev in evidence if ev.sentence.section in ASSERTING)


#: The claims map's note on a document with no footnotes or source list: "uncited" there
#: is how such documents are written, not a fault the map found.
NO_APPARATUS = (
    '<p class="note">This document has no footnotes or source list, so none of its '
    "sentences cites a source.</p>"
)


def render_claims_map(document: Document, evidence: dict[str, SentenceEvidence]) -> str:
    """The claims map: a legend with counts, then the document coloured sentence by sentence."""
    counts = claims_counts(evidence.values())
    total = sum(counts.values())
    cited_notes = sorted({n for ev in evidence.values() for n in ev.footnotes})
    apparatus = profile(document).apparatus
    help_text = status_help(document)
    items = []
    for status in STATUSES:
        if status == "cited" and not apparatus and not counts.get(status):
            continue  # nothing here could carry a footnote: a row of 0 would only puzzle
        extra = ""
        if status == "cited" and cited_notes:
            extra = f" (footnotes {cited_notes[0]}–{cited_notes[-1]})"
        items.append(
            f'<li><span class="badge b-{status}">{STATUS_LABELS[status]}</span> '
            f'<b class="count" data-status="{status}">{counts.get(status, 0)}</b>{extra}'
            f" — {help_text[status]}</li>"
        )
    legend = (
        f'<div class="claims-legend"><p><b>{total}</b> sentences, each labelled by how the '
        f"document itself backs it:</p><ul>{''.join(items)}</ul>"
        f"{'' if apparatus else NO_APPARATUS}</div>"
    )
    return legend + render_document(document, evidence, claims_map=True)


# -- answers in the chat ---------------------------------------------------------------------


def _linked_refs(text: str, quotes: Sequence[Quote], corpus: bool = False) -> str:
    def link(m: re.Match) -> str:
        i = int(m.group(1))
        if 1 <= i <= len(quotes):
            return f'<a class="qref" href="{quote_href(quotes[i - 1], corpus)}">[{i}]</a>'
        return m.group(0)

    return _REF.sub(link, text)


def answer_html(
    answer: Answer,
    document: Document | None = None,
    *,
    corpus: bool = False,
    documents: Mapping[str, Document] | None = None,
) -> str:
    """One chat message: notices, the answer (or the "does not say" banner), statements marked
    unsupported with a label, then the numbered quotes, each a link into the document view.
    ``corpus``: quotes name their document and link into it among the others shown;
    ``documents`` (by id): the quoted documents, so each quote's section is named as its own
    document calls it ("article body", "document body")."""
    out: list[str] = []
    known = dict(documents or {})
    if document is not None:
        known.setdefault(document.id, document)
    for notice in answer.notices:
        out.append(f'<div class="notice" role="note"><b>Notice:</b> {esc(notice)}</div>')
    body = answer.text
    for notice in answer.notices:  # shown above already
        body = body.replace(f"Note: {notice}\n\n", "").replace(f"Note: {notice}", "")
    body = esc(body.strip()).replace("marked [unsupported]", "marked “⚠ unsupported”")
    body = body.replace(
        "[unsupported]",
        '<span class="unsupported" title="the quoted text does not back this statement">'
        "⚠ unsupported</span>",
    )
    if answer.status == "not_in_document":
        out.append(
            '<div class="nid-banner" role="status"><b>Not in the document.</b> '
            f"{esc(NOT_IN_DOCUMENT)}</div>"
        )
        body = body.replace(esc(NOT_IN_DOCUMENT), "", 1).strip()
        for q in answer.closest:  # the closest passages link into the document too
            body = body.replace(
                f"“{esc(q.text)}”",
                f'<a class="qref closest" href="{quote_href(q, corpus)}">“{esc(q.text)}”</a>',
            )
    inline: set[int] = set()
    if answer.status == "answered":
        for i, q in enumerate(answer.quotes, start=1):  # a quote the text shows is marked there
            shown = f"“{esc(q.text)}”"
            if q.text[:1] in '“"‘«„' and shown not in body:
                shown = esc(q.text)  # a quotation is framed without marks of its own
            if shown in body:
                body = body.replace(shown, f'<span class="quote-inline">{shown}</span>', 1)
                inline.add(i)
        pieces = _INLINE.split(body)  # the document's own [n] markers inside quotes stay text
        body = "".join(
            p if p.startswith(_INLINE_OPEN) else _linked_refs(p, answer.quotes, corpus)
            for p in pieces
        )
    paragraphs = [p.replace("\n", "<br>") for p in body.split("\n\n") if p.strip()]
    out.extend(f"<p>{p}</p>" for p in paragraphs)
    for i, q in enumerate(answer.quotes, start=1):
        where = [f"“{q.document_title}”"] if corpus and q.document_title else []
        where.append(section_of(q, known, document))
        if q.footnotes:
            where.append("footnote " + ", ".join(map(str, q.footnotes)))
        where.append(f"characters {q.start}–{q.end}")
        text = "quoted above" if i in inline else f"“{esc(q.text)}”"
        href = quote_href(q, corpus)
        out.append(
            f'<blockquote class="quote" data-start="{q.start}" data-end="{q.end}">'
            f'<a class="qref qnum-link" href="{href}" title="show in the document">[{i}]</a> '
            f'<span class="qtext">{text}</span>'
            f'<span class="where"> — {esc(" · ".join(where))} · '
            f'<a class="qref show" href="{href}">show in document</a>'
            "</span></blockquote>"
        )
    out.append(f"<sub>{esc(answer.status)} · {esc(backend_text(answer))}</sub>")
    # the answer in plain text, for its accessible name and the copy button (page.js):
    # Gradio would otherwise name and copy the message by its raw HTML.  Never displayed;
    # newlines as references, since a raw blank line would end the chat's Markdown HTML
    # block (and the chat's sanitiser drops data- attributes, so it is an element).
    plain = esc(to_terminal(answer, known)).replace("\n", "&#10;")
    out.append(f'<span class="copy-text">{plain}</span>')
    return '<div class="answer">' + "\n".join(out) + "</div>"


def header_html(
    title: str,
    backend: str,
    *,
    uploaded: bool = False,
    documents: int | None = None,
    footnotes: bool = True,
) -> str:
    """``documents``: the corpus size, when the page answers from a corpus; ``footnotes``:
    the document has a citation apparatus, so answers say what each quote cites."""
    if documents is not None:
        return (
            f'<div class="page-head"><h1>{esc(title)}</h1>'
            f'<p class="sub">Answers come <b>only from these {documents:,} documents</b>, as '
            "<b>verbatim quotes</b> naming the document each comes from; click one to see it "
            "in place. If the documents do not say, the assistant says so.</p>"
            f'<p class="backend">Backend: <b data-testid="backend">{esc(backend)}</b></p></div>'
        )
    source = "an uploaded document" if uploaded else "the default article"
    return (
        f'<div class="page-head"><h1>{esc(title)}</h1>'
        f'<p class="sub">Answers come <b>only from this document</b> ({source}), as '
        "<b>verbatim quotes</b> you can click to see them in place, with the section each "
        + (
            "comes from and the footnote the article cites for it. "
            if footnotes
            else "comes from. "
        )
        + "If the document does not say, the assistant says so.</p>"
        f'<p class="backend">Backend: <b data-testid="backend">{esc(backend)}</b></p></div>'
    )
