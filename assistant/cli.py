"""Command line: ``assistant ask "question"``, ``assistant index``, ``assistant audit``."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

from assistant.errors import AssistantError


def main(argv: list[str] | None = None) -> int:
    if hasattr(signal, "SIGPIPE"):  # `assistant audit | head` ends quietly, like any Unix tool
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
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
    sub.add_parser("audit", help="evidence status of every sentence, as JSON lines")
    args = ap.parse_args(argv)

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
            bot = Assistant(args.document, backend="extractive")
            for row in bot.audit():
                print(json.dumps(row, ensure_ascii=False))
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


if __name__ == "__main__":
    sys.exit(main())
