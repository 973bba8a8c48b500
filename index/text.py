"""Text normalisation and tokenisation shared by BM25, retrieval and the verifier.

Typography must never decide a match: curly and straight quotes, dashes, the no-break
space and case all fold to one form here.
"""

from __future__ import annotations

import re
from functools import lru_cache

import Stemmer

_FOLD = str.maketrans(
    {
        "“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "‘": "'", "’": "'", "‚": "'",
        "′": "'", "–": "-", "—": "-", "‒": "-", "−": "-", "\u00a0": " ", "\u2009": " ",
        "\u202f": " ", "\u200b": "", "…": "...",
    }
)  # fmt: skip

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are aren't as at be because been
    before being below between both but by can could did do does doing down during each few for
    from further had has have having he her here hers herself him himself his how i if in into is
    it its itself just let me more most my myself no nor not of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    s t don't doesn't didn't isn't wasn't weren't won't can't cannot also i.e e.g tell please
    according say says said does did""".split()
)

_TOKEN = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)*%?|\$")
_stemmer = Stemmer.Stemmer("english")


def fold(text: str) -> str:
    """Typographic folding only (keeps case and length-independent meaning)."""
    return text.translate(_FOLD)


def normalise(text: str) -> str:
    """Fold typography, lowercase, collapse whitespace."""
    return " ".join(fold(text).lower().split())


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    return _stemmer.stemWord(word)


def words(text: str) -> list[str]:
    """Lowercased word tokens with hyphens split ("Alma-Ata" -> alma, ata); numbers kept whole."""
    return _TOKEN.findall(normalise(text).replace("$", " $ "))


def content_terms(text: str) -> list[str]:
    """Stemmed tokens without stopwords: what BM25 indexes and the verifier compares."""
    return [stem(w) for w in words(text) if w not in STOPWORDS and w != "$"]
