"""Answerers: what drafts an answer from retrieved passages, and the registry of them by name.

An answerer is one method: ``answer(question, retrieval, history)`` yields text as it
drafts (an LLM streaming) and ends with a ``Draft``; the verifier alone turns that into
an ``Answer``.  A new backend registers itself and needs no edit anywhere else::

    from assistant.answerers import Answerer, register

    @register("mine")
    class MyAnswerer(Answerer):
        name = "mine"
        def __init__(self, settings): ...
        def answer(self, question, retrieval, history):
            yield Draft("answered", [DraftClaim("...", ["a verbatim quote"])], self.name)

``Assistant(backend="mine")`` then uses it; ``Assistant(answerer=MyAnswerer(...))`` takes an
instance.  Installed packages can register through the ``document_assistant.answerers``
entry-point group (a ``name = "module:Class"`` entry), found on first use.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from index.errors import BackendError

if TYPE_CHECKING:
    from assistant.retrieve import Retrieval
    from assistant.types import Draft
    from index.settings import Settings

ENTRY_POINTS = "document_assistant.answerers"


class Answerer:
    """Question, retrieval and history in; text pieces, then one ``Draft``, out."""

    #: the name it is registered under, recorded in every answer's ``backend``
    name: str = ""
    #: what the page and the CLI show as the backend in use
    label: str = ""

    def answer(
        self, question: str, retrieval: Retrieval, history: Sequence[dict] = ()
    ) -> Iterator[str | Draft]:
        raise NotImplementedError

    def rewrite(self, question: str, history: Sequence[dict]) -> str | None:
        """A follow-up as a standalone question, if this answerer can write one (an LLM);
        None leaves it to the simple rule.  Raises ``BackendError`` when it fails."""
        return None

    def close(self) -> None:
        """Release what it holds (connections)."""


Factory = Callable[["Settings"], Answerer]
_REGISTRY: dict[str, Factory] = {}
#: Built in, imported only when chosen.
_LAZY = {"extractive": "assistant.extractive", "openai": "assistant.openai_backend"}
_lock = threading.Lock()
_entry_points_loaded = False


def register(name: str) -> Callable[[Factory], Factory]:
    """Register an answerer class (or any ``settings -> Answerer`` factory) by name."""

    def add(factory: Factory) -> Factory:
        _REGISTRY[name] = factory
        return factory

    return add


def _load_entry_points() -> None:
    global _entry_points_loaded
    with _lock:
        if _entry_points_loaded:
            return
        _entry_points_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINTS):
        if ep.name not in _REGISTRY:
            try:
                _REGISTRY[ep.name] = ep.load()
            except Exception as exc:  # a broken plugin must not break the others
                _REGISTRY[ep.name] = _broken(ep.name, exc)


def _broken(name: str, exc: Exception) -> Factory:
    def fail(settings: Settings) -> Answerer:
        raise BackendError(f"answerer {name!r} could not be loaded: {exc}")

    return fail


def names() -> list[str]:
    """Every answerer that can be asked for by name."""
    _load_entry_points()
    return sorted({*_REGISTRY, *_LAZY})


def create(name: str, settings: Settings) -> Answerer:
    """The answerer registered as ``name``, made with these settings."""
    if name not in _REGISTRY and name in _LAZY:
        __import__(_LAZY[name])
    if name not in _REGISTRY:
        known = names()
        if name not in _REGISTRY:
            raise BackendError(f"unknown backend {name!r}; choose one of {', '.join(known)}")
    return _REGISTRY[name](settings)
