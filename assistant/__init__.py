"""A document-grounded chat assistant: answers only from the document, with verbatim quotes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.errors import AssistantError

if TYPE_CHECKING:
    from assistant.core import Assistant
    from assistant.types import Answer, Claim, Quote

__all__ = ["Answer", "Assistant", "AssistantError", "Claim", "Quote"]


def __getattr__(name: str):
    # Lazy, so ``index`` modules can import ``assistant.errors`` without a circular import.
    if name == "Assistant":
        from assistant.core import Assistant

        return Assistant
    if name in {"Answer", "Claim", "Quote"}:
        from assistant import types

        return getattr(types, name)
    raise AttributeError(f"module 'assistant' has no attribute {name!r}")
