"""The persisted hybrid index: Chroma for dense vectors, bm25s for BM25, fused by RRF.

An index lives in a folder keyed by the document's content hash and the embedding model,
so a changed document or model simply misses the cache and builds anew.  Builds write into
a temporary folder that is renamed into place, so a crash never leaves a half index.

Chroma is embedded (``PersistentClient``, inside that folder) unless a server URL is given
(``chroma_url=`` or ``$ASSISTANT_CHROMA_URL``): then the vectors live in a collection on the
server named after the same key, built under a temporary name and renamed into place, and
only BM25 and the vocabulary stay in the local folder.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np

from assistant.errors import IndexBuildError
from index.document import Document, Passage, content_id
from index.embed import Embedder
from index.sentences import strip_footnote_markers
from index.text import STOPWORDS, content_terms, stem, words

INDEX_FORMAT = 4
RRF_K = 60
#: RRF weights.  Equal: on tests/data/questions_train.jsonl, down-weighting BM25 (0.3-0.7)
#: changed recall@3 by at most 0.02.
DENSE_WEIGHT = 1.0
BM25_WEIGHT = 1.0
COLLECTION = "passages"
CHROMA_URL_ENV = "ASSISTANT_CHROMA_URL"
CHROMA_TOKEN_ENV = "ASSISTANT_CHROMA_TOKEN"

log = logging.getLogger(__name__)

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
class Lexicon:
    """What a question is analysed against when the text is too large to scan: passage
    counts per stem (for idf and "does the corpus use this word"), the numbers it
    mentions, and its vocabulary with embeddings."""

    df: dict[str, int]
    passages: int
    numbers: frozenset[str]
    vocabulary: Vocabulary | None


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


def server_url(url: str | None = None) -> str | None:
    """The Chroma server to use: the argument, else ``$ASSISTANT_CHROMA_URL``, else None
    (the embedded store).  An empty string forces the embedded store."""
    if url is None:
        url = os.environ.get(CHROMA_URL_ENV, "")
    url = url.strip().rstrip("/")
    return url or None


def chroma_client(url: str | None = None, path: Path | None = None):
    """``HttpClient`` for a server URL, else ``PersistentClient`` at ``path``.

    The URL is ``http(s)://host[:port][?tenant=...&database=...]``; a token for a managed
    deployment comes from ``$ASSISTANT_CHROMA_TOKEN`` (sent as ``x-chroma-token``) and never
    from the URL, so it stays out of logs and cache keys."""
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False, allow_reset=False)
    if not url:
        if path is None:
            raise IndexBuildError("an embedded Chroma store needs a folder")
        return chromadb.PersistentClient(path=str(path), settings=settings)
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise IndexBuildError(f"not a Chroma server URL: {url!r} (expected http://host:port)")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    token = os.environ.get(CHROMA_TOKEN_ENV)
    options = {}
    if query.get("tenant") or os.environ.get("CHROMA_TENANT"):
        options["tenant"] = query.get("tenant") or os.environ["CHROMA_TENANT"]
    if query.get("database") or os.environ.get("CHROMA_DATABASE"):
        options["database"] = query.get("database") or os.environ["CHROMA_DATABASE"]
    try:
        client = chromadb.HttpClient(
            host=parts.hostname,
            port=parts.port or (443 if parts.scheme == "https" else 8000),
            ssl=parts.scheme == "https",
            headers={"x-chroma-token": token} if token else None,
            settings=settings,
            **options,
        )
        client.heartbeat()
    except Exception as exc:
        raise IndexBuildError(f"cannot reach the Chroma server at {url}: {exc}") from exc
    return client


def _chroma_client(path: Path):
    return chroma_client(None, path)


#: A build's temp folder older than this belongs to a build that was killed (SIGKILL, power
#: loss) and could not clean up; no live build of one document takes hours.
STALE_BUILD_SECONDS = 6 * 3600


def _sweep_leftovers(root: Path) -> None:
    """Delete temp folders left by killed builds and swaps, so they do not pile up."""
    cutoff = time.time() - STALE_BUILD_SECONDS
    for old in [*root.glob(".build-*"), *root.glob(".old-*")]:
        with contextlib.suppress(OSError):
            if old.is_dir() and old.stat().st_mtime < cutoff:
                shutil.rmtree(old, ignore_errors=True)


def _release_chroma() -> None:
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()


class PassageSearch:
    """Hybrid search over one document's passages; subclasses say where vectors live."""

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
        return fuse(self._by_id, dense, lexical, k)


def bm25_index(views: list[str]):
    """A bm25s index of passage views (an empty passage gets a token matching nothing)."""
    import bm25s

    bm25 = bm25s.BM25()
    bm25.index([content_terms(v) or ["\x00"] for v in views], show_progress=False)
    return bm25


class HybridIndex(PassageSearch):
    """Dense + BM25 retrieval over a document's sentences."""

    def __init__(
        self, document: Document, embedder: Embedder, path: Path, chroma_url: str | None = None
    ) -> None:
        self.document = document
        self.embedder = embedder
        self.path = path
        self.chroma_url = chroma_url
        self.passages = [p for p in document.sentences if p.text.strip()]
        self._by_id = {p.id: p for p in self.passages}
        self._collection = None
        self._bm25 = None
        self.vocabulary: Vocabulary | None = None
        self._repair_lock = threading.Lock()

    # -- life cycle ------------------------------------------------------------------------

    @staticmethod
    def key(document: Document, embedder: Embedder, chroma_url: str | None = None) -> str:
        if chroma_url:  # a server index keeps its own local folder (BM25, vocabulary, meta)
            return content_id(document.id, embedder.key, INDEX_FORMAT, chroma_url, length=20)
        return content_id(document.id, embedder.key, INDEX_FORMAT, length=20)

    @property
    def collection_name(self) -> str:
        """The collection's name: fixed inside the embedded folder, the key on a server."""
        return f"doc-{self.path.name}" if self.chroma_url else COLLECTION

    @classmethod
    def open(
        cls,
        document: Document,
        embedder: Embedder | None = None,
        cache_dir: str | Path | None = None,
        progress: bool = False,
        rebuild: bool = False,
        chroma_url: str | None = None,
    ) -> HybridIndex:
        """Load the index for this document and model, building it first if missing."""
        embedder = embedder or Embedder()
        url = server_url(chroma_url)
        root = (Path(cache_dir) if cache_dir else default_cache_dir()) / "index"
        path = root / cls.key(document, embedder, url)
        index = cls(document, embedder, path, url)
        if rebuild or not index._valid():
            # a rebuild replaces the old index only once the new one is complete
            index.build(progress=progress, replace=rebuild)
        try:
            index._load()
        except IndexBuildError as exc:
            # meta.json intact but the data unreadable (a damaged file): build anew, once
            log.warning("index at %s is damaged (%s); rebuilding it", path, exc)
            index.build(progress=progress, replace=True)
            index._load()
        return index

    def _client(self, path: Path | None = None):
        return chroma_client(self.chroma_url, path or self.path / "chroma")

    def _valid(self) -> bool:
        meta = self.path / "meta.json"
        if not meta.exists():
            return False
        try:
            data = json.loads(meta.read_text())
        except (OSError, json.JSONDecodeError):
            return False
        ok = data.get("format") == INDEX_FORMAT and data.get("passages") == [
            p.id for p in self.passages
        ]
        if ok and self.chroma_url:  # the server may have lost or changed the collection
            try:
                col = self._client().get_collection(self.collection_name, embedding_function=None)
                ok = col.count() == len(self.passages)
            except IndexBuildError:
                raise
            except Exception:
                ok = False
        return ok

    def build(self, progress: bool = False, replace: bool = False) -> float:
        """Embed and index every passage into a temp folder, then swap it in; returns seconds.
        ``replace`` swaps it in even over a valid index (a rebuild, or a damaged one)."""
        from tqdm.auto import tqdm

        started = time.perf_counter()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _sweep_leftovers(self.path.parent)
            tmp = Path(
                tempfile.mkdtemp(prefix=f".build-{uuid.uuid4().hex[:6]}-", dir=self.path.parent)
            )
        except OSError as exc:
            raise IndexBuildError(
                f"cannot create the index folder in {self.path.parent}: {exc}"
            ) from exc
        temp_collection = f"tmp-{self.path.name}-{uuid.uuid4().hex[:8]}"
        try:
            views = [passage_view(p) for p in self.passages]
            bar = tqdm(total=len(views) + 3, desc="index", unit="passage", disable=not progress)
            vectors = []
            for i in range(0, len(views), 32):
                batch = views[i : i + 32]
                vectors.append(self.embedder.encode(batch))
                bar.update(len(batch))
            matrix = np.vstack(vectors) if vectors else np.zeros((0, 384), dtype=np.float32)

            client = self._client(tmp / "chroma")
            col = client.create_collection(
                temp_collection if self.chroma_url else COLLECTION,
                embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={"document": self.document.id, "model": self.embedder.key},
            )
            step = int(client.get_max_batch_size())  # Chroma refuses larger adds (5,461 here)
            for i in range(0, len(self.passages), step):
                chunk = self.passages[i : i + step]
                col.add(
                    ids=[p.id for p in chunk],
                    embeddings=matrix[i : i + step].tolist(),
                    documents=views[i : i + step],
                    metadatas=[passage_metadata(p) for p in chunk],
                )
            del col, client
            if not self.chroma_url:
                _release_chroma()
            bar.update(1)

            bm25 = bm25_index(views)
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
                "chroma": self.chroma_url or "embedded",
                "passages": [p.id for p in self.passages],
                "build_seconds": round(seconds, 3),
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
            self._swap_in(tmp, temp_collection, replace)
            return seconds
        except BaseException as exc:  # also Ctrl-C: never leave a half-built folder behind
            shutil.rmtree(tmp, ignore_errors=True)
            if self.chroma_url:
                self._drop_collection(temp_collection)
            if isinstance(exc, IndexBuildError) or not isinstance(exc, Exception):
                raise
            raise IndexBuildError(f"index build failed: {exc}") from exc

    def _drop_collection(self, name: str) -> None:
        with contextlib.suppress(Exception):  # already gone, or the server is: nothing to do
            self._client().delete_collection(name)

    def _swap_in(
        self, tmp: Path, temp_collection: str | None = None, replace: bool = False
    ) -> None:
        """Rename the finished build into place.  Another process may have finished the same
        build first: then theirs is kept and ours discarded, never deleted from under them."""
        if not replace and self._valid():
            shutil.rmtree(tmp, ignore_errors=True)
            if self.chroma_url and temp_collection:
                self._drop_collection(temp_collection)
            return
        if self.chroma_url and temp_collection:
            # the server side first: rename our collection over any stale one
            self._drop_collection(self.collection_name)
            client = self._client()
            client.get_collection(temp_collection, embedding_function=None).modify(
                name=self.collection_name
            )
        trash = None
        if self.path.exists():  # a stale or broken index: move it aside, delete it once ours is in
            trash = self.path.with_name(f".old-{uuid.uuid4().hex[:8]}")
            try:
                os.replace(self.path, trash)
            except FileNotFoundError:
                trash = None
        try:
            os.replace(tmp, self.path)
        except OSError:
            if not self._valid():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)

    def _load(self) -> None:
        import bm25s

        try:
            client = self._client()
            self._collection = client.get_collection(self.collection_name, embedding_function=None)
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
        if not n:
            return {}
        try:
            res = self._query(vector, n)
        except Exception as exc:  # the store was deleted, damaged, or its server went away
            log.warning("vector search in %s failed (%s); repairing the index", self.path, exc)
            try:
                res = self._repair(vector, n)
            except IndexBuildError:
                raise
            except Exception as again:
                raise IndexBuildError(f"the vector index does not answer: {again}") from again
        return {
            pid: 1.0 - float(d) for pid, d in zip(res["ids"][0], res["distances"][0], strict=True)
        }

    def _query(self, vector: np.ndarray, n: int) -> dict:
        return self._collection.query(
            query_embeddings=[vector.tolist()], n_results=n, include=["distances"]
        )

    def _repair(self, vector: np.ndarray, n: int) -> dict:
        """After a failed search: reopen the store, rebuilding it if it is gone or damaged,
        and search again.  Raises when neither works (e.g. the Chroma server is down), so the
        user gets a clear message and the next question tries again."""
        with self._repair_lock:
            if not self.chroma_url:
                _release_chroma()  # the cached client may hold handles on deleted files
            if self._valid():
                try:
                    self._load()
                    return self._query(vector, n)
                except Exception as exc:
                    log.warning("index at %s cannot be reopened (%s); rebuilding", self.path, exc)
            self.build(replace=True)
            self._load()
            return self._query(vector, n)


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
    """One document of a corpus, searched exactly as its own ``HybridIndex`` would be: the
    same vectors (read back from the corpus store), BM25 over the document alone (built in
    memory in milliseconds), the document's vocabulary.  So per-document answers in a
    corpus match single-document answers."""

    def __init__(
        self,
        document: Document,
        embedder: Embedder,
        vectors: np.ndarray,
        vocabulary: Vocabulary | None,
    ) -> None:
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


def rrf(dense: dict, lexical: dict) -> tuple[dict, dict, dict]:
    """Reciprocal rank fusion of two score maps: (fused score, dense ranks, BM25 ranks)."""
    dr, br = _ranks(dense), _ranks(lexical)
    fused: dict = {}
    for ranks, weight in ((dr, DENSE_WEIGHT), (br, BM25_WEIGHT)):
        for pid, r in ranks.items():
            fused[pid] = fused.get(pid, 0.0) + weight / (RRF_K + r)
    return fused, dr, br


def fuse(
    by_id: dict[str, Passage], dense: dict[str, float], lexical: dict[str, float], k: int
) -> list[Hit]:
    """Reciprocal rank fusion; raw scores ride along for the answerer's confidence."""
    fused, dr, br = rrf(dense, lexical)
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
