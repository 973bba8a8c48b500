"""The public entry point: ``Assistant`` wires load -> index -> retrieve -> answer -> verify.

One path for one document or many: a single document is an index of one.  Every
answerer's draft goes through the same verifier, and an answerer's failure falls back to
the offline answerer with a visible notice, so a user never sees a traceback.
"""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

from assistant import present
from assistant.answerers import Answerer, create
from assistant.audit import SentenceEvidence, evidence_of
from assistant.extractive import ExtractiveAnswerer
from assistant.retrieve import Retrieval, Retriever
from assistant.types import Answer, Draft
from assistant.verify import ContextSimilarity, Verifier
from index.corpus import Corpus
from index.document import Document
from index.embed import Embedder
from index.errors import BackendError, DocumentError, QuestionError
from index.load import load_document
from index.settings import Settings
from index.store import Index, SyncReport

DEFAULT_DOCUMENT_NAME = "kazakhstan-colour-revolution-riots.txt"

#: Keyword arguments of ``Assistant`` that set one setting each: name -> (section, field).
OVERRIDES = {
    "cache_dir": ("index", "cache_dir"),
    "chroma_url": ("index", "chroma_url"),
    "retrieval": ("retrieval", "mode"),
    "k": ("retrieval", "k"),
    "model": ("openai", "model"),
    "base_url": ("openai", "base_url"),
    "api_key": ("openai", "api_key"),
    "timeout": ("openai", "timeout"),
    "max_retries": ("openai", "max_retries"),
}

# Instructions to the assistant inside a question: each phrase is both what is noticed
# and what is taken out before searching, so the two can never drift apart.
_INSTRUCTIONS = re.compile(
    r"\b(?:system override|developer mode|jailbreak|new rules?)\b\s*:?|"
    r"\b(?:ignore|disregard|forget|override|bypass)\b[^.?!]{0,40}?\b(?:instructions?|rules?|"
    r"prompt|guidelines|constraints?|above|previous|system|document|article|text|context|"
    r"sources?)\b(?:\s+and)?|"
    r"\b(?:simply |just )?(?:state|present|treat|report)\b(?: it| this)? as(?: a)?"
    r" (?:fact|true|truth)\b(?: that)?|"
    r"\bpretend(?: that)?\b|\bact as\b|\byou are now\b[^.?!]*[.?!]?|"
    r"\b(?:from|use) your (?:own )?(?:knowledge|training(?: data)?)\b|"
    r"\b(?:no|without) (?:quotes?|quoting|citing|citations?|sources?)(?: needed| required)?\b",
    re.IGNORECASE,
)
_FOLLOW_UP = re.compile(
    r"^\s*(and|but|also|so|what about|how about|and what|what else|why|how come|then)\b|"
    r"\b(it|they|them|their|that|this|those|these|he|she|him|her|there)\b",
    re.IGNORECASE,
)


def default_document() -> Path:
    """The article shipped with the package."""
    return Path(str(resources.files("assistant").joinpath("documents", DEFAULT_DOCUMENT_NAME)))


def _valid_text(text: str) -> str:
    """``text`` with unpaired surrogates (JSON can carry "\\ud800") replaced by U+FFFD: they
    are not text, and the tokenizer raises on them."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


#: Terminal escape sequences (colour codes) and other control characters: not words.
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _printable(text: str) -> str:
    """``text`` without terminal escapes and control characters (tabs and newlines stay)."""
    return _CONTROL.sub(" ", text)


def has_instructions(question: str) -> bool:
    """Does the message try to give the assistant orders?"""
    return bool(_INSTRUCTIONS.search(question))


def strip_instructions(question: str) -> str:
    """The question without text that tries to give the assistant orders; used for retrieval."""
    stripped = " ".join(_INSTRUCTIONS.sub(" ", question).split()).strip(" ,;:.")
    return stripped or question


def injection_notice(question: str) -> str | None:
    return present.INSTRUCTIONS_NOTICE if has_instructions(question) else None


def settings_with(settings: Settings, overrides: dict[str, Any]) -> Settings:
    """``settings`` with ``Assistant``'s keyword overrides applied (``OVERRIDES``)."""
    sections: dict[str, dict[str, Any]] = {}
    for name, value in overrides.items():
        if name not in OVERRIDES:
            raise TypeError(f"Assistant() got an unexpected keyword argument {name!r}")
        if value is None:
            continue
        section, field = OVERRIDES[name]
        sections.setdefault(section, {})[field] = str(value) if name == "cache_dir" else value
    return settings.replace(**sections) if sections else settings


class Assistant:
    """Answers questions about one document (or many), only from the documents.

    ``document``: one file (default: the shipped article); ``documents``: a folder, or a
    list of files and folders (then ``document`` is None and quotes carry their
    ``document_id`` and ``document_title``).  ``backend``: a registered answerer's name;
    ``answerer``: an ``Answerer`` instance instead.  ``settings``: every threshold and
    server (default ``Settings.from_env()``); the keyword overrides of ``OVERRIDES``
    (``cache_dir``, ``chroma_url``, ``model``...) change single settings.
    """

    def __init__(
        self,
        document: str | Path | None = None,
        backend: str | None = None,
        *,
        documents: str | Path | Iterable[str | Path] | None = None,
        settings: Settings | None = None,
        answerer: Answerer | None = None,
        progress: bool = False,
        **overrides: Any,
    ) -> None:
        if document is not None and documents is not None:
            raise DocumentError("give one document or a corpus of documents, not both")
        self.settings = settings_with(settings or Settings.from_env(), overrides)
        self._progress = progress
        self.document_path: Path | None = None
        self.document: Document | None = None
        self._source: Any = documents
        if documents is None:  # one document: an index of one, parsed at once
            self.document_path = Path(document) if document else default_document()
            self._source = [self.document_path]
            self.document = load_document(
                self.document_path, self.settings.index.max_document_bytes
            )
        self.corpus = Corpus(self._source, self.settings.index.document_cache)
        self.corpus.remember(*[self.document] if self.document else [])
        self.retrieval_mode = self.settings.retrieval.mode
        self.k = self.settings.retrieval.k
        if answerer is None:
            name = backend or self.settings.answering.backend
            name = name or ("openai" if self.settings.openai.api_key else "extractive")
            answerer = create(name, self.settings)
        self.answerer = answerer
        #: what answers when the answerer fails: the offline answerer
        self.offline = (
            answerer
            if isinstance(answerer, ExtractiveAnswerer)
            else ExtractiveAnswerer(self.settings)
        )
        self.backend_name = answerer.name

    # -- lazily built parts (the embedding model costs seconds to import) ------------------

    @cached_property
    def embedder(self) -> Embedder:
        return Embedder(settings=self.settings.index)

    @cached_property
    def index(self) -> Index:
        return Index.open(self.corpus, self.embedder, self.settings.index, progress=self._progress)

    @cached_property
    def retriever(self) -> Retriever:
        return Retriever(self.index, self.settings.retrieval)

    @cached_property
    def similarity(self) -> ContextSimilarity:
        return ContextSimilarity(self.embedder.token_vectors)

    @cached_property
    def verifier(self) -> Verifier:
        return Verifier(self.settings, self.similarity)

    def document_parts(
        self, document_id: str | None = None
    ) -> tuple[Document, dict[str, SentenceEvidence]]:
        """A document and its sentences' evidence, for showing it: ``document_id``, or the
        first document (by path: the one document, or the corpus's first)."""
        if document_id is None:
            document_id = self.documents[0]["id"]
        elif document_id not in self.index.records:
            raise DocumentError(f"no document {document_id!r} here")
        doc = self.index.document(document_id)
        return doc, evidence_of(doc)

    def sync(self, progress: bool = False) -> SyncReport:
        """Look at the files again and index what changed (nothing, if nothing did)."""
        found = Corpus(self._source, self.settings.index.document_cache)
        if found.paths != self.corpus.paths:  # (else keep the parsed documents it holds)
            self.corpus = found
        index = self.index
        index.corpus = self.corpus
        report = index.sync(progress=progress)
        if report.changed:
            self.__dict__.pop("retriever", None)
        return report

    @property
    def documents(self) -> list[dict]:
        """The documents answered from: id, title, path and passage count of each."""
        return [
            {"id": r.id, "title": r.title, "path": r.path, "passages": r.passages}
            for r in sorted(self.index.records.values(), key=lambda r: r.path)
        ]

    # -- API -------------------------------------------------------------------------------

    def with_document(self, document: str | Path, *, progress: bool = False) -> Assistant:
        """A new assistant for another document with this one's settings and answerer; the
        embedding model is shared (one per process), the index is the new document's own.
        ``progress``: show a bar while its index builds."""
        return Assistant(
            document, settings=self.settings, answerer=self.answerer, progress=progress
        )

    def with_answerer(self, answerer: Answerer | str) -> Assistant:
        """The same documents, index and verifier, answered by another answerer (an
        instance, or a registered name)."""
        if isinstance(answerer, str):
            answerer = create(answerer, self.settings)
        other = copy.copy(self)  # shares the parts built so far (index, retriever, verifier)
        other.answerer = answerer
        other.backend_name = answerer.name
        if isinstance(answerer, ExtractiveAnswerer):
            other.offline = answerer
        return other

    @property
    def backend_label(self) -> str:
        """What the page shows as the backend in use."""
        return self.answerer.label

    def audit(self) -> list[dict]:
        """Evidence status of every sentence (cited, uncited, hedged or quoted) of every
        document, each row naming its document."""
        rows = []
        for record in self.documents:
            for e in evidence_of(self.index.document(record["id"])).values():
                rows.append(
                    {**e.to_dict(), "document_id": record["id"], "document_title": record["title"]}
                )
        return rows

    def ask(
        self,
        question: str,
        history: list[dict] | None = None,
        *,
        within: Sequence[str] | None = None,
    ) -> Answer:
        """Answer one question; ``history`` is earlier chat turns as role/content dicts;
        ``within``: answer only from these documents (their ids)."""
        answer = None
        for item in self.stream(question, history, within=within):
            if isinstance(item, Answer):
                answer = item
        assert answer is not None
        return answer

    def stream(
        self,
        question: str,
        history: list[dict] | None = None,
        *,
        within: Sequence[str] | None = None,
    ) -> Iterator[str | Answer]:
        """Yield text as it is drafted (LLM answerers), then the final verified ``Answer``."""
        started = time.perf_counter()
        question = self._check_question(question)
        notices: list[str] = []
        instructed = has_instructions(question)
        if instructed:
            notices.append(present.INSTRUCTIONS_NOTICE)
        standalone = self._standalone(question, history or [], notices)
        if notices:
            standalone = strip_instructions(standalone)
        retrieval = self.retrieve(standalone, within=within)
        retrieval.instructions = instructed
        draft: Draft | None = None
        try:
            for item in self.answerer.answer(standalone, retrieval, history or []):
                if isinstance(item, Draft):
                    draft = item
                else:
                    yield item
            if draft is None:
                raise BackendError("the model returned no answer")
        except BackendError as exc:
            if self.answerer is self.offline:
                raise
            notices.append(present.fallback_notice(exc))
            draft = self.offline.draft(retrieval)
        draft.notices = notices + draft.notices
        answer = self.verifier.verify(
            draft,
            question,
            self._in_play(retrieval),
            closest=self._closest(retrieval),
            many=retrieval.documents > 1,
        )
        answer.standalone_question = standalone if standalone != question else None
        answer.latency_ms = round((time.perf_counter() - started) * 1000, 2)
        yield answer

    def verify(self, draft: Draft, question: str, closest: list | None = None) -> Answer:
        """A draft checked against this assistant's documents (all of them): what every
        answer goes through, for drafts made elsewhere."""
        documents = [self.index.document(d["id"]) for d in self.documents]
        return self.verifier.verify(
            draft, question, documents, closest=closest, many=len(documents) > 1
        )

    def retrieve(
        self,
        question: str,
        mode: str | None = None,
        *,
        within: Sequence[str] | None = None,
        k: int | None = None,
    ) -> Retrieval:
        """The ``k`` passages (default: the setting) closest to ``question``; ``within``
        limits the search to those documents."""
        return self.retriever.retrieve(
            question, k=k or self.k, mode=mode or self.retrieval_mode, within=within
        )

    # -- helpers -----------------------------------------------------------------------------

    def _check_question(self, question: str) -> str:
        if not isinstance(question, str):
            raise QuestionError(f"a question must be text, not {type(question).__name__}")
        question = " ".join(_printable(_valid_text(question)).split())
        if not question:
            raise QuestionError("the question is empty")
        limit = self.settings.answering.max_question_chars
        if len(question) > limit:
            raise QuestionError(
                f"the question is {len(question)} characters long; the limit is {limit}"
            )
        return question

    def _standalone(self, question: str, history: list[dict], notices: list[str]) -> str:
        """Rewrite a follow-up into a standalone question (by the answerer, if it can, or by
        a simple rule)."""
        earlier = [
            _valid_text(t["content"])
            for t in history
            if isinstance(t, dict) and t.get("role") == "user" and isinstance(t.get("content"), str)
        ]
        earlier = [e for e in earlier if e.strip()]
        if not earlier:
            return question
        try:
            rewritten = self.answerer.rewrite(question, history)
            if rewritten:
                return rewritten
        except BackendError as exc:
            notices.append(present.rewrite_failed_notice(exc))
        if len(question.split()) <= 10 and _FOLLOW_UP.search(question):
            return f"{earlier[-1]} {question}"
        return question

    def _in_play(self, retrieval: Retrieval) -> list[Document]:
        """The documents an answer may quote: those it draws on first, then the other hits'
        documents (an LLM may quote any passage it was shown)."""
        limit = self.settings.answering.max_documents
        drawn = [r.document for r in retrieval.per_document[:limit] if r.document is not None]
        ids = dict.fromkeys(
            [*(d.id for d in drawn), *(h.passage.document_id for h in retrieval.hits)]
        )
        known = {d.id: d for d in drawn}
        return [known.get(i) or self.index.document(i) for i in ids]

    def _closest(self, retrieval: Retrieval, n: int = 2) -> list:
        return [h.passage for h in retrieval.hits[:n] if h.passage.section in {"body", "comment"}]
