"""Pytest fixtures around ``ScriptedServer`` for anything that talks to the OpenAI backend.

Wire them in ``tests/conftest.py`` with either line:

    pytest_plugins = ["conftest_openai"]
    from conftest_openai import openai_backend, openai_env, scripted_server  # noqa: F401

(``tests/`` is on ``sys.path`` under pytest's default import mode, so the bare module name
resolves.)  ``openai_env`` points ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY`` at the server, so
code that builds ``OpenAIBackend()`` with defaults talks to it, never to the network.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from scripted_server import TEST_API_KEY, ScriptedServer

from assistant.openai_backend import OpenAIBackend

__all__ = ["TEST_API_KEY", "openai_backend", "openai_env", "scripted_server"]


@pytest.fixture
def scripted_server() -> Iterator[ScriptedServer]:
    """A running scripted server, stopped after the test."""
    with ScriptedServer() as server:
        yield server


@pytest.fixture
def openai_env(scripted_server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> ScriptedServer:
    """Environment for a default-constructed backend aimed at the scripted server."""
    monkeypatch.setenv("OPENAI_BASE_URL", scripted_server.url)
    monkeypatch.setenv("OPENAI_API_KEY", TEST_API_KEY)
    for name in ("ASSISTANT_OPENAI_MODEL", "OPENAI_ADMIN_KEY", "OPENAI_CUSTOM_HEADERS"):
        monkeypatch.delenv(name, raising=False)
    return scripted_server


@pytest.fixture
def openai_backend(openai_env: ScriptedServer) -> Iterator[OpenAIBackend]:
    """A backend on the scripted server with short timeouts, so failures are fast."""
    backend = OpenAIBackend(timeout=5.0, max_retries=2)
    yield backend
    backend.close()
