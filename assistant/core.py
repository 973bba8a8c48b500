"""The public entry point: ``Assistant`` wires load -> index -> retrieve -> answer -> verify.

Every backend's draft goes through the same verifier, and any backend failure falls back
to the offline answerer with a visible notice, so a user never sees a traceback.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from functools import cached_property
from importlib import resources
from pathlib import Path

from assistant.audit import SentenceEvidence, audit
from assistant.errors import BackendError, QuestionError
from assistant.extractive import ExtractiveAnswerer
from assistant.retrieve import Retrieval, Retriever
from assistant.types import Answer, Draft
from assistant.verify import ContextSimilarity, Verifier
from index.document import Document
from index.embed import Embedder
from index.load import load_document
from index.store import HybridIndex

DEFAULT_DOCUMENT_NAME = "kazakhstan-colour-revolution-riots.txt"
MAX_QUESTION_CHARS = 2000
BACKENDS = ("extractive", "openai")

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
    """Answers questions about one document, only from the document."""

    def __init__(
        self,
        document: str | Path | None = None,
        backend: str | None = None,
        *,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        cache_dir: str | Path | None = None,
        retrieval: str = "hybrid",
        k: int = 8,
        timeout: float = 30.0,
        max_retries: int = 2,
    ) -> None:
        self.document_path = Path(document) if document else default_document()
        self.document: Document = load_document(self.document_path)
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
        self.evidence: dict[str, SentenceEvidence] = {
            e.sentence.id: e for e in audit(self.document)
        }
        self.extractive = ExtractiveAnswerer(self.document, self.evidence)
        if backend == "openai":
            self.llm  # noqa: B018  (fail fast on bad configuration)

    # -- lazily built parts (the embedding model costs seconds to import) ------------------

    @cached_property
    def embedder(self) -> Embedder:
        return Embedder()

    @cached_property
    def index(self) -> HybridIndex:
        return HybridIndex.open(self.document, self.embedder, cache_dir=self._cache_dir)

    @cached_property
    def retriever(self) -> Retriever:
        return Retriever(self.index)

    @cached_property
    def verifier(self) -> Verifier:
        return Verifier(
            self.document, self.evidence, ContextSimilarity(self.embedder.token_vectors)
        )

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
        """Evidence status of every sentence: cited, uncited, hedged or quoted."""
        return [e.to_dict() for e in self.evidence.values()]

    def ask(self, question: str, history: list[dict] | None = None) -> Answer:
        """Answer one question; ``history`` is earlier chat turns as role/content dicts."""
        answer = None
        for item in self.stream(question, history):
            if isinstance(item, Answer):
                answer = item
        assert answer is not None
        return answer

    def stream(self, question: str, history: list[dict] | None = None) -> Iterator[str | Answer]:
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
        retrieval = self.retriever.retrieve(standalone, k=self.k, mode=self.retrieval_mode)
        draft: Draft | None = None
        if self.backend_name == "openai":
            try:
                passages = [h.passage for h in retrieval.hits]
                for item in self.llm.stream_draft(standalone, passages, history or []):
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
            draft = self.extractive.draft(retrieval, premise_check=not injected)
        draft.notices = notices + draft.notices
        answer = self.verifier.verify(draft, question, closest=self._closest(retrieval))
        answer.standalone_question = standalone if standalone != question else None
        answer.latency_ms = round((time.perf_counter() - started) * 1000, 2)
        yield answer

    def retrieve(self, question: str, mode: str | None = None) -> Retrieval:
        return self.retriever.retrieve(question, k=self.k, mode=mode or self.retrieval_mode)

    # -- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _check_question(question: str) -> str:
        if not isinstance(question, str):
            raise QuestionError(f"a question must be text, not {type(question).__name__}")
        question = " ".join(question.split())
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
        earlier = [t["content"] for t in history if t.get("role") == "user" and t.get("content")]
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
