"""LangChain's own standard suites (the ``langchain-tests`` package) for the retriever and
the tool: the conventions any LangChain user relies on, such as ``invoke(query, k=3)``."""

from __future__ import annotations

from pathlib import Path
from tempfile import mkdtemp
from typing import Any

import pytest
from fakes import model_free
from langchain_tests.integration_tests import RetrieversIntegrationTests, ToolsIntegrationTests
from langchain_tests.unit_tests import ToolsUnitTests

from assistant import Assistant
from assistant.langchain import DocumentRetriever, as_tool

pytestmark = pytest.mark.fast

QUESTION = "How many police officers were injured?"
_bot: Assistant | None = None


def bot() -> Assistant:
    """One model-free assistant on the article for the suites (they build their own
    retrievers and tools from properties, not fixtures)."""
    global _bot
    if _bot is None:
        _bot = Assistant(settings=model_free(Path(mkdtemp(prefix="lc-standard-"))))
    return _bot


class TestRetrieverStandard(RetrieversIntegrationTests):
    @property
    def retriever_constructor(self) -> type[DocumentRetriever]:
        return DocumentRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"bot": bot()}

    @property
    def retriever_query_example(self) -> str:
        return QUESTION


class _AskDocumentTool:
    """What both tool suites build and call."""

    @property
    def tool_constructor(self) -> Any:
        return as_tool(bot())

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"question": QUESTION}


class TestToolUnitStandard(_AskDocumentTool, ToolsUnitTests):
    pass


class TestToolIntegrationStandard(_AskDocumentTool, ToolsIntegrationTests):
    pass


def test_invoke_k_overrides_the_retrievers_own_k() -> None:
    retriever = DocumentRetriever(bot=bot(), k=5)
    assert len(retriever.invoke(QUESTION)) == 5
    assert len(retriever.invoke(QUESTION, k=1)) == 1
    assert len(retriever.invoke(QUESTION, k=12)) == 12  # more than the assistant's 8
    with pytest.raises(ValueError, match="whole number"):
        retriever.invoke(QUESTION, k=-1)
