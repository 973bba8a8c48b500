"""The index: one Chroma collection for every passage of every document (each with its
``document_id``), BM25 across them, and a manifest that makes updates incremental.  One
document is an index of one; nothing below knows or cares how many there are.

``sync`` compares the files with the manifest and touches only what changed: new or edited
documents are parsed, embedded and upserted; removed ones are deleted by ``document_id``;
unchanged files are not even read.  Upserts are idempotent and the manifest is written
after the store, so an interrupted sync simply resumes.  Derived data that spans the
documents (BM25, passage counts per stem, the vocabulary) is rebuilt from the manifest's
stored terms, never from the files, into a temporary folder swapped into place.

Search fuses Chroma's nearest neighbours with BM25's best passages (RRF) across all
documents; a document the answer draws on is then searched on its own (``document_index``),
so it answers the same alone or among thousands.

Passages that read the same in many documents (boilerplate: "Officials did not respond to
requests for comment.") are searched once: a second collection holds one vector per
distinct text (``passage_key``), and a hit on it stands for the documents sharing it.
Otherwise a hundred copies of one sentence would fill the whole pool of nearest neighbours
and hide every other passage from the fusion.

Faults repair themselves: a store, manifest or derived file found damaged or missing is
rebuilt (at open, or on the question whose search fails); ``rebuild=True`` builds a whole
new index beside the old one and swaps it in only once complete, so a killed rebuild
leaves the old one serving.  Chroma is embedded (``PersistentClient`` in the index folder)
unless a server URL is configured: then the collections live on the server and only the
manifest and derived data stay in the local folder.
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
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qs, urlsplit

import numpy as np

from index.corpus import Corpus, DocumentRecord, DocumentTerms, Manifest, SourceRecord
from index.document import Document, Passage, content_id
from index.embed import DIMENSION, Embedder
from index.errors import DocumentError, IndexBuildError
from index.lexicon import numbers_in
from index.load import PARSER_VERSION, load_document
from index.search import (
    Hit,
    MemoryIndex,
    TermStats,
    Vocabulary,
    document_vocabulary,
    passage_key,
    passage_metadata,
    passage_view,
    rrf,
)
from index.settings import IndexSettings
from index.text import content_terms

log = logging.getLogger(__name__)
T = TypeVar("T")


class _NoBar:
    """A progress bar that shows nothing (no tqdm object at all)."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, **values: object) -> None:
        pass

    def close(self) -> None:
        pass


def default_cache_dir(settings: IndexSettings | None = None) -> Path:
    """The configured cache folder; else ``.cache`` in a source checkout; else the user
    cache."""
    if settings is not None and settings.cache_dir:
        return Path(settings.cache_dir).expanduser()
    repo = Path(__file__).resolve().parents[1]
    if (repo / "pyproject.toml").exists() and os.access(repo, os.W_OK):
        return repo / ".cache"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "document-assistant"


def server_url(url: str | None) -> str | None:
    """A Chroma server URL as used (no trailing slash), or None for the embedded store."""
    url = (url or "").strip().rstrip("/")
    return url or None


def chroma_client(
    url: str | None = None, path: Path | None = None, settings: IndexSettings | None = None
):
    """``HttpClient`` for a server URL, else ``PersistentClient`` at ``path``.

    The URL is ``http(s)://host[:port][?tenant=...&database=...]``; a token for a managed
    deployment comes from the settings (``$ASSISTANT_CHROMA_TOKEN``, sent as
    ``x-chroma-token``) and never from the URL, so it stays out of logs and cache keys."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    settings = settings or IndexSettings()
    chroma = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if not url:
        if path is None:
            raise IndexBuildError("an embedded Chroma store needs a folder")
        return chromadb.PersistentClient(path=str(path), settings=chroma)
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise IndexBuildError(f"not a Chroma server URL: {url!r} (expected http://host:port)")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    token = settings.chroma_token
    options = {}
    if query.get("tenant") or settings.chroma_tenant:
        options["tenant"] = query.get("tenant") or settings.chroma_tenant
    if query.get("database") or settings.chroma_database:
        options["database"] = query.get("database") or settings.chroma_database
    try:
        client = chromadb.HttpClient(
            host=parts.hostname,
            port=parts.port or (443 if parts.scheme == "https" else 8000),
            ssl=parts.scheme == "https",
            headers={"x-chroma-token": token} if token else None,
            settings=chroma,
            **options,
        )
        client.heartbeat()
    except Exception as exc:
        raise IndexBuildError(f"cannot reach the Chroma server at {url}: {exc}") from exc
    return client


#: A build's temp folder older than this belongs to a build that was killed (SIGKILL, power
#: loss) and could not clean up; no live build takes hours.
STALE_BUILD_SECONDS = 6 * 3600


def _sweep_leftovers(root: Path) -> None:
    """Delete temp folders left by killed builds and swaps, so they do not pile up."""
    cutoff = time.time() - STALE_BUILD_SECONDS
    for old in [*root.glob(".build-*"), *root.glob(".old-*")]:
        with contextlib.suppress(OSError):
            if old.is_dir() and old.stat().st_mtime < cutoff:
                shutil.rmtree(old, ignore_errors=True)


#: The database file each embedded store folder had when this process opened it, as
#: (device, inode).  Chroma caches one client per folder; if the file was since deleted or
#: replaced, that client (and each thread's connection) no longer reads what is on disk.
_OPENED_STORES: dict[str, tuple[int, int]] = {}


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _store_replaced(folder: Path) -> bool:
    """Whether the embedded store this process opened at ``folder`` is gone from disk."""
    if not folder.exists():
        return True
    opened = _OPENED_STORES.get(str(folder))
    return opened is not None and opened != _file_identity(folder / "chroma.sqlite3")


def _remember_store(folder: Path) -> None:
    identity = _file_identity(folder / "chroma.sqlite3")
    if identity is not None:
        _OPENED_STORES[str(folder)] = identity


def _release_chroma() -> None:
    """Drop the embedded clients Chroma caches per folder (they may hold deleted files)."""
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    _OPENED_STORES.clear()


INDEX_FORMAT = 3
DERIVED_FORMAT = 2
COLLECTION = "passages"
#: The collection of distinct passage texts is the main one's name with this suffix.
DISTINCT = "-distinct"


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


class Index:
    """Hybrid retrieval over one or many documents, in an embedded Chroma or a server."""

    def __init__(
        self,
        corpus: Corpus,
        embedder: Embedder,
        folder: Path,
        settings: IndexSettings | None = None,
        collection: str | None = None,
    ) -> None:
        self.corpus = corpus
        self.embedder = embedder
        self.folder = folder
        self.settings = settings or IndexSettings()
        self.chroma_url = server_url(self.settings.chroma_url)
        self.collection_name = collection or (
            f"index-{folder.name}" if self.chroma_url else COLLECTION
        )
        self.manifest = self._open_manifest()
        self.records: dict[str, DocumentRecord] = {}
        self.lexicon: TermStats | None = None
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
        self._repair_lock = threading.Lock()
        self.last_sync: SyncReport | None = None
        self._loaded: str | None = None  # the derived state in memory

    # -- life cycle ------------------------------------------------------------------------

    @staticmethod
    def key(corpus: Corpus, embedder: Embedder, chroma_url: str | None = None) -> str:
        return content_id(
            corpus.name, embedder.key, INDEX_FORMAT, PARSER_VERSION, chroma_url or "", length=20
        )

    @classmethod
    def open(
        cls,
        corpus: Corpus,
        embedder: Embedder | None = None,
        settings: IndexSettings | None = None,
        progress: bool = False,
        rebuild: bool = False,
    ) -> Index:
        """The documents' index, brought up to date with their files first."""
        settings = settings or IndexSettings()
        embedder = embedder or Embedder(settings=settings)
        root = default_cache_dir(settings) / "index"
        folder = root / cls.key(corpus, embedder, server_url(settings.chroma_url))
        with contextlib.suppress(OSError):
            _sweep_leftovers(root)
        index = cls(corpus, embedder, folder, settings)
        index.sync(progress=progress, rebuild=rebuild)
        return index

    @property
    def passages(self) -> int:
        """How many passages the index holds, across its documents."""
        return len(self._doc_of)

    def __len__(self) -> int:
        """How many documents the index holds."""
        return len(self.records)

    def _open_manifest(self) -> Manifest:
        """The manifest; one that is not a database is set aside (the store is then
        reconciled with the files as if new)."""
        path = self.folder / "manifest.sqlite"
        try:
            return Manifest(path)
        except OSError as exc:
            raise IndexBuildError(f"cannot open the index folder {self.folder}: {exc}") from exc
        except Exception as exc:  # sqlite3.DatabaseError: damaged on disk
            log.warning("manifest %s is damaged (%s); starting it afresh", path, exc)
            for extra in ("", "-wal", "-shm"):
                with contextlib.suppress(OSError):
                    Path(f"{path}{extra}").unlink()
            return Manifest(path)

    def _client(self):
        return chroma_client(self.chroma_url, self.folder / "chroma", self.settings)

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
            metadata={"model": self.embedder.key, "format": INDEX_FORMAT},
        )

    def _open_store(self):
        """Both collections and their counts; an embedded store that cannot be opened
        (damaged files) is moved aside and started afresh."""
        store = self.folder / "chroma"
        if not self.chroma_url and _store_replaced(store):
            _release_chroma()  # a client Chroma cached for this folder points at deleted files
        try:
            collection, distinct = self._open_collection(), self._open_collection(suffix=DISTINCT)
            counts = collection.count(), distinct.count()
            if not self.chroma_url:
                _remember_store(store)
            return collection, distinct, *counts
        except IndexBuildError:
            raise
        except Exception as exc:
            if self.chroma_url:
                raise IndexBuildError(f"the Chroma server's collections fail: {exc}") from exc
            log.warning("the store in %s is damaged (%s); rebuilding it", self.folder, exc)
            _release_chroma()
            trash = self.folder / f".old-{uuid.uuid4().hex[:8]}"
            with contextlib.suppress(OSError):
                os.replace(self.folder / "chroma", trash)
            shutil.rmtree(trash, ignore_errors=True)
            collection, distinct = self._open_collection(), self._open_collection(suffix=DISTINCT)
            _remember_store(store)
            return collection, distinct, 0, 0

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
        """Bring the store in line with the files; returns what was done.  ``rebuild``
        builds everything anew beside the current index and swaps it in when complete."""
        try:
            if rebuild:
                report = self._rebuild(progress)
            else:
                with self._exclusive():
                    report = self._sync(progress)
        except (IndexBuildError, DocumentError, KeyboardInterrupt):
            raise
        except Exception as exc:
            raise IndexBuildError(f"index update failed: {exc}") from exc
        self.last_sync = report
        return report

    def _rebuild(self, progress: bool) -> SyncReport:
        """A whole new index in a temporary folder (and, on a server, temporary
        collections), renamed into place only once complete."""
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".build-{self.folder.name}-", dir=self.folder.parent))
        temp_name = f"tmp-{self.folder.name}-{uuid.uuid4().hex[:8]}" if self.chroma_url else None
        fresh = Index(self.corpus, self.embedder, tmp, self.settings, collection=temp_name)
        before = {path: s.document_id for path, s in self.manifest.sources().items()}
        try:
            report = fresh._sync(progress)
            # files as a user sees them: against what the index held before the rebuild
            after = {path: s.document_id for path, s in fresh.manifest.sources().items()}
            report.files = file_changes(before, after)
            fresh.close()
            with self._exclusive():
                self.close()
                if temp_name:  # the server side first: our collections over the old ones
                    client = self._client()
                    for suffix in ("", DISTINCT):
                        with contextlib.suppress(Exception):
                            client.delete_collection(self.collection_name + suffix)
                        client.get_collection(temp_name + suffix, embedding_function=None).modify(
                            name=self.collection_name + suffix
                        )
                (tmp / ".lock").unlink(missing_ok=True)
                trash = self.folder.with_name(f".old-{uuid.uuid4().hex[:8]}")
                for name in os.listdir(self.folder):  # keep the folder (and its lock)
                    if name != ".lock":
                        trash.mkdir(exist_ok=True)
                        os.replace(self.folder / name, trash / name)
                for name in os.listdir(tmp):
                    os.replace(tmp / name, self.folder / name)
                shutil.rmtree(trash, ignore_errors=True)
                shutil.rmtree(tmp, ignore_errors=True)
                self.manifest = self._open_manifest()
                self._loaded = None
                self._sync(progress=False)
        except BaseException:
            fresh.close()
            shutil.rmtree(tmp, ignore_errors=True)
            if temp_name:
                with contextlib.suppress(Exception):
                    client = self._client()
                    for suffix in ("", DISTINCT):
                        client.delete_collection(temp_name + suffix)
            raise
        report.rebuilt_store = True
        return report

    def close(self) -> None:
        """Let go of the store and the manifest (an embedded store's files may then move)."""
        self._collection = self._distinct = None
        with contextlib.suppress(Exception):
            self.manifest.close()
        if not self.chroma_url:
            _release_chroma()

    def _repaired(self, operation: Callable[[], T]) -> T:
        """Run a store operation; if it fails (files deleted or damaged, a server gone),
        reopen and reconcile the index with its files, rebuilding what was lost, and try
        once more.  Raises ``IndexBuildError`` when that fails too, so the user gets a clear
        message and the next question tries again."""
        try:
            return operation()
        except IndexBuildError:
            raise
        except Exception as exc:
            log.warning("search in %s failed (%s); repairing the index", self.folder, exc)
        with self._repair_lock:
            self.close()
            self.manifest = self._open_manifest()
            self._loaded = None
            self.sync()
            with self._lock:
                self._indexes.clear()
            try:
                return operation()
            except IndexBuildError:
                raise
            except Exception as again:
                raise IndexBuildError(f"the vector index does not answer: {again}") from again

    def _sync(self, progress: bool) -> SyncReport:
        from tqdm.auto import tqdm

        started = time.perf_counter()
        report = SyncReport()
        before = {path: s.document_id for path, s in self.manifest.sources().items()}
        records = self.manifest.documents()
        expected = sum(r.passages for r in records.values())
        collection, distinct, count, distinct_count = self._open_store()
        if count < expected or distinct_count < self._derived_groups():
            # The store lost passages (wiped, or changed behind our back): forget everything
            # and index every file again.  (More passages than recorded is an interrupted
            # sync's upserts: they are kept and reconciled below.)
            if count or records:
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

        # one document: its passages' bar only (Gradio's tqdm tracking shows even a
        # disabled bar, so none is made)
        bar = (
            tqdm(total=len(pending), desc="index", unit="doc")
            if progress and len(pending) > 1
            else _NoBar()
        )
        new_ids: set[str] = set()
        for i in range(0, len(pending), self.settings.chunk_documents):
            t0 = time.perf_counter()
            fresh: list[Document] = []
            rows: list[SourceRecord] = []
            for path, st in pending[i : i + self.settings.chunk_documents]:
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
            added = self._add_documents(fresh, report, progress)
            self.manifest.add(added, rows)
            records.update({r.id: r for r, _ in added})
            report.added += len(fresh)
            bar.update(min(self.settings.chunk_documents, len(pending) - i))
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
        self, docs: list[Document], report: SyncReport, progress: bool = False
    ) -> list[tuple[DocumentRecord, DocumentTerms]]:
        """Embed and upsert these documents' passages; return their manifest rows.
        ``progress``: a bar that moves with the embedding batches (one long upload is
        one document, so a per-document bar would sit still until the end)."""
        if not docs:
            return []
        passages = [p for d in docs for p in d.sentences if p.text.strip()]
        views = [passage_view(p) for p in passages]
        t0 = time.perf_counter()
        batch = self.settings.embed_batch
        if progress and len(views) > 2 * batch:
            from tqdm.auto import tqdm

            parts = []
            with tqdm(total=len(views), desc="embedding", unit="passage") as bar:
                for j in range(0, len(views), 2 * batch):
                    parts.append(self.embedder.encode(views[j : j + 2 * batch], batch_size=batch))
                    bar.update(len(parts[-1]))
            vectors = np.concatenate(parts)
        else:
            vectors = self.embedder.encode(views, batch_size=batch)
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

    # -- derived data across the documents (BM25, counts, vocabulary) ---------------------

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
        try:
            self._load_derived(derived)
        except IndexBuildError as exc:  # damaged on disk: it is derived, so derive it again
            log.warning("%s; rebuilding it", exc)
            self._build_derived(derived, state, report, progress)
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

        words = [w for w, _ in word_df.most_common(self.settings.max_vocabulary)]
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
            raise IndexBuildError(f"cannot load the index at {derived}: {exc}") from exc
        self.lexicon = TermStats(lex["df"], lex["passages"], frozenset(lex["numbers"]), vocabulary)

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
        passages = [p for p in doc.sentences if p.text.strip()]
        vectors = self._repaired(lambda: self._stored_vectors(document_id, passages))
        index = MemoryIndex(
            doc, self.embedder, vectors, self._vocabulary_of(passages), self.settings
        )
        with self._lock:
            self._indexes[document_id] = index
            while len(self._indexes) > self.settings.document_cache:
                self._indexes.popitem(last=False)
        return index

    def _stored_vectors(self, document_id: str, passages: list[Passage]) -> np.ndarray:
        got = self._collection.get(
            where={"document_id": document_id}, include=["embeddings", "metadatas"]
        )
        by_index = {
            int(m["index"]): np.asarray(v, dtype=np.float32)
            for m, v in zip(got["metadatas"], got["embeddings"], strict=True)
        }
        lacking = [p.index for p in passages if p.index not in by_index]
        if lacking:  # (not an IndexBuildError: the store has lost them, so it is repaired)
            raise LookupError(f"the store lacks {len(lacking)} passages of {document_id}")
        if not passages:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        return np.stack([by_index[p.index] for p in passages])

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
        """Chroma's nearest distinct texts and BM25's best distinct texts across the
        documents, fused by rank, each then standing for the passages (up to
        ``settings.members``) that read so."""
        if mode not in {"hybrid", "dense", "bm25"}:
            raise ValueError(f"unknown retrieval mode {mode!r}")
        dense: dict[int, float] = {}  # group -> score
        lexical: dict[int, float] = {}
        groups = len(self._group_keys)
        if mode in {"hybrid", "dense"} and groups:
            if vector is None:
                vector = self.embedder.encode([question])[0]
            query = np.asarray(vector, dtype=np.float32)
            res = self._repaired(
                lambda: self._distinct.query(
                    query_embeddings=[query],
                    n_results=min(self.settings.pool, len(self._group_keys)),
                    include=["distances"],
                )
            )
            for key, dist in zip(res["ids"][0], res["distances"][0], strict=True):
                g = self._group_index(key)
                if g is not None:  # else: a text left by an interrupted sync
                    dense[g] = 1.0 - float(dist)
            groups = len(self._group_keys)  # (a repair may have rebuilt them)
        if mode in {"hybrid", "bm25"} and self._bm25 is not None and groups:
            terms = content_terms(question) if terms is None else terms
            if terms:
                scores = self._bm25.get_scores(terms)
                # a group's passages read alike, so score alike: any one stands for all
                best = scores[self._members[self._member_start[:-1]]]
                top = min(self.settings.pool, groups)
                picked = np.argpartition(-best, top - 1)[:top] if top < groups else range(groups)
                lexical = {int(g): float(best[g]) for g in picked if best[g] > 0}
        fused, dr, br = rrf(dense, lexical, self.settings)
        pool = Pool()
        for g, score in fused.items():
            start = int(self._member_start[g])
            stop = min(int(self._member_start[g + 1]), start + self.settings.members)
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
