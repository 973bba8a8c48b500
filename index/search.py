"""Search primitives shared by every index: what a passage is indexed as, the document
vocabulary that maps question words onto the document's own, reciprocal rank fusion, and
one document searched on its own in memory (``MemoryIndex``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from index.document import Document, Passage, content_id
from index.embed import Embedder
from index.errors import IndexBuildError
from index.sentences import strip_footnote_markers
from index.settings import IndexSettings
from index.text import STOPWORDS, content_terms, stem, words

DEFAULTS = IndexSettings()

#: A source-list entry is embedded unlabelled: "Source list entry: ..." cost the reader
#: preset one reading-dev question (70.8% -> 70.6%) and changed nothing for the default.
_SECTION_LABEL = {
    "title": "Title",
    "alt": "Photo alt text",
    "caption": "Photo caption",
    "dateline": "Dateline date",
    "heading": "Section heading",
    "comments_heading": "Reader comments heading",
    "comment": "Reader comment",
}


def passage_view(p: Passage) -> str:
    """What gets embedded and BM25-indexed: the sentence, labelled by its section."""
    body = strip_footnote_markers(p.text)
    label = _SECTION_LABEL.get(p.section)
    return f"{label}: {body}" if label else body


def passage_key(p: Passage) -> str:
    """The key of a passage's text: passages that read the same (case and spacing aside),
    such as boilerplate repeated across a corpus, share it."""
    return content_id(" ".join(passage_view(p).casefold().split()), length=16)


def document_vocabulary(passages: list[Passage]) -> list[str]:
    """Distinct content words of the document: the targets of synonym matching."""
    seen: dict[str, None] = {}
    for p in passages:
        for w in words(strip_footnote_markers(p.text)):
            if w not in STOPWORDS and w.isalpha() and len(w) > 2:
                seen[w] = None
    return list(seen)


class Vocabulary:
    """The document's words with their embeddings, to map a question's unknown words onto
    the document's own wording ("hurt" -> "injured") without any outside thesaurus."""

    def __init__(self, words_: list[str], vectors: np.ndarray) -> None:
        self.words = words_
        self.stems = [stem(w) for w in words_]
        self.vectors = vectors
        self.stem_set = frozenset(self.stems)

    def nearest(self, vectors: np.ndarray, top: int = 3) -> list[list[tuple[str, str, float]]]:
        """For each vector, the ``top`` closest document words as (word, stem, cosine)."""
        if not len(self.words) or not len(vectors):
            return [[] for _ in range(len(vectors))]
        sims = vectors @ self.vectors.T
        out = []
        for row in sims:
            if len(row) > 4096:  # a corpus vocabulary: select, then sort only the top
                part = np.argpartition(-row, top)[:top]
                idx = part[np.argsort(-row[part])]
            else:
                idx = np.argsort(-row)[:top]
            out.append([(self.words[i], self.stems[i], float(row[i])) for i in idx])
        return out

    def subset(self, words_: list[str]) -> tuple[Vocabulary, list[str]]:
        """The vocabulary restricted to ``words_`` (in that order), and the words it lacks."""
        row = self._rows
        have = [w for w in words_ if w in row]
        missing = [w for w in words_ if w not in row]
        vectors = self.vectors[[row[w] for w in have]] if have else np.zeros((0, 384))
        return Vocabulary(have, vectors), missing

    @cached_property
    def _rows(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}


@dataclass
class TermStats:
    """What a question is analysed against across a whole corpus (too large to scan):
    passage counts per stem (for idf and "does the corpus use this word"), the numbers it
    mentions, and its vocabulary with embeddings."""

    df: dict[str, int]
    passages: int
    numbers: frozenset[str]
    vocabulary: Vocabulary | None


@dataclass(frozen=True)
class Hit:
    """A retrieved passage with its fused score and the evidence behind it."""

    passage: Passage
    score: float
    dense: float  # cosine similarity, -1..1
    bm25: float
    dense_rank: int | None
    bm25_rank: int | None


class PassageSearch:
    """Hybrid search over one document's passages; subclasses say where vectors live."""

    settings: IndexSettings = DEFAULTS
    document: Document
    embedder: Embedder
    passages: list[Passage]
    vocabulary: Vocabulary | None
    _by_id: dict[str, Passage]
    _bm25: object

    def dense_scores(self, question: str, vector: np.ndarray | None = None) -> dict[str, float]:
        raise NotImplementedError

    def bm25_scores(self, question: str, terms: list[str] | None = None) -> dict[str, float]:
        """BM25 over stemmed terms; ``terms`` overrides the question's own (query expansion)."""
        terms = content_terms(question) if terms is None else terms
        if not terms:
            return {}
        scores = self._bm25.get_scores(terms)
        return {p.id: float(s) for p, s in zip(self.passages, scores, strict=True) if s > 0}

    def search(
        self,
        question: str,
        k: int = 8,
        mode: str = "hybrid",
        vector: np.ndarray | None = None,
        terms: list[str] | None = None,
    ) -> list[Hit]:
        """Top-k passages by reciprocal rank fusion of dense and BM25 rankings."""
        if mode not in {"hybrid", "dense", "bm25"}:
            raise ValueError(f"unknown retrieval mode {mode!r}")
        dense = self.dense_scores(question, vector) if mode in {"hybrid", "dense"} else {}
        lexical = self.bm25_scores(question, terms) if mode in {"hybrid", "bm25"} else {}
        return fuse(self._by_id, dense, lexical, k, self.settings)


def bm25_index(views: list[str]):
    """A bm25s index of passage views (an empty passage gets a token matching nothing)."""
    import bm25s

    bm25 = bm25s.BM25()
    bm25.index([content_terms(v) or ["\x00"] for v in views], show_progress=False)
    return bm25


def passage_metadata(p: Passage) -> dict:
    """What Chroma stores beside each vector: where the passage is, in which document."""
    return {
        "document_id": p.document_id,
        "index": p.index,
        "start": p.start,
        "end": p.end,
        "section": p.section,
        "footnotes": ",".join(map(str, p.footnotes)),
    }


class MemoryIndex(PassageSearch):
    """One document searched on its own: its vectors (read back from the store), BM25 over
    the document alone (built in memory in milliseconds), the document's vocabulary.  Every
    answer is drawn from such per-document searches, so a document answers the same alone
    or among thousands."""

    def __init__(
        self,
        document: Document,
        embedder: Embedder,
        vectors: np.ndarray,
        vocabulary: Vocabulary | None,
        settings: IndexSettings = DEFAULTS,
    ) -> None:
        self.settings = settings
        self.document = document
        self.embedder = embedder
        self.passages = [p for p in document.sentences if p.text.strip()]
        if len(vectors) != len(self.passages):
            raise IndexBuildError(
                f"{len(vectors)} vectors for {len(self.passages)} passages of {document.title!r}"
            )
        self._by_id = {p.id: p for p in self.passages}
        self._vectors = np.asarray(vectors, dtype=np.float32)
        self._bm25 = bm25_index([passage_view(p) for p in self.passages])
        self.vocabulary = vocabulary

    def dense_scores(self, question: str, vector: np.ndarray | None = None) -> dict[str, float]:
        if vector is None:
            vector = self.embedder.encode([question])[0]
        sims = self._vectors @ np.asarray(vector, dtype=np.float32)
        return {p.id: float(s) for p, s in zip(self.passages, sims, strict=True)}


def _ranks(scores: dict[str, float]) -> dict[str, int]:
    ordered = sorted(scores, key=lambda pid: -scores[pid])
    return {pid: r for r, pid in enumerate(ordered, start=1)}


def rrf(dense: dict, lexical: dict, settings: IndexSettings = DEFAULTS) -> tuple[dict, dict, dict]:
    """Reciprocal rank fusion of two score maps: (fused score, dense ranks, BM25 ranks)."""
    dr, br = _ranks(dense), _ranks(lexical)
    fused: dict = {}
    for ranks, weight in ((dr, settings.dense_weight), (br, settings.bm25_weight)):
        for pid, r in ranks.items():
            fused[pid] = fused.get(pid, 0.0) + weight / (settings.rrf_k + r)
    return fused, dr, br


def fuse(
    by_id: dict[str, Passage],
    dense: dict[str, float],
    lexical: dict[str, float],
    k: int,
    settings: IndexSettings = DEFAULTS,
) -> list[Hit]:
    """Reciprocal rank fusion; raw scores ride along for the answerer's confidence."""
    fused, dr, br = rrf(dense, lexical, settings)
    order = sorted(fused, key=lambda pid: (-fused[pid], by_id[pid].start))[:k]
    return [
        Hit(
            by_id[pid],
            fused[pid],
            dense.get(pid, 0.0),
            lexical.get(pid, 0.0),
            dr.get(pid),
            br.get(pid),
        )
        for pid in order
    ]
