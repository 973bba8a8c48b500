"""Command line: ``assistant ask "question"``, ``index``, ``audit`` and ``serve``."""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import time
from collections import Counter
from pathlib import Path

from assistant.audit import STATUSES
from assistant.errors import AssistantError


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="assistant", description="Answers questions about a document, only from it."
    )
    ap.add_argument(
        "--document", type=Path, default=None, help="document file (default: the shipped article)"
    )
    sub = ap.add_subparsers(dest="command", required=True)
    ask = sub.add_parser("ask", help="answer one question")
    ask.add_argument("question")
    ask.add_argument("--json", action="store_true", help="print the answer's to_dict() as JSON")
    ask.add_argument("--backend", choices=["extractive", "openai"], default=None)
    ask.add_argument("--model", default=None)
    ask.add_argument("--base-url", default=None)
    idx = sub.add_parser("index", help="build (or rebuild) the retrieval index")
    idx.add_argument("--rebuild", action="store_true")
    aud = sub.add_parser("audit", help="evidence status of every sentence, as a table")
    aud.add_argument("--json", action="store_true", help="one JSON object per sentence instead")
    serve = sub.add_parser("serve", help="serve the chat page (and optionally MCP) on 127.0.0.1")
    serve.add_argument(
        "--port", type=int, default=None, help="port (default: $ASSISTANT_PORT or 7860)"
    )
    serve.add_argument(
        "--host", default=None, help="address (default: $ASSISTANT_HOST or 127.0.0.1)"
    )
    serve.add_argument(
        "--mcp", action="store_true", help="also serve MCP at /gradio_api/mcp/ (or ASSISTANT_MCP=1)"
    )
    serve.add_argument("--backend", choices=["extractive", "openai"], default=None)
    args = ap.parse_args(argv)

    if argv is None and args.command != "serve" and hasattr(signal, "SIGPIPE"):
        # `assistant audit | head` ends quietly, like any Unix tool.  Only for a real command
        # line that prints: a server (or a test process calling main()) must keep Python's
        # default, where a closed socket raises BrokenPipeError instead of killing the process.
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if args.command == "serve":
        from assistant import web  # imports Gradio (seconds): only when serving

        return web.main(serve_argv(args))

    try:
        if args.command == "index":
            from assistant.core import default_document
            from index.embed import Embedder
            from index.load import load_document
            from index.store import HybridIndex

            doc = load_document(args.document or default_document())
            t0 = time.perf_counter()
            ix = HybridIndex.open(doc, Embedder(), progress=True, rebuild=args.rebuild)
            print(
                f"index ready: {len(ix.passages)} passages in "
                f"{time.perf_counter() - t0:.2f} s at {ix.path}"
            )
            return 0

        from assistant.core import Assistant

        if args.command == "audit":
            rows = Assistant(args.document, backend="extractive").audit()
            if args.json:
                for row in rows:
                    print(json.dumps(row, ensure_ascii=False))
            else:
                print(audit_table(rows, shutil.get_terminal_size((80, 24)).columns))
            return 0

        from assistant.present import to_terminal

        bot = Assistant(
            args.document, backend=args.backend, model=args.model, base_url=args.base_url
        )
        answer = bot.ask(args.question)
        if args.json:
            print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
        else:
            print(to_terminal(answer))
        return 0
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def serve_argv(args: argparse.Namespace) -> list[str]:
    """The ``serve`` flags for ``assistant.web.main``; unset ones keep its env defaults."""
    argv: list[str] = []
    for flag, value in (
        ("--port", args.port),
        ("--host", args.host),
        ("--document", args.document),
        ("--backend", args.backend),
    ):
        if value is not None:
            argv += [flag, str(value)]
    if args.mcp:
        argv.append("--mcp")
    return argv


def status_label(row: dict) -> str:
    """The status with what earned it: footnote numbers, then any hedge words."""
    label = row["status"]
    if row.get("footnotes"):
        label += " [" + ",".join(str(n) for n in row["footnotes"]) + "]"
    if row["status"] == "hedged" and row.get("hedges"):
        label += ": " + ", ".join(h.lower() for h in row["hedges"])
    return label


def clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def audit_table(rows: list[dict], width: int = 80) -> str:
    """The audit as an aligned table that fits ``width`` columns, then counts per status.

    Reading 100+ JSON lines to find the uncited claims is what this replaces; the full
    sentence and offsets stay available with ``--json``.
    """
    width = max(width, 60)
    labels = [status_label(r) for r in rows]
    num_w = max(1, len(str(len(rows))))
    sec_w = max([len("section"), *(len(r["section"]) for r in rows)])
    stat_w = min(max([len("status"), *(len(label) for label in labels)]), max(12, width // 4))
    text_w = max(20, width - num_w - sec_w - stat_w - 6)
    line = f"{{:>{num_w}}}  {{:<{sec_w}}}  {{:<{stat_w}}}  {{}}"
    out = [line.format("#", "section", "status", "sentence").rstrip()]
    for i, (row, label) in enumerate(zip(rows, labels, strict=True), 1):
        out.append(line.format(i, row["section"], clip(label, stat_w), clip(row["text"], text_w)))
    counts = Counter(r["status"] for r in rows)
    summary = ", ".join(f"{counts[s]} {s}" for s in STATUSES)
    out += ["", f"{len(rows)} sentences: {summary}"]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
