"""In-process stand-ins for tests: an answerer that returns what a test queues and records
what it was asked, and settings that need no model (hashed word vectors).

The scripted HTTP server (``scripted_server.py``) stays for the OpenAI client's own path;
this fake is for everything above the answerer: retrieval hand-off, verification,
fallback, presentation.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from assistant.answerers import Answerer
from assistant.retrieve import Retrieval
from assistant.types import Draft, DraftClaim
from index.settings import Settings


@dataclass
class Asked:
    """One call to the fake: what the answerer was given."""

    question: str
    retrieval: Retrieval
    history: list[dict] = field(default_factory=list)


class FakeAnswerer(Answerer):
    """Answers with what was ``enqueue``d, in order: a ``Draft``, a callable of the
    retrieval returning one, or an exception to raise.  ``stream`` pieces are yielded
    first.  With nothing queued it says ``not_in_document``.  Every call is in ``history``."""

    name = "fake"
    label = "fake answerer (tests)"

    def __init__(self, settings: Settings | None = None) -> None:
        self.history: list[Asked] = []
        self.rewrites: list[str] = []
        self._queue: deque[tuple[object, list[str]]] = deque()

    def enqueue(
        self, reply: Draft | Callable[[Retrieval], Draft] | Exception, stream: Sequence[str] = ()
    ) -> FakeAnswerer:
        self._queue.append((reply, list(stream)))
        return self

    def quote(self, text: str, quotes: Sequence[str]) -> FakeAnswerer:
        """Queue an answer of one claim with these quotes."""
        return self.enqueue(Draft("answered", [DraftClaim(text, list(quotes))], self.name))

    def answer(
        self, question: str, retrieval: Retrieval, history: Sequence[dict] = ()
    ) -> Iterator[str | Draft]:
        self.history.append(Asked(question, retrieval, list(history)))
        reply, pieces = self._queue.popleft() if self._queue else (None, [])
        yield from pieces
        if isinstance(reply, Exception):
            raise reply
        if callable(reply):
            reply = reply(retrieval)
        yield reply if isinstance(reply, Draft) else Draft("not_in_document", [], self.name)

    def rewrite(self, question: str, history: Sequence[dict]) -> str | None:
        self.rewrites.append(question)
        return None


def first_passage(retrieval: Retrieval) -> Draft:
    """A draft quoting the first retrieved passage (what a well-behaved model might do)."""
    if not retrieval.hits:
        return Draft("not_in_document", [], FakeAnswerer.name)
    text = retrieval.hits[0].passage.text
    return Draft("answered", [DraftClaim(f"The document says: {text}", [text])], "fake")


def model_free(cache: Path) -> Settings:
    """Settings that load no model (hashed word vectors, the hand-written rules instead of
    the reader) and keep the index in ``cache``."""
    return Settings().replace(
        index={"cache_dir": str(cache), "embed_backend": "hash"},
        answering={"method": "rules"},
        verification={"method": "rules"},
    )
