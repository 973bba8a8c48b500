"""Retrieve: analyse the question against the document's vocabulary, then search the index.

Question words the document never uses are mapped onto the document's own words by
embedding similarity ("hurt" -> "injured"); names and numbers are matched by spelling
only, since an embedding would happily call "Putin" close to "Russian".
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
from rapidfuzz import fuzz

from index.document import Passage
from index.store import Hit, HybridIndex, passage_view
from index.text import STOPWORDS, content_terms, fold, stem, words

#: Minimum cosine for a document word to stand in for a question word.
SYNONYM_MIN = 0.58

QUESTION_WORDS = frozenset(
    """what how who whom whose why when where which whether is are was were do does did can could
    should would will has have had tell explain describe give list name many much kind sort type
    exactly really actually anything something thing things mention mentioned mentions""".split()
)
#: Words that frame a question about the document rather than ask for content.
FRAMING = frozenset(
    """article author authors document text writer piece essay post blog page story say says
    said claim claims claimed state states stated assert asserts asserted argue argues argued
    write writes wrote written call calls called describe describes described suggest suggests
    view views opinion opinions stance position think thinks believe believes mean means
    regard regarding concerning happen happened happens talk talks discuss discusses source
    sources cite cites cited quote quotes quoted accord make makes made portray portrays
    characterise characterize characterises characterizes refer refers referred footnote
    footnotes""".split()
)
# "16 000", "16,000" and "3.5" are one number each; "December 16, 2021" holds two.
_YEAR = re.compile(r"1[5-9]\d\d|20\d\d")
_NUMBER = re.compile(r"\d{1,3}(?:[,\u00a0 ]\d{3})+(?!\d|,\d)(?:\.\d+)?|\d+(?:\.\d+)?")


def number_key(raw: str) -> str:
    """'16 000', '16,000' and '16000' are one number; '70%' and '70' too."""
    return re.sub(r"[^\d.]", "", raw).rstrip(".")


def numbers_in(text: str) -> set[str]:
    return {number_key(m.group(0)) for m in _NUMBER.finditer(fold(text))} - {""}


@dataclass
class Term:
    """One content word of the question and how the document covers it."""

    word: str
    stem: str
    kind: str  # word | entity | number
    idf: float
    in_document: bool
    synonyms: list[tuple[str, float]] = field(default_factory=list)  # (document stem, cosine)


@dataclass
class Retrieval:
    """Everything the answerer needs to decide, quote, or abstain."""

    question: str
    hits: list[Hit]
    terms: list[Term]
    coverage: dict[str, float]  # passage id -> idf-weighted share of terms it covers
    numbers: dict[str, set[str]]  # passage id -> numbers it contains
    stems: dict[str, set[str]]  # passage id -> its stemmed content terms
    question_numbers: set[str]

    def covers(self, term: Term, passage: Passage, min_similarity: float = 0.6) -> bool:
        """Does this passage contain the term, or a close synonym of it?"""
        if term.kind == "number":
            return term.stem in self.numbers[passage.id]
        stems = self.stems[passage.id]
        return term.stem in stems or any(
            st in stems for st, sim in term.synonyms if sim >= min_similarity
        )

    @property
    def missing_entities(self) -> list[Term]:
        """Names, and years, the document never mentions: a question about the 2020 election
        is not answered by a passage about the 2016 one.  (Other figures are premises to
        correct: "were 200 police injured?" gets the document's own figure.)"""
        return [
            t
            for t in self.terms
            if not t.in_document
            and (t.kind == "entity" or (t.kind == "number" and _YEAR.fullmatch(t.word)))
        ]


class Retriever:
    """Question analysis plus hybrid search over one document's index."""

    def __init__(self, index: HybridIndex) -> None:
        self.index = index
        self.document = index.document
        self.passages = index.passages
        self._stems = {p.id: set(content_terms(passage_view(p))) for p in self.passages}
        self._numbers = {p.id: numbers_in(p.text) for p in self.passages}
        n = len(self.passages)
        df: dict[str, int] = {}
        for stems in self._stems.values():
            for s in stems:
                df[s] = df.get(s, 0) + 1
        self._df = df
        self._n = n
        self._doc_numbers = set().union(*self._numbers.values()) if self._numbers else set()
        self._squashed = re.sub(r"[^a-z0-9]", "", fold(self.document.text).lower())
        vocab = index.vocabulary
        self._vocab_words = vocab.words if vocab else []
        self._word_vectors: dict[str, np.ndarray] = {}

    def idf(self, stem_: str) -> float:
        return math.log((self._n + 1) / (self._df.get(stem_, 0) + 0.5))

    # -- question analysis -------------------------------------------------------------------

    def _entity_in_document(self, surface: str) -> tuple[bool, list[str]]:
        """Spelling-level presence: 'Nursultan' ~ 'Nur-Sultan', 'Tokaev' ~ 'Tokayev'."""
        squashed = re.sub(r"[^a-z0-9]", "", surface.lower())
        if len(squashed) >= 3 and squashed in self._squashed:
            return True, []
        close = [
            stem(w)
            for w in self._vocab_words
            if abs(len(w) - len(squashed)) <= 3 and fuzz.ratio(w, squashed) >= 80
        ]
        return bool(close), close

    def analyse(self, question: str) -> tuple[list[Term], list[str]]:
        """Content terms of the question; returns terms and the words still needing synonyms."""
        folded = fold(question)
        capitalised = {
            m.group(0).lower()
            for m in re.finditer(r"(?<![.?!]\s)(?<!^)\b[A-Z][a-z][A-Za-z]*|\b[A-Z]{2,5}\b", folded)
        }
        terms: list[Term] = []
        seen: set[str] = set()
        # Numbers first and whole ("50 000" is one number, not 50 and 0).
        for m in _NUMBER.finditer(folded):
            key = number_key(m.group(0))
            if key and key not in seen:
                seen.add(key)
                terms.append(
                    # "1990s" keeps its "s": a decade, not a year
                    Term(
                        m.group(0) + folded[m.end() : m.end() + 1].rstrip().rstrip(".,;:?!'\")"),
                        key,
                        "number",
                        self.idf(key),
                        key in self._doc_numbers,
                    )
                )
        folded = _NUMBER.sub(" ", folded)
        surface = {w.lower(): w for w in re.findall(r"[A-Za-z][A-Za-z'-]*", folded)}
        for w in words(folded):
            if w in STOPWORDS or w in QUESTION_WORDS or w in FRAMING or w == "$" or len(w) < 2:
                continue
            st = stem(w)
            if st in seen:
                continue
            seen.add(st)
            if w[0].isdigit():
                key = number_key(w)
                terms.append(Term(w, key, "number", self.idf(key), key in self._doc_numbers))
                continue
            kind = "entity" if w in capitalised else "word"
            present = st in self._df
            term = Term(surface.get(w, w), st, kind, self.idf(st), present)
            if not present and kind == "entity":
                term.in_document, aliases = self._entity_in_document(w.lower())
                term.synonyms = [(a, 1.0) for a in aliases]
            terms.append(term)
        # Every common word gets synonym candidates, even when its stem occurs: stemming
        # conflates ("officers" ~ "office"), and the passage that answers may use another word.
        pending = [t.word for t in terms if t.kind == "word"]
        return terms, pending

    def retrieve(self, question: str, k: int = 8, mode: str = "hybrid") -> Retrieval:
        terms, pending = self.analyse(question)
        need_dense = mode in {"hybrid", "dense"}
        # One model call per question: the question plus any word not seen before.
        fresh = [w for w in dict.fromkeys(pending) if w not in self._word_vectors]
        batch = ([question] if need_dense else []) + fresh
        vectors = self.index.embedder.encode(batch) if batch else np.zeros((0, 384))
        qvec = vectors[0] if need_dense else None
        if len(self._word_vectors) > 50_000:
            self._word_vectors.clear()
        self._word_vectors.update(zip(fresh, vectors[1:] if need_dense else vectors, strict=True))
        word_vecs = (
            np.stack([self._word_vectors[w] for w in pending]) if pending else np.zeros((0, 384))
        )
        vocab = self.index.vocabulary
        if pending and vocab is not None:
            by_word = {t.word: t for t in terms}
            for word, near in zip(pending, vocab.nearest(word_vecs), strict=True):
                by_word[word].synonyms = [
                    (st, sim)
                    for _, st, sim in near
                    if sim >= SYNONYM_MIN and st != by_word[word].stem
                ]
        expanded: list[str] = []
        for t in terms:
            if t.kind == "number":
                continue
            if t.in_document:
                expanded.append(t.stem)  # a word the document uses is searched as itself
            else:
                expanded.extend(st for st, _ in t.synonyms)
        hits = self.index.search(question, k=k, mode=mode, vector=qvec, terms=expanded)
        coverage = {h.passage.id: self.coverage(terms, h.passage) for h in hits}
        return Retrieval(
            question=question,
            hits=hits,
            terms=terms,
            coverage=coverage,
            numbers={h.passage.id: self._numbers[h.passage.id] for h in hits},
            stems={h.passage.id: self._stems[h.passage.id] for h in hits},
            question_numbers={t.stem for t in terms if t.kind == "number"},
        )

    def coverage(self, terms: list[Term], passage: Passage) -> float:
        """Idf-weighted share of the question's terms this passage contains (or a synonym of)."""
        total = sum(t.idf for t in terms)
        if not total:
            return 0.0
        stems = self._stems[passage.id]
        nums = self._numbers[passage.id]
        got = 0.0
        for t in terms:
            if t.kind == "number":
                got += t.idf if t.stem in nums else 0.0
            elif t.stem in stems:
                got += t.idf
            else:
                got += t.idf * max((sim for st, sim in t.synonyms if st in stems), default=0.0)
        return got / total
