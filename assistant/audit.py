"""What the document itself leaves unsupported: an evidence status for every sentence.

``cited``   carries footnote markers (the source list may or may not be included);
``uncited`` the author asserts it bare;
``hedged``  the text signals its own weak sourcing ("some reports", "plausible claims say");
``quoted``  mostly someone else's words inside quotation marks.
Precedence when several apply: quoted > hedged > cited > uncited; the footnotes and hedge
words are kept either way, so answers can say both.
"""

from __future__ import annotations

import re
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass

from index.document import Document, Sentence
from index.lexicon import HEDGES

STATUSES = ("cited", "uncited", "hedged", "quoted")
#: Sections whose sentences assert something (the claims map counts these); a title,
#: dateline, heading or photo alt text labels the document rather than claiming anything.
ASSERTING = frozenset({"body", "caption", "comment"})

#: Opening quotation marks: a passage that starts with one is already a quotation.
OPENING_QUOTES = '“"‘«„'
_QUOTED = re.compile(r"“[^”]*”|\"[^\"]*\"")
#: The author speaking as "I" (outside quotation marks).
_FIRST_PERSON = re.compile(r"\b(?:I|I['’](?:m|ve|d|ll)|me|my|mine|myself)\b")
#: A transcript's speaker turn ("Q:", "A (Holloway):", "Chair:"): the voices are speakers'.
_TURN = re.compile(r"^\s*((?:Q|A|[A-Z][\w.]*(?: [A-Z][\w.]*)?)\s*(?:\([^)]{1,40}\))?)\s*:\s")
#: A heading that opens a source list.
_SOURCES_HEADING = re.compile(
    r"^\s*(?:references|sources|notes|footnotes|bibliography|works cited|citations)\s*:?\s*$",
    re.IGNORECASE,
)
#: A question about sourcing: "is X backed by a source?", "what evidence does it give?",
#: "is that cited?" - answered from the evidence status of the sentences quoted.
_SOURCING = re.compile(
    r"\b(?:sourced?|sources|cit(?:e|es|ed|ing|ation)s?|footnot\w*|referenc\w*|backed"
    r"|evidence|proof|substantiat\w*|support(?:ed|s)? by)\b",
    re.IGNORECASE,
)
#: Share of body sentences in the first person that makes a document author-voiced
#: (on the reading set: authored pieces 0.12-0.33, news, FAQs and entries up to 0.10).
FIRST_PERSON_SHARE = 0.11


@dataclass(frozen=True)
class Profile:
    """How a document speaks, which decides how its quotes are framed.

    ``voice``: an author's voice, so quotes are the author's assertions ("The author
    writes"); otherwise the document speaks for itself ("The document says").
    ``apparatus``: footnote markers or a source list, so each quote's evidence status is
    stated ("cites footnote 4", "gives no source"); otherwise no per-quote source notes,
    since a document that cites nothing cannot leave one claim less sourced than another.
    """

    voice: bool
    apparatus: bool

    @property
    def noun(self) -> str:
        """What the document is called in answers: an authored piece is an article."""
        return "article" if self.voice else "document"


def profile(document: Document) -> Profile:
    """The document's voice and citation apparatus (computed once per document content)."""
    with _cache_lock:
        found = _profiles.get(document.id)
    if found is None:
        found = _profile(document)
        with _cache_lock:
            _profiles[document.id] = found
            while len(_profiles) > _CACHE_SIZE:
                _profiles.popitem(last=False)
    return found


def _profile(document: Document) -> Profile:
    """The document's voice and citation apparatus, from its text alone.

    Measured on the reading set's 101 train and dev documents, whose writers labelled
    both (see ``tests/test_audit_profile.py``).
    """
    cited = {n for s in document.sentences for n in s.footnotes}
    listed = bool(document.footnotes) or any(
        s.section == "heading" and _SOURCES_HEADING.match(s.text) for s in document.sentences
    )
    apparatus = len(cited) >= 2 or listed
    body = [s.text for s in document.sentences if s.section == "body"]
    # a transcript: two or more speakers who each take the floor more than once
    speakers = Counter(m.group(1) for m in map(_TURN.match, body) if m)
    transcript = sum(n >= 2 for n in speakers.values()) >= 2
    first = sum(bool(_FIRST_PERSON.search(_QUOTED.sub("", text))) for text in body)
    voiced = not transcript and first >= FIRST_PERSON_SHARE * max(1, len(body))
    return Profile(voice=voiced or len(cited) >= 2, apparatus=apparatus)


@dataclass(frozen=True)
class SentenceEvidence:
    """The audit verdict for one sentence."""

    sentence: Sentence
    status: str
    footnotes: tuple[int, ...]
    hedges: tuple[str, ...]
    quoted_share: float

    def to_dict(self) -> dict:
        s = self.sentence
        return {
            "id": s.id,
            "text": s.text,
            "start": s.start,
            "end": s.end,
            "section": s.section,
            "status": self.status,
            "footnotes": list(self.footnotes),
            "hedges": list(self.hedges),
        }


def asks_about_sourcing(question: str) -> bool:
    """Whether a question asks how something is sourced, not only what the document says."""
    return bool(_SOURCING.search(question))


def classify(sentence: Sentence) -> SentenceEvidence:
    text = sentence.text
    hedges = tuple(dict.fromkeys(m.group(0) for m in HEDGES.finditer(text)))
    quoted_chars = sum(len(m.group(0)) for m in _QUOTED.finditer(text))
    share = quoted_chars / max(1, len(text))
    if share >= 0.5 and len(text) > 40 and sentence.section in {"body", "comment", "caption"}:
        status = "quoted"
    elif hedges:
        status = "hedged"
    elif sentence.footnotes:
        status = "cited"
    else:
        status = "uncited"
    return SentenceEvidence(sentence, status, sentence.footnotes, hedges, round(share, 3))


def audit(document: Document) -> list[SentenceEvidence]:
    """Evidence status for every sentence of the document, in document order."""
    return [classify(s) for s in document.sentences]


_cache: OrderedDict[str, dict[str, SentenceEvidence]] = OrderedDict()
_profiles: OrderedDict[str, Profile] = OrderedDict()
_cache_lock = threading.Lock()
_CACHE_SIZE = 512


def evidence_of(document: Document) -> dict[str, SentenceEvidence]:
    """The audit of a document by sentence id, computed once per document content (the
    answerer frames quotes with it, the verifier and the page label them with it)."""
    with _cache_lock:
        found = _cache.get(document.id)
        if found is not None:
            _cache.move_to_end(document.id)
            return found
    found = {e.sentence.id: e for e in audit(document)}
    with _cache_lock:
        _cache[document.id] = found
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return found
