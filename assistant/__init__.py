"""A document-grounded chat assistant: answers only from the document, with verbatim quotes."""

from assistant.core import Assistant
from assistant.errors import AssistantError
from assistant.types import Answer, Claim, Quote

__all__ = ["Answer", "Assistant", "AssistantError", "Claim", "Quote"]
