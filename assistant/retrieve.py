"""Retrieve: analyse the question against the documents' vocabulary, then search the index.

Question words the document never uses are mapped onto the document's own words by
embedding similarity ("hurt" -> "injured"); names and numbers are matched by spelling
only, since an embedding would happily call "Putin" close to "Russian".

Retrieval runs in two steps, whatever the number of documents.  The analysis runs against
counts across all documents (``TermStats``) to find candidate documents; each candidate is
then retrieved from on its own by a ``DocumentRetriever`` (``Retrieval.per_document``), so
the answerer sees what it would see in that document alone.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from rapidfuzz import fuzz, process

from index.document import Document, Passage
from index.errors import DocumentError
from index.lexicon import FRAMING, NUMBER, QUESTION_WORDS, YEAR, number_key, numbers_in
from index.search import Hit, PassageSearch, TermStats, passage_view
from index.settings import RetrievalSettings
from index.text import STOPWORDS, content_terms, fold, stem, words

if TYPE_CHECKING:
    from index.store import Index

_YEAR = re.compile(YEAR)
#: Passages whose terms a corpus retriever keeps in memory before starting afresh.
_TERM_CACHE = 200_000


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
    vector: np.ndarray | None = None  # the question's embedding, when it was computed
    #: Each candidate document's own retrieval, best document first (in a document's own
    #: retrieval: empty).
    per_document: list[Retrieval] = field(default_factory=list)
    #: The document a document's own retrieval searched (None across documents).
    document: Document | None = None
    #: How many documents the index holds: answers name their documents when it is more
    #: than one.
    documents: int = 1
    #: Titles of the documents the hits come from, by id.
    titles: dict[str, str] = field(default_factory=dict)
    #: The question carried instructions to the assistant (stripped before searching):
    #: its premises are then an attacker's, not beliefs to correct.
    instructions: bool = False

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


class DocumentRetriever:
    """Question analysis plus hybrid search over one document's passages, or, given
    ``TermStats``, over an index of many (whose passages are then analysed only when hit)."""

    def __init__(
        self,
        index: PassageSearch | Index,
        lexicon: TermStats | None = None,
        word_vectors: dict[str, np.ndarray] | None = None,
        settings: RetrievalSettings | None = None,
    ) -> None:
        self.settings = settings or RetrievalSettings()
        self.index = index
        self.document: Document | None = (
            index.document if isinstance(index, PassageSearch) else None
        )
        self._stems: dict[str, set[str]] = {}
        self._numbers: dict[str, set[str]] = {}
        if lexicon is None:
            passages = index.passages
            self.passages = passages
            self._stems = {p.id: set(content_terms(passage_view(p))) for p in passages}
            self._numbers = {p.id: numbers_in(p.text) for p in passages}
            df: dict[str, int] = {}
            for stems in self._stems.values():
                for s in stems:
                    df[s] = df.get(s, 0) + 1
            self._df = df
            self._n = len(passages)
            self._doc_numbers = set().union(*self._numbers.values()) if self._numbers else set()
            self._squashed: str | None = re.sub(r"[^a-z0-9]", "", fold(self.document.text).lower())
            vocab = index.vocabulary
        else:
            self._df = lexicon.df
            self._n = lexicon.passages
            self._doc_numbers = lexicon.numbers
            self._squashed = None  # too large to scan: entities are matched word by word
            vocab = lexicon.vocabulary
        self.vocabulary = vocab
        self._vocab_words = vocab.words if vocab else []
        self._word_set = frozenset(self._vocab_words)
        self._word_vectors: dict[str, np.ndarray] = {} if word_vectors is None else word_vectors

    def idf(self, stem_: str) -> float:
        return math.log((self._n + 1) / (self._df.get(stem_, 0) + 0.5))

    # -- question analysis -------------------------------------------------------------------

    def _entity_in_document(self, surface: str) -> tuple[bool, list[str]]:
        """Spelling-level presence: 'Nursultan' ~ 'Nur-Sultan', 'Tokaev' ~ 'Tokayev'."""
        squashed = re.sub(r"[^a-z0-9]", "", surface.lower())
        if self._squashed is None:  # a corpus: its vocabulary, matched in C
            if len(squashed) >= 3 and squashed in self._word_set:
                return True, []
            found = process.extract(
                squashed, self._vocab_words, scorer=fuzz.ratio, score_cutoff=80, limit=None
            )
            close = [stem(w) for w, _, _ in found if abs(len(w) - len(squashed)) <= 3]
            return bool(close), close
        if len(squashed) >= 3 and squashed in self._squashed:
            return True, []
        close = [
            stem(w)
            for w in self._vocab_words
            if abs(len(w) - len(squashed)) <= 3 and fuzz.ratio(w, squashed) >= 80
        ]
        return bool(close), close

    def unmentioned(self, terms: list[Term]) -> list[Term]:
        """The question's names (and years) this text never mentions, judged more strictly
        than analysis does: a short name must occur as a word ("CIA" is not in "social"),
        a longer one may be spelled run together ("Nursultan" ~ "Nur-Sultan")."""
        out = []
        for t in terms:
            if t.kind == "number":
                if _YEAR.fullmatch(t.word) and not t.in_document:
                    out.append(t)
                continue
            if t.kind != "entity" or t.stem in self._df:
                continue
            squashed = re.sub(r"[^a-z0-9]", "", t.word.lower())
            if len(squashed) >= 5 and self._squashed is not None and squashed in self._squashed:
                continue
            if any(st in self._df for st, _ in t.synonyms):
                continue  # a close spelling the text uses ("Tokaev" ~ "Tokayev")
            out.append(t)
        return out

    def stems_of(self, passage: Passage) -> set[str]:
        found = self._stems.get(passage.id)
        if found is None:
            if len(self._stems) > _TERM_CACHE:
                self._stems.clear()
            found = self._stems[passage.id] = set(content_terms(passage_view(passage)))
        return found

    def numbers_of(self, passage: Passage) -> set[str]:
        found = self._numbers.get(passage.id)
        if found is None:
            if len(self._numbers) > _TERM_CACHE:
                self._numbers.clear()
            found = self._numbers[passage.id] = numbers_in(passage.text)
        return found

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
        for m in NUMBER.finditer(folded):
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
        folded = NUMBER.sub(" ", folded)
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

    def retrieve(
        self,
        question: str,
        k: int = 8,
        mode: str = "hybrid",
        vector: np.ndarray | None = None,
    ) -> Retrieval:
        """``vector``: the question's embedding when the caller already has it."""
        terms, qvec, expanded = self.prepare(question, mode, vector)
        hits = self.index.search(question, k=k, mode=mode, vector=qvec, terms=expanded)
        return self.assemble(question, hits, terms, qvec)

    def prepare(
        self, question: str, mode: str = "hybrid", vector: np.ndarray | None = None
    ) -> tuple[list[Term], np.ndarray | None, list[str]]:
        """The question's terms (with synonyms), its embedding, and the BM25 search terms."""
        terms, pending = self.analyse(question)
        need_dense = mode in {"hybrid", "dense"}
        embed_question = need_dense and vector is None
        # One model call per question: the question plus any word not seen before.
        fresh = [w for w in dict.fromkeys(pending) if w not in self._word_vectors]
        batch = ([question] if embed_question else []) + fresh
        vectors = self.index.embedder.encode(batch) if batch else np.zeros((0, 384))
        qvec = vectors[0] if embed_question else (vector if need_dense else None)
        if len(self._word_vectors) > 50_000:
            self._word_vectors.clear()
        self._word_vectors.update(
            zip(fresh, vectors[1:] if embed_question else vectors, strict=True)
        )
        word_vecs = (
            np.stack([self._word_vectors[w] for w in pending]) if pending else np.zeros((0, 384))
        )
        vocab = self.vocabulary
        if pending and vocab is not None:
            by_word = {t.word: t for t in terms}
            for word, near in zip(pending, vocab.nearest(word_vecs), strict=True):
                by_word[word].synonyms = [
                    (st, sim)
                    for _, st, sim in near
                    if sim >= self.settings.synonym_min and st != by_word[word].stem
                ]
        expanded: list[str] = []
        for t in terms:
            if t.kind == "number":
                continue
            if t.in_document and (self._squashed is not None or t.stem in self._df):
                expanded.append(t.stem)  # a word the document uses is searched as itself
            else:  # (over a corpus, a name found only by its spelling variants: those)
                expanded.extend(st for st, _ in t.synonyms)
        return terms, qvec, expanded

    def assemble(
        self, question: str, hits: list[Hit], terms: list[Term], vector: np.ndarray | None
    ) -> Retrieval:
        """The retrieval record of these hits: how each covers the question's terms."""
        return Retrieval(
            question=question,
            hits=hits,
            terms=terms,
            coverage={h.passage.id: self.coverage(terms, h.passage) for h in hits},
            numbers={h.passage.id: self.numbers_of(h.passage) for h in hits},
            stems={h.passage.id: self.stems_of(h.passage) for h in hits},
            question_numbers={t.stem for t in terms if t.kind == "number"},
            vector=vector,
            document=self.document,
        )

    def coverage(self, terms: list[Term], passage: Passage) -> float:
        """Idf-weighted share of the question's terms this passage contains (or a synonym of)."""
        total = sum(t.idf for t in terms)
        if not total:
            return 0.0
        stems = self.stems_of(passage)
        nums = self.numbers_of(passage)
        got = 0.0
        for t in terms:
            if t.kind == "number":
                got += t.idf if t.stem in nums else 0.0
            elif t.stem in stems:
                got += t.idf
            else:
                got += t.idf * max((sim for st, sim in t.synonyms if st in stems), default=0.0)
        return got / total


def document_score(
    retrieval: Retrieval,
    coverage: Callable[[Passage], float],
    missing_names: int = 0,
    penalty: float = RetrievalSettings.missing_name,
) -> float:
    """How well one document answers, from its own retrieval: the answerer's base score of
    its best passage (closeness in meaning, share of the question's terms covered), with
    the terms weighted by their rarity across all documents (``coverage``), so a document
    with the question's rare words beats one with only its common ones; less a penalty per
    name the question asks about that the document never mentions."""
    best = max((0.5 * h.dense + 0.5 * coverage(h.passage) for h in retrieval.hits), default=0.0)
    return best - penalty * missing_names


class Retriever:
    """Retrieval in two steps, for one document or many.  The search across all documents
    (Chroma's nearest neighbours and BM25, fused) names the candidate documents; each
    candidate is then retrieved from on its own, and the documents are ranked by how well
    their own passages answer (``document_score``, which knows e.g. that a document never
    mentions a name the question asks about).  The hits are the best document's own top
    passages, then the best passage of each runner-up."""

    def __init__(self, index: Index, settings: RetrievalSettings | None = None) -> None:
        self.index = index
        self.settings = settings or RetrievalSettings()
        self.word_vectors: dict[str, np.ndarray] = {}  # shared: one model call per new word
        self.corpus = DocumentRetriever(
            index, lexicon=index.lexicon, word_vectors=self.word_vectors, settings=self.settings
        )
        self._retrievers: OrderedDict[str, DocumentRetriever] = OrderedDict()
        self._cache_size = index.settings.document_cache

    def retrieve(
        self,
        question: str,
        k: int | None = None,
        mode: str | None = None,
        within: Sequence[str] | None = None,
    ) -> Retrieval:
        """Hits across the documents (each passage carries its ``document_id``), with each
        candidate document's own retrieval in ``per_document``, best first.  ``within``:
        only these documents are candidates (a reader asking about the one in front of them)."""
        k = k or self.settings.k
        mode = mode or self.settings.mode
        terms, qvec, expanded = self.corpus.prepare(question, mode)
        # Names and figures single a document out ("Psaki", "over 100 police"): documents
        # are also ranked by them alone.  A figure counts when BM25 holds it as one token.
        names = [
            st
            for t in terms
            if t.kind == "entity" and t.in_document
            for st in [t.stem, *(a for a, _ in t.synonyms)]
        ] + [
            tokens[0]
            for t in terms
            if t.kind == "number" and t.in_document
            for tokens in [content_terms(t.word)]
            if len(tokens) == 1
        ]
        if within:
            unknown = [d for d in within if d not in self.index.records]
            if unknown:
                raise DocumentError(f"no document {unknown[0]!r} here")
            candidates = list(dict.fromkeys(within))
        else:
            candidates = self.index.rank_documents(
                question,
                self.settings.candidates,
                mode=mode,
                vector=qvec,
                terms=expanded,
                names=names,
            )
        ranked: list[tuple[float, int, Retrieval]] = []
        for i, doc_id in enumerate(candidates):
            try:
                retriever = self.for_document(doc_id)
                own = retriever.retrieve(question, k=k, mode=mode, vector=qvec)
            except DocumentError:
                continue  # its file changed or vanished since the last sync
            if own.hits:
                missing = retriever.unmentioned(own.terms)
                score = document_score(
                    own,
                    lambda p: self.corpus.coverage(terms, p),
                    len(missing),
                    self.settings.missing_name,
                )
                ranked.append((score, i, own))
        ranked.sort(key=lambda x: (-x[0], x[1]))
        # The best document's passages first, as it ranks them alone; then the best passage
        # of each runner-up, so the list still shows who else speaks to the question.
        others = [own.hits[0] for _, _, own in ranked[1 : self.settings.runners_up + 1]]
        best = ranked[0][2].hits[: k - len(others)] if ranked else []
        hits = [*best, *others][:k]
        retrieval = self.corpus.assemble(question, hits, terms, qvec)
        retrieval.per_document = [own for *_, own in ranked]
        retrieval.documents = len(self.index)
        retrieval.titles = {
            h.passage.document_id: self.index.title(h.passage.document_id) for h in hits
        }
        return retrieval

    def for_document(self, document_id: str) -> DocumentRetriever:
        found = self._retrievers.get(document_id)
        if found is None:
            index = self.index.document_index(document_id)
            found = DocumentRetriever(index, word_vectors=self.word_vectors, settings=self.settings)
            self._retrievers[document_id] = found
            while len(self._retrievers) > self._cache_size:
                self._retrievers.popitem(last=False)
        else:
            self._retrievers.move_to_end(document_id)
        return found
