"""Chat web page: a thin Gradio layer over ``Assistant.stream``.

Run ``python app.py`` or ``assistant serve`` (flags: ``--port``, ``--host``, ``--mcp``,
``--document``, ``--backend``); it serves on 127.0.0.1 unless told otherwise.  The page has
the chat on one side and the document on the other: each answer's quotes are numbered links
that scroll the document to the exact span and highlight it, and a claims map colours every
sentence by how the document backs it.  A reader can load another document for their own
session.  The typed endpoint ``/ask`` (``gr.api``) returns ``Answer.to_dict()`` for API and
MCP clients.  ``build_app`` returns the Blocks, so the page can be mounted elsewhere.
"""

from __future__ import annotations

import argparse
import html
import itertools
import json
import logging
import os
import re
import sys
from collections import Counter
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from index.settings import PageSettings, Settings
from index.store import default_cache_dir

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
# Gradio writes uploads under its temp dir, read once at import: keep them in our data folder.
os.environ.setdefault(
    "GRADIO_TEMP_DIR", str(default_cache_dir(Settings.from_env().index) / "uploads")
)

import gradio as gr

from assistant import Answer, Assistant, AssistantError
from assistant.answerers import names as answerer_names
from assistant.audit import ASSERTING, profile
from assistant.errors import DocumentError, QuestionError
from assistant.page_html import (
    answer_html,
    header_html,
    marks_html,
    render_claims_map,
    render_document,
    render_documents,
)

log = logging.getLogger("assistant.app")

HOST = PageSettings.host
DEFAULT_PORT = PageSettings.port
EXAMPLES = [
    "How many police officers were injured?",
    "What does the reader comment say?",
    "What is the population of Kazakhstan?",
]
PLACEHOLDER = "Ask a question about the document…"
#: Headings that name a part of every document, not what this one is about.
_GENERIC_HEADINGS = re.compile(
    r"^(?:introduction|summary|overview|background|contents|comments?|references|sources|"
    r"notes|footnotes|conclusions?|appendix|see also|further reading)\b",
    re.IGNORECASE,
)
_NUMBERING = re.compile(r"^(?:\d+(?:\.\d+)*|[IVX]+|[A-Z])[.)]\s+")
_QUOTE_OR_COLON = re.compile(r"[“”\"‘’:]")
#: Two or more capitalised words in a row, not at a sentence's start: a name.
_NAME = re.compile(r"(?<=[a-z,;:] )((?:[A-Z][a-z]+|[A-Z]{2,})(?: (?:[A-Z][a-z]+|[A-Z]{2,}))+)")


def suggested_questions(bot: Assistant, limit: int = len(EXAMPLES)) -> list[str]:
    """Questions to start with for an uploaded document: about the names its sentences use
    most and the topics of its headings (never from a question set), kept only when the
    offline answerer answers them from the document's own sentences."""
    document = bot.document
    body = [s.text for s in document.sentences if s.section == "body"]
    names = Counter(m.group(1) for text in body for m in _NAME.finditer(text))
    about_names = [f"What is said about {name}?" for name, _n in names.most_common(limit)]
    about_headings: list[str] = []
    for s in document.sentences:
        heading = _NUMBERING.sub("", s.text.strip()).rstrip(":.")
        if (
            s.section == "heading"
            and 2 < len(heading) <= 60
            and not _GENERIC_HEADINGS.match(heading)
            and not _QUOTE_OR_COLON.search(heading)  # "Date: 4 March", nested quotes
        ):
            about_headings.append(f"What is said about {heading[0].lower() + heading[1:]}?")
    # names and headings in turn, so a document with many names still gets its topics
    pairs = itertools.zip_longest(about_names, about_headings)
    candidates = [q for pair in pairs for q in pair if q]
    probe = bot.with_answerer(bot.offline)
    out: list[str] = []
    for question in dict.fromkeys(candidates[: 2 * limit]):
        try:
            answer = probe.ask(question)
        except AssistantError:
            continue
        if answer.status == "answered" and any(q.section in ASSERTING for q in answer.quotes):
            out.append(question)
        if len(out) >= limit:
            break
    return out


CHECKING = "\n\n*Checking the quotes against the document…*"
UPLOAD_TYPES = (".txt", ".md", ".markdown", ".html", ".htm")
#: The picker lists at most this many documents; a larger corpus is searched by title on
#: the server as the reader types, so the page does not carry every title.
PICKER_LIMIT = PageSettings.picker_limit
MAX_UPLOAD_BYTES = PageSettings.max_upload_bytes

# IBM Plex Sans ships with Gradio in regular, semibold and bold: no font requests leave the host.
THEME = gr.themes.Default(
    primary_hue="indigo",
    font=[gr.themes.LocalFont("IBM Plex Sans", weights=(400, 600, 700)), "system-ui", "sans-serif"],
)
_STATUS_FOOTER = re.compile(r"\s*<sub>[^<]*</sub>\s*$")
_TAGS = re.compile(r"<[^>]+>")
_bot: Assistant | None = None


def _static(name: str) -> str:
    return resources.files("assistant").joinpath("static", name).read_text(encoding="utf-8")


CSS = _static("page.css")
JS = _static("page.js")


def get_bot() -> Assistant:
    """The process-wide assistant (default document and backend), built on first use."""
    global _bot
    if _bot is None:
        _bot = Assistant()
    return _bot


def warm(bot: Assistant) -> None:
    """Load the embedding model, index and verifier now, so the first question is fast."""
    if bot.answerer is bot.offline:
        bot.ask(EXAMPLES[0])  # offline and cheap: exercises the whole pipeline
    else:
        bot.retrieve(EXAMPLES[0])  # no paid model call; loads the embedder and index
        bot.verifier  # noqa: B018


# -- chat history -------------------------------------------------------------------------


def content_text(content: Any) -> str:
    """Plain text of one message's content: a string, a list of parts, or a text part.

    Gradio 6 hands history contents over as lists of parts such as
    ``{"type": "text", "text": ...}``; files and components carry no text and are dropped.
    """
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        if content.get("type", "text") == "text" and isinstance(content.get("text"), str):
            return content["text"]
        return ""  # a file ({"path"}/{"file"}) or a component
    if isinstance(content, list):
        return "\n".join(t for t in (content_text(part) for part in content) if t)
    text = getattr(content, "text", None)  # e.g. a gradio TextMessage model
    return text if isinstance(text, str) else ""  # tuples are file paths; components too


def _plain(html_text: str) -> str:
    """An answer message as plain text for the follow-up rewriter (tags and entities gone)."""
    text = _STATUS_FOOTER.sub("", html_text)
    text = re.sub(r"</(p|div|blockquote)>|<br\s*/?>", "\n", text)
    return html.unescape(_TAGS.sub("", text)).strip()


def to_history(history: list[Any] | None) -> list[dict]:
    """Gradio's chat history as ``[{"role", "content"}]`` with plain-text contents."""
    if history is not None and not isinstance(history, (list, tuple)):  # e.g. from /chat
        raise QuestionError("the history must be a list of {role, content} messages")
    turns: list[dict] = []
    for message in history or []:
        if isinstance(message, dict):
            role, content = message.get("role"), message.get("content")
        else:  # a gr.ChatMessage or similar
            role, content = getattr(message, "role", None), getattr(message, "content", None)
        if role not in ("user", "assistant"):
            continue
        text = content_text(content).strip()
        # answers: drop markup and the "answered · backend" footer; questions: the page
        # shows what was typed escaped, the rewriter gets it back as typed
        text = _plain(text) if role == "assistant" else html.unescape(text)
        if text:
            turns.append({"role": role, "content": text})
    return turns


def error_message(exc: AssistantError) -> str:
    if isinstance(exc, QuestionError):
        return f"**Please ask a question about the document.** ({exc}.)"
    return f"**Sorry, I could not answer that:** {exc}."


# -- answering ----------------------------------------------------------------------------


def quoted_documents(bot: Any, answer: Answer) -> dict[str, Any]:
    """The corpus documents an answer quotes, by id: each quote names its section as its
    own document calls it."""
    found = {}
    for i in sorted({q.document_id for q in [*answer.quotes, *answer.closest] if q.document_id}):
        try:
            found[i] = bot.index.document(i)
        except AssistantError:  # edited since indexing: its quotes keep the plain name
            continue
    return found


def stream_reply(
    bot: Any, message: Any, history: list[Any], within: list[str] | None = None
) -> Iterator[tuple[str, Answer | None]]:
    """The chat message as it grows: the model's unverified draft (labelled), then the
    verified answer.  Errors become messages; nothing raises into the page.  ``within``:
    the corpus documents the reader limited the question to."""
    streamed = ""
    scope = {"within": within} if within else {}
    try:
        for item in bot.stream(content_text(message), to_history(history), **scope):
            if isinstance(item, Answer):
                document = getattr(bot, "document", None)
                corpus = is_corpus(bot)
                quoted = quoted_documents(bot, item) if corpus else {}
                yield answer_html(item, document, corpus=corpus, documents=quoted), item
            else:
                streamed += item
                yield streamed + CHECKING, None
    except AssistantError as exc:
        yield error_message(exc), None
    except Exception:
        log.exception("unexpected error while answering")
        yield "**Sorry, something went wrong on our side.** Please try again.", None


def make_chat_fn(bot: Any):
    """A ChatInterface-style function (message, history) -> the growing reply text."""

    def respond(message: Any, history: list[Any]) -> Iterator[str]:
        for text, _answer in stream_reply(bot, message, history):
            yield text

    return respond


def make_api_fn(bot: Assistant):
    def ask(question: str) -> str:
        """Answer a question about the document, only from the document, with verbatim quotes.

        Args:
            question: A question about the document.

        Returns:
            JSON text of the verified answer: question, status ("answered" or "not_in_document"), text, quotes (verbatim spans with start/end offsets, section, footnotes), claims (each supported or not, with its quotes) and backend.
        """  # noqa: E501  (Gradio joins wrapped lines with ", ")
        try:
            return json.dumps(bot.ask(question).to_dict(), ensure_ascii=False)
        except AssistantError as exc:
            raise gr.Error(str(exc)) from exc

    return ask


def make_corpus_api_fns(bot: Assistant):
    """``/ask`` over a corpus takes the documents to answer from, and ``/documents`` lists
    them, so a program (or an MCP client) can ask about one document of many."""

    def ask(question: str, document_ids: list[str] | None = None) -> str:
        """Answer a question only from the corpus's documents, with verbatim quotes naming their document.

        Args:
            question: A question about the documents.
            document_ids: Optional ids (from the documents tool) of the only documents to answer from.

        Returns:
            JSON text of the verified answer: question, status ("answered" or "not_in_document"), text, quotes (verbatim spans with start/end offsets into their document, document_id, document_title, section, footnotes), claims (each supported or not, with its quotes) and backend.
        """  # noqa: E501  (Gradio joins wrapped lines with ", ")
        try:
            if document_ids is not None and not (
                isinstance(document_ids, list) and all(isinstance(d, str) for d in document_ids)
            ):
                raise QuestionError("document_ids must be a list of document id strings")
            answer = bot.ask(question, within=document_ids or None)
            return json.dumps(answer.to_dict(), ensure_ascii=False)
        except AssistantError as exc:
            raise gr.Error(str(exc)) from exc

    def documents() -> str:
        """List the documents answers come from.

        Returns:
            JSON text: a list of {id, title, passages}, one per document; pass ids to ask as document_ids.
        """  # noqa: E501  (Gradio joins wrapped lines with ", ")
        rows = [{k: d[k] for k in ("id", "title", "passages")} for d in bot.documents]
        return json.dumps(rows, ensure_ascii=False)

    return ask, documents


def make_chat_api_fn(bot: Assistant):
    def chat(question: str, history: list[dict] | None = None) -> str:
        """Answer a question in a conversation: a follow-up is read in the light of the earlier turns, then answered only from the document.

        Args:
            question: The new question.
            history: Earlier turns as [{"role": "user" or "assistant", "content": text}].

        Returns:
            JSON text of the verified answer as from ask, plus standalone_question (the follow-up as understood) and notices.
        """  # noqa: E501  (Gradio joins wrapped lines with ", ")
        try:
            answer = bot.ask(question, to_history(history))
        except AssistantError as exc:
            raise gr.Error(str(exc)) from exc
        data = answer.to_dict()
        data["standalone_question"] = answer.standalone_question
        data["notices"] = list(answer.notices)
        return json.dumps(data, ensure_ascii=False)

    return chat


def validate_message(message: Any) -> dict:
    """Stop a blank message in the page itself, before it becomes an empty chat bubble."""
    return gr.validate(bool(content_text(message).strip()), "Please type a question first.")


# -- documents ----------------------------------------------------------------------------


def check_upload(path: str | Path | None) -> Path:
    """Type and size checks before a file is parsed; the loader checks the content."""
    if not path:
        raise DocumentError("no file was uploaded")
    p = Path(path)
    if p.suffix.lower() not in UPLOAD_TYPES:
        raise DocumentError(
            f"{p.name!r} is not a supported type; upload one of {', '.join(UPLOAD_TYPES)}"
        )
    size = p.stat().st_size if p.is_file() else 0
    if size > MAX_UPLOAD_BYTES:
        raise DocumentError(
            f"{p.name!r} is {size / 1e6:.1f} MB; the limit is {MAX_UPLOAD_BYTES / 1e6:.0f} MB"
        )
    return p


def is_corpus(bot: Any) -> bool:
    """Was the assistant made from a folder of documents (not from one document)?  The
    page then shows a picker and each document an answer quotes."""
    return getattr(bot, "document", None) is None


def page_title(bot: Assistant) -> str:
    if is_corpus(bot):
        return f"{len(bot.documents):,} documents"
    return bot.document.title or bot.document_path.name


def document_choices(bot: Assistant) -> list[tuple[str, str]]:
    """The corpus's documents for the picker, as (title, id)."""
    return [(d["title"] or Path(d["path"]).name, d["id"]) for d in bot.documents]


def find_choices(
    choices: list[tuple[str, str]], text: str = "", keep: str | None = None
) -> list[tuple[str, str]]:
    """At most ``PICKER_LIMIT`` documents whose title contains ``text`` (any case), plus
    the document ``keep`` (the one shown, so the picker can still name it): first when
    nothing is searched, last when it is not what the reader typed."""
    needle = text.strip().casefold()
    kept = [c for c in choices if c[1] == keep]
    found = [c for c in choices if needle in c[0].casefold() and c[1] != keep]
    if kept and not needle:
        return (kept + found)[:PICKER_LIMIT]
    if kept and needle in kept[0][0].casefold():
        return (kept + found)[:PICKER_LIMIT]
    return found[: max(PICKER_LIMIT - len(kept), 0)] + kept


def document_views(
    bot: Assistant, *, uploaded: bool = False, selected: str | None = None
) -> tuple[str, str, str]:
    """Header, document view and claims map for ``bot``'s document (over a corpus: for the
    ``selected`` one, by default the first)."""
    document, evidence = bot.document_parts(selected)
    documents = len(bot.documents) if is_corpus(bot) else None
    return (
        header_html(
            page_title(bot),
            bot.backend_label,
            uploaded=uploaded,
            documents=documents,
            footnotes=profile(document).apparatus,
        ),
        render_document(document, evidence),
        render_claims_map(document, evidence),
    )


# -- the page -----------------------------------------------------------------------------


def build_app(bot: Assistant | None = None) -> gr.Blocks:
    """The page for ``bot`` (default: the shared assistant), plus the ``/ask`` API.

    Each browser session holds its own chat history and, if the reader loads one, its own
    document (a ``gr.State``); the default document's assistant is shared and read-only.
    """
    default = bot if bot is not None else get_bot()
    raw_title = page_title(default)
    head, doc_html, map_html = document_views(default)
    corpus = is_corpus(default)
    choices = document_choices(default) if corpus else []
    searched = len(choices) > PICKER_LIMIT  # too many titles for the page: search them

    def picker_update(document_id: str) -> dict:
        if searched:
            return gr.update(choices=find_choices(choices, keep=document_id), value=document_id)
        return gr.update(value=document_id)

    def search_documents(value: str | None, typed: gr.KeyUpData):
        if not searched:
            return gr.skip()
        return gr.update(choices=find_choices(choices, typed.input_value, keep=value))

    def session_bot(state: Assistant | None) -> Assistant:
        return state if state is not None else default

    def take_question(message: str):
        return "", message

    def show_question(question: str, history: list):
        # The chat renders Markdown with HTML: escaped, typed markup shows as the text it is.
        shown = html.escape(question, quote=False)
        return [*(history or []), {"role": "user", "content": shown}]

    answers = itertools.count(1)

    def respond(
        question: str, history: list, state: Assistant | None, shown: str | None, only: bool
    ):
        """Outputs: chat, document pane, picker, claims map, marks."""
        current = session_bot(state)
        earlier = history[:-1]
        history = [*history, {"role": "assistant", "content": ""}]
        within = [shown] if only and shown and is_corpus(current) else None
        skip = gr.skip()
        for text, answer in stream_reply(current, question, earlier, within):
            history[-1] = {"role": "assistant", "content": text}
            if answer is None:
                yield history, skip, skip, skip, skip
                continue
            numbered = bool(answer.quotes)  # the closest passages are marked, not numbered
            shown = answer.quotes if numbered else answer.closest
            if not is_corpus(current):
                # the pane already shows the document: the page script marks the spans
                doc_id = current.document.id
                marks = marks_html(doc_id, shown, numbered=numbered, nonce=next(answers))
                yield history, skip, skip, skip, marks
                continue
            # a corpus: the pane shows each document the answer quotes, in quote order
            ids = list(dict.fromkeys(q.document_id for q in shown if q.document_id))
            if not ids:
                yield history, skip, skip, skip, skip
                continue
            parts = [current.document_parts(i) for i in ids]
            view = render_documents(parts, shown, numbered=numbered)
            yield history, view, picker_update(ids[0]), render_claims_map(*parts[0]), skip

    def pick_document(document_id: str | None, state: Assistant | None):
        current = session_bot(state)
        if not document_id or not is_corpus(current):
            return gr.skip(), gr.skip()
        try:
            document, evidence = current.document_parts(document_id)
        except AssistantError as exc:
            gr.Warning(str(exc))
            return gr.skip(), gr.skip()
        return render_document(document, evidence), render_claims_map(document, evidence)

    def load_document(
        path: str | None,
        state: Assistant | None,
        progress=gr.Progress(track_tqdm=True),  # noqa: B008
    ):
        try:
            checked = check_upload(path)
            progress(0.0, desc="Reading the document…")
            new = default.with_document(checked, progress=True)
            new.index  # noqa: B018  (build now: the embedding bar moves with its batches)
        except AssistantError as exc:
            # the reader knows the file by its name, not by the server's upload folder
            reason = str(exc).replace(str(Path(path).parent) + os.sep, "") if path else str(exc)
            gr.Warning(f"Could not load that document: {reason}")
            failed = f"**Could not load that document:** {reason}"
            return (gr.skip(),) * (6 + len(EXAMPLES)) + (failed, state)
        views = document_views(new, uploaded=True)
        counts = f"{len(new.document.sentences)} sentences"
        note = f"Loaded **{new.document.title}** ({counts}). Ask about it in the box above."
        hidden = gr.update(visible=False)  # the corpus picker
        asked = suggested_questions(new)
        examples = [
            gr.update(value=q, visible=True) if q else gr.update(visible=False)
            for q in (asked + [""] * len(EXAMPLES))[: len(EXAMPLES)]
        ]
        return (*views, [], gr.update(visible=bool(asked)), hidden, *examples, note, new)

    def reset_document(state: Assistant | None):
        picker_back = gr.update(visible=corpus)
        views = document_views(default)
        examples = [gr.update(value=q, visible=True) for q in EXAMPLES]
        return (*views, [], gr.update(visible=not corpus), picker_back, *examples, "", None)

    with gr.Blocks(title=raw_title, fill_height=False) as demo:
        state = gr.State(None)
        pending = gr.State("")
        header = gr.HTML(head, elem_id="page-head")
        with gr.Row(equal_height=False, elem_id="panes"):
            with gr.Column(scale=5, min_width=360, elem_id="chat-pane"):
                chatbot = gr.Chatbot(
                    label="Answers",
                    show_label=False,
                    height=560,
                    elem_id="chat",
                    placeholder="Ask a question: answers quote the document, word for word.",
                    buttons=["copy"],
                    feedback_options=None,
                    autoscroll=False,  # page.js shows each answer from its start
                )
                textbox = gr.Textbox(
                    placeholder=PLACEHOLDER.replace("document", "documents")
                    if corpus
                    else PLACEHOLDER,
                    label="Your question",
                    show_label=False,
                    autofocus=False,  # page.js focuses it without scrolling the page
                    submit_btn="Ask",
                    elem_id="question",
                )
                # the examples are about the default article, not about a corpus
                with gr.Row(elem_id="examples", visible=not corpus) as examples_row:
                    example_buttons = [
                        gr.Button(q, size="sm", variant="secondary", elem_classes="example")
                        for q in EXAMPLES
                    ]
                with gr.Accordion("Load another document", open=False, elem_id="load-doc"):
                    upload = gr.File(
                        label=f"Text, Markdown or HTML, up to {MAX_UPLOAD_BYTES // 1_000_000} MB",
                        file_types=list(UPLOAD_TYPES),
                        file_count="single",
                        type="filepath",
                        elem_id="upload",
                    )
                    with gr.Row():
                        back = "Back to the corpus" if corpus else "Back to the default article"
                        reset = gr.Button(back, size="sm")
                    doc_status = gr.Markdown(elem_id="doc-status")
            with gr.Column(scale=6, min_width=360, elem_id="doc-pane"):
                with gr.Group(visible=corpus) as picker_group:
                    first = choices[0][1] if choices else None
                    listed = f"{len(choices):,} in the corpus" + (
                        "; type to search their titles" if searched else ""
                    )
                    picker = gr.Dropdown(
                        choices=find_choices(choices, keep=first) if searched else choices,
                        value=first,
                        label=f"Show a document ({listed})",
                        filterable=True,
                        elem_id="doc-picker",
                    )
                    only_shown = gr.Checkbox(
                        False,
                        label="Answer only from the document shown",
                        elem_id="only-shown",
                    )
                with gr.Tabs(elem_id="doc-tabs"):
                    with gr.Tab("Document", id="document", elem_id="tab-document"):
                        doc_view = gr.HTML(doc_html, elem_id="doc-view", js_on_load=None)
                        marks = gr.HTML("", elem_id="doc-marks", js_on_load=None)
                    with gr.Tab("Claims map", id="claims", elem_id="tab-claims"):
                        map_view = gr.HTML(map_html, elem_id="claims-view", js_on_load=None)

        submitted = textbox.submit(  # the validator needs the queue, as in gr.ChatInterface
            take_question,
            [textbox],
            [textbox, pending],
            validator=validate_message,
            api_visibility="private",
        )
        answer_outputs = [chatbot, doc_view, picker, map_view, marks]
        submitted.then(
            show_question, [pending, chatbot], [chatbot], queue=False, api_visibility="private"
        ).then(
            respond,
            [pending, chatbot, state, picker, only_shown],
            answer_outputs,
            api_visibility="private",
            show_progress="minimal",
        )
        for button in example_buttons:  # a button asks what it says (uploads change it)
            button.click(
                lambda h, q: ("", [*(h or []), {"role": "user", "content": q}], q),
                [chatbot, button],
                [textbox, chatbot, pending],
                queue=False,
                api_visibility="private",
            ).then(
                respond,
                [pending, chatbot, state, picker, only_shown],
                answer_outputs,
                api_visibility="private",
            )
        # .input, not .change: an answer moving the picker must not re-render the pane
        picker.input(pick_document, [picker, state], [doc_view, map_view], api_visibility="private")
        if searched:
            picker.key_up(
                search_documents,
                [picker],
                [picker],
                show_progress="hidden",
                queue=False,
                api_visibility="private",
            )

        def clear_chat(state: Assistant | None, shown: str | None):
            """Clearing the chat clears what it left on the page: the last answer's marks
            in the document and any message about a failed upload."""
            current = session_bot(state)
            if not is_corpus(current):
                unmarked = marks_html(current.document.id, [], numbered=False, nonce=next(answers))
                return gr.skip(), unmarked, ""
            document, evidence = current.document_parts(shown)
            return render_document(document, evidence), gr.skip(), ""

        chatbot.clear(
            clear_chat, [state, picker], [doc_view, marks, doc_status], api_visibility="private"
        )
        # (the status note and the session's assistant stay last)
        doc_outputs = [header, doc_view, map_view, chatbot, examples_row, picker_group]
        doc_outputs += [*example_buttons, doc_status, state]
        upload.upload(
            load_document,
            [upload, state],
            doc_outputs,
            api_visibility="private",
            show_progress_on=[doc_status],  # one bar, where the upload's status shows
        )
        reset.click(reset_document, [state], doc_outputs, api_visibility="private")
        if corpus:
            ask_corpus, list_documents = make_corpus_api_fns(default)
            gr.api(ask_corpus, api_name="ask")
            gr.api(list_documents, api_name="documents")
        else:
            gr.api(make_api_fn(default), api_name="ask")
        gr.api(make_chat_api_fn(default), api_name="chat")
    return demo


def page_assets() -> dict[str, Any]:
    """Theme, CSS and JS the page needs; pass them to ``launch`` or ``gr.mount_gradio_app``."""
    return {"theme": THEME, "css": CSS, "js": JS}


def launch(demo: gr.Blocks, port: int, host: str = HOST, **kwargs: Any) -> Any:
    """Serve ``demo`` (on 127.0.0.1 unless told otherwise) with the page's theme, CSS and JS."""
    kwargs.setdefault("max_file_size", MAX_UPLOAD_BYTES)
    return demo.launch(server_name=host, server_port=port, **page_assets(), **kwargs)


def mount(app: Any, path: str = "/assistant", bot: Assistant | None = None) -> Any:
    """Mount the page into an existing FastAPI ``app`` at ``path``; returns the app."""
    return gr.mount_gradio_app(
        app, build_app(bot), path=path, max_file_size=MAX_UPLOAD_BYTES, **page_assets()
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    page = Settings.from_env().page
    ap = argparse.ArgumentParser(description="Chat with one document, answered only from it.")
    ap.add_argument(
        "--port",
        type=int,
        default=page.port,
        help=f"port (default: $ASSISTANT_PORT or {DEFAULT_PORT})",
    )
    ap.add_argument(
        "--host",
        default=page.host,
        help=f"address to bind (default: $ASSISTANT_HOST or {HOST}; loopback only)",
    )
    ap.add_argument(
        "--mcp",
        action="store_true",
        default=page.mcp,
        help="also serve the MCP endpoint at /gradio_api/mcp/ (or set ASSISTANT_MCP=1)",
    )
    docs = ap.add_mutually_exclusive_group()
    docs.add_argument("--document", default=None, help="document file (default: shipped article)")
    docs.add_argument(
        "--documents",
        default=page.documents,
        help="a folder of documents (or $ASSISTANT_DOCUMENTS): chat with the whole corpus",
    )
    ap.add_argument("--backend", choices=answerer_names(), default=None, help="answer backend")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)

    global _bot
    try:
        if args.documents and not args.document:
            _bot = Assistant(documents=args.documents, backend=args.backend, progress=True)
        else:
            _bot = Assistant(args.document, backend=args.backend)
        log.info("warming up (%s backend)…", _bot.backend_name)
        warm(_bot)
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    launch(build_app(_bot), args.port, host=args.host, mcp_server=args.mcp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
