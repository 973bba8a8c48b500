"""LangChain adapters: the assistant as a retriever, a runnable and a tool.

Each adapter wraps an ``Assistant`` through its public API only, so whatever LangChain
does around it (chains, agents, callbacks) the document's passages keep their exact
offsets and every answer is still the verified ``Answer.to_dict()``.  A corpus assistant
(``Assistant(documents=...)``) works the same way: each passage and quote names its
document, and its offsets index that document's own text::

    from assistant import Assistant
    from assistant.langchain import DocumentRetriever, as_runnable, as_tool

    bot = Assistant()
    DocumentRetriever(bot=bot).invoke("How many police officers were injured?")
    as_runnable(bot).invoke("How many police officers were injured?")
    as_tool(bot).invoke({"question": "How many police officers were injured?"})
"""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path
from typing import Any, NotRequired

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import StructuredTool, ToolException
from pydantic import BaseModel, Field, PrivateAttr
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from assistant.audit import audit
from assistant.core import Assistant
from assistant.errors import AssistantError, DocumentError, QuestionError

TOOL_NAME = "ask_document"
TOOL_DESCRIPTION = (
    'Answer a question about the document "{title}", only from that document. '
    "Returns JSON: status ('answered' or 'not_in_document'; the latter means the document "
    "does not say, so do not answer from elsewhere), text, quotes (verbatim spans of the "
    "document with start/end character offsets, section and footnote numbers), claims "
    "(each marked supported or not, with the indexes of the quotes backing it) and backend."
)
TOOL_DESCRIPTION_CORPUS = (
    "Answer a question about {documents}. The answer comes only from those documents. "
    "Returns JSON: status ('answered' or 'not_in_document'; the latter means none of the "
    "documents says, so do not answer from elsewhere), text (each statement names the "
    "document it comes from), quotes (verbatim spans, each with its document_id and "
    "document_title, start/end character offsets into that document's text, section and "
    "footnote numbers), claims (each marked supported or not, with the indexes of the quotes "
    "backing it) and backend."
)
#: How many titles a corpus tool's description names (the rest are counted), and how
#: long each may be: the description is read by the model on every turn.
TOOL_TITLES = 5
TITLE_CHARS = 80
#: Documents whose audit the retriever keeps (a corpus may hold thousands).
EVIDENCE_CACHE = 32


def document_title(bot: Assistant, document_id: str | None = None) -> str:
    """A document's own title, or its file name when it has none: the document
    ``document_id``, or the only one (several documents have no single title)."""
    rows = {d["id"]: d for d in bot.documents}
    if document_id is None:
        if len(rows) != 1:
            raise DocumentError("a corpus has no single title; name one of its documents")
        document_id = next(iter(rows))
    row = rows.get(document_id)
    if row is None:
        return bot.index.title(document_id)
    return row["title"] or Path(row["path"]).name


def documents_phrase(bot: Assistant, limit: int = TOOL_TITLES) -> str:
    """What a tool answers from, for its description: 'the document “A”', or for a corpus
    'the N documents: “A”, “B”, …' with long lists cut to ``limit`` titles and a count."""
    titles = [f"“{_short(d['title'] or Path(d['path']).name)}”" for d in bot.documents]
    if len(titles) == 1:
        return f"the document {titles[0]}"
    shown = ", ".join(titles[:limit])
    if len(titles) > limit:
        shown += f" and {len(titles) - limit} more"
    return f"the {len(titles)} documents: {shown}"


def _short(title: str, limit: int = TITLE_CHARS) -> str:
    title = " ".join(title.split())
    return title if len(title) <= limit else title[: limit - 1].rstrip() + "…"


class DocumentRetriever(BaseRetriever):
    """The assistant's hybrid retriever (BM25 + embeddings) as a LangChain retriever.

    Each ``Document`` is one passage, verbatim: its own document's ``text[start:end] ==
    page_content``; ``metadata`` carries the document's id and title, the offsets, section,
    footnotes, passage id, fused score and the evidence status the audit gives the
    sentence, so a chain downstream can cite and qualify what it uses.  Over a corpus the
    passages may come from several documents; each names its own.
    """

    bot: Assistant
    k: int | None = Field(default=None, description="keep at most k passages (default: all)")
    mode: str | None = Field(default=None, description="hybrid | bm25 | dense (default: bot's)")
    _evidence: OrderedDict[str, dict[str, dict]] = PrivateAttr(default_factory=OrderedDict)

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        mode: str | None = None,
    ) -> list[Document]:
        """``invoke(query, k=3)`` (LangChain's convention) overrides the retriever's ``k``
        for one call; more than the assistant retrieves asks its retriever for more."""
        k = self.k if k is None else k
        if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 0):
            raise ValueError(f"k must be a whole number of passages, not {k!r}")
        hits = self.bot.retrieve(query, mode=mode or self.mode, k=k).hits
        if k is not None:
            hits = hits[:k]
        sources = self._sources()
        docs = []
        for hit in hits:
            p = hit.passage
            doc_id = p.document_id
            title, source = sources.get(doc_id) or (document_title(self.bot, doc_id), "")
            verdict = self._evidence_of(doc_id).get(p.id, {})
            metadata = {
                "id": p.id,
                "start": p.start,
                "end": p.end,
                "section": p.section,
                "footnotes": list(p.footnotes),
                "score": float(hit.score),
                "evidence": verdict.get("status", "uncited"),
                "hedges": list(verdict.get("hedges", [])),
                "document_id": doc_id,
                "document_title": title,
                "title": title,
                "source": source,
            }
            docs.append(Document(page_content=p.text, metadata=metadata, id=p.id))
        return docs

    def _sources(self) -> dict[str, tuple[str, str]]:
        """Title and file of each document, by id (looked up per query: a corpus may sync)."""
        return {
            d["id"]: (d["title"] or Path(d["path"]).name, d["path"]) for d in self.bot.documents
        }

    def _evidence_of(self, document_id: str) -> dict[str, dict]:
        """The audit verdict per passage id of one document.  Kept per document id, which
        hashes the document's text, so an edited document is audited afresh."""
        found = self._evidence.get(document_id)
        if found is None:
            rows = [e.to_dict() for e in audit(self.bot.index.document(document_id))]
            found = self._evidence[document_id] = {row["id"]: row for row in rows}
            while len(self._evidence) > EVIDENCE_CACHE:
                self._evidence.popitem(last=False)
        else:
            self._evidence.move_to_end(document_id)
        return found


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

    question: str = Field(description="A question about the document(s), in plain language.")


def _tool_description(bot: Assistant) -> str:
    """One document's description as always; a corpus's names its documents instead."""
    if len(bot.documents) == 1:
        return TOOL_DESCRIPTION.format(title=document_title(bot))
    return TOOL_DESCRIPTION_CORPUS.format(documents=documents_phrase(bot))


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
        description=_tool_description(bot),
        args_schema=AskDocument,
        response_format="content_and_artifact",
        handle_tool_error=True,
    )
