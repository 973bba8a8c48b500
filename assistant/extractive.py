"""The offline answerer: picks the documents' own sentences and frames them, no LLM needed.

Questions about footnote N are answered from the document's structure.  Otherwise it
abstains when the question names something (or a year) the document never mentions, asks
for a figure, date or duration no close passage gives ("how many X": a figure counting X),
asks for "the X of Y" where no passage speaks of both, or when no passage is close in
wording or meaning (thresholds calibrated on tests/data/questions_train.jsonl).  It then
quotes the best passage plus close runners-up that add asked-for terms, keeps a quotation
with the sentence introducing it and a sentence with the one it points back to, and frames
each quote by where it stands (author, quoted speaker, reader comment, caption...).

Each candidate document is answered from on its own (``DocumentAnswerer``); the best one
answers, and others join when their best passage is nearly as good, each claim naming the
document it quotes.  Reasons are codes (``Reason``); ``present`` words them.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from assistant.answerers import Answerer, register
from assistant.audit import (
    OPENING_QUOTES,
    SentenceEvidence,
    asks_about_sourcing,
    evidence_of,
    profile,
)
from assistant.reader import Reader
from assistant.retrieve import Retrieval
from assistant.types import Draft, DraftClaim, Reason
from index.document import Document, Passage
from index.lexicon import AMOUNT_WORD, HAS_FIGURE, YEAR_RE, numbers_in
from index.search import Hit
from index.sentences import strip_footnote_markers
from index.settings import AnsweringSettings, Settings
from index.text import STOPWORDS, stem, words

# What kind of answer the question asks for, and how to see it in a passage.
_ASKS_COUNT = re.compile(
    r"\b(how (?:many|much)|what (?:number|percentage|share|proportion|amount|sum|figure|fraction)"
    r"|how (?:large|big) (?:a |is |was |were )?(?:the )?(?:number|sum|share|amount))\b",
    re.I,
)
_MULTI_PART = re.compile(
    r"(?:,|\band\b|;)\s*(?:and\s+)?(?:which|what|how|who|whom|when|where|why|does|did|is|are)\b"
    r"|\?.+\?",
    re.I,
)
_ENUMERATION = re.compile(r"(?:[A-Z][\w-]+,\s+){2,}[A-Z][\w-]+,?\s+and\s+[A-Z]")
_COLLECTIVES = {
    stem(w)
    for w in "countries nations states members cities towns regions organisations organizations "
    "groups parties republics allies".split()
}
# "What is the capital of Ruritania?": both sides of the relation must meet in one passage.
_RELATION = re.compile(
    r"\b(?i:what (?:is|was|are|were) the )([a-z][\w-]*) of "
    r"((?:the )?[A-Z][\w-]*(?:\s+[A-Z][\w-]*)*)"
)
# A sentence that opens by pointing back ("Yet this was…", "On the contrary, this…") needs
# the sentence before it; an expletive "it is clear that…" points nowhere, and "that" is
# mostly a conjunction.
_LEANS_BACK = re.compile(
    r"^(?:\W*\w+\W+){0,5}?(?:this|these|those|they|such|it(?!\s+(?:is|was)\s+\w+\s+"
    r"(?:that|to)\b))\b",
    re.I,
)
_HOW_MANY = re.compile(r"\bhow many\s+((?:[\w-]+\s+){0,2}[\w-]+)", re.I)
_ASKS_DATE = re.compile(
    r"^(?:when)\b|\b(?:what|which) (?:year|date|day|month)\b|\bon what date\b|\bsince when\b", re.I
)
_ASKS_DURATION = re.compile(r"\b(?:for )?how long\b|\bwhat (?:period|duration)\b", re.I)


class _HasCount:
    """A figure, or a list of names one can count."""

    @staticmethod
    def search(text: str) -> bool:
        return bool(HAS_FIGURE.search(text) or _ENUMERATION.search(text))


_HAS_COUNT = _HasCount()
_HAS_DATE = re.compile(
    r"\b(?:1[6-9]\d\d|20\d\d)\b|\b\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}\b|\b(?:January|February|March|"
    r"April|May|June|July|August|September|October|November|December)\b|\b(?:ago|yesterday|today)\b"
    r"|\b(?:spring|summer|autumn|winter)\b"
)
_HAS_DURATION = re.compile(
    rf"(?:\d+|\b(?:{AMOUNT_WORD.pattern}))[\s-]*(?:second|minute|hour|day|week|month|year|decade)s?\b"
    r"|\bsince\b",
    re.I,
)
# "footnote 4", "note [4]", "source 4", "[4]": questions about the document's own apparatus.
_FOOTNOTE_REF = re.compile(
    r"\b(?:foot)?notes?\s*(?:number\s*|no\.?\s*)?\[?(\d{1,3})\]?|\[(\d{1,3})\]"
    r"|\b(?:source|reference|citation)\s+(?:number\s+|no\.?\s*)?\[?(\d{1,3})\]?",
    re.I,
)
_ASKS_SOURCE_CONTENT = re.compile(
    r"\b(?:who (?:wrote|published|authored|is behind)|author|title|publisher|published|written by|"
    r"what (?:does|did|do) (?:the )?(?:source|footnote|note|reference|citation)\b[^?]*\b(?:say|"
    r"state|show|contain|report)|what (?:is|was) (?:the )?(?:source|reference|citation)|url|link|"
    r"(?:source|footnote|reference)\S* (?:say|says|state|states|contain|report))",
    re.I,
)
_SECTION_HINTS = {
    "note": re.compile(
        r"\b(sources?|references?|citations?|cited|bibliograph\w*|(?:foot|end)notes?)\b", re.I
    ),
    "comment": re.compile(r"\b(comment\w*|reader\w*|thoughts?|repl(?:y|ies)|respon\w+)\b", re.I),
    "comments_heading": re.compile(
        r"\b(comments?|thoughts|how many (?:comments|thoughts))\b", re.I
    ),
    "caption": re.compile(r"\b(caption|photo\w*|picture|image|pictured)\b", re.I),
    "alt": re.compile(r"\b(alt(?:ernative)? text|photo|picture|image)\b", re.I),
    "title": re.compile(r"\b(title|headline|called|named)\b", re.I),
    "dateline": re.compile(
        r"\b(dated?|dateline|published|written on|when was (?:it|the article))\b", re.I
    ),
    "heading": re.compile(r"\b(heading|section|subtitle|subheading)s?\b", re.I),
}
#: How a quote of each kind of passage is introduced; ``{noun}`` is what the document is
#: called ("article" for an authored piece, else "document": see ``audit.profile``).
_PREFIX = {
    "title": "The {noun}'s title reads",
    "alt": "The photo's alt text reads",
    "caption": "The photo caption says",
    "dateline": "The {noun} is dated",
    "heading": "A section heading of the {noun} reads",
    "comments_heading": "The comment section's heading reads",
    "comment": "A reader's comment says",
    # (which note it is goes in the quote's sourcing: a number in the claim's own words
    # would be a figure its quote lacks)
    "note": "The {noun}'s source list reads",
}

#: At most this many source-list entries are added to a sourcing question's answer.
MAX_ENTRIES = 2


@dataclass
class Scored:
    hit: Hit
    coverage: float
    score: float


class DocumentAnswerer:
    """Composes one document's answer from its verbatim sentences; deterministic and fast."""

    name = "extractive"

    def __init__(
        self,
        document: Document,
        evidence: dict[str, SentenceEvidence],
        settings: AnsweringSettings | None = None,
        reader: Reader | None = None,
    ) -> None:
        self.document = document
        self.evidence = evidence
        self.settings = settings or AnsweringSettings()
        self.reader = reader

    def score(self, retrieval: Retrieval) -> list[Scored]:
        question = retrieval.question
        asks_number = any(rx.search(question) for rx in (_ASKS_COUNT, _ASKS_DURATION, _ASKS_DATE))
        hinted = {sec for sec, rx in _SECTION_HINTS.items() if rx.search(question)}
        scored = []
        for hit in retrieval.hits:
            p = hit.passage
            cov = retrieval.coverage[p.id]
            s = 0.5 * hit.dense + 0.5 * cov
            if asks_number and retrieval.numbers[p.id]:
                s += 0.05
            if p.section in hinted:
                s += 0.15
            elif p.section in {"title", "alt", "heading", "comments_heading"} and not hinted:
                s -= 0.15  # labels rarely answer a question better than prose does
            if retrieval.question_numbers and retrieval.question_numbers & retrieval.numbers[p.id]:
                s += 0.05
            scored.append(Scored(hit, cov, s))
        scored.sort(key=lambda x: -x.score)
        return scored

    def answerable(self, retrieval: Retrieval, best: Scored) -> Reason | None:
        """Abstain on a name the document lacks, or when no passage is close in either
        wording or meaning; None when it may answer."""
        missing = retrieval.missing_entities
        only_years = all(t.kind == "number" for t in missing)
        if missing and not (only_years and self._dated_match(retrieval, best)):
            return Reason("names_missing", tuple(t.word for t in missing))
        if not retrieval.terms:
            return None if best.hit.dense >= self.settings.dense_alone else Reason("no_content")
        s = self.settings
        if best.coverage < s.min_coverage and best.hit.dense < s.min_dense:
            return Reason("no_passage")
        return None

    def draft(self, retrieval: Retrieval, premise_check: bool = True) -> Draft:
        """``premise_check``: name asked-for figures and names the quotes lack.  Off for a
        message that tried to give orders: its "premise" is the attacker's, not a belief to
        correct, and it is not repeated back."""
        if self.reader is not None and self.settings.method == "gated":
            return self._gated(retrieval, premise_check)
        if self.reader is not None:
            return self._read(retrieval, premise_check)
        return self._by_rules(retrieval, premise_check, self._footnote_question(retrieval.question))

    def _gated(self, retrieval: Retrieval, premise_check: bool) -> Draft:
        """The rules choose what to quote; the reader can only stop them: when no
        retrieved passage reaches ``gate_floor``, the document does not say."""
        footnote = self._footnote_question(retrieval.question)
        ruled = self._by_rules(retrieval, premise_check, footnote)
        if footnote is not None or ruled.status != "answered" or not retrieval.hits:
            return ruled  # (a footnote question is answered from the document's structure)
        quoted = {q for c in ruled.claims for q in c.quotes}
        if any(h.passage.section in UNGATED and h.passage.text in quoted for h in retrieval.hits):
            return ruled  # the reader was trained on prose, not on a title or a caption
        passes, top = self.reader.best_reaches(
            retrieval.question,
            [h.passage for h in retrieval.hits],
            self.document,
            self.settings.gate_floor,
        )
        if not passes:
            return Draft(
                "not_in_document", [], self.name, reason=Reason("no_passage"), confidence=top
            )
        return ruled

    def _by_rules(
        self, retrieval: Retrieval, premise_check: bool, footnote_draft: Draft | None
    ) -> Draft:
        """The hand-written way: scores from retrieval, then each rule in turn
        (``footnote_draft``: ``_footnote_question``'s answer, asked by the caller)."""
        scored = self.score(retrieval)
        top = scored[0].score if scored else 0.0
        if footnote_draft is not None:
            footnote_draft.confidence = top
            return footnote_draft
        if not scored:
            return Draft("not_in_document", [], self.name, reason=Reason("empty"))
        scored, why = self._typed(retrieval, scored)
        if not scored:
            return Draft("not_in_document", [], self.name, reason=why, confidence=top)
        best = scored[0]
        why = self.answerable(retrieval, best) or self._relation_unmet(retrieval, scored)
        if why is not None:
            return Draft("not_in_document", [], self.name, reason=why, confidence=top)
        chosen = self._select(retrieval, scored)
        chosen = self._with_entries(retrieval.question, self._with_speaker(chosen))
        claims = [
            DraftClaim(self._frame(p), [p.text], document_id=self.document.id) for p in chosen
        ]
        note = self._premise_note(retrieval, chosen) if premise_check else None
        return Draft("answered", claims, self.name, reason=note, confidence=top)

    # -- the reader's way ------------------------------------------------------------------

    def _read(self, retrieval: Retrieval, premise_check: bool) -> Draft:
        """The reader scores each retrieved passage (does it answer the question?); the
        best answers when it clears the threshold, with runners-up close to it.  The rules
        still switched on in the settings run first, each able only to abstain (or, for
        footnote questions, to answer from the document's structure)."""
        s = self.settings
        question = retrieval.question
        if s.rule_footnotes:
            footnote_draft = self._footnote_question(question)
            if footnote_draft is not None:  # the document's structure answers it
                footnote_draft.confidence = float(footnote_draft.status == "answered")
                return footnote_draft
        hits = retrieval.hits[: s.reader_candidates]
        if not hits:
            return Draft("not_in_document", [], self.name, reason=Reason("empty"))
        probs = self.reader.answers(question, [h.passage for h in hits], self.document)
        order = sorted(range(len(hits)), key=lambda i: (-probs[i], hits[i].passage.start))
        read = [(hits[i], float(probs[i])) for i in order]
        top = read[0][1]
        why = self._ruled_out(retrieval, read)
        if why is not None:
            return Draft("not_in_document", [], self.name, reason=why, confidence=top)
        threshold = self.answer_threshold
        if top < threshold:
            return Draft(
                "not_in_document", [], self.name, reason=Reason("no_passage"), confidence=top
            )
        floor = max(threshold, s.reader_runner_up * top)
        picked = [(h.passage, p) for h, p in read if p >= floor][: s.max_quotes]
        confidence = {p.index: c for p, c in picked}
        chosen = self._with_speaker(sorted((p for p, _ in picked), key=lambda p: p.start))
        chosen = self._with_entries(question, chosen)
        claims = [
            DraftClaim(
                self._frame(p),
                [p.text],
                document_id=self.document.id,
                confidence=confidence.get(p.index),
            )
            for p in chosen
        ]
        note = self._premise_note(retrieval, chosen) if premise_check else None
        return Draft("answered", claims, self.name, reason=note, confidence=top)

    @property
    def answer_threshold(self) -> float:
        configured = self.settings.answer_threshold
        return self.reader.card.answer_threshold if configured is None else configured

    def _ruled_out(self, retrieval: Retrieval, read: list[tuple[Hit, float]]) -> Reason | None:
        """The rules kept beside the reader, in the order the rules answerer applies them."""
        s = self.settings
        scored = [Scored(h, retrieval.coverage[h.passage.id], p) for h, p in read]
        if s.rule_typed:
            typed, why = self._typed(retrieval, scored)
            if not typed:
                return why
        if s.rule_missing_names:
            missing = retrieval.missing_entities
            only_years = all(t.kind == "number" for t in missing)
            if missing and not (only_years and self._dated_match(retrieval, scored[0])):
                return Reason("names_missing", tuple(t.word for t in missing))
        if s.rule_relation:
            return self._relation_unmet(retrieval, scored)
        return None

    def _typed(
        self, retrieval: Retrieval, scored: list[Scored]
    ) -> tuple[list[Scored], Reason | None]:
        """A question asking for a figure, a date or a duration needs a passage that has one
        (for "how many X", a figure that counts X); when the close passages have none, the
        document does not give it."""
        question = retrieval.question
        counted = self._counted(retrieval)
        for asks, has, what in (
            (_ASKS_COUNT, _HAS_COUNT, "figure"),
            (_ASKS_DURATION, _HAS_DURATION, "duration"),
            (_ASKS_DATE, _HAS_DATE, "date"),
        ):
            if asks.search(question):
                top = scored[0].score
                typed = [
                    s for s in scored if has.search(strip_footnote_markers(s.hit.passage.text))
                ]
                if what == "figure" and counted:
                    typed = [s for s in typed if self._counts(s.hit.passage, counted)]
                typed = [s for s in typed if s.score >= self.settings.typed_min * top]
                if not typed:
                    return [], Reason("no_typed", (what,))
                return typed, None
        return scored, None

    @staticmethod
    def _dated_match(retrieval: Retrieval, best: Scored) -> bool:
        """A wrong year in a question the document otherwise answers, with a year of its own
        ("Why did X start in 2005?" when it says 1995), is a premise to correct."""
        return best.coverage >= 0.5 and bool(YEAR_RE.search(best.hit.passage.text))

    def _relation_unmet(self, retrieval: Retrieval, scored: list[Scored]) -> Reason | None:
        """For "what is the X of Y", some close passage must speak of X and Y together."""
        m = _RELATION.search(retrieval.question)
        if not m:
            return None
        relation, owner = stem(m.group(1)), [stem(w) for w in words(m.group(2)) if w != "the"]
        wanted = [t for t in retrieval.terms if t.stem == relation or t.stem in owner]
        if len(wanted) < 2:
            return None
        for s in scored[:5]:
            if all(retrieval.covers(t, s.hit.passage) for t in wanted):
                return None
        return Reason("relation_missing", (m.group(1), m.group(2)))

    @staticmethod
    def _counted(retrieval: Retrieval) -> set[str]:
        """Stems (and close synonyms) of what a "how many X" question counts."""
        nouns: set[str] = set()
        for m in _HOW_MANY.finditer(retrieval.question):
            nouns |= {stem(w) for w in words(m.group(1)) if w not in STOPWORDS}
        out = set(nouns)
        for t in retrieval.terms:
            if t.stem in nouns:
                out |= {st for st, sim in t.synonyms if sim >= 0.6}
        return out

    @staticmethod
    def _counts(passage: Passage, counted: set[str]) -> bool:
        """Is there a figure next to what is counted, or a list of names one can count?"""
        text = strip_footnote_markers(passage.text)
        if _ENUMERATION.search(text) and counted & _COLLECTIVES:
            return True  # "how many countries…" is answered by a list of countries
        tokens = words(YEAR_RE.sub(" ", text))
        numbers = [i for i, w in enumerate(tokens) if w[0].isdigit() or AMOUNT_WORD.fullmatch(w)]
        nouns = [i for i, w in enumerate(tokens) if stem(w) in counted]
        return any(abs(i - j) <= 6 for i in numbers for j in nouns)

    def _footnote_question(self, question: str) -> Draft | None:
        """Questions about footnote N are answered from the document's structure: the
        sentences citing N, and what the document does (not) include of its source."""
        numbers = {int(g) for m in _FOOTNOTE_REF.finditer(question) for g in m.groups() if g}
        if not numbers:
            return None
        doc = self.document
        cited = [s for s in doc.sentences if set(s.footnotes) & numbers]
        entries = doc.entries(numbers)
        listed = tuple(str(n) for n in sorted(numbers))
        if not cited and not entries:
            return Draft("not_in_document", [], self.name, reason=Reason("no_footnote", listed))
        reason = None
        asks_source = bool(_ASKS_SOURCE_CONTENT.search(question))
        if asks_source:
            missing = [n for n in sorted(numbers) if doc.footnote(n).text is None]
            if missing:
                reason = Reason("footnote_source_missing", tuple(str(n) for n in missing))
        # the entry itself first when the question asks what the source is
        chosen = [*entries, *cited] if asks_source else [*cited, *entries]
        claims = [
            DraftClaim(self._frame(p), [p.text], document_id=doc.id)
            for p in chosen[: self.settings.max_quotes]
        ]
        return Draft("answered", claims, self.name, reason=reason)

    def _select(self, retrieval: Retrieval, scored: list[Scored]) -> list[Passage]:
        """The best passage, plus runners-up that cover asked-for terms it lacks; a question
        in several parts ("which X, and which Y?") looks further down the list."""
        best = scored[0]
        chosen = [best.hit.passage]
        covered = self._covered(retrieval, best.hit.passage)
        several = len(_MULTI_PART.findall(retrieval.question)) > 0
        s = self.settings
        floor = (s.runner_up_multi if several else s.runner_up) * best.score
        for cand in scored[1:]:
            if len(chosen) >= s.max_quotes or cand.score < floor:
                break
            new = self._covered(retrieval, cand.hit.passage) - covered
            if new and cand.coverage >= s.runner_up_coverage:
                chosen.append(cand.hit.passage)
                covered |= new
        return sorted(chosen, key=lambda p: p.start)

    @staticmethod
    def _covered(retrieval: Retrieval, passage: Passage) -> set[str]:
        return {t.stem for t in retrieval.terms if retrieval.covers(t, passage)}

    def _with_speaker(self, chosen: list[Passage]) -> list[Passage]:
        """A quotation and the sentence that introduces it travel together, either way round."""
        sentences = self.document.sentences
        out: list[Passage] = list(chosen)
        for p in chosen:
            ev = self.evidence.get(p.id)
            if ev and ev.status == "quoted" and p.index > 0:
                prev = sentences[p.index - 1]
                if prev.block_index == p.block_index:
                    out.append(prev)
            if p.index > 0 and _LEANS_BACK.match(p.text) and p.section == "body":
                prev = sentences[p.index - 1]  # "this", "they"... need what they refer to
                if prev.block_index == p.block_index:
                    out.append(prev)
            if p.index + 1 < len(sentences):
                nxt = sentences[p.index + 1]
                nev = self.evidence.get(nxt.id)
                if nxt.block_index == p.block_index and nev and nev.status == "quoted":
                    out.append(nxt)
        return sorted(dict.fromkeys(out), key=lambda p: p.start)

    def _with_entries(self, question: str, chosen: list[Passage]) -> list[Passage]:
        """A question about sourcing ("which report does the column cite for…?") is
        answered by the source list too: the entries of the footnotes the chosen passages
        cite are quoted after them (part of the footnotes rule)."""
        if not self.settings.rule_footnotes or not asks_about_sourcing(question):
            return chosen
        cited = {n for p in chosen for n in p.footnotes}
        entries = [s for s in self.document.entries(cited) if s not in chosen]
        return [*chosen, *entries[:MAX_ENTRIES]]

    def _frame(self, p: Passage) -> str:
        """The passage, introduced by who says it: the author where the document has an
        author's voice, else the document itself; a quotation is not quoted twice."""
        ev = self.evidence.get(p.id)
        shape = profile(self.document)
        if p.section in _PREFIX:
            prefix = _PREFIX[p.section].format(noun=shape.noun)
        elif ev and ev.status == "quoted":
            prefix = f"The {shape.noun} quotes"
        else:
            prefix = "The author writes" if shape.voice else "The document says"
        if p.text[:1] in OPENING_QUOTES:
            return f"{prefix}: {p.text}"
        return f"{prefix}: “{p.text}”"

    def _premise_note(self, retrieval: Retrieval, chosen: list[Passage]) -> Reason | None:
        """Name asked-for numbers and names the quoted passages do not contain."""
        text = " ".join(p.text for p in chosen)
        nums = numbers_in(text)
        lacking = [t.word for t in retrieval.terms if t.kind == "number" and t.stem not in nums]
        lacking = [w for w in lacking if w.strip()]
        low = text.lower()
        lacking += [
            t.word
            for t in retrieval.terms
            if t.kind == "entity"
            and t.in_document
            and t.word.lower() not in low
            and re.sub(r"[^a-z]", "", t.word.lower()) not in re.sub(r"[^a-z]", "", low)
        ]
        return Reason("premise", tuple(lacking)) if lacking else None


#: Passages the gate does not judge: labels, not prose (the reader scores the article's
#: own title 0.03 for "What is the title of the article?").
UNGATED = frozenset({"title", "heading", "caption", "alt"})


@register("extractive")
class ExtractiveAnswerer(Answerer):
    """The offline answerer: each candidate document is answered from on its own; the best
    one answers, and others join when their best passage is nearly as good, each claim
    naming the document it quotes."""

    name = "extractive"
    label = "offline (extractive, no language model)"

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = (settings or Settings()).answering
        self._documents: OrderedDict[str, DocumentAnswerer] = OrderedDict()
        self._cache_size = (settings or Settings()).index.document_cache
        self._lock = threading.Lock()
        #: the trained reader, unless the settings ask for the hand-written rules
        self.reader = (
            Reader(self.settings.reader_model)
            if self.settings.method in {"reader", "gated"}
            else None
        )

    def answer(
        self, question: str, retrieval: Retrieval, history: Sequence[dict] = ()
    ) -> Iterator[str | Draft]:
        yield self.draft(retrieval)

    def for_document(self, document: Document) -> DocumentAnswerer:
        """The answerer of one document (kept for the documents recently asked about)."""
        with self._lock:
            found = self._documents.get(document.id)
            if found is None:
                found = DocumentAnswerer(
                    document, evidence_of(document), self.settings, self.reader
                )
                self._documents[document.id] = found
                while len(self._documents) > self._cache_size:
                    self._documents.popitem(last=False)
            else:
                self._documents.move_to_end(document.id)
            return found

    def draft(self, retrieval: Retrieval) -> Draft:
        """``retrieval.per_document``: each candidate document's own retrieval, best first."""
        premise_check = not retrieval.instructions
        # Over several documents, a name none of them mentions is said once, of them all
        # (with one document, its own check below says it, spelling variants included).
        missing = [t for t in retrieval.missing_entities if t.kind == "entity"]
        if missing and retrieval.documents > 1:
            names = tuple(t.word for t in missing)
            return Draft(
                "not_in_document", [], self.name, reason=Reason("names_missing", names, "all")
            )
        candidates: list[tuple[Draft, float]] = []
        for own in retrieval.per_document[: self.settings.max_documents]:
            if not own.hits or own.document is None:
                continue
            draft = self.for_document(own.document).draft(own, premise_check=premise_check)
            candidates.append((draft, draft.confidence or 0.0))
        answered = [c for c in candidates if c[0].status == "answered"]
        if not answered:
            reasons = {draft.reason for draft, _ in candidates}
            if not candidates:
                reason = Reason("empty")
            elif len(reasons) == 1:  # every document gives the same reason: say it of them
                reason = reasons.pop() or Reason("no_passage")
                if retrieval.documents > 1:
                    reason = reason.within("closest")
            else:
                reason = Reason("no_passage", scope="closest")
            return Draft("not_in_document", [], self.name, reason=reason)
        best = max(score for _, score in answered)
        # with the reader, scores are its probabilities: documents join as passages do
        reads = self.settings.method == "reader"
        share = self.settings.reader_runner_up if reads else self.settings.other_document
        floor = share * best
        chosen = sorted((c for c in answered if c[1] >= floor), key=lambda c: -c[1])
        claims = [claim for draft, _ in chosen for claim in draft.claims]
        return Draft("answered", claims, self.name, reason=chosen[0][0].reason)
