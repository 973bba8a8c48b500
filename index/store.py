"""The persisted hybrid index: Chroma for dense vectors, bm25s for BM25, fused by RRF.

An index lives in a folder keyed by the document's content hash and the embedding model,
so a changed document or model simply misses the cache and builds anew.  Builds write into
a temporary folder that is renamed into place, so a crash never leaves a half index.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.errors import IndexBuildError
from index.document import Document, Passage, content_id
from index.embed import Embedder
from index.sentences import strip_footnote_markers
from index.text import STOPWORDS, content_terms, stem, words

INDEX_FORMAT = 3
RRF_K = 60
#: RRF weights.  Equal: on tests/data/questions_train.jsonl, down-weighting BM25 (0.3-0.7)
#: changed recall@3 by at most 0.02.
DENSE_WEIGHT = 1.0
BM25_WEIGHT = 1.0
COLLECTION = "passages"

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
            idx = np.argsort(-row)[:top]
            out.append([(self.words[i], self.stems[i], float(row[i])) for i in idx])
        return out


def default_cache_dir() -> Path:
    """``$ASSISTANT_CACHE_DIR``; else ``.cache`` in a source checkout; else the user cache."""
    env = os.environ.get("ASSISTANT_CACHE_DIR")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[1]
    if (repo / "pyproject.toml").exists() and os.access(repo, os.W_OK):
        return repo / ".cache"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "document-assistant"


@dataclass(frozen=True)
class Hit:
    """A retrieved passage with its fused score and the evidence behind it."""

    passage: Passage
    score: float
    dense: float  # cosine similarity, -1..1
    bm25: float
    dense_rank: int | None
    bm25_rank: int | None


def _chroma_client(path: Path):
    import chromadb
    from chromadb.config import Settings

    return chromadb.PersistentClient(
        path=str(path), settings=Settings(anonymized_telemetry=False, allow_reset=False)
    )


def _release_chroma() -> None:
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()


class HybridIndex:
    """Dense + BM25 retrieval over a document's sentences."""

    def __init__(self, document: Document, embedder: Embedder, path: Path) -> None:
        self.document = document
        self.embedder = embedder
        self.path = path
        self.passages = [p for p in document.sentences if p.text.strip()]
        self._by_id = {p.id: p for p in self.passages}
        self._collection = None
        self._bm25 = None
        self.vocabulary: Vocabulary | None = None

    # -- life cycle ------------------------------------------------------------------------

    @staticmethod
    def key(document: Document, embedder: Embedder) -> str:
        return content_id(document.id, embedder.key, INDEX_FORMAT, length=20)

    @classmethod
    def open(
        cls,
        document: Document,
        embedder: Embedder | None = None,
        cache_dir: str | Path | None = None,
        progress: bool = False,
        rebuild: bool = False,
    ) -> HybridIndex:
        """Load the index for this document and model, building it first if missing."""
        embedder = embedder or Embedder()
        root = (Path(cache_dir) if cache_dir else default_cache_dir()) / "index"
        path = root / cls.key(document, embedder)
        index = cls(document, embedder, path)
        if rebuild and path.exists():
            shutil.rmtree(path)
        if not index._valid():
            index.build(progress=progress)
        index._load()
        return index

    def _valid(self) -> bool:
        meta = self.path / "meta.json"
        if not meta.exists():
            return False
        try:
            data = json.loads(meta.read_text())
        except (OSError, json.JSONDecodeError):
            return False
        return data.get("format") == INDEX_FORMAT and data.get("passages") == [
            p.id for p in self.passages
        ]

    def build(self, progress: bool = False) -> float:
        """Embed and index every passage into a temp folder, then swap it in; returns seconds."""
        from tqdm.auto import tqdm

        started = time.perf_counter()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".build-{uuid.uuid4().hex[:6]}-", dir=self.path.parent))
        try:
            views = [passage_view(p) for p in self.passages]
            bar = tqdm(total=len(views) + 3, desc="index", unit="passage", disable=not progress)
            vectors = []
            for i in range(0, len(views), 32):
                batch = views[i : i + 32]
                vectors.append(self.embedder.encode(batch))
                bar.update(len(batch))
            matrix = np.vstack(vectors) if vectors else np.zeros((0, 384), dtype=np.float32)

            client = _chroma_client(tmp / "chroma")
            col = client.create_collection(
                COLLECTION,
                embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={"document": self.document.id, "model": self.embedder.key},
            )
            col.add(
                ids=[p.id for p in self.passages],
                embeddings=matrix.tolist(),
                documents=views,
                metadatas=[
                    {
                        "start": p.start,
                        "end": p.end,
                        "section": p.section,
                        "footnotes": ",".join(map(str, p.footnotes)),
                    }
                    for p in self.passages
                ],
            )
            del col, client
            _release_chroma()
            bar.update(1)

            import bm25s

            bm25 = bm25s.BM25()
            bm25.index([content_terms(v) or ["\x00"] for v in views], show_progress=False)
            bm25.save(str(tmp / "bm25"), show_progress=False)
            bar.update(1)

            vocab = document_vocabulary(self.passages)
            vocab_vectors = (
                self.embedder.encode(vocab, batch_size=64) if vocab else np.zeros((0, 384))
            )
            (tmp / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
            np.save(tmp / "vocab.npy", vocab_vectors.astype(np.float32))
            bar.update(1)
            bar.close()

            seconds = time.perf_counter() - started
            meta = {
                "format": INDEX_FORMAT,
                "document": self.document.id,
                "model": self.embedder.key,
                "passages": [p.id for p in self.passages],
                "build_seconds": round(seconds, 3),
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
            self._swap_in(tmp)
            return seconds
        except BaseException as exc:  # also Ctrl-C: never leave a half-built folder behind
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(exc, IndexBuildError) or not isinstance(exc, Exception):
                raise
            raise IndexBuildError(f"index build failed: {exc}") from exc

    def _swap_in(self, tmp: Path) -> None:
        """Rename the finished build into place.  Another process may have finished the same
        build first: then theirs is kept and ours discarded, never deleted from under them."""
        if self._valid():
            shutil.rmtree(tmp, ignore_errors=True)
            return
        if self.path.exists():  # a stale or broken index: move it aside, then delete it
            trash = self.path.with_name(f".old-{uuid.uuid4().hex[:8]}")
            try:
                os.replace(self.path, trash)
                shutil.rmtree(trash, ignore_errors=True)
            except FileNotFoundError:
                pass
        try:
            os.replace(tmp, self.path)
        except OSError:
            if not self._valid():
                raise
            shutil.rmtree(tmp, ignore_errors=True)

    def _load(self) -> None:
        import bm25s

        try:
            client = _chroma_client(self.path / "chroma")
            self._collection = client.get_collection(COLLECTION, embedding_function=None)
            self._bm25 = bm25s.BM25.load(str(self.path / "bm25"))
            words = json.loads((self.path / "vocab.json").read_text(encoding="utf-8"))
            self.vocabulary = Vocabulary(words, np.load(self.path / "vocab.npy"))
        except Exception as exc:
            raise IndexBuildError(f"cannot load index at {self.path}: {exc}") from exc

    # -- retrieval -------------------------------------------------------------------------

    def dense_scores(self, question: str, vector: np.ndarray | None = None) -> dict[str, float]:
        """Cosine similarity of the question to passages, from Chroma."""
        if vector is None:
            vector = self.embedder.encode([question])[0]
        n = len(self.passages)
        res = self._collection.query(
            query_embeddings=[vector.tolist()], n_results=n, include=["distances"]
        )
        return {
            pid: 1.0 - float(d) for pid, d in zip(res["ids"][0], res["distances"][0], strict=True)
        }

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
        return fuse(self._by_id, dense, lexical, k)


def _ranks(scores: dict[str, float]) -> dict[str, int]:
    ordered = sorted(scores, key=lambda pid: -scores[pid])
    return {pid: r for r, pid in enumerate(ordered, start=1)}


def fuse(
    by_id: dict[str, Passage], dense: dict[str, float], lexical: dict[str, float], k: int
) -> list[Hit]:
    """Reciprocal rank fusion; raw scores ride along for the answerer's confidence."""
    dr, br = _ranks(dense), _ranks(lexical)
    fused: dict[str, float] = {}
    for ranks, weight in ((dr, DENSE_WEIGHT), (br, BM25_WEIGHT)):
        for pid, r in ranks.items():
            fused[pid] = fused.get(pid, 0.0) + weight / (RRF_K + r)
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
