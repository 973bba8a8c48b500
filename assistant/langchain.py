"""LangChain adapters: the assistant as a retriever, a runnable and a tool.

Each adapter wraps an ``Assistant`` through its public API only, so whatever LangChain
does around it (chains, agents, callbacks) the document's passages keep their exact
offsets and every answer is still the verified ``Answer.to_dict()``::

    from assistant import Assistant
    from assistant.langchain import DocumentRetriever, as_runnable, as_tool

    bot = Assistant()
    DocumentRetriever(bot=bot).invoke("How many police officers were injured?")
    as_runnable(bot).invoke("How many police officers were injured?")
    as_tool(bot).invoke({"question": "How many police officers were injured?"})
"""

from __future__ import annotations

import json
from typing import Any, NotRequired

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import StructuredTool, ToolException
from pydantic import BaseModel, Field, PrivateAttr
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from assistant.core import Assistant
from assistant.errors import AssistantError, QuestionError

TOOL_NAME = "ask_document"
TOOL_DESCRIPTION = (
    'Answer a question about the document "{title}", only from that document. '
    "Returns JSON: status ('answered' or 'not_in_document'; the latter means the document "
    "does not say, so do not answer from elsewhere), text, quotes (verbatim spans of the "
    "document with start/end character offsets, section and footnote numbers), claims "
    "(each marked supported or not, with the indexes of the quotes backing it) and backend."
)


def document_title(bot: Assistant) -> str:
    """The document's own title, or its file name when it has none."""
    return bot.document.title or bot.document_path.name


class DocumentRetriever(BaseRetriever):
    """The assistant's hybrid retriever (BM25 + embeddings) as a LangChain retriever.

    Each ``Document`` is one passage, verbatim: ``bot.document.text[start:end] ==
    page_content``; ``metadata`` carries the offsets, section, footnotes, passage id, fused
    score and the evidence status the audit gives the sentence, so a chain downstream can
    cite and qualify what it uses.
    """

    bot: Assistant
    k: int | None = Field(default=None, description="keep at most k passages (default: all)")
    mode: str | None = Field(default=None, description="hybrid | bm25 | dense (default: bot's)")
    _evidence: dict[str, dict] | None = PrivateAttr(default=None)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        hits = self.bot.retrieve(query, mode=self.mode).hits
        if self.k is not None:
            hits = hits[: self.k]
        evidence = self._evidence_by_id()
        doc = self.bot.document
        title, source = document_title(self.bot), str(self.bot.document_path)
        docs = []
        for hit in hits:
            p = hit.passage
            verdict = evidence.get(p.id, {})
            metadata = {
                "id": p.id,
                "start": p.start,
                "end": p.end,
                "section": p.section,
                "footnotes": list(p.footnotes),
                "score": float(hit.score),
                "evidence": verdict.get("status", "uncited"),
                "hedges": list(verdict.get("hedges", [])),
                "document_id": getattr(p, "document_id", "") or doc.id,
                "title": title,
                "source": source,
            }
            docs.append(Document(page_content=p.text, metadata=metadata, id=p.id))
        return docs

    def _evidence_by_id(self) -> dict[str, dict]:
        """The audit verdict per passage id; computed once, since the document is fixed."""
        if self._evidence is None:
            self._evidence = {row["id"]: row for row in self.bot.audit()}
        return self._evidence


class AskInput(TypedDict):
    """A question with optional earlier chat turns (``{"role", "content"}`` dicts)."""

    question: str
    history: NotRequired[list[dict[str, str]]]


class AssistantRunnable(Runnable[str | AskInput, dict[str, Any]]):
    """The whole assistant as a runnable: a question in, the verified answer dict out.

    ``stream`` yields only the final answer: LLM drafts are unverified, and nothing
    unverified should leave the assistant through an API.
    """

    name = "document_assistant"

    def __init__(self, bot: Assistant) -> None:
        self.bot = bot

    def invoke(
        self, input: str | AskInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        return self._call_with_config(self._ask, input, config, run_type="chain")

    def _ask(self, input: str | AskInput) -> dict[str, Any]:
        question, history = _parse_input(input)
        return self.bot.ask(question, history).to_dict()


def _parse_input(value: Any) -> tuple[str, list[dict] | None]:
    """Accept a bare question or ``{"question", "history"}``; anything else is an error."""
    if isinstance(value, str):
        return value, None
    if isinstance(value, dict) and "question" in value:
        return value["question"], value.get("history")
    raise QuestionError(
        f"expected a question string or a dict with 'question', not {type(value).__name__}"
    )


def as_runnable(bot: Assistant) -> AssistantRunnable:
    """``bot`` as a LangChain runnable (invoke, batch, stream, ainvoke, ``|`` composition)."""
    return AssistantRunnable(bot)


class AskDocument(BaseModel):
    """Arguments of the ``ask_document`` tool."""

    question: str = Field(description="A question about the document, in plain language.")


def as_tool(bot: Assistant, name: str = TOOL_NAME) -> StructuredTool:
    """``bot`` as a tool for tool-calling models and agents.

    The tool's content is the answer as JSON (what the model reads); the ``artifact`` of the
    ``ToolMessage`` is the same answer as a dict, for code that wants it without parsing.
    Errors (an empty question) come back to the model as the tool's text, not an exception.
    """

    def ask_document(question: str) -> tuple[str, dict[str, Any]]:
        try:
            answer = bot.ask(question).to_dict()
        except AssistantError as exc:
            raise ToolException(str(exc)) from exc
        return json.dumps(answer, ensure_ascii=False), answer

    return StructuredTool.from_function(
        func=ask_document,
        name=name,
        description=TOOL_DESCRIPTION.format(title=document_title(bot)),
        args_schema=AskDocument,
        response_format="content_and_artifact",
        handle_tool_error=True,
    )
