"""A document-grounded chat assistant: answers only from the document, with verbatim quotes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.errors import AssistantError
from index.settings import Settings

if TYPE_CHECKING:
    from assistant.answerers import Answerer
    from assistant.core import Assistant
    from assistant.types import Answer, Claim, Draft, DraftClaim, Quote

__all__ = [
    "Answer",
    "Answerer",
    "Assistant",
    "AssistantError",
    "Claim",
    "Draft",
    "DraftClaim",
    "Quote",
    "Settings",
]


def __getattr__(name: str):
    # Lazy: ``import assistant`` stays cheap (no model, no Chroma) until something is used.
    if name == "Assistant":
        from assistant.core import Assistant

        return Assistant
    if name == "Answerer":
        from assistant.answerers import Answerer

        return Answerer
    if name in {"Answer", "Claim", "Draft", "DraftClaim", "Quote"}:
        from assistant import types

        return getattr(types, name)
    raise AttributeError(f"module 'assistant' has no attribute {name!r}")
