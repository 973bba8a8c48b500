"""Chat web page: a thin Gradio layer over ``Assistant.stream``.

Run ``python app.py [--port N] [--document PATH] [--backend extractive|openai]``; it serves
on 127.0.0.1 only.  The chat streams the model's draft (LLM backends) and then replaces it
with the verified answer, each quote shown as a block quote with its section and footnotes.
A typed endpoint ``/ask`` (``gr.api``) returns ``Answer.to_dict()`` for API and MCP clients.
"""

from __future__ import annotations

import argparse
import html
import logging
import os
import re
import sys
from collections.abc import Iterator
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import gradio as gr

from assistant import Answer, Assistant, AssistantError
from assistant.core import BACKENDS
from assistant.errors import QuestionError
from assistant.present import to_markdown

log = logging.getLogger("assistant.app")

HOST = "127.0.0.1"
DEFAULT_PORT = 7860
EXAMPLES = [
    "How many police officers were injured?",
    "What does the reader comment say?",
    "What is the population of Kazakhstan?",
]
PLACEHOLDER = "Ask a question about the document…"
CHECKING = "\n\n*Checking the quotes against the document…*"
CSS = """
.gradio-container { max-width: 960px !important; margin: 0 auto !important; }
.message blockquote { border-left: 3px solid var(--color-accent); margin: 0.6em 0;
  padding: 0.2em 0.8em; background: var(--background-fill-secondary); }
"""

# IBM Plex Sans ships with Gradio in regular, semibold and bold: no font requests leave the host.
THEME = gr.themes.Default(
    primary_hue="indigo",
    font=[gr.themes.LocalFont("IBM Plex Sans", weights=(400, 600, 700)), "system-ui", "sans-serif"],
)
_STATUS_FOOTER = re.compile(r"\s*<sub>[^<]*</sub>\s*$")
_bot: Assistant | None = None


def get_bot() -> Assistant:
    """The process-wide assistant (default document and backend), built on first use."""
    global _bot
    if _bot is None:
        _bot = Assistant()
    return _bot


def warm(bot: Assistant) -> None:
    """Load the embedding model, index and verifier now, so the first question is fast."""
    if bot.backend_name == "extractive":
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


def to_history(history: list[Any] | None) -> list[dict]:
    """Gradio's chat history as ``[{"role", "content"}]`` with plain-text contents."""
    turns: list[dict] = []
    for message in history or []:
        if isinstance(message, dict):
            role, content = message.get("role"), message.get("content")
        else:  # a gr.ChatMessage or similar
            role, content = getattr(message, "role", None), getattr(message, "content", None)
        if role not in ("user", "assistant"):
            continue
        text = content_text(content).strip()
        if role == "assistant":
            text = _STATUS_FOOTER.sub("", text)  # drop the "answered · backend" footer
        if text:
            turns.append({"role": role, "content": text})
    return turns


def error_message(exc: AssistantError) -> str:
    if isinstance(exc, QuestionError):
        return f"**Please ask a question about the document.** ({exc}.)"
    return f"**Sorry, I could not answer that:** {exc}."


# -- the app ------------------------------------------------------------------------------


def validate_message(message: Any) -> dict:
    """Stop a blank message in the page itself, before it becomes an empty chat bubble."""
    return gr.validate(bool(content_text(message).strip()), "Please type a question first.")


def make_chat_fn(bot: Assistant):
    """The ChatInterface function: streams the draft, then yields the verified answer."""

    def respond(message: Any, history: list[Any]) -> Iterator[str]:
        streamed = ""
        try:
            for item in bot.stream(content_text(message), to_history(history)):
                if isinstance(item, Answer):
                    yield to_markdown(item)
                else:
                    streamed += item
                    yield streamed + CHECKING
        except AssistantError as exc:
            yield error_message(exc)
        except Exception:
            log.exception("unexpected error while answering")
            yield "**Sorry, something went wrong on our side.** Please try again."

    return respond


def make_api_fn(bot: Assistant):
    def ask(question: str) -> dict:
        """Answer a question about the document, only from the document, with verbatim quotes.

        Args:
            question: A question about the document.

        Returns:
            The verified answer: question, status ("answered" or "not_in_document"), text,
            quotes (verbatim spans with start/end offsets, section and footnotes), claims
            (each marked supported or not, with the quotes backing it) and backend.
        """
        try:
            return bot.ask(question).to_dict()
        except AssistantError as exc:
            raise gr.Error(str(exc)) from exc

    return ask


def build_app(bot: Assistant | None = None) -> gr.Blocks:
    """The chat page for ``bot`` (default: the shared assistant), plus the ``/ask`` API."""
    if bot is None:
        bot = get_bot()
    raw_title = bot.document.title or bot.document_path.name
    title = html.escape(raw_title, quote=False)  # shown as HTML in the page's <h1>
    description = (
        "<p style='text-align: center'>Answers come <b>only from this document</b>, as "
        "<b>verbatim quotes</b> with the section each comes from and the footnote the article "
        "cites for it. If the document does not say, the assistant says so.</p>"
    )
    demo = gr.ChatInterface(
        make_chat_fn(bot),
        chatbot=gr.Chatbot(
            label="Answers",
            show_label=False,
            scale=1,
            min_height=360,
            placeholder=f"Questions about <b>{title}</b>",
            buttons=["copy"],
            feedback_options=None,
        ),
        textbox=gr.Textbox(
            placeholder=PLACEHOLDER,
            show_label=False,
            scale=7,
            autofocus=True,
            submit_btn=True,
            stop_btn=True,
        ),
        examples=EXAMPLES,
        title=title,
        description=description,
        api_name="chat",
        fill_height=True,
        validator=validate_message,
    )
    demo.title = raw_title  # the browser tab's title is plain text
    with demo:
        gr.api(make_api_fn(bot), api_name="ask")
    return demo


def page_assets() -> dict[str, Any]:
    """Theme, CSS and JS the page needs; pass them to ``launch`` or ``gr.mount_gradio_app``."""
    return {"theme": THEME, "css": CSS}


def launch(demo: gr.Blocks, port: int, host: str = HOST, **kwargs: Any) -> Any:
    """Serve ``demo`` (on 127.0.0.1 unless told otherwise) with the page's theme, CSS and JS."""
    return demo.launch(server_name=host, server_port=port, **page_assets(), **kwargs)


def mount(app: Any, path: str = "/assistant", bot: Assistant | None = None) -> Any:
    """Mount the page into an existing FastAPI ``app`` at ``path``; returns the app."""
    return gr.mount_gradio_app(app, build_app(bot), path=path, **page_assets())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="Chat with one document, answered only from it.")
    ap.add_argument(
        "--port",
        type=int,
        default=os.environ.get("ASSISTANT_PORT", str(DEFAULT_PORT)),
        help=f"port on 127.0.0.1 (default: $ASSISTANT_PORT or {DEFAULT_PORT})",
    )
    ap.add_argument(
        "--host",
        default=os.environ.get("ASSISTANT_HOST", HOST),
        help=f"address to bind (default: $ASSISTANT_HOST or {HOST}; loopback only)",
    )
    ap.add_argument(
        "--mcp",
        action="store_true",
        default=os.environ.get("ASSISTANT_MCP", "") not in ("", "0", "false", "False"),
        help="also serve the MCP endpoint at /gradio_api/mcp/ (or set ASSISTANT_MCP=1)",
    )
    ap.add_argument("--document", default=None, help="document file (default: shipped article)")
    ap.add_argument("--backend", choices=BACKENDS, default=None, help="answer backend")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)

    global _bot
    try:
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
