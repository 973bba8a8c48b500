"""Typed data at the pipeline's boundaries: what answerers draft and what users receive.

Answerers (offline or LLM) produce a ``Draft``: statements with the quotes they offer.
Only the verifier turns a draft into an ``Answer``, so nothing reaches a user unchecked.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

from index.document import content_id

Status = Literal["answered", "not_in_document"]


@dataclass(frozen=True)
class Quote:
    """A verbatim span of one document: ``document.text[start:end] == text`` always, where
    ``document`` is the one whose content id is ``document_id``."""

    text: str
    start: int
    end: int
    section: str
    footnotes: tuple[int, ...] = ()
    evidence: str = "uncited"  # cited | uncited | hedged | quoted (see assistant.audit)
    document_id: str = ""
    document_title: str = ""

    @property
    def id(self) -> str:
        return content_id(self.document_id, self.start, self.end, self.text)

    def to_dict(self) -> dict:
        return {
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "section": self.section,
            "footnotes": list(self.footnotes),
            "document_id": self.document_id,
            "document_title": self.document_title,
        }


@dataclass(frozen=True)
class Reason:
    """Why an answerer abstained or framed its answer as it did, or why a claim is not
    supported: a code with its arguments.  ``assistant.present`` turns it into words.

    ``scope`` says of which documents it holds: ``document`` (the one answered from),
    ``closest`` (the candidate documents of a question over many) or ``all`` (every
    document of the index)."""

    code: str
    names: tuple[str, ...] = ()
    scope: str = "document"

    def within(self, scope: str) -> Reason:
        return Reason(self.code, self.names, scope)


@dataclass(frozen=True)
class Claim:
    """One statement of the answer, labelled; ``quotes`` index into ``Answer.quotes``;
    ``reason`` says why it is unsupported (a ``Reason`` code and what it names)."""

    text: str
    supported: bool
    quotes: tuple[int, ...] = ()
    reason: Reason | None = None
    #: the reader's probability that its passage answers (offline) or that its evidence
    #: supports it (claim model), when a model judged it
    confidence: float | None = None

    def to_dict(self) -> dict:
        return {"text": self.text, "supported": self.supported, "quotes": list(self.quotes)}


@dataclass
class Usage:
    """Token usage and (when the model's price is known) cost of one answer."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    model: str = ""

    def add(self, other: Usage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        if other.cost_usd is not None:
            self.cost_usd = (self.cost_usd or 0.0) + other.cost_usd
        self.model = self.model or other.model


@dataclass
class Answer:
    """What the user receives.  ``to_dict`` is the public contract (see README)."""

    question: str
    status: Status
    text: str
    quotes: list[Quote]
    claims: list[Claim]
    backend: str
    notices: list[str] = field(default_factory=list)
    closest: list[Quote] = field(default_factory=list)
    usage: Usage | None = None
    latency_ms: float | None = None
    standalone_question: str | None = None
    corpus: bool = False  # answered from a corpus: the text names each claim's document
    #: how the LLM was asked for its JSON (``json_schema``, ``json_object``, ``prompt``);
    #: empty for the offline answerer
    output_mode: str = ""
    #: quotes the answerer offered that are not in the document, removed by the verifier
    removed_quotes: int = 0

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "status": self.status,
            "text": self.text,
            "quotes": [q.to_dict() for q in self.quotes],
            "claims": [c.to_dict() for c in self.claims],
            "backend": self.backend,
        }

    def to_full_dict(self) -> dict:
        """The contract plus diagnostics (notices, closest passages, usage, latency)."""
        data = self.to_dict()
        data["notices"] = list(self.notices)
        data["closest"] = [q.to_dict() for q in self.closest]
        data["usage"] = asdict(self.usage) if self.usage else None
        data["latency_ms"] = self.latency_ms
        data["standalone_question"] = self.standalone_question
        data["corpus"] = self.corpus
        data["output_mode"] = self.output_mode
        data["removed_quotes"] = self.removed_quotes
        for claim, row in zip(self.claims, data["claims"], strict=True):
            row["confidence"] = claim.confidence
        return data

    @property
    def unsupported(self) -> list[Claim]:
        return [c for c in self.claims if not c.supported]


@dataclass
class DraftClaim:
    """A statement as an answerer proposes it, with the quote strings it offers as support."""

    text: str
    quotes: list[str] = field(default_factory=list)
    #: The document the quotes come from, when the answerer knows (corpus mode); otherwise
    #: the verifier looks for them in every document in play.
    document_id: str | None = None
    #: how sure the answerer is that its passage answers (the reader's probability)
    confidence: float | None = None


@dataclass
class Draft:
    """An answerer's unverified output; the shape LLMs return as JSON (plus bookkeeping)."""

    status: Status
    claims: list[DraftClaim]
    backend: str
    notices: list[str] = field(default_factory=list)
    usage: Usage | None = None
    #: why it abstains, or a note on how it answers (words come from ``present``)
    reason: Reason | None = None
    #: how well its best passage answers (ranks one document's draft against another's)
    confidence: float | None = None
    #: how an LLM was asked for its JSON (``json_schema``, ``json_object``, ``prompt``)
    output_mode: str = ""
