"""LangChain adapters: retriever, runnable and tool, each on the real offline assistant.

The agent loop uses LangChain's own fake chat model, so it shows the tool dropping into a
tool-calling conversation without any model or network.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field

from assistant.core import Assistant
from assistant.errors import QuestionError
from assistant.langchain import (
    AssistantRunnable,
    DocumentRetriever,
    as_runnable,
    as_tool,
)
from assistant.types import Answer

QUESTION = "How many police officers were injured?"
INJURED = "over 100 police injured"
ABSENT = "What is the population of Kazakhstan?"
CONTRACT = {"question", "status", "text", "quotes", "claims", "backend"}


def assert_verbatim(answer: dict, bot: Assistant) -> None:
    """Every quote of an answer dict is the document's text at its offsets."""
    assert set(answer) >= CONTRACT  # the to_dict() contract (test_api_contract pins it)
    for q in answer["quotes"]:
        assert bot.document.text[q["start"] : q["end"]] == q["text"]


# -- retriever ------------------------------------------------------------------------------


def test_retriever_returns_verbatim_passages_with_metadata(bot: Assistant) -> None:
    docs = DocumentRetriever(bot=bot).invoke(QUESTION)
    assert docs and all(isinstance(d, Document) for d in docs)
    for d in docs:
        m = d.metadata
        assert bot.document.text[m["start"] : m["end"]] == d.page_content
        assert m["evidence"] in {"cited", "uncited", "hedged", "quoted"}
        assert m["title"] == bot.document.title and m["document_id"] == bot.document.id
        assert d.id == m["id"]
    scores = [d.metadata["score"] for d in docs]
    assert scores == sorted(scores, reverse=True)
    injured = next(d for d in docs if INJURED in d.page_content)
    assert injured.metadata["footnotes"] == [9]
    assert injured.metadata["evidence"] == "cited"
    assert injured.metadata["section"] == "body"


def test_retriever_k_and_evidence_from_the_audit(bot: Assistant) -> None:
    docs = DocumentRetriever(bot=bot, k=2).invoke("reports that NEXTA coordinated the protests")
    assert len(docs) == 2
    nexta = next(d for d in docs if d.page_content.startswith("There are some reports that NEXTA"))
    audit = {row["id"]: row for row in bot.audit()}
    assert nexta.metadata["evidence"] == audit[nexta.metadata["id"]]["status"] == "hedged"
    assert nexta.metadata["hedges"] and nexta.metadata["footnotes"] == [5]


def test_retriever_async_matches_sync(bot: Assistant) -> None:
    retriever = DocumentRetriever(bot=bot, k=3)
    sync = retriever.invoke(QUESTION)
    async_ = asyncio.run(retriever.ainvoke(QUESTION))
    assert [d.metadata["id"] for d in async_] == [d.metadata["id"] for d in sync]


# -- runnable -------------------------------------------------------------------------------


def test_runnable_invoke_and_batch(bot: Assistant) -> None:
    runnable = as_runnable(bot)
    assert runnable.get_name() == "document_assistant"
    answer = runnable.invoke(QUESTION)
    assert answer["status"] == "answered"
    assert any(INJURED in q["text"] for q in answer["quotes"])
    assert_verbatim(answer, bot)
    batch = runnable.batch([QUESTION, {"question": ABSENT}])
    assert [a["status"] for a in batch] == ["answered", "not_in_document"]
    assert batch[1]["quotes"] == []


def test_runnable_composes_in_a_chain(bot: Assistant) -> None:
    chain = RunnableLambda(lambda q: q.strip()) | as_runnable(bot) | RunnableLambda(quote_texts)
    texts = chain.invoke(f"   {QUESTION}  \n")
    assert any(INJURED in t for t in texts)


def quote_texts(answer: dict) -> list[str]:
    return [q["text"] for q in answer["quotes"]]


def test_runnable_stream_yields_the_verified_answer_and_ainvoke_works(bot: Assistant) -> None:
    runnable = as_runnable(bot)
    chunks = list(runnable.stream(QUESTION))
    assert len(chunks) == 1 and chunks[0]["status"] == "answered"
    answer = asyncio.run(runnable.ainvoke({"question": ABSENT}))
    assert answer["status"] == "not_in_document"


def test_runnable_input_schema_names_question_and_history(bot: Assistant) -> None:
    schema = json.dumps(as_runnable(bot).get_input_jsonschema())
    assert '"question"' in schema and '"history"' in schema


class RecordingBot:
    """Records what the runnable hands the assistant; answers with a canned answer."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def ask(self, question: str, history: list[dict] | None = None) -> Answer:
        self.calls.append((question, history))
        return Answer(question, "not_in_document", "The document does not say.", [], [], "stub")


def test_runnable_passes_history_and_rejects_other_input() -> None:
    stub = RecordingBot()
    runnable = AssistantRunnable(stub)  # type: ignore[arg-type]
    history = [{"role": "user", "content": "Who rioted?"}, {"role": "assistant", "content": "X."}]
    runnable.invoke({"question": "And why?", "history": history})
    runnable.invoke("Why?")
    assert stub.calls == [("And why?", history), ("Why?", None)]
    with pytest.raises(QuestionError, match="question"):
        runnable.invoke({"query": "Why?"})  # type: ignore[arg-type]


# -- tool -----------------------------------------------------------------------------------


def test_tool_returns_the_json_answer(bot: Assistant) -> None:
    tool = as_tool(bot)
    assert tool.name == "ask_document"
    assert "only from that document" in tool.description and "verbatim" in tool.description
    assert list(tool.args) == ["question"]
    answer = json.loads(tool.invoke({"question": QUESTION}))
    assert answer["status"] == "answered"
    assert any(INJURED in q["text"] for q in answer["quotes"])
    assert_verbatim(answer, bot)


def test_tool_error_goes_back_to_the_model_as_text(bot: Assistant) -> None:
    call = {"type": "tool_call", "name": "ask_document", "args": {"question": " "}, "id": "c1"}
    message = as_tool(bot).invoke(call)
    assert isinstance(message, ToolMessage)
    assert message.status == "error" and "empty" in message.content


class ToolCallingFake(GenericFakeChatModel):
    """LangChain's scripted chat model, plus ``bind_tools`` and a record of its inputs."""

    seen: list[list[BaseMessage]] = Field(default_factory=list)
    tools: list[dict] = Field(default_factory=list)

    def bind_tools(self, tools: list[BaseTool], **kwargs: Any) -> ToolCallingFake:
        self.tools = [convert_to_openai_tool(t) for t in tools]
        return self

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> Any:
        self.seen.append(list(messages))
        return super()._generate(messages, *args, **kwargs)


def run_agent(bot: Assistant, question: str) -> tuple[ToolCallingFake, list[BaseMessage]]:
    """A minimal tool-calling loop: model -> tool calls -> ToolMessages -> model."""
    tool = as_tool(bot)
    tools = {tool.name: tool}
    call = {"name": "ask_document", "args": {"question": question}, "id": "call_1"}
    model = ToolCallingFake(
        messages=iter([AIMessage(content="", tool_calls=[call]), AIMessage(content="Done.")])
    )
    llm = model.bind_tools([tool])
    messages: list[BaseMessage] = [HumanMessage(question)]
    while True:
        reply = llm.invoke(messages)
        messages.append(reply)
        if not reply.tool_calls:
            return model, messages
        for c in reply.tool_calls:
            messages.append(tools[c["name"]].invoke({**c, "type": "tool_call"}))


@pytest.mark.parametrize(("question", "status"), [(QUESTION, "answered"), (ABSENT, None)])
def test_tool_drops_into_a_tool_calling_agent_loop(
    bot: Assistant, question: str, status: str | None
) -> None:
    model, messages = run_agent(bot, question)
    [schema] = model.tools
    assert schema["function"]["name"] == "ask_document"
    assert schema["function"]["parameters"]["required"] == ["question"]
    assert [type(m).__name__ for m in messages] == [
        "HumanMessage",
        "AIMessage",
        "ToolMessage",
        "AIMessage",
    ]
    tool_message = messages[2]
    assert isinstance(tool_message, ToolMessage) and tool_message.tool_call_id == "call_1"
    assert len(model.seen) == 2 and model.seen[1][-1] is tool_message  # the model read it
    answer = json.loads(tool_message.content)
    assert answer == tool_message.artifact
    assert_verbatim(answer, bot)
    if status == "answered":
        assert answer["status"] == "answered"
        assert any(INJURED in q["text"] for q in answer["quotes"])
    else:
        assert answer["status"] == "not_in_document" and answer["quotes"] == []


# -- not in the document, through every surface ---------------------------------------------


def test_not_in_document_through_runnable_and_tool(bot: Assistant) -> None:
    via_runnable = as_runnable(bot).invoke(ABSENT)
    via_tool = json.loads(as_tool(bot).invoke({"question": ABSENT}))
    for answer in (via_runnable, via_tool):
        assert answer["status"] == "not_in_document"
        assert answer["quotes"] == [] and "does not say" in answer["text"]
