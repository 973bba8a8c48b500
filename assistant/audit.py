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
from dataclasses import dataclass

from index.document import Document, Sentence

STATUSES = ("cited", "uncited", "hedged", "quoted")

_HEDGES = re.compile(
    r"\b(?:there are (?:some )?(?:reports|estimates|claims|suggestions|indications)"
    r"|some (?:reports?|estimates?|claims?|sources?|observers|analysts|commentators)"
    r"|(?:with )?some placing|plausible claims?"
    r"|(?:it is|it's) (?:said|claimed|alleged|reported|rumou?red)"
    r"|reportedly|allegedly|purportedly|supposedly|rumou?rs?|unconfirmed|unverified"
    r"|(?:is|are|was|were) (?:said|believed|thought|rumou?red) to"
    r"|appeared to|seems? to|may have|might have|could have|possibly|perhaps"
    r"|according to (?:some|unnamed|anonymous)|some say|many believe)\b",
    re.IGNORECASE,
)
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
    hedges = tuple(dict.fromkeys(m.group(0) for m in _HEDGES.finditer(text)))
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
