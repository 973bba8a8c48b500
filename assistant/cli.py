"""Command line: ``assistant ask "question"``, ``index``, ``audit``, ``documents`` and ``serve``.

Every command works on one document (``--document``, default the shipped article) or on a
corpus (``--documents`` folder or files, or ``$ASSISTANT_DOCUMENTS``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.audit import STATUSES
from assistant.errors import AssistantError, DocumentError
from index.settings import Settings

if TYPE_CHECKING:
    from assistant.core import Assistant


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="assistant",
        description="Answers questions about a document, or a corpus of them, only from them.",
    )
    docs = ap.add_mutually_exclusive_group()
    docs.add_argument(
        "--document", type=Path, default=None, help="document file (default: the shipped article)"
    )
    docs.add_argument(
        "--documents",
        type=Path,
        action="append",
        default=None,
        metavar="PATH",
        help="a corpus: a folder (.txt, .md, .html, recursively) or a file; repeat for more "
        "(default: $ASSISTANT_DOCUMENTS)",
    )
    sub = ap.add_subparsers(dest="command", required=True)
    ask = sub.add_parser("ask", help="answer one question")
    ask.add_argument("question")
    ask.add_argument("--json", action="store_true", help="print the answer's to_dict() as JSON")
    ask.add_argument("--backend", default=None, help="extractive, openai or a plug-in's name")
    ask.add_argument("--model", default=None)
    ask.add_argument("--base-url", default=None)
    idx = sub.add_parser(
        "index", help="build or update the retrieval index (a corpus: only what changed)"
    )
    idx.add_argument("--rebuild", action="store_true", help="embed everything again")
    aud = sub.add_parser("audit", help="evidence status of every sentence, as a table")
    aud.add_argument("--json", action="store_true", help="one JSON object per sentence instead")
    lst = sub.add_parser("documents", help="the documents answered from: id, title, passages")
    lst.add_argument("--json", action="store_true", help="one JSON object per document instead")
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
    serve.add_argument("--backend", default=None, help="extractive, openai or a plug-in's name")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    if argv is None and args.command != "serve" and hasattr(signal, "SIGPIPE"):
        # `assistant audit | head` ends quietly, like any Unix tool.  Only for a real command
        # line that prints: a server (or a test process calling main()) must keep Python's
        # default, where a closed socket raises BrokenPipeError instead of killing the process.
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        if args.command == "serve":
            from assistant import web  # imports Gradio (seconds): only when serving

            return web.main(serve_argv(args))

        source = corpus_source(args)
        if args.command == "index":
            return index_documents(args.document, source, args.rebuild)

        from assistant.core import Assistant

        # The first command on a new corpus indexes it: show that on a terminal only.
        progress = sys.stderr.isatty()
        if args.command in ("audit", "documents"):
            bot = Assistant(
                args.document, backend="extractive", documents=source, progress=progress
            )
            check_corpus(bot)
            rows = bot.audit() if args.command == "audit" else bot.documents
            if args.json:
                for row in rows:
                    print(json.dumps(row, ensure_ascii=False))
            else:
                table = audit_table if args.command == "audit" else documents_table
                print(table(rows, shutil.get_terminal_size((80, 24)).columns))
            return 0

        from assistant.present import to_terminal

        bot = Assistant(
            args.document,
            backend=args.backend,
            documents=source,
            model=args.model,
            base_url=args.base_url,
            progress=progress,
        )
        check_corpus(bot)
        answer = bot.ask(args.question)
        if args.json:
            print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
        else:
            shown = {q.document_id for q in [*answer.quotes, *answer.closest]}
            print(to_terminal(answer, {i: bot.index.document(i) for i in shown if i}))
        return 0
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def corpus_source(args: argparse.Namespace) -> Path | list[str] | None:
    """The corpus to answer from: ``--documents``, else ``$ASSISTANT_DOCUMENTS`` unless a
    ``--document`` was given; None means one document."""
    if args.documents:
        # (as text: an error naming several paths then reads as paths, not PosixPath(...))
        return args.documents[0] if len(args.documents) == 1 else list(map(str, args.documents))
    env = Settings.from_env().page.documents
    if env and args.document is None:
        return Path(env)
    return None


def check_corpus(bot: Assistant) -> None:
    """A corpus's unreadable files, named on stderr (stdout stays the answer); a corpus
    none of whose files could be read is an error, not an answer from nothing."""
    report = bot.index.last_sync
    skipped = report.skipped if report else []
    for path, why in skipped:
        print(f"warning: skipped {path}: {why}", file=sys.stderr)
    if not bot.index.records:
        raise DocumentError(f"no readable documents in the corpus ({len(skipped)} skipped)")


def serve_argv(args: argparse.Namespace) -> list[str]:
    """The ``serve`` flags for ``assistant.web.main``; unset ones keep its env defaults
    (the page reads ``$ASSISTANT_DOCUMENTS`` itself)."""
    documents = args.documents or []
    if len(documents) > 1:
        raise DocumentError(
            "serve takes one --documents path (a folder of documents); "
            f"got {len(documents)}: put them in one folder"
        )
    argv: list[str] = []
    for flag, value in (
        ("--port", args.port),
        ("--host", args.host),
        ("--document", args.document),
        ("--documents", documents[0] if documents else None),
        ("--backend", args.backend),
    ):
        if value is not None:
            argv += [flag, str(value)]
    if args.mcp:
        argv.append("--mcp")
    return argv


def index_documents(document: Path | None, source: Path | list[str] | None, rebuild: bool) -> int:
    """Bring the index up to date (only what changed, unless ``rebuild``) and say what
    changed, file by file, so a user can tell an edit from an addition."""
    from assistant.core import default_document
    from index.corpus import Corpus
    from index.embed import Embedder
    from index.store import Index

    settings = Settings.from_env().index
    corpus = Corpus(source if source is not None else [document or default_document()])
    t0 = time.perf_counter()
    ix = Index.open(corpus, Embedder(settings=settings), settings, progress=True, rebuild=rebuild)
    seconds = time.perf_counter() - t0
    report = ix.last_sync
    assert report is not None
    files = report.files
    print(
        f"index ready: {plural(report.documents, 'document')}, "
        f"{plural(report.passages, 'passage')} in "
        f"{seconds:.2f} s at {ix.folder}"
    )
    print(
        f"{files['added']} added, {files['changed']} changed, {files['removed']} removed, "
        f"{files['unchanged']} unchanged; {report.embedded} passages embedded"
        + (" (rebuilt from scratch)" if report.rebuilt_store else "")
    )
    for path, why in report.skipped:
        print(f"skipped {path}: {why}")
    if not report.documents:
        raise DocumentError(f"no readable documents in the corpus ({len(report.skipped)} skipped)")
    return 0


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


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
    """The audit as an aligned table that fits ``width`` columns (60 or more; a corpus's,
    about 70), then counts per status.

    Reading 100+ JSON lines to find the uncited claims is what this replaces; the full
    sentence and offsets stay available with ``--json``.  Rows of a corpus name their
    document in a column of its own, so ``| grep uncited`` still says where.
    """
    width = max(width, 60)
    labels = [status_label(r) for r in rows]
    corpus = len({r.get("document_id") for r in rows}) > 1
    titles = [" ".join(r.get("document_title", "").split()) if corpus else "" for r in rows]
    num_w = max(1, len(str(len(rows))))
    sec_w = max([len("section"), *(len(r["section"]) for r in rows)])
    stat_w = min(max([len("status"), *(len(label) for label in labels)]), max(12, width // 4))
    doc_w = 0
    if corpus:
        doc_w = min(max([len("document"), *map(len, titles)]), max(10, width // 5))
        # The sentence keeps 20 columns: the document's title gives way first (to 10), then
        # the status (to 12), then the title again (to 8); narrower than that, lines wrap.
        spare = width - num_w - sec_w - 8 - 20
        doc_w = min(doc_w, max(10, spare - stat_w))
        stat_w = min(stat_w, max(12, spare - doc_w))
        doc_w = min(doc_w, max(8, spare - stat_w))
    text_w = max(20, width - num_w - (doc_w + 2 if corpus else 0) - sec_w - stat_w - 6)
    doc_col = f"{{:<{doc_w}}}  " if corpus else "{}"
    line = f"{{:>{num_w}}}  {doc_col}{{:<{sec_w}}}  {{:<{stat_w}}}  {{}}"
    out = [line.format("#", "document" if corpus else "", "section", "status", "sentence")]
    for i, (row, label, title) in enumerate(zip(rows, labels, titles, strict=True), 1):
        cells = (clip(title, doc_w), row["section"], clip(label, stat_w), clip(row["text"], text_w))
        out.append(line.format(i, *cells))
    counts = Counter(r["status"] for r in rows)
    summary = ", ".join(f"{counts[s]} {s}" for s in STATUSES)
    where = ""
    if corpus:
        n = len({r.get("document_id", t) for r, t in zip(rows, titles, strict=True)})
        where = f" in {plural(n, 'document')}"
    out = [o.rstrip() for o in out]
    out += ["", f"{len(rows)} sentences{where}: {summary}"]
    return "\n".join(out)


def documents_table(rows: list[dict], width: int = 80) -> str:
    """The documents answered from, one per line: id (what quotes name), passages, title
    (cut to fit) and the file, then the totals."""
    width = max(width, 60)
    id_w = max([len("id"), *(len(r["id"]) for r in rows)])
    num_w = len("passages")
    path_w = max([len("path"), *(len(r["path"]) for r in rows)])
    room = max(20, width - id_w - num_w - path_w - 6)  # paths are never cut: titles give way
    title_w = min(max([len("title"), *(len(r["title"]) for r in rows)]), room)
    line = f"{{:<{id_w}}}  {{:>{num_w}}}  {{:<{title_w}}}  {{}}"
    out = [line.format("id", "passages", "title", "path")]
    for r in rows:
        out.append(line.format(r["id"], r["passages"], clip(r["title"], title_w), r["path"]))
    passages = sum(r["passages"] for r in rows)
    out += ["", f"{plural(len(rows), 'document')}, {plural(passages, 'passage')}"]
    return "\n".join(o.rstrip() for o in out)


if __name__ == "__main__":
    sys.exit(main())
