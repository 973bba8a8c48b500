"""The corpus index: one Chroma collection for every passage of every document (each with
its ``document_id``), BM25 across the corpus, and a manifest that makes updates incremental.

``sync`` compares the files with the manifest and touches only what changed: new or edited
documents are parsed, embedded and upserted; removed ones are deleted by ``document_id``;
unchanged files are not even read.  Upserts are idempotent and the manifest is written
after the store, so an interrupted sync simply resumes.  Derived data that spans the corpus
(BM25, passage counts per stem, the vocabulary) is rebuilt from the manifest's stored
terms, never from the files, into a temporary folder swapped into place.

Search fuses Chroma's nearest neighbours with BM25's best passages (RRF) across the corpus;
a document the answer draws on is then searched on its own (``document_index``) exactly as
a single document is, so per-document answers keep single-document quality.

Passages that read the same in many documents (boilerplate: "Officials did not respond to
requests for comment.") are searched once: a second collection holds one vector per
distinct text (``passage_key``), and a hit on it stands for the documents sharing it.
Otherwise a hundred copies of one sentence would fill the whole pool of nearest neighbours
and hide every other passage from the fusion.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from assistant.errors import DocumentError, IndexBuildError
from index.corpus import (
    DOCUMENT_CACHE,
    Corpus,
    DocumentRecord,
    DocumentTerms,
    Manifest,
    SourceRecord,
)
from index.document import Document, Passage, content_id
from index.embed import DIMENSION, Embedder
from index.load import load_document
from index.store import (
    Hit,
    Lexicon,
    MemoryIndex,
    Vocabulary,
    chroma_client,
    default_cache_dir,
    document_vocabulary,
    passage_key,
    passage_metadata,
    passage_view,
    rrf,
    server_url,
)
from index.text import content_terms

CORPUS_FORMAT = 2
DERIVED_FORMAT = 2
COLLECTION = "corpus"
#: The collection of distinct passage texts is the main one's name with this suffix.
DISTINCT = "-distinct"
#: How many distinct passage texts from the nearest neighbours and from BM25 go into the
#: fusion.
POOL = 100
#: A text shared by many documents brings at most this many of them into the pool.
MEMBERS = 16
#: Documents parsed, embedded and upserted per step (also the resume granularity).
CHUNK_DOCUMENTS = 128
EMBED_BATCH = 64
MAX_VOCABULARY = 200_000


@dataclass
class SyncReport:
    """What one ``sync`` did, with the time spent in each stage."""

    documents: int = 0
    passages: int = 0
    added: int = 0  # documents embedded (new content)
    removed: int = 0  # documents deleted from the store
    unchanged: int = 0  # files not even read
    reread: int = 0  # files read again whose content had not changed
    embedded: int = 0  # passages embedded
    words_embedded: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, why)
    rebuilt_store: bool = False
    #: Files, as a user sees them: added, changed (new content), removed, unchanged.
    files: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    parse_seconds: float = 0.0
    embed_seconds: float = 0.0
    store_seconds: float = 0.0
    derived_seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)


@dataclass
class Pool:
    """The fused candidates of one corpus search, keyed by (document id, sentence index):
    fused, dense and BM25 scores, the ranks behind them, and each passage's text group."""

    fused: dict[tuple[str, int], float] = field(default_factory=dict)
    dense: dict[tuple[str, int], float] = field(default_factory=dict)
    lexical: dict[tuple[str, int], float] = field(default_factory=dict)
    dense_ranks: dict[tuple[str, int], int] = field(default_factory=dict)
    bm25_ranks: dict[tuple[str, int], int] = field(default_factory=dict)
    group: dict[tuple[str, int], int] = field(default_factory=dict)


def file_changes(before: dict[str, str], after: dict[str, str]) -> dict[str, int]:
    """Files added, changed (new content), removed and unchanged, from the file -> document
    id maps before and after a sync: the report counts documents, and an edited file (one
    document out, another in) is what a user calls "changed"."""
    return {
        "added": sum(1 for p in after if p not in before),
        "changed": sum(1 for p, d in after.items() if p in before and before[p] != d),
        "removed": sum(1 for p in before if p not in after),
        "unchanged": sum(1 for p, d in after.items() if before.get(p) == d),
    }


class CorpusIndex:
    """Hybrid retrieval over many documents, in an embedded Chroma or a Chroma server."""

    def __init__(
        self,
        corpus: Corpus,
        embedder: Embedder,
        folder: Path,
        chroma_url: str | None = None,
        collection: str | None = None,
    ) -> None:
        self.corpus = corpus
        self.embedder = embedder
        self.folder = folder
        self.chroma_url = chroma_url
        self.collection_name = collection or (f"corpus-{folder.name}" if chroma_url else COLLECTION)
        self.manifest = Manifest(folder / "manifest.sqlite")
        self.records: dict[str, DocumentRecord] = {}
        self.lexicon: Lexicon | None = None
        self._collection = None
        self._distinct = None  # one vector per distinct passage text
        self._bm25 = None
        self._doc_ids: list[str] = []
        self._doc_of = np.zeros(0, dtype=np.int32)
        self._sentence_of = np.zeros(0, dtype=np.int32)
        self._group_of = np.zeros(0, dtype=np.int32)  # passage -> its text's group
        self._group_keys = np.zeros(0, dtype="S16")  # group -> passage_key, sorted
        self._members = np.zeros(0, dtype=np.int32)  # passages ordered by group
        self._member_start = np.zeros(1, dtype=np.int64)  # group g: _members[start[g]:start[g+1]]
        self._indexes: OrderedDict[str, MemoryIndex] = OrderedDict()
        self._lock = threading.Lock()
        self.last_sync: SyncReport | None = None
        self._loaded: str | None = None  # the derived state in memory

    # -- life cycle ------------------------------------------------------------------------

    @staticmethod
    def key(corpus: Corpus, embedder: Embedder, chroma_url: str | None = None) -> str:
        return content_id(corpus.name, embedder.key, CORPUS_FORMAT, chroma_url or "", length=20)

    @classmethod
    def open(
        cls,
        corpus: Corpus,
        embedder: Embedder | None = None,
        cache_dir: str | Path | None = None,
        chroma_url: str | None = None,
        collection: str | None = None,
        progress: bool = False,
        rebuild: bool = False,
    ) -> CorpusIndex:
        """The corpus's index, brought up to date with its files first."""
        embedder = embedder or Embedder()
        url = server_url(chroma_url)
        root = (Path(cache_dir) if cache_dir else default_cache_dir()) / "corpus"
        index = cls(corpus, embedder, root / cls.key(corpus, embedder, url), url, collection)
        index.sync(progress=progress, rebuild=rebuild)
        return index

    @property
    def passages(self) -> int:
        return len(self._doc_of)

    def _client(self):
        return chroma_client(self.chroma_url, self.folder / "chroma")

    def _open_collection(self, recreate: bool = False, suffix: str = ""):
        client = self._client()
        name = self.collection_name + suffix
        if recreate:
            with contextlib.suppress(Exception):  # not there yet
                client.delete_collection(name)
        return client.get_or_create_collection(
            name,
            embedding_function=None,
            configuration={"hnsw": {"space": "cosine"}},
            metadata={"model": self.embedder.key, "format": CORPUS_FORMAT},
        )

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One sync at a time per index folder, across processes."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".lock", "w") as handle:
            try:
                import fcntl

                fcntl.flock(handle, fcntl.LOCK_EX)
            except ImportError:  # pragma: no cover - not POSIX
                pass
            yield

    def sync(self, progress: bool = False, rebuild: bool = False) -> SyncReport:
        """Bring the store in line with the corpus files; returns what was done."""
        with self._exclusive():
            try:
                report = self._sync(progress, rebuild)
            except (IndexBuildError, KeyboardInterrupt):
                raise
            except DocumentError:
                raise
            except Exception as exc:
                raise IndexBuildError(f"corpus index update failed: {exc}") from exc
        self.last_sync = report
        return report

    def _sync(self, progress: bool, rebuild: bool) -> SyncReport:
        from tqdm.auto import tqdm

        started = time.perf_counter()
        report = SyncReport()
        before = {path: s.document_id for path, s in self.manifest.sources().items()}
        records = self.manifest.documents()
        expected = sum(r.passages for r in records.values())
        collection = self._open_collection()
        distinct = self._open_collection(suffix=DISTINCT)
        count = collection.count()
        if rebuild or count < expected or distinct.count() < self._derived_groups():
            # The store lost passages (wiped, or changed behind our back), or a rebuild was
            # asked for: forget everything and index every file again.  (More passages than
            # recorded is an interrupted sync's upserts: they are kept and reconciled below.)
            if rebuild or count or records:
                collection = self._open_collection(recreate=True)
                distinct = self._open_collection(recreate=True, suffix=DISTINCT)
                self.manifest.clear()
                report.rebuilt_store = True
            records = {}
        self._collection, self._distinct = collection, distinct

        sources = self.manifest.sources()
        seen: dict[str, SourceRecord] = {}
        pending: list[tuple[Path, os.stat_result]] = []
        for path in self.corpus.paths:
            try:
                st = path.stat()
            except OSError as exc:
                report.skipped.append((str(path), exc.strerror or str(exc)))
                continue
            prev = sources.get(str(path))
            if (
                prev is not None
                and prev.mtime_ns == st.st_mtime_ns
                and prev.size == st.st_size
                and prev.document_id in records
            ):
                seen[str(path)] = prev
                self.corpus.locate(prev.document_id, path)
                report.unchanged += 1
            else:
                pending.append((path, st))

        bar = tqdm(
            total=len(pending), desc="index", unit="doc", disable=not progress or not pending
        )
        new_ids: set[str] = set()
        for i in range(0, len(pending), CHUNK_DOCUMENTS):
            t0 = time.perf_counter()
            fresh: list[Document] = []
            rows: list[SourceRecord] = []
            for path, st in pending[i : i + CHUNK_DOCUMENTS]:
                try:
                    doc = load_document(path)
                except DocumentError as exc:
                    report.skipped.append((str(path), str(exc)))
                    continue
                row = SourceRecord(str(path), doc.id, st.st_mtime_ns, st.st_size)
                rows.append(row)
                seen[row.path] = row
                self.corpus.locate(doc.id, path)
                if doc.id in records or doc.id in new_ids:
                    report.reread += 1  # touched, renamed or copied: nothing to embed
                    continue
                new_ids.add(doc.id)
                fresh.append(doc)
            report.parse_seconds += time.perf_counter() - t0
            added = self._add_documents(fresh, report)
            self.manifest.add(added, rows)
            records.update({r.id: r for r, _ in added})
            report.added += len(fresh)
            bar.update(min(CHUNK_DOCUMENTS, len(pending) - i))
            bar.set_postfix(passages=report.embedded)
        bar.close()

        live = {s.document_id for s in seen.values()}
        gone = [doc_id for doc_id in records if doc_id not in live]
        gone_groups: set[str] = set()
        if gone:
            t0 = time.perf_counter()
            gone_groups = {g for _, t in self.manifest.terms(gone) for g in t.groups}
            for j in range(0, len(gone), 500):
                collection.delete(where={"document_id": {"$in": gone[j : j + 500]}})
            report.store_seconds += time.perf_counter() - t0
        self.manifest.remove(gone, [p for p in sources if p not in seen])
        for doc_id in gone:
            records.pop(doc_id, None)
        report.removed = len(gone)
        if collection.count() != sum(r.passages for r in records.values()):
            report.removed += self._drop_orphans(set(records), report)
        # a renamed (or copied-then-deleted) file: the document now lives elsewhere
        where: dict[str, str] = {}
        for row in sorted(seen.values(), key=lambda r: r.path):
            where.setdefault(row.document_id, row.path)
        moved = {
            doc_id: where[doc_id]
            for doc_id, record in records.items()
            if record.path not in seen and doc_id in where
        }
        if moved:
            self.manifest.move(moved)
            for doc_id, path in moved.items():
                records[doc_id] = replace(records[doc_id], path=path)
        self.records = records
        report.files = file_changes(before, {path: s.document_id for path, s in seen.items()})
        with self._lock:
            self._indexes.clear()

        t0 = time.perf_counter()
        self._ensure_derived(report, progress)
        report.derived_seconds = time.perf_counter() - t0
        self._drop_texts(gone_groups, report)
        report.documents = len(records)
        report.passages = self.passages
        report.seconds = time.perf_counter() - started
        return report

    def _drop_orphans(self, known: set[str], report: SyncReport) -> int:
        """Delete passages of documents the manifest does not know (left by a sync that
        stopped between the store and the manifest, for a file since removed)."""
        t0 = time.perf_counter()
        orphans: set[str] = set()
        offset, page = 0, 5000
        while True:
            got = self._collection.get(include=["metadatas"], limit=page, offset=offset)
            metas = got["metadatas"] or []
            orphans.update(str(m["document_id"]) for m in metas if m["document_id"] not in known)
            if len(metas) < page:
                break
            offset += page
        ids = sorted(orphans)
        for j in range(0, len(ids), 500):
            self._collection.delete(where={"document_id": {"$in": ids[j : j + 500]}})
        report.store_seconds += time.perf_counter() - t0
        return len(ids)

    def _drop_texts(self, keys: set[str], report: SyncReport) -> None:
        """Delete the distinct texts of removed documents that no remaining one shares.
        (One left behind by a sync stopped before this brings no document into a search,
        which skips it, and goes with the next rebuild.)"""
        if not keys:
            return
        t0 = time.perf_counter()
        ordered = sorted(keys)
        known = self._group_keys
        where = np.searchsorted(known, np.asarray(ordered, dtype="S16"))
        stale = [
            k
            for k, i in zip(ordered, where, strict=True)
            if i >= len(known) or known[i] != k.encode()
        ]
        for j in range(0, len(stale), 500):
            self._distinct.delete(ids=stale[j : j + 500])
        report.store_seconds += time.perf_counter() - t0

    def _derived_groups(self) -> int:
        """How many distinct texts the derived data last counted (0 if none yet)."""
        try:
            return int(json.loads((self.folder / "derived" / "meta.json").read_text())["groups"])
        except (OSError, ValueError, KeyError):
            return 0

    def _add_documents(
        self, docs: list[Document], report: SyncReport
    ) -> list[tuple[DocumentRecord, DocumentTerms]]:
        """Embed and upsert these documents' passages; return their manifest rows."""
        if not docs:
            return []
        passages = [p for d in docs for p in d.sentences if p.text.strip()]
        views = [passage_view(p) for p in passages]
        t0 = time.perf_counter()
        vectors = self.embedder.encode(views, batch_size=EMBED_BATCH)
        report.embed_seconds += time.perf_counter() - t0
        report.embedded += len(passages)
        t0 = time.perf_counter()
        step = min(5000, self._client_batch())
        for j in range(0, len(passages), step):
            chunk = passages[j : j + step]
            self._collection.upsert(
                ids=[p.id for p in chunk],
                embeddings=vectors[j : j + step],
                metadatas=[passage_metadata(p) for p in chunk],
            )
        first: dict[str, int] = {}  # each distinct text once (its vector is the same)
        for row, p in enumerate(passages):
            first.setdefault(passage_key(p), row)
        keys, rows = list(first), list(first.values())
        for j in range(0, len(keys), step):
            self._distinct.upsert(ids=keys[j : j + step], embeddings=vectors[rows[j : j + step]])
        report.store_seconds += time.perf_counter() - t0
        from assistant.retrieve import numbers_in

        out = []
        for doc in docs:
            own = [p for p in doc.sentences if p.text.strip()]
            terms = DocumentTerms(
                index=[p.index for p in own],
                terms=[content_terms(passage_view(p)) for p in own],
                words=document_vocabulary(own),
                numbers=sorted(set().union(*(numbers_in(p.text) for p in own))) if own else [],
                groups=[passage_key(p) for p in own],
            )
            record = DocumentRecord(doc.id, doc.title, str(doc.path or ""), doc.format, len(own))
            out.append((record, terms))
        return out

    def _client_batch(self) -> int:
        try:
            return int(self._client().get_max_batch_size())
        except Exception:
            return 1000

    # -- corpus-wide derived data (BM25, counts, vocabulary) ---------------------------------

    def _state(self) -> str:
        return content_id(*sorted(self.records), DERIVED_FORMAT, self.embedder.key, length=20)

    def _ensure_derived(self, report: SyncReport, progress: bool) -> None:
        derived = self.folder / "derived"
        state = self._state()
        try:
            current = json.loads((derived / "meta.json").read_text()).get("state")
        except (OSError, ValueError):
            current = None
        if current != state:
            self._build_derived(derived, state, report, progress)
        elif self._loaded == state:
            return  # nothing changed since it was loaded: keep what is in memory
        self._load_derived(derived)
        self._loaded = state

    def _build_derived(self, derived: Path, state: str, report: SyncReport, progress: bool) -> None:
        import bm25s

        doc_ids: list[str] = []
        doc_of: list[int] = []
        sentence_of: list[int] = []
        groups: list[str] = []
        tokens: list[list[str]] = []
        df: Counter[str] = Counter()
        word_df: Counter[str] = Counter()
        numbers: set[str] = set()
        for doc_id, terms in self.manifest.terms():
            if doc_id not in self.records:
                continue
            n = len(doc_ids)
            doc_ids.append(doc_id)
            for index, toks in zip(terms.index, terms.terms, strict=True):
                doc_of.append(n)
                sentence_of.append(index)
                tokens.append(toks or ["\x00"])
                df.update(set(toks))
            groups.extend(terms.groups)
            word_df.update(terms.words)
            numbers.update(terms.numbers)

        words = [w for w, _ in word_df.most_common(MAX_VOCABULARY)]
        known = self.manifest.word_vectors(words)
        missing = [w for w in words if w not in known]
        if missing:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(missing), desc="vocabulary", unit="word", disable=not progress)
            t0 = time.perf_counter()
            for j in range(0, len(missing), 2048):
                chunk = missing[j : j + 2048]
                vectors = self.embedder.encode(chunk, batch_size=128)
                self.manifest.put_word_vectors(chunk, vectors)
                known.update(zip(chunk, vectors, strict=True))
                bar.update(len(chunk))
            bar.close()
            report.embed_seconds += time.perf_counter() - t0
            report.words_embedded += len(missing)
        matrix = (
            np.stack([known[w] for w in words]).astype(np.float32)
            if words
            else np.zeros((0, DIMENSION), dtype=np.float32)
        )

        derived.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".derived-{uuid.uuid4().hex[:6]}-", dir=self.folder))
        try:
            if tokens:
                bm25 = bm25s.BM25()
                bm25.index(tokens, show_progress=False)
                bm25.save(str(tmp / "bm25"), show_progress=False)
            keys = np.unique(np.asarray(groups, dtype="S16"))  # sorted
            np.savez(
                tmp / "passages.npz",
                doc_of=np.asarray(doc_of, dtype=np.int32),
                sentence_of=np.asarray(sentence_of, dtype=np.int32),
                group_of=np.searchsorted(keys, np.asarray(groups, dtype="S16")).astype(np.int32),
                group_keys=keys,
            )
            (tmp / "documents.json").write_text(json.dumps(doc_ids))
            (tmp / "lexicon.json").write_text(
                json.dumps({"df": df, "passages": len(tokens), "numbers": sorted(numbers)})
            )
            (tmp / "vocab.json").write_text(json.dumps(words, ensure_ascii=False))
            np.save(tmp / "vocab.npy", matrix)
            (tmp / "meta.json").write_text(
                json.dumps({"state": state, "format": DERIVED_FORMAT, "groups": len(keys)})
            )
            if derived.exists():
                trash = self.folder / f".old-{uuid.uuid4().hex[:8]}"
                os.replace(derived, trash)
                shutil.rmtree(trash, ignore_errors=True)
            os.replace(tmp, derived)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _load_derived(self, derived: Path) -> None:
        import bm25s

        try:
            arrays = np.load(derived / "passages.npz")
            self._doc_of = arrays["doc_of"]
            self._sentence_of = arrays["sentence_of"]
            self._group_of = arrays["group_of"]
            self._group_keys = arrays["group_keys"]
            self._members = np.argsort(self._group_of, kind="stable").astype(np.int32)
            self._member_start = np.searchsorted(
                self._group_of[self._members], np.arange(len(self._group_keys) + 1)
            )
            self._doc_ids = json.loads((derived / "documents.json").read_text())
            self._bm25 = (
                bm25s.BM25.load(str(derived / "bm25")) if (derived / "bm25").exists() else None
            )
            lex = json.loads((derived / "lexicon.json").read_text())
            words = json.loads((derived / "vocab.json").read_text(encoding="utf-8"))
            vocabulary = Vocabulary(words, np.load(derived / "vocab.npy"))
        except Exception as exc:
            raise IndexBuildError(f"cannot load the corpus index at {derived}: {exc}") from exc
        self.lexicon = Lexicon(lex["df"], lex["passages"], frozenset(lex["numbers"]), vocabulary)

    # -- documents ---------------------------------------------------------------------------

    def document(self, document_id: str) -> Document:
        return self.corpus.document(document_id)

    def title(self, document_id: str) -> str:
        record = self.records.get(document_id)
        return record.title if record else self.document(document_id).title

    def document_index(self, document_id: str) -> MemoryIndex:
        """One document searched on its own, as a single-document index would search it."""
        with self._lock:
            found = self._indexes.get(document_id)
            if found is not None:
                self._indexes.move_to_end(document_id)
                return found
        doc = self.document(document_id)
        got = self._collection.get(
            where={"document_id": document_id}, include=["embeddings", "metadatas"]
        )
        by_index = {
            int(m["index"]): np.asarray(v, dtype=np.float32)
            for m, v in zip(got["metadatas"], got["embeddings"], strict=True)
        }
        passages = [p for p in doc.sentences if p.text.strip()]
        if any(p.index not in by_index for p in passages):
            raise IndexBuildError(
                f"the store lacks passages of {doc.title!r}; rebuild the corpus index"
            )
        vectors = (
            np.stack([by_index[p.index] for p in passages])
            if passages
            else np.zeros((0, DIMENSION), dtype=np.float32)
        )
        index = MemoryIndex(doc, self.embedder, vectors, self._vocabulary_of(passages))
        with self._lock:
            self._indexes[document_id] = index
            while len(self._indexes) > DOCUMENT_CACHE:
                self._indexes.popitem(last=False)
        return index

    def _vocabulary_of(self, passages: list[Passage]) -> Vocabulary:
        """The document's own vocabulary, vectors taken from the corpus's."""
        words = document_vocabulary(passages)
        corpus_vocab = self.lexicon.vocabulary if self.lexicon else None
        if corpus_vocab is None:
            vectors = self.embedder.encode(words, batch_size=64)
            return Vocabulary(words, vectors)
        have, missing = corpus_vocab.subset(words)
        extra = self.embedder.encode(missing, batch_size=64) if missing else None
        rows = {w: have.vectors[i] for i, w in enumerate(have.words)}
        if extra is not None:
            rows.update(zip(missing, extra, strict=True))
        matrix = (
            np.stack([rows[w] for w in words])
            if words
            else np.zeros((0, DIMENSION), dtype=np.float32)
        )
        return Vocabulary(words, matrix)

    # -- retrieval ---------------------------------------------------------------------------

    def _group_index(self, key: str) -> int | None:
        i = int(np.searchsorted(self._group_keys, key.encode()))
        return i if i < len(self._group_keys) and self._group_keys[i] == key.encode() else None

    def _pool(
        self, question: str, mode: str, vector: np.ndarray | None, terms: list[str] | None
    ) -> Pool:
        """Chroma's nearest distinct texts and BM25's best distinct texts across the corpus,
        fused by rank, each then standing for the passages (up to ``MEMBERS``) that read so."""
        if mode not in {"hybrid", "dense", "bm25"}:
            raise ValueError(f"unknown retrieval mode {mode!r}")
        dense: dict[int, float] = {}  # group -> score
        lexical: dict[int, float] = {}
        groups = len(self._group_keys)
        if mode in {"hybrid", "dense"} and groups:
            if vector is None:
                vector = self.embedder.encode([question])[0]
            res = self._distinct.query(
                query_embeddings=[np.asarray(vector, dtype=np.float32)],
                n_results=min(POOL, groups),
                include=["distances"],
            )
            for key, dist in zip(res["ids"][0], res["distances"][0], strict=True):
                g = self._group_index(key)
                if g is not None:  # else: a text left by an interrupted sync
                    dense[g] = 1.0 - float(dist)
        if mode in {"hybrid", "bm25"} and self._bm25 is not None and groups:
            terms = content_terms(question) if terms is None else terms
            if terms:
                scores = self._bm25.get_scores(terms)
                # a group's passages read alike, so score alike: any one stands for all
                best = scores[self._members[self._member_start[:-1]]]
                top = min(POOL, groups)
                picked = np.argpartition(-best, top - 1)[:top] if top < groups else range(groups)
                lexical = {int(g): float(best[g]) for g in picked if best[g] > 0}
        fused, dr, br = rrf(dense, lexical)
        pool = Pool()
        for g, score in fused.items():
            start = int(self._member_start[g])
            stop = min(int(self._member_start[g + 1]), start + MEMBERS)
            for pos in self._members[start:stop]:
                key = (self._doc_ids[self._doc_of[pos]], int(self._sentence_of[pos]))
                pool.group[key] = g
                pool.fused[key] = score
                if g in dense:
                    pool.dense[key], pool.dense_ranks[key] = dense[g], dr[g]
                if g in lexical:
                    pool.lexical[key], pool.bm25_ranks[key] = lexical[g], br[g]
        return pool

    def rank_documents(
        self,
        question: str,
        limit: int,
        mode: str = "hybrid",
        vector: np.ndarray | None = None,
        terms: list[str] | None = None,
        names: list[str] | None = None,
    ) -> list[str]:
        """Candidate documents for the question, without reading any: taken in turn from
        rankings of documents by their best passage: by the question's names and figures
        alone (BM25 over ``names``), fused, BM25 alone, dense alone.  Fusion alone would
        miss a document found by one signal only, such as the one article naming a rare
        person among many that match the question's common words.  A first round takes one
        document per best passage text, so documents sharing a sentence do not crowd out
        the others."""
        pool = self._pool(question, mode, vector, terms)
        named = Pool()
        if names and mode in {"hybrid", "bm25"}:
            named = self._pool(question, "bm25", None, names)
        group = {**pool.group, **named.group}
        rankings: list[list[tuple[str, int]]] = []
        for scores in (named.lexical, pool.fused, pool.lexical, pool.dense):
            best: dict[str, tuple[float, int]] = {}
            for key, score in scores.items():
                if key[0] not in best or score > best[key[0]][0]:
                    best[key[0]] = (score, group[key])
            order = sorted(best, key=lambda d, b=best: (-b[d][0], d))
            rankings.append([(d, best[d][1]) for d in order])
        out: dict[str, None] = {}
        taken: set[int] = set()
        for first_round in (True, False):
            for rank in range(max(map(len, rankings), default=0)):
                for ranking in rankings:
                    if rank >= len(ranking) or len(out) >= limit:
                        continue
                    doc_id, g = ranking[rank]
                    if doc_id in out or (first_round and g in taken):
                        continue
                    out[doc_id] = None
                    taken.add(g)
        return list(out)

    def search(
        self,
        question: str,
        k: int = 8,
        mode: str = "hybrid",
        vector: np.ndarray | None = None,
        terms: list[str] | None = None,
    ) -> list[Hit]:
        """Top-k passages of the whole corpus by RRF of Chroma's nearest neighbours and
        BM25's best passages; each hit's passage knows its ``document_id``."""
        pool = self._pool(question, mode, vector, terms)
        fused = pool.fused
        order = sorted(fused, key=lambda key: (-fused[key], key))
        hits: list[Hit] = []
        for key in order:
            if len(hits) >= k:
                break
            try:
                passage = self.document(key[0]).sentences[key[1]]
            except (DocumentError, IndexError):
                continue  # its file changed or vanished since the last sync
            hits.append(
                Hit(
                    passage,
                    fused[key],
                    pool.dense.get(key, 0.0),
                    pool.lexical.get(key, 0.0),
                    pool.dense_ranks.get(key),
                    pool.bm25_ranks.get(key),
                )
            )
        return hits

    # -- measurement -------------------------------------------------------------------------

    def disk_bytes(self) -> int:
        """Bytes on disk of this index's local folder (the embedded store included)."""
        return sum(f.stat().st_size for f in self.folder.rglob("*") if f.is_file())
