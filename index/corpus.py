"""A corpus: many documents, each keyed by the hash of its content, plus the manifest that
makes re-indexing incremental.

Files are the source of truth and are parsed on demand (an LRU keeps the recent ones), so a
corpus of thousands of articles costs memory only for what a question touches.  The
manifest (SQLite, in the index folder) remembers, per file, its size, mtime and content id,
and per document what indexing derived from it (BM25 terms, vocabulary words, numbers):
an unchanged file is never read again, a touched-but-unchanged one is read and hashed but
not re-embedded, and only documents whose content changed are embedded.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.document import Document, content_id
from index.errors import DocumentError
from index.load import load_document
from index.settings import IndexSettings

#: File types a corpus folder is searched for (the loader's formats).
SUFFIXES = frozenset({".txt", ".md", ".markdown", ".html", ".htm", ".xhtml"})
MANIFEST_FORMAT = 1


def corpus_files(source: str | Path | Iterable[str | Path]) -> list[Path]:
    """The document files of a folder (recursively, hidden files skipped) or of a list of
    files and folders; resolved, de-duplicated and sorted, so the order is stable."""
    items = [source] if isinstance(source, (str, Path)) else list(source)
    found: dict[Path, None] = {}
    for item in items:
        path = Path(item).expanduser()
        if path.is_dir():
            for f in sorted(path.rglob("*")):
                rel = f.relative_to(path).parts
                if f.is_file() and f.suffix.lower() in SUFFIXES and not _hidden(rel):
                    found[f.resolve()] = None
        elif path.exists():
            found[path.resolve()] = None
        else:
            raise DocumentError(f"document not found: {path}")
    if not found:
        raise DocumentError(f"no documents ({', '.join(sorted(SUFFIXES))}) in {source}")
    return sorted(found)


def _hidden(parts: tuple[str, ...]) -> bool:
    return any(p.startswith(".") for p in parts)


@dataclass(frozen=True)
class DocumentRecord:
    """What the manifest knows of an indexed document without reading it."""

    id: str
    title: str
    path: str
    format: str
    passages: int


@dataclass(frozen=True)
class SourceRecord:
    """A file as last seen: if size and mtime are unchanged, so is its content."""

    path: str
    document_id: str
    mtime_ns: int
    size: int


@dataclass(frozen=True)
class DocumentTerms:
    """What indexing derives from one document's passages, kept so BM25 and the corpus
    vocabulary can be rebuilt without re-reading or re-parsing any file."""

    index: list[int]  # sentence index of each passage
    terms: list[list[str]]  # stemmed content terms of each passage (BM25 tokens)
    words: list[str]  # the document's content words (synonym targets)
    numbers: list[str]  # numbers it mentions
    groups: list[str]  # each passage's text key (``passage_key``): equal texts, equal keys

    def to_json(self) -> str:
        data = {"index": self.index, "terms": self.terms, "words": self.words}
        return json.dumps(
            {**data, "numbers": self.numbers, "groups": self.groups},
            ensure_ascii=False,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, raw: str) -> DocumentTerms:
        data = json.loads(raw)
        return cls(data["index"], data["terms"], data["words"], data["numbers"], data["groups"])


class Corpus:
    """Documents from files, by content id; parsed when first needed, kept in an LRU."""

    def __init__(
        self, source: str | Path | Iterable[str | Path], cache_size: int | None = None
    ) -> None:
        self.paths = corpus_files(source)
        roots = [source] if isinstance(source, (str, Path)) else list(source)
        #: Stable identity of the corpus (its roots), naming its index and collection.
        self.name = content_id(*sorted(str(Path(r).expanduser().resolve()) for r in roots))
        self._where: dict[str, Path] = {}  # document id -> a file holding it
        self._cache: OrderedDict[str, Document] = OrderedDict()
        #: a question touches up to eight documents: this covers recent distinct questions
        self._cache_size = cache_size or IndexSettings().document_cache
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.paths)

    def locate(self, document_id: str, path: str | Path) -> None:
        """Record where a document's text lives (from the manifest or a fresh parse)."""
        self._where[document_id] = Path(path)

    def remember(self, *documents: Document) -> None:
        """Keep parsed documents in the LRU (and know where they came from)."""
        with self._lock:
            for document in documents:
                if document.path is not None:
                    self._where[document.id] = Path(document.path)
                self._cache[document.id] = document
                self._cache.move_to_end(document.id)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def document(self, document_id: str) -> Document:
        """The document with this content id; a file edited since indexing is refused
        (its offsets would no longer index the indexed text)."""
        with self._lock:
            doc = self._cache.get(document_id)
            if doc is not None:
                self._cache.move_to_end(document_id)
                return doc
        path = self._where.get(document_id)
        if path is None:
            raise DocumentError(f"no document {document_id} in the corpus")
        doc = load_document(path)
        if doc.id != document_id:
            raise DocumentError(f"{path} changed since it was indexed; index the corpus again")
        self.remember(doc)
        return doc


class Manifest:
    """The index's memory of the corpus, in SQLite: files, documents and their derived
    terms, and the embeddings of vocabulary words.  Each update is one transaction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        with self._db:
            self._db.executescript(
                """
                CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
                CREATE TABLE IF NOT EXISTS sources (
                    path TEXT PRIMARY KEY, document_id TEXT, mtime_ns INTEGER, size INTEGER);
                CREATE TABLE IF NOT EXISTS documents (
                    id TEXT PRIMARY KEY, title TEXT, path TEXT, format TEXT,
                    passages INTEGER, terms TEXT);
                CREATE TABLE IF NOT EXISTS words (word TEXT PRIMARY KEY, vector BLOB);
                """
            )
        if self.get("format") != str(MANIFEST_FORMAT):
            self.clear(words=True)
            self.set("format", str(MANIFEST_FORMAT))

    def close(self) -> None:
        self._db.close()

    # -- meta --------------------------------------------------------------------------------

    def get(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set(self, key: str, value: str) -> None:
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def clear(self, words: bool = False) -> None:
        """Forget every file and document (the store is to be rebuilt)."""
        with self._db:
            self._db.execute("DELETE FROM sources")
            self._db.execute("DELETE FROM documents")
            if words:
                self._db.execute("DELETE FROM words")

    # -- files and documents -----------------------------------------------------------------

    def sources(self) -> dict[str, SourceRecord]:
        rows = self._db.execute("SELECT path, document_id, mtime_ns, size FROM sources")
        return {r[0]: SourceRecord(*r) for r in rows}

    def documents(self) -> dict[str, DocumentRecord]:
        rows = self._db.execute("SELECT id, title, path, format, passages FROM documents")
        return {r[0]: DocumentRecord(*r) for r in rows}

    def add(
        self, records: list[tuple[DocumentRecord, DocumentTerms]], sources: list[SourceRecord]
    ) -> None:
        """Record indexed documents and the files seen, in one transaction."""
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO documents VALUES (?, ?, ?, ?, ?, ?)",
                [(r.id, r.title, r.path, r.format, r.passages, t.to_json()) for r, t in records],
            )
            self._db.executemany(
                "INSERT OR REPLACE INTO sources VALUES (?, ?, ?, ?)",
                [(s.path, s.document_id, s.mtime_ns, s.size) for s in sources],
            )

    def remove(self, document_ids: Iterable[str], paths: Iterable[str]) -> None:
        with self._db:
            self._db.executemany("DELETE FROM documents WHERE id=?", [(i,) for i in document_ids])
            self._db.executemany("DELETE FROM sources WHERE path=?", [(p,) for p in paths])

    def move(self, paths: dict[str, str]) -> None:
        """Record where documents now live (document id -> path), after renames."""
        with self._db:
            self._db.executemany(
                "UPDATE documents SET path=? WHERE id=?", [(p, i) for i, p in paths.items()]
            )

    def terms(self, ids: Iterable[str] | None = None) -> Iterator[tuple[str, DocumentTerms]]:
        """Every document's derived terms (or only these documents'), in document-id order
        (the BM25 order)."""
        if ids is None:
            rows = self._db.execute("SELECT id, terms FROM documents ORDER BY id")
        else:
            wanted = sorted(set(ids))
            rows = (
                row
                for i in range(0, len(wanted), 500)
                for row in self._db.execute(
                    "SELECT id, terms FROM documents WHERE id IN "
                    f"({','.join('?' * len(wanted[i : i + 500]))}) ORDER BY id",
                    wanted[i : i + 500],
                )
            )
        for doc_id, raw in rows:
            yield doc_id, DocumentTerms.from_json(raw)

    # -- vocabulary vectors -------------------------------------------------------------------

    def word_vectors(self, words: list[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for i in range(0, len(words), 500):
            chunk = words[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for word, blob in self._db.execute(
                f"SELECT word, vector FROM words WHERE word IN ({marks})", chunk
            ):
                out[word] = np.frombuffer(blob, dtype=np.float32)
        return out

    def put_word_vectors(self, words: list[str], vectors: np.ndarray) -> None:
        rows = [
            (w, np.asarray(v, dtype=np.float32).tobytes())
            for w, v in zip(words, vectors, strict=True)
        ]
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO words VALUES (?, ?)", rows)
