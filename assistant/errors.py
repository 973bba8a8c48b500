"""The project's exceptions, under the name callers know (``assistant.AssistantError``).

They are defined at the bottom layer (``index.errors``), so that loading and indexing
raise them without importing the assistant above.
"""

from index.errors import (
    AssistantError,
    BackendError,
    DocumentError,
    IndexBuildError,
    PromptError,
    QuestionError,
)

__all__ = [
    "AssistantError",
    "BackendError",
    "DocumentError",
    "IndexBuildError",
    "PromptError",
    "QuestionError",
]
