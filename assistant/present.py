"""Present: turn a verified answer into what a person reads (answer text, terminal, chat).

The answer text is composed here, from labelled claims and located quotes only, so the
wording about sources (footnotes, hedges, reader comments) is the same for every backend.
"""

from __future__ import annotations

from collections.abc import Mapping

from assistant.audit import SentenceEvidence
from assistant.types import Answer, Claim, Quote
from index.document import Document

NOT_IN_DOCUMENT = "The document does not say."
NOT_IN_DOCUMENTS = "The documents do not say."
SECTION_NAMES = {
    "title": "title",
    "alt": "photo alt text",
    "caption": "photo caption",
    "dateline": "dateline",
    "heading": "section heading",
    "body": "article body",
    "comments_heading": "comments heading",
    "comment": "reader comment",
}


def evidence_notes(
    quote: Quote, document: Document, evidence: SentenceEvidence | None
) -> list[str]:
    """What the document itself says about where this quote's claim comes from."""
    notes: list[str] = []
    if quote.section == "comment":
        notes.append("This is a reader's comment, not the author's view.")
    if evidence is not None and evidence.status == "quoted":
        notes.append("These are the words of someone the article quotes, not the author's own.")
    if evidence is not None and evidence.hedges:
        hedges = ", ".join(f"“{h}”" for h in evidence.hedges)
        notes.append(f"The article itself hedges this ({hedges}).")
    for n in quote.footnotes:
        note = document.footnote(n)
        if note.text is None:
            notes.append(
                f"The article cites footnote {n} for this; the footnote's source text is not "
                "included in the document."
            )
        else:
            end = "" if note.text.rstrip()[-1:] in ".!?" else "."
            notes.append(f"The article cites footnote {n}, which reads: “{note.text}”{end}")
    if not quote.footnotes and quote.section in {"body", "comment"}:
        if evidence is None or evidence.status != "quoted":
            notes.append("The article gives no source for this.")
        else:
            notes.append("The article gives no source for the quotation.")
    return notes


def compose_text(
    status: str,
    claims: list[Claim],
    quotes: list[Quote],
    document: Document | Mapping[str, Document],
    evidence: dict[str, SentenceEvidence],
    lead: str = "",
    notices: list[str] | None = None,
    closest: list[Quote] | None = None,
    attribute: bool = False,
) -> str:
    """The answer text.  ``document`` is the one document, or (corpus mode) the documents
    in play by id; ``attribute`` names the document each run of claims comes from
    ("According to “Title”: …"), so an answer drawing on several says which says what."""
    parts: list[str] = [f"Note: {n}" for n in notices or []]
    if status == "not_in_document":
        opening = NOT_IN_DOCUMENTS if attribute else NOT_IN_DOCUMENT
        parts.append(" ".join(x for x in (opening, lead) if x))
        if claims:
            parts.append(
                "The backend offered these statements, but the document does not back them:"
            )
            parts.extend(f"- {c.text} [unsupported]" for c in claims)
        if closest:
            shown = "; ".join(
                f"“{q.text}” ({SECTION_NAMES[q.section]}"
                + (f", in “{q.document_title}”" if attribute else "")
                + ")"
                for q in closest
            )
            parts.append(f"The closest passages, which do not answer it: {shown}")
        return "\n\n".join(parts)
    if lead:
        parts.append(lead)
    said: set[tuple[str, str]] = set()  # (document, note): each note once per document
    previous: tuple[str, ...] = ()
    for claim in claims:
        refs = "".join(f"[{i + 1}]" for i in claim.quotes)
        line = f"{claim.text} {refs}".rstrip()
        if attribute:
            titles = tuple(dict.fromkeys(quotes[i].document_title for i in claim.quotes))
            if titles and titles != previous:
                named = " and ".join(f"“{t}”" for t in titles)
                line = f"According to {named}: {line}"
            previous = titles or previous
        if not claim.supported:
            line += " [unsupported]"
        notes: list[str] = []
        for i in claim.quotes:
            q = quotes[i]
            doc = _document_for(q, document)
            ev = _evidence_for(q, doc, evidence)
            for n in evidence_notes(q, doc, ev):
                if (q.document_id, n) not in said:
                    said.add((q.document_id, n))
                    notes.append(n)
        parts.append(" ".join([line, *notes]))
    if any(not c.supported for c in claims):
        parts.append(
            "Statements marked [unsupported] are not backed by the quoted text of the document."
        )
    return "\n\n".join(parts)


def _document_for(quote: Quote, document: Document | Mapping[str, Document]) -> Document:
    if isinstance(document, Document):
        return document
    return document[quote.document_id]


def _evidence_for(
    quote: Quote, document: Document, evidence: dict[str, SentenceEvidence]
) -> SentenceEvidence | None:
    for s in document.sentence_at(quote.start, quote.end):
        return evidence.get(s.id)
    return None


def to_terminal(answer: Answer) -> str:
    """Readable plain text for the CLI."""
    lines = [answer.text, ""]
    if answer.quotes:
        lines.append("Quotes:")
        for i, q in enumerate(answer.quotes, start=1):
            fn = f", footnotes {', '.join(map(str, q.footnotes))}" if q.footnotes else ""
            doc = f"“{q.document_title}”, " if answer.corpus and q.document_title else ""
            lines.append(f"  [{i}] “{q.text}”")
            lines.append(f"      ({doc}{SECTION_NAMES[q.section]}, chars {q.start}-{q.end}{fn})")
    unsupported = answer.unsupported
    if unsupported:
        lines.append("")
        lines.append("Unsupported statements:")
        lines.extend(f"  - {c.text}" for c in unsupported)
    lines.append("")
    lines.append(f"status: {answer.status} · backend: {answer.backend}")
    return "\n".join(lines)


def to_markdown(answer: Answer) -> str:
    """Chat rendering: answer text, then each quote as a block quote with section, footnotes
    and offsets.  A quote the answer already shows word for word is not shown twice."""
    body = answer.text.replace("[unsupported]", "**[unsupported]**")
    out = [body]
    if answer.quotes:
        out.append("")
        for i, q in enumerate(answer.quotes, start=1):
            fn = f" · footnote {', '.join(map(str, q.footnotes))}" if q.footnotes else ""
            where = f"*{SECTION_NAMES[q.section]}*{fn} · characters {q.start}–{q.end}"
            if q.text in answer.text:
                out.append(f"> **[{i}]** {where}\n")
            else:
                quoted = q.text.replace("\n", " ")
                out.append(f"> **[{i}]** {quoted}\n>\n> — {where}\n")
    out.append(f"<sub>{answer.status} · {answer.backend}</sub>")
    return "\n".join(out)
