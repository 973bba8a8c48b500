"""Present: turn a verified answer into what a person reads (answer text, terminal, chat).

The answer text is composed here, from labelled claims and located quotes only, so the
wording about sources (footnotes, hedges, reader comments) is the same for every backend.
"""

from __future__ import annotations

from collections.abc import Mapping

from assistant.audit import SentenceEvidence, profile
from assistant.types import Answer, Claim, Quote, Reason
from index.document import Document

NOT_IN_DOCUMENT = "The document does not say."
NOT_IN_DOCUMENTS = "The documents do not say."
SECTION_NAMES = {
    "title": "title",
    "alt": "photo alt text",
    "caption": "photo caption",
    "dateline": "dateline",
    "heading": "section heading",
    "body": "{noun} body",
    "comments_heading": "comments heading",
    "comment": "reader comment",
    "note": "source list",
}


def section_name(section: str, noun: str = "document") -> str:
    """A section as readers call it: ``body`` is the "article body" of an authored piece
    and the "document body" of anything else (``audit.Profile.noun``)."""
    return SECTION_NAMES.get(section, section).format(noun=noun)


def evidence_notes(
    quote: Quote,
    document: Document,
    evidence: SentenceEvidence | None,
    entries: Mapping[int, int] | None = None,
) -> list[str]:
    """What the document itself says about where this quote's claim comes from.

    Source notes ("cites footnote 4", "gives no source") only where the document has a
    citation apparatus; a reader's comment is the reader's, with no source note.
    ``entries``: source-list entries the same answer quotes, note number to quote number,
    so a note they already show is pointed to, not repeated.
    """
    shape = profile(document)
    noun = shape.noun
    notes: list[str] = []
    if quote.section == "comment":
        notes.append(
            "This is a reader's comment, not the author's view."
            if shape.voice
            else "This is a reader's comment, not part of the document's own text."
        )
        return notes
    if quote.section == "note":
        note = document.note_at(quote.start)
        which = f"note {note.number} of" if note is not None else "an entry of"
        notes.append(f"This is {which} the {noun}'s source list: it names a source.")
        return notes
    if evidence is not None and evidence.status == "quoted":
        own = "the author's own" if shape.voice else "the document's own words"
        notes.append(f"These are the words of someone the {noun} quotes, not {own}.")
    if evidence is not None and evidence.hedges:
        hedges = ", ".join(f"“{h}”" for h in evidence.hedges)
        notes.append(f"The {noun} itself hedges this ({hedges}).")
    for n in quote.footnotes:
        note = document.footnote(n)
        if entries and n in entries:
            notes.append(f"The {noun} cites footnote {n}, quoted as [{entries[n]}].")
        elif note.text is None:
            notes.append(
                f"The {noun} cites footnote {n} for this; the footnote's source text is not "
                "included in the document."
            )
        else:
            reads = " ".join(note.text.split())  # a wrapped entry reads as one line
            end = "" if reads[-1:] in ".!?" else "."
            notes.append(f"The {noun} cites footnote {n}, which reads: “{reads}”{end}")
    if shape.apparatus and not quote.footnotes and quote.section == "body":
        if evidence is None or evidence.status != "quoted":
            notes.append(f"The {noun} gives no source for this.")
        else:
            notes.append(f"The {noun} gives no source for the quotation.")
    return notes


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(names)


def reason_text(reason: Reason | None, many: bool = False) -> str:
    """A reason in words.  ``scope`` says of which documents it holds: the one answered
    from, the candidate documents of a question over many, or all of them."""
    if reason is None:
        return ""
    n, scope = reason.names, reason.scope
    closest = "The documents closest to the question"
    if reason.code == "empty":
        return "The documents are empty." if many else "The document is empty."
    if reason.code == "names_missing":
        if scope == "all":
            return f"None of the documents mentions {_names(n)}."
        if scope == "closest":
            return f"{closest} never mention {_names(n)}."
        return f"The document never mentions {_names(n)}."
    if reason.code == "no_content":
        return "The question has no content the document covers."
    if reason.code == "no_passage":
        if scope == "closest":
            return "No passage of the documents closest to it answers this."
        return "No passage of the document answers this."
    if reason.code == "no_typed":
        return f"The passages that match your question give no {n[0]} for it."
    if reason.code == "relation_missing":
        if scope == "closest":
            return f"{closest} never give the {n[0]} of {n[1]}."
        return f"The document never gives the {n[0]} of {n[1]}."
    if reason.code == "no_footnote":
        if scope == "closest":
            return f"{closest} have no footnote {_names(n)}."
        return f"The document has no footnote {_names(n)}."
    if reason.code == "footnote_source_missing":
        return (
            f"The document cites footnote {_names(n)} but does not include the source text, "
            "so it cannot say what that source says or who wrote it. This is the "
            "sentence that cites it."
        )
    if reason.code == "premise":
        return (
            "Note: the passages that best match your question do not say "
            + ", ".join(f"“{w}”" for w in n)
            + "; here is what the document does say."
        )
    return VERDICTS.get(reason.code, reason.code) + (f": {_names(n)}" if n else "")


#: Why a claim is not supported, in words (``Reason`` codes from the verifier).
VERDICTS = {
    "no_quote": "no quote from the document backs it",
    "number_missing": "number not in the evidence",
    "number_misbound": "number attached to something else in the evidence",
    "name_missing": "name not in the evidence",
    "polarity": "polarity differs from the evidence",
    "beyond_evidence": "goes beyond the evidence",
    "name_or_word_missing": "name or word not in the evidence",
    "not_in_evidence": "not in the evidence",
}


def dropped_quotes_notice(dropped: int, backend: str, many: bool = False) -> str:
    where_from = "any of the documents" if many else "the document"
    return (
        f"{dropped} quote{'s' if dropped > 1 else ''} offered by the {backend} "
        f"backend could not be found in {where_from} and "
        f"{'were' if dropped > 1 else 'was'} removed."
    )


INSTRUCTIONS_NOTICE = (
    "Your message contains instructions to change how I answer. I ignore them: "
    "I only report what the document says, quoted and attributed."
)


def fallback_notice(error: Exception) -> str:
    return (
        f"The language model failed ({error}); this answer comes from the offline "
        "extractive backend instead."
    )


def rewrite_failed_notice(error: Exception) -> str:
    return f"The follow-up could not be rewritten by the model ({error})."


def compose_text(
    status: str,
    claims: list[Claim],
    quotes: list[Quote],
    documents: Mapping[str, Document],
    evidence: dict[str, SentenceEvidence],
    reason: Reason | None = None,
    notices: list[str] | None = None,
    closest: list[Quote] | None = None,
    many: bool = False,
    sourcing: bool = False,
) -> str:
    """The answer text.  ``documents``: those in play, by id; ``many`` (the index holds
    several) names the document each run of claims comes from ("According to “Title”:
    …"), so an answer drawing on several says which says what."""
    attribute = many
    lead = reason_text(reason, many)
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
                f"“{q.text}” ({section_of(q, documents)}"
                + (f", in “{q.document_title}”" if attribute else "")
                + ")"
                for q in closest
            )
            parts.append(f"The closest passages, which do not answer it: {shown}")
        return "\n\n".join(parts)
    if lead:
        parts.append(lead)
    if sourcing:
        # a question about sourcing: every quote's evidence status, said for each quote
        parts.extend(sourcing_lead(quotes, documents))
    said: set[tuple[str, str]] = set()  # (document, note): each note once per document
    entries = quoted_entries(quotes, documents)
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
            doc = documents[q.document_id]
            ev = _evidence_for(q, doc, evidence)
            for n in evidence_notes(q, doc, ev, entries.get(q.document_id)):
                if sourcing or (q.document_id, n) not in said:
                    said.add((q.document_id, n))
                    notes.append(n)
        parts.append(" ".join([line, *notes]))
    if any(not c.supported for c in claims):
        parts.append(
            "Statements marked [unsupported] are not backed by the quoted text of the document."
        )
    return "\n\n".join(parts)


def quoted_entries(
    quotes: list[Quote], documents: Mapping[str, Document]
) -> dict[str, dict[int, int]]:
    """The source-list entries among ``quotes``: by document, note number to quote number."""
    out: dict[str, dict[int, int]] = {}
    for i, q in enumerate(quotes, start=1):
        doc = documents.get(q.document_id)
        note = doc.note_at(q.start) if doc is not None and q.section == "note" else None
        if note is not None:
            out.setdefault(q.document_id, {}).setdefault(note.number, i)
    return out


def section_of(
    quote: Quote, documents: Mapping[str, Document], fallback: Document | None = None
) -> str:
    """The quote's section as its own document names it (``fallback`` when the quote's
    document is not among ``documents``)."""
    doc = documents.get(quote.document_id, fallback)
    return section_name(quote.section, profile(doc).noun if doc else "document")


def _joined(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def sourcing_lead(quotes: list[Quote], documents: Mapping[str, Document]) -> list[str]:
    """The direct answer to "is this backed by a source?": what each quoted sentence's own
    evidence is, in the document's terms, before the quotes themselves."""
    lines: list[str] = []
    for doc_id in dict.fromkeys(q.document_id for q in quotes):
        doc = documents.get(doc_id)
        if doc is None:
            continue
        shape = profile(doc)
        mine = [(i, q) for i, q in enumerate(quotes, start=1) if q.document_id == doc_id]
        if not shape.apparatus:
            lines.append(
                f"The {shape.noun} cites no sources at all: it has no footnotes and no source "
                "list, so none of what it says is backed by a cited source."
            )
            continue
        cited = [
            f"[{i}] cites footnote{'s' if len(q.footnotes) > 1 else ''} "
            + ", ".join(map(str, q.footnotes))
            for i, q in mine
            if q.footnotes and q.section != "comment"
        ]
        bare = [f"[{i}]" for i, q in mine if not q.footnotes and q.section == "body"]
        comments = [f"[{i}]" for i, q in mine if q.section == "comment"]
        entries = [
            f"[{i}] is note {note.number} of the {shape.noun}'s source list"
            for i, q in mine
            if q.section == "note" and (note := doc.note_at(q.start)) is not None
        ]
        said = [*cited, *entries]
        if bare:
            them = "it" if len(bare) == 1 else "them"
            said.append(
                f"{_joined(bare)} {'has' if len(bare) == 1 else 'have'} no footnote: the "
                f"{shape.noun} gives no source for {them}"
            )
        if comments:
            what = "is a reader comment" if len(comments) == 1 else "are reader comments"
            said.append(f"{_joined(comments)} {what}, which cite nothing")
        if said:
            lines.append("Sources: " + "; ".join(said) + ".")
    return lines


def _evidence_for(
    quote: Quote, document: Document, evidence: dict[str, SentenceEvidence]
) -> SentenceEvidence | None:
    for s in document.sentence_at(quote.start, quote.end):
        return evidence.get(s.id)
    return None


def backend_text(answer: Answer) -> str:
    """Which backend answered, with the LLM's output mode when there was one."""
    if answer.output_mode:
        return f"{answer.backend} ({answer.output_mode} output)"
    return answer.backend


def to_terminal(answer: Answer, documents: Mapping[str, Document] | None = None) -> str:
    """Readable plain text for the CLI (and the page's copy button); ``documents`` (by id)
    name each quote's section as its document calls it ("article body")."""
    documents = documents or {}
    lines = [answer.text, ""]
    if answer.quotes:
        lines.append("Quotes:")
        for i, q in enumerate(answer.quotes, start=1):
            fn = f", footnotes {', '.join(map(str, q.footnotes))}" if q.footnotes else ""
            doc = f"“{q.document_title}”, " if answer.corpus and q.document_title else ""
            lines.append(f"  [{i}] “{q.text}”")
            where = section_of(q, documents)
            lines.append(f"      ({doc}{where}, chars {q.start}-{q.end}{fn})")
    unsupported = answer.unsupported
    if unsupported:
        lines.append("")
        lines.append("Unsupported statements:")
        lines.extend(f"  - {c.text}" for c in unsupported)
    lines.append("")
    lines.append(f"status: {answer.status} · backend: {backend_text(answer)}")
    return "\n".join(lines)


def to_markdown(answer: Answer, documents: Mapping[str, Document] | None = None) -> str:
    """Chat rendering: answer text, then each quote as a block quote with section, footnotes
    and offsets.  A quote the answer already shows word for word is not shown twice."""
    documents = documents or {}
    body = answer.text.replace("[unsupported]", "**[unsupported]**")
    out = [body]
    if answer.quotes:
        out.append("")
        for i, q in enumerate(answer.quotes, start=1):
            fn = f" · footnote {', '.join(map(str, q.footnotes))}" if q.footnotes else ""
            where = f"*{section_of(q, documents)}*{fn} · characters {q.start}–{q.end}"
            if q.text in answer.text:
                out.append(f"> **[{i}]** {where}\n")
            else:
                quoted = q.text.replace("\n", " ")
                out.append(f"> **[{i}]** {quoted}\n>\n> — {where}\n")
    out.append(f"<sub>{answer.status} · {backend_text(answer)}</sub>")
    return "\n".join(out)
