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


#: Fixtures that load the embedding model: a test asking for one is not in the fast tier.
MODEL_FIXTURES = {"bot", "md_bot"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that need the model are marked ``model``; ``make test-fast`` runs the tests
    marked ``fast`` that are not."""
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.model)


@pytest.fixture(scope="session", autouse=True)
def fast_tier_loads_no_model() -> Iterator[None]:
    """In the fast tier (``ASSISTANT_TEST_TIER=fast``), loading a real model is a test
    bug: it fails loudly instead of quietly making the tier slow."""
    if os.environ.get("ASSISTANT_TEST_TIER") != "fast":
        yield
        return
    from index import embed

    original = embed.Embedder._model

    def guarded(self: embed.Embedder):
        if self.backend != "hash":
            raise AssertionError("the fast tier loads no model: mark this test `model`")
        return original(self)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(embed.Embedder, "_model", guarded)
        yield


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
