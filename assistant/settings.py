"""Every setting in one place: see ``index.settings`` (defined at the bottom layer, since
indexing is configured too)."""

from index.settings import (
    ENVIRONMENT,
    AnsweringSettings,
    IndexSettings,
    OpenAISettings,
    PageSettings,
    RetrievalSettings,
    Settings,
    SettingsError,
    VerificationSettings,
)

__all__ = [
    "ENVIRONMENT",
    "AnsweringSettings",
    "IndexSettings",
    "OpenAISettings",
    "PageSettings",
    "RetrievalSettings",
    "Settings",
    "SettingsError",
    "VerificationSettings",
]
