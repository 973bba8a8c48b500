"""One base exception, so callers can catch everything the assistant raises on purpose."""

from __future__ import annotations


class AssistantError(Exception):
    """Base class: every error raised deliberately by this project derives from it."""


class DocumentError(AssistantError):
    """The document cannot be read or parsed (missing, empty, binary, undecodable)."""


class IndexBuildError(AssistantError):
    """The retrieval index cannot be built or loaded."""


class BackendError(AssistantError):
    """An answer backend failed (bad configuration, unreachable model, malformed output)."""


class PromptError(AssistantError):
    """A prompt file is missing or a template variable was not supplied."""


class QuestionError(AssistantError):
    """The question itself is unusable (empty, too long)."""
