"""Shared fixtures: the shipped article, one ``Assistant`` per session, and offline defaults.

The embedding model costs seconds to load, so everything that needs it shares the
session-scoped ``bot``; ``document`` alone needs no model at all.
"""

from __future__ import annotations

import os

# Offline and quiet before anything imports chromadb, gradio or huggingface_hub.
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.core import Assistant, default_document
from index.document import Document
from index.load import load_document

# The OpenAI fixtures (scripted_server, openai_env, openai_backend).  Registered under the
# module name their own docstring prescribes: ``tests/`` is not a package (no __init__.py),
# so ``tests.conftest_openai`` is not importable, and ``test_openai_backend.py`` already
# loads it as ``conftest_openai``; one name keeps it a single plugin module.
pytest_plugins = ["conftest_openai"]

TESTS_DIR = Path(__file__).resolve().parent
DATA_DIR = TESTS_DIR / "data"


@pytest.fixture(scope="session")
def document_path() -> Path:
    return default_document()


@pytest.fixture(scope="session")
def document(document_path: Path) -> Document:
    """The shipped article, parsed (no model, no index)."""
    return load_document(document_path)


@pytest.fixture(scope="session")
def bot() -> Iterator[Assistant]:
    """One offline assistant on the shipped article for the whole session.

    The backend is pinned to ``extractive`` so an ``OPENAI_API_KEY`` in the caller's
    environment never sends the suite to the network.
    """
    yield Assistant(backend="extractive")
