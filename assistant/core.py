"""The public entry point: ``Assistant`` wires load -> index -> retrieve -> answer -> verify.

Every backend's draft goes through the same verifier, and any backend failure falls back
to the offline answerer with a visible notice, so a user never sees a traceback.

``Assistant(documents=FOLDER_OR_PATHS)`` answers from a corpus instead: the corpus-wide
search picks the documents that speak to the question, each is answered from on its own
(as a single document would be), and every quote names its document.
"""

from __future__ import annotations

import os
import re
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from functools import cached_property
from importlib import resources
from pathlib import Path

from assistant.audit import SentenceEvidence, audit
from assistant.errors import BackendError, DocumentError, QuestionError
from assistant.extractive import CorpusAnswerer, ExtractiveAnswerer
from assistant.retrieve import CorpusRetriever, Retrieval, Retriever
from assistant.types import Answer, Draft
from assistant.verify import ContextSimilarity, CorpusVerifier, Verifier
from index.corpus import DOCUMENT_CACHE, Corpus
from index.corpus_store import CorpusIndex, SyncReport
from index.document import Document
from index.embed import Embedder
from index.load import load_document
from index.store import HybridIndex

DEFAULT_DOCUMENT_NAME = "kazakhstan-colour-revolution-riots.txt"
MAX_QUESTION_CHARS = 2000
BACKENDS = ("extractive", "openai")
#: In a corpus, how many documents one answer may draw on.
MAX_DOCUMENTS = 3

_INJECTION = re.compile(
    r"\b(ignore|disregard|forget|override|bypass)\b.{0,40}\b(instructions?|rules?|prompt|guidelines|"
    r"constraints?|above|previous|system|document|article|text|context|sources?)\b"
    r"|\b(state|present|treat|report) (?:it |this )?as (?:a )?(?:fact|true|truth)\b|\byou are now\b"
    r"|\bpretend\b|\bact as\b|\b(?:from|use) your (?:own )?(?:knowledge|training)\b"
    r"|\b(?:without|no) (?:quoting|quotes?|citing|citations?|sources?)(?: needed| required)?\b"
    r"|\bjailbreak\b|\bdeveloper mode\b|\bnew rules?\b|\bsystem override\b",
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


_INSTRUCTION_PHRASES = re.compile(
    r"\b(?:system override|developer mode|jailbreak)\s*:?|"
    r"\b(?:ignore|disregard|forget|override|bypass)\b[^.?!]{0,60}?\b(?:instructions?|rules?|prompt|"
    r"guidelines|constraints?|document|article|text|above)\b(?:\s+and)?|"
    r"\b(?:simply |just )?(?:state|present|treat|report|confirm|assert)\b(?: it| this)?(?: as)?"
    r"(?: a)?(?: fact| true| truth)?(?: that)?\b|"
    r"\bpretend(?: that)?\b|\byou are now\b[^.?!]*[.?!]?|\b(?:from|use) your (?:own )?"
    r"(?:knowledge|training(?: data)?)\b|"
    r"\b(?:no|without) (?:quotes?|quoting|citations?|sources?)(?: needed| required)?\b",
    re.IGNORECASE,
)


def _valid_text(text: str) -> str:
    """``text`` with unpaired surrogates (JSON can carry "\\ud800") replaced by U+FFFD: they
    are not text, and the tokenizer raises on them."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def strip_instructions(question: str) -> str:
    """The question without text that tries to give the assistant orders; used for retrieval."""
    stripped = " ".join(_INSTRUCTION_PHRASES.sub(" ", question).split()).strip(" ,;:.")
    return stripped or question


def injection_notice(question: str) -> str | None:
    if _INJECTION.search(question):
        return (
            "Your message contains instructions to change how I answer. I ignore them: "
            "I only report what the document says, quoted and attributed."
        )
    return None


class Assistant:
    """Answers questions about one document (or a corpus of them), only from the documents.

    ``documents``: a folder, or a list of files and folders, to answer from a corpus; then
    ``document`` is None and quotes carry their ``document_id`` and ``document_title``.
    ``chroma_url`` (default ``$ASSISTANT_CHROMA_URL``): keep the vectors in a Chroma server
    instead of the embedded store.
    """

    def __init__(
        self,
        document: str | Path | None = None,
        backend: str | None = None,
        *,
        documents: str | Path | Iterable[str | Path] | None = None,
        chroma_url: str | None = None,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        cache_dir: str | Path | None = None,
        retrieval: str = "hybrid",
        k: int = 8,
        timeout: float = 30.0,
        max_retries: int = 2,
        progress: bool = False,
    ) -> None:
        if document is not None and documents is not None:
            raise DocumentError("give one document or a corpus of documents, not both")
        self._documents_source = documents
        self.corpus: Corpus | None = Corpus(documents) if documents is not None else None
        self.document_path: Path | None = None
        self.document: Document | None = None
        if self.corpus is None:
            self.document_path = Path(document) if document else default_document()
            self.document = load_document(self.document_path)
        self._chroma_url = chroma_url
        self._progress = progress
        if backend is None:
            has_key = api_key or os.environ.get("OPENAI_API_KEY")
            backend = "openai" if has_key else "extractive"
        if backend not in BACKENDS:
            raise BackendError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        self.backend_name = backend
        self.retrieval_mode = retrieval
        self.k = k
        self._cache_dir = Path(cache_dir) if cache_dir else None
        self._llm_options = dict(
            model=model,
            base_url=base_url,
            api_key=api_key,
            timeout=timeout,
            max_retries=max_retries,
        )
        self.evidence: dict[str, SentenceEvidence] = {}
        self._answerers: OrderedDict[str, ExtractiveAnswerer] = OrderedDict()
        self._verifiers: OrderedDict[str, Verifier] = OrderedDict()
        if self.document is not None:
            self.evidence = {e.sentence.id: e for e in audit(self.document)}
            self.extractive: ExtractiveAnswerer | CorpusAnswerer = ExtractiveAnswerer(
                self.document, self.evidence
            )
        else:
            self.extractive = CorpusAnswerer(self._answerer_for)
        if backend == "openai":
            self.llm  # noqa: B018  (fail fast on bad configuration)

    # -- lazily built parts (the embedding model costs seconds to import) ------------------

    @cached_property
    def embedder(self) -> Embedder:
        return Embedder()

    @cached_property
    def index(self) -> HybridIndex | CorpusIndex:
        if self.corpus is not None:
            return CorpusIndex.open(
                self.corpus,
                self.embedder,
                cache_dir=self._cache_dir,
                chroma_url=self._chroma_url,
                progress=self._progress,
            )
        return HybridIndex.open(
            self.document, self.embedder, cache_dir=self._cache_dir, chroma_url=self._chroma_url
        )

    @cached_property
    def retriever(self) -> Retriever | CorpusRetriever:
        if self.corpus is not None:
            return CorpusRetriever(self.index)
        return Retriever(self.index)

    @cached_property
    def similarity(self) -> ContextSimilarity:
        return ContextSimilarity(self.embedder.token_vectors)

    @cached_property
    def verifier(self) -> Verifier | None:
        """The document's verifier (None for a corpus: each document has its own)."""
        if self.document is None:
            return None
        return Verifier(self.document, self.evidence, self.similarity)

    # -- a corpus's documents, each with its own answerer and verifier -----------------------

    def _document_parts(self, document_id: str) -> tuple[ExtractiveAnswerer, Verifier]:
        answerer = self._answerers.get(document_id)
        if answerer is None:
            doc = self.index.document(document_id)
            evidence = {e.sentence.id: e for e in audit(doc)}
            answerer = ExtractiveAnswerer(doc, evidence)
            self._answerers[document_id] = answerer
            self._verifiers[document_id] = Verifier(doc, evidence, self.similarity)
            while len(self._answerers) > DOCUMENT_CACHE:
                self._answerers.popitem(last=False)
                self._verifiers.popitem(last=False)
        return answerer, self._verifiers[document_id]

    def _answerer_for(self, document_id: str) -> ExtractiveAnswerer:
        return self._document_parts(document_id)[0]

    def document_parts(
        self, document_id: str | None = None
    ) -> tuple[Document, dict[str, SentenceEvidence]]:
        """A document and its sentences' evidence, for showing it: the one document, or the
        corpus's document ``document_id`` (default: its first)."""
        if self.document is not None:
            if document_id not in (None, self.document.id):
                raise DocumentError(f"no document {document_id!r} here")
            return self.document, self.evidence
        if document_id is None:
            document_id = self.documents[0]["id"]
        elif document_id not in self.index.records:
            raise DocumentError(f"no document {document_id!r} in the corpus")
        answerer = self._answerer_for(document_id)
        return answerer.document, answerer.evidence

    def _corpus_verifier(self, retrieval: Retrieval, in_play: list[str]) -> CorpusVerifier:
        """Verifiers of the documents the answer draws on first, then of the other hits'
        documents (an LLM may quote any passage it was shown)."""
        ids = dict.fromkeys([*in_play, *(h.passage.document_id for h in retrieval.hits)])
        return CorpusVerifier([self._document_parts(d)[1] for d in ids])

    def sync(self, progress: bool = False) -> SyncReport | None:
        """Look at the corpus's files again and index what changed (nothing, if nothing
        did); None for a single document, whose index is keyed by its content."""
        if self.corpus is None:
            return None
        found = Corpus(self._documents_source)
        if found.paths != self.corpus.paths:  # (else keep the parsed documents it holds)
            self.corpus = found
        index = self.index
        index.corpus = self.corpus
        report = index.sync(progress=progress)
        if report.changed:
            self.__dict__.pop("retriever", None)
            self._answerers.clear()
            self._verifiers.clear()
        return report

    @property
    def documents(self) -> list[dict]:
        """The documents answered from: id, title, path and passage count of each."""
        if self.document is not None:
            doc = self.document
            passages = sum(1 for s in doc.sentences if s.text.strip())
            return [{"id": doc.id, "title": doc.title, "path": str(doc.path), "passages": passages}]
        return [
            {"id": r.id, "title": r.title, "path": r.path, "passages": r.passages}
            for r in sorted(self.index.records.values(), key=lambda r: r.path)
        ]

    @cached_property
    def llm(self):
        from assistant.openai_backend import OpenAIBackend

        return OpenAIBackend(**self._llm_options)

    # -- API -------------------------------------------------------------------------------

    def with_document(self, document: str | Path) -> Assistant:
        """A new assistant for another document with this one's backend settings; the
        embedding model is shared (one per process), the index is the new document's own."""
        return Assistant(
            document,
            backend=self.backend_name,
            chroma_url=self._chroma_url,
            cache_dir=self._cache_dir,
            retrieval=self.retrieval_mode,
            k=self.k,
            **self._llm_options,
        )

    @property
    def backend_label(self) -> str:
        """What the page shows as the backend in use."""
        if self.backend_name == "openai":
            return f"OpenAI-compatible model {self.llm.model}"
        return "offline (extractive, no language model)"

    def audit(self) -> list[dict]:
        """Evidence status of every sentence: cited, uncited, hedged or quoted.  For a
        corpus, every document's sentences, each row naming its document."""
        if self.document is not None:
            return [e.to_dict() for e in self.evidence.values()]
        rows = []
        for record in self.documents:
            for e in audit(self.index.document(record["id"])):
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
        ``within``: over a corpus, answer only from these documents (their ids)."""
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
        """Yield text as it is drafted (LLM backends), then the final verified ``Answer``."""
        started = time.perf_counter()
        question = self._check_question(question)
        notices: list[str] = []
        injected = injection_notice(question)
        if injected:
            notices.append(injected)
        standalone = self._standalone(question, history or [], notices)
        if notices:
            standalone = strip_instructions(standalone)
        retrieval = self.retrieve(standalone, within=within)
        per_document = retrieval.per_document[:MAX_DOCUMENTS]  # empty for one document
        draft: Draft | None = None
        if self.backend_name == "openai":
            try:
                passages = [h.passage for h in retrieval.hits]
                titles = (  # over a corpus the model is told which document says what
                    {p.document_id: self.index.title(p.document_id) for p in passages}
                    if isinstance(self.index, CorpusIndex)
                    else None
                )
                for item in self.llm.stream_draft(
                    standalone, passages, history or [], titles=titles
                ):
                    if isinstance(item, Draft):
                        draft = item
                    else:
                        yield item
                if draft is None:
                    raise BackendError("the model returned no answer")
            except BackendError as exc:
                notices.append(
                    f"The language model failed ({exc}); this answer comes from the offline "
                    "extractive backend instead."
                )
                draft = None
        if draft is None:
            if isinstance(self.extractive, CorpusAnswerer):
                draft = self.extractive.draft(
                    per_document, premise_check=not injected, corpus=retrieval
                )
            else:
                draft = self.extractive.draft(retrieval, premise_check=not injected)
        draft.notices = notices + draft.notices
        if self.corpus is not None:
            in_play = [r.hits[0].passage.document_id for r in per_document if r.hits]
            verifier: Verifier | CorpusVerifier = self._corpus_verifier(retrieval, in_play)
        else:
            verifier = self.verifier
        answer = verifier.verify(draft, question, closest=self._closest(retrieval))
        answer.standalone_question = standalone if standalone != question else None
        answer.latency_ms = round((time.perf_counter() - started) * 1000, 2)
        yield answer

    def retrieve(
        self, question: str, mode: str | None = None, *, within: Sequence[str] | None = None
    ) -> Retrieval:
        """The passages closest to ``question``; ``within`` limits a corpus to those documents."""
        mode = mode or self.retrieval_mode
        if within and self.document is not None:
            if set(within) != {self.document.id}:
                raise DocumentError(f"no document {within[0]!r} here: this is one document")
        elif within:
            return self.retriever.retrieve(question, k=self.k, mode=mode, within=within)
        return self.retriever.retrieve(question, k=self.k, mode=mode)

    # -- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _check_question(question: str) -> str:
        if not isinstance(question, str):
            raise QuestionError(f"a question must be text, not {type(question).__name__}")
        question = " ".join(_valid_text(question).split())
        if not question:
            raise QuestionError("the question is empty")
        if len(question) > MAX_QUESTION_CHARS:
            raise QuestionError(
                f"the question is {len(question)} characters long; "
                f"the limit is {MAX_QUESTION_CHARS}"
            )
        return question

    def _standalone(self, question: str, history: list[dict], notices: list[str]) -> str:
        """Rewrite a follow-up into a standalone question (by the LLM, or by a simple rule)."""
        earlier = [
            _valid_text(t["content"])
            for t in history
            if isinstance(t, dict) and t.get("role") == "user" and isinstance(t.get("content"), str)
        ]
        earlier = [e for e in earlier if e.strip()]
        if not earlier:
            return question
        if self.backend_name == "openai":
            try:
                rewritten, _usage = self.llm.rewrite(question, history)
                if rewritten.strip():
                    return rewritten.strip()
            except BackendError as exc:
                notices.append(f"The follow-up could not be rewritten by the model ({exc}).")
        if len(question.split()) <= 10 and _FOLLOW_UP.search(question):
            return f"{earlier[-1]} {question}"
        return question

    def _closest(self, retrieval: Retrieval, n: int = 2) -> list:
        return [h.passage for h in retrieval.hits[:n] if h.passage.section in {"body", "comment"}]
