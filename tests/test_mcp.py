"""The page's ``ask`` endpoint as an MCP tool, over the real streamable HTTP transport.

The page is launched with Gradio's own MCP server (``mcp_server=True``) on a free loopback
port, and the official ``mcp`` client lists and calls its tools, as a desktop or IDE
client would.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent

from assistant import web
from assistant.core import Assistant

QUESTION = "How many police officers were injured?"
INJURED = "over 100 police injured"
ABSENT = "What is the population of Kazakhstan?"
CALL_TIMEOUT = 60.0
T = TypeVar("T")

# Gradio's queue trips pandas deprecation warnings; its MCP server warns about the chat's
# gr.State input.  Neither is this project's business.
pytestmark = [
    pytest.mark.filterwarnings("ignore::Warning:gradio.queueing"),
    pytest.mark.filterwarnings("ignore::UserWarning:gradio.mcp"),
    pytest.mark.timeout(180),
]


@pytest.fixture(scope="module")
def mcp_url(bot: Assistant) -> Iterator[str]:
    """The page with its MCP server, on a free 127.0.0.1 port; yields the MCP endpoint."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo = web.build_app(bot)
    web.launch(demo, port, prevent_thread_lock=True, quiet=True, mcp_server=True)
    try:
        yield f"http://127.0.0.1:{port}/gradio_api/mcp/"
    finally:
        demo.close()


def with_session(url: str, work: Callable[[ClientSession], Awaitable[T]]) -> T:
    """Open an MCP session over streamable HTTP, run ``work`` in it, bounded in time."""

    async def run() -> T:
        async with (
            streamable_http_client(url) as (read, write, _session_id),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            return await work(session)

    return asyncio.run(asyncio.wait_for(run(), CALL_TIMEOUT))


def ask(url: str, question: str) -> CallToolResult:
    return with_session(url, lambda s: s.call_tool("ask", {"question": question}))


def result_text(result: CallToolResult) -> str:
    [content] = result.content
    assert isinstance(content, TextContent)
    return content.text


def parse_answer(text: str) -> dict[str, Any]:
    """The tool's answer is JSON text (Gradio would render a dict with ``str()``)."""
    return json.loads(text)


def test_ask_tool_is_listed_with_description_and_question(mcp_url: str) -> None:
    tools = with_session(mcp_url, lambda s: s.list_tools()).tools
    ask_tool = next(t for t in tools if t.name == "ask")
    assert "only from the document" in (ask_tool.description or "")
    assert "verbatim" in (ask_tool.description or "")
    schema = ask_tool.inputSchema
    assert schema["properties"]["question"]["type"] == "string"
    assert schema["properties"]["question"].get("description")
    assert schema["required"] == ["question"]


def test_ask_tool_answers_with_verbatim_quotes(mcp_url: str, bot: Assistant) -> None:
    result = ask(mcp_url, QUESTION)
    assert not result.isError, result.content
    answer = parse_answer(result_text(result))
    assert {"question", "status", "text", "quotes", "claims", "backend"} <= set(answer)
    assert answer["status"] == "answered" and answer["question"] == QUESTION
    assert any(INJURED in q["text"] for q in answer["quotes"])
    for q in answer["quotes"]:
        assert bot.document.text[q["start"] : q["end"]] == q["text"]


def test_ask_tool_says_not_in_document(mcp_url: str) -> None:
    answer = parse_answer(result_text(ask(mcp_url, ABSENT)))
    assert answer["status"] == "not_in_document" and answer["quotes"] == []


def test_chat_tool_reads_a_follow_up_in_the_light_of_history(mcp_url: str) -> None:
    history = [{"role": "user", "content": "Tell me about the riots in the southern towns"}]
    arguments = {"question": "And how many police were injured?", "history": history}
    result = with_session(mcp_url, lambda s: s.call_tool("chat", arguments))
    assert not result.isError, result.content
    answer = parse_answer(result_text(result))
    assert answer["status"] == "answered"
    assert any(INJURED in q["text"] for q in answer["quotes"])
    assert "riots" in answer["standalone_question"]  # the follow-up, made standalone


def test_empty_question_is_a_tool_error(mcp_url: str) -> None:
    result = ask(mcp_url, "   ")
    assert result.isError
    assert "empty" in result_text(result)


def test_ask_tool_result_is_json(mcp_url: str) -> None:
    json.loads(result_text(ask(mcp_url, QUESTION)))


def test_every_listed_tool_is_described(mcp_url: str) -> None:
    """An undescribed tool (e.g. the chat's own function) would be offered to models blind."""
    tools = with_session(mcp_url, lambda s: s.list_tools()).tools
    assert tools and all(t.description for t in tools), [t.name for t in tools]
    for tool in tools:  # Gradio joins wrapped docstring lines with ", "; ours are whole
        assert ",," not in tool.description and ", was" not in tool.description, tool.description
