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
from collections import OrderedDict
from dataclasses import dataclass

from index.document import Document, Sentence
from index.lexicon import HEDGES

STATUSES = ("cited", "uncited", "hedged", "quoted")

_QUOTED = re.compile(r"“[^”]*”|\"[^\"]*\"")


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
