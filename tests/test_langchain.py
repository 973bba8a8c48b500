"""LangChain adapters: retriever, runnable and tool, each on the real offline assistant.

The agent loop uses LangChain's own fake chat model, so it shows the tool dropping into a
tool-calling conversation without any model or network.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from harness import HARBOUR
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field

from assistant.audit import audit
from assistant.core import Assistant
from assistant.errors import DocumentError, QuestionError
from assistant.langchain import (
    AssistantRunnable,
    DocumentRetriever,
    as_runnable,
    as_tool,
    document_title,
    documents_phrase,
)
from assistant.types import Answer
from index.settings import Settings

QUESTION = "How many police officers were injured?"
INJURED = "over 100 police injured"
ABSENT = "What is the population of Kazakhstan?"
CONTRACT = {"question", "status", "text", "quotes", "claims", "backend"}


BAKE = (
    "# Village Bake Sale\n\n"
    "The bake sale raised 300 pounds for the school roof.[1] Some reports suggest that "
    "Mrs Jones baked forty cakes. The vicar judged the competition.\n"
)
BOTH = "Who judged the competition and who closed the port?"
FILES = {"Harbour Report": "harbour.txt", "Village Bake Sale": "bake.md"}


def assert_verbatim(answer: dict, bot: Assistant) -> None:
    """Every quote of an answer dict is its document's text at its offsets."""
    assert set(answer) >= CONTRACT  # the to_dict() contract (test_api_contract pins it)
    for q in answer["quotes"]:
        if bot.document is not None:
            text = bot.document.text
        else:  # a corpus: the offsets index the quote's own document
            text = bot.index.document(q["document_id"]).text
            assert q["document_title"] == bot.index.title(q["document_id"])
        assert text[q["start"] : q["end"]] == q["text"]


#: These tests check how an answer drawn from several documents is put together and shown,
#: not whether a passage answers: they pin the hand-written answerer, whose choices on
#: these small documents are known.  The default's (the reader's) judgement is measured by the
#: evaluation; ``test_pipeline.py`` records where it abstains on them.
PINNED = Settings.preset("rules")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, bot: Assistant) -> Assistant:
    """Two small documents as one corpus (``bot`` loads the embedding model once)."""
    root = tmp_path_factory.mktemp("langchain-corpus")
    folder = root / "docs"
    folder.mkdir()
    (folder / "harbour.txt").write_text(HARBOUR, encoding="utf-8")
    (folder / "bake.md").write_text(BAKE, encoding="utf-8")
    return Assistant(
        documents=folder, backend="extractive", cache_dir=root / "cache", settings=PINNED
    )


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


def test_corpus_retriever_passages_index_their_own_documents(corpus: Assistant) -> None:
    docs = DocumentRetriever(bot=corpus).invoke(BOTH)
    titles = {d.metadata["document_title"] for d in docs}
    assert titles == {"Harbour Report", "Village Bake Sale"}  # both documents speak to it
    texts = {r["id"]: corpus.index.document(r["id"]).text for r in corpus.documents}
    for d in docs:
        m = d.metadata
        own = texts[m["document_id"]]
        assert own[m["start"] : m["end"]] == d.page_content
        assert m["document_title"] == m["title"] == corpus.index.title(m["document_id"])
        assert Path(m["source"]).name == FILES[m["document_title"]]
        assert d.id == m["id"]
    # Offsets are per document: the other document's text at them is something else.
    for d in docs:
        m = d.metadata
        others = [t for i, t in texts.items() if i != m["document_id"]]
        assert all(t[m["start"] : m["end"]] != d.page_content for t in others)


def test_corpus_retriever_evidence_is_each_documents_own_audit(corpus: Assistant) -> None:
    docs = DocumentRetriever(bot=corpus).invoke("How much did the bake sale raise?")
    for d in docs:
        own = {e.sentence.id: e for e in audit(corpus.index.document(d.metadata["document_id"]))}
        assert d.metadata["evidence"] == own[d.metadata["id"]].status
        assert d.metadata["hedges"] == list(own[d.metadata["id"]].hedges)
    by_text = {d.page_content: d.metadata for d in docs}
    raised = by_text["The bake sale raised 300 pounds for the school roof.[1]"]
    assert (raised["evidence"], raised["footnotes"]) == ("cited", [1])
    assert by_text["Some reports suggest that Mrs Jones baked forty cakes."]["evidence"] == "hedged"


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


def test_corpus_runnable_quotes_name_their_documents(corpus: Assistant) -> None:
    bake, harbour = as_runnable(corpus).batch(
        ["How much did the bake sale raise?", "How many officers were injured?"]
    )
    for answer, title in ((bake, "Village Bake Sale"), (harbour, "Harbour Report")):
        assert answer["status"] == "answered"
        assert {q["document_title"] for q in answer["quotes"]} == {title}
        assert answer["text"].startswith(f"According to “{title}”: ")
        assert_verbatim(answer, corpus)
    assert any("300 pounds" in q["text"] for q in bake["quotes"])
    assert any("two officers were injured" in q["text"] for q in harbour["quotes"])


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


def test_corpus_tool_names_the_corpus_and_answers_from_it(corpus: Assistant) -> None:
    tool = as_tool(corpus)
    assert tool.name == "ask_document" and list(tool.args) == ["question"]
    assert "the 2 documents: “Village Bake Sale”, “Harbour Report”" in tool.description
    assert "only from those documents" in tool.description
    answer = json.loads(tool.invoke({"question": "How many officers were injured?"}))
    assert answer["status"] == "answered"
    assert {q["document_title"] for q in answer["quotes"]} == {"Harbour Report"}
    assert_verbatim(answer, corpus)
    absent = json.loads(tool.invoke({"question": ABSENT}))
    assert absent["status"] == "not_in_document" and absent["quotes"] == []


def test_corpus_tool_in_an_agent_loop(corpus: Assistant) -> None:
    model, messages = run_agent(corpus, "How much did the bake sale raise?")
    assert "the 2 documents" in model.tools[0]["function"]["description"]
    answer = json.loads(messages[2].content)
    assert answer == messages[2].artifact and answer["status"] == "answered"
    assert_verbatim(answer, corpus)


def test_documents_phrase_shortens_a_long_corpus() -> None:
    long = "A very long title " * 10
    many = SimpleNamespace(
        document=None, documents=[{"title": long}, *({"title": f"Doc {i}"} for i in range(11))]
    )
    phrase = documents_phrase(many)  # type: ignore[arg-type]
    assert phrase.startswith("the 12 documents: “A very long title")
    assert phrase.endswith("“Doc 0”, “Doc 1”, “Doc 2”, “Doc 3” and 7 more")
    first = phrase.split("”")[0]
    assert len(first) < 100 and first.endswith("…")
    one = SimpleNamespace(document=None, documents=[{"title": "Harbour Report"}])
    assert documents_phrase(one) == "the document “Harbour Report”"  # type: ignore[arg-type]


def test_document_title_of_a_corpus_names_one_document(corpus: Assistant, bot: Assistant) -> None:
    for record in corpus.documents:
        assert document_title(corpus, record["id"]) == record["title"]
    with pytest.raises(DocumentError, match="no single title"):
        document_title(corpus)
    assert document_title(bot) == bot.document.title == document_title(bot, bot.document.id)


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
