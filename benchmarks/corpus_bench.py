"""Cost against corpus size: the shipped article hidden among generated articles.

    .venv/bin/python benchmarks/corpus_bench.py [--sizes 1,100,1000,10000]
        [--modes embedded,server] [--out bench-corpus] [--questions 40] [--cold-runs 3]

(``make bench-corpus`` runs it with the defaults.)  For each corpus size (the article plus
``size - 1`` articles from the seeded generator in ``corpus_gen.py``) and each store mode
(embedded Chroma, a ``chroma run`` server on 127.0.0.1), a fresh process builds the index
from scratch and then measures, warm:

  build            seconds for the whole first index build, and passages per second
  embed            the part of it spent embedding (passages per second)
  resync           a second sync of the unchanged corpus (should do no work)
  disk             the index on disk (local folder, plus the server's data folder)
  peak memory      max RSS of the process (and of the server, in server mode)
  retrieval        p50/p95 of ``Assistant.retrieve`` (question embedding included)
  answer           p50/p95 of ``Assistant.ask`` (retrieve, answer, verify)
  recall@5         share of gold passages for the article's questions in the top 5 hits
                   (a hit counts only if it is from the article)
  article pass     the evaluation's judge on those answers, quotes from other documents
                   ignored (the article's questions must still be answered from it)

and then, cold, what a user pays for the first question after starting a fresh process
against the index just built: ``--cold-runs`` fresh processes per size and mode (the
median run by total is kept), each timing

  start            interpreter start and the package's imports (reported apart)
  open             ``Assistant(documents=...)`` and its index: Chroma's import and client,
                   the manifest, a stat of every file, the lexicon/BM25/vocabulary load
  model            loading the embedding model
  first answer     the first ``Assistant.ask`` (documents parsed, the rest first-call)
  cold RSS         max RSS of that fresh process

Nothing in those processes is warm, but the OS page cache is (the build just read and wrote
every file), and in server mode the ``chroma run`` server is the one the build used.

First, an embedding table: passages per second and single-question latency for each
embedding backend (torch, onnx, onnx-int8) on generated passages.  Results go to
``<out>/results.json``, ``<out>/table.md`` and ``<out>/corpus-bench.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import free_port, percentile, stop_process  # noqa: E402  (shared with bench.py)
from corpus_gen import corpus_terms, generate_article, identifies, write_corpus  # noqa: E402

QUESTIONS = ROOT / "tests" / "data" / "questions.jsonl"
TARGETS = {"answer_p50_ms_at_1000": 100.0, "passages_per_s": 200.0}

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def load_items() -> list[dict]:
    return [json.loads(x) for x in QUESTIONS.read_text(encoding="utf-8").splitlines() if x]


def spread(items: list[dict], n: int) -> list[dict]:
    if n >= len(items):
        return items
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def folder_bytes(path: Path) -> int:
    if not path.exists():
        return 0
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def peak_rss_mb(pid: int | None = None) -> float:
    """Max resident set size: of this process, or (from /proc) of another."""
    if pid is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


# -- a Chroma server -----------------------------------------------------------------------------


def start_chroma(path: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """``chroma run`` on 127.0.0.1 and a free port; returns once the heartbeat answers."""
    chroma = Path(sys.executable).with_name("chroma")
    port = free_port()
    handle = log.open("w")
    proc = subprocess.Popen(
        [str(chroma), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=handle,
        stderr=subprocess.STDOUT,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"chroma run exited early; see {log}")
        try:
            with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"chroma run did not answer within 60 s; see {log}")


# -- embedding backends --------------------------------------------------------------------------


def embed_bench(n_passages: int, backends: list[str]) -> list[dict]:
    """Passages per second and one-question latency for each embedding backend."""
    from index.embed import Embedder
    from index.load import parse_text
    from index.search import passage_view

    views: list[str] = []
    i = 1
    while len(views) < n_passages:
        doc = parse_text(generate_article(i))
        views.extend(passage_view(p) for p in doc.sentences if p.text.strip())
        i += 1
    views = views[:n_passages]
    questions = [item["question"] for item in spread(load_items(), 40)]
    rows = []
    for backend in backends:
        embedder = Embedder(backend=backend)
        started = time.perf_counter()
        embedder.warm()
        load = time.perf_counter() - started
        embedder.encode(views[:64], batch_size=64)
        started = time.perf_counter()
        embedder.encode(views, batch_size=64)
        seconds = time.perf_counter() - started
        for q in questions[:5]:
            embedder.encode([q])
        times = []
        for q in questions:
            t0 = time.perf_counter()
            embedder.encode([q])
            times.append((time.perf_counter() - t0) * 1000)
        rows.append(
            {
                "backend": backend,
                "load_s": round(load, 2),
                "passages": len(views),
                "passages_per_s": round(len(views) / seconds, 1),
                "question_p50_ms": round(percentile(times, 50), 2),
                "question_p95_ms": round(percentile(times, 95), 2),
                "threads": embedder.threads,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def naming_questions(size: int) -> list[str]:
    """Ids of the article's questions that name something their answer (the gold
    evidence) names too and no generated article of the largest corpus does (see
    ``corpus_gen.identifies``): the questions that single the article out."""

    others = corpus_terms([generate_article(i) for i in range(1, size)])
    out = []
    for it in load_items():
        answer = corpus_terms(it.get("gold_evidence", []))  # what the answer itself names
        if identifies(it["question"], answer, others):
            out.append(it["id"])
    return out


# -- one corpus size in one mode (run in its own process) ---------------------------------------


def corpus_paths(docs: Path, size: int) -> list[Path]:
    """The article, then ``size - 1`` generated articles (the same list in every process)."""
    from assistant.core import default_document

    return [default_document()] + [docs / f"article-{i:05d}.txt" for i in range(1, size)]


def worker(args: argparse.Namespace) -> dict[str, Any]:
    from assistant.core import Assistant
    from assistant.eval.run import _overlaps, _spans, judge
    from assistant.types import Answer

    paths = corpus_paths(Path(args.docs), args.size)
    cache = Path(args.cache)
    started = time.perf_counter()
    bot = Assistant(
        documents=paths,
        backend="extractive",
        cache_dir=cache,
        chroma_url=args.url or "",
        progress=args.progress,
    )
    index = bot.index
    build = time.perf_counter() - started
    report = index.last_sync
    article_path = paths[0].resolve()
    article_id = next(r.id for r in index.records.values() if Path(r.path) == article_path)
    article = bot.index.document(article_id)

    t0 = time.perf_counter()
    again = bot.sync()
    resync = time.perf_counter() - t0

    items = load_items()
    gold_items = [
        it for it in items if it["expected_status"] == "answered" and it.get("gold_evidence")
    ]
    timed = spread(items, args.questions)
    for it in timed:  # warm-up: caches, first-call costs, documents parsed
        bot.retrieve(it["question"])
        bot.ask(it["question"])
    retrieval_ms, answer_ms, embed_ms = [], [], []
    for _ in range(args.repeat):
        for it in timed:
            t0 = time.perf_counter()
            bot.embedder.encode([it["question"]])
            embed_ms.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            bot.retrieve(it["question"])
            retrieval_ms.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            bot.ask(it["question"])
            answer_ms.append((time.perf_counter() - t0) * 1000)

    naming = set(json.loads(Path(args.naming).read_text())) if args.naming else set()
    recalls, named, by_question = [], [], {}
    for it in gold_items:
        gold = _spans(article.text, it["gold_evidence"])
        if not gold:
            continue
        hits = bot.retrieve(it["question"]).hits[:5]
        spans = [
            (h.passage.start, h.passage.end) for h in hits if h.passage.document_id == article_id
        ]
        recalls.append(sum(any(_overlaps(g, s) for s in spans) for g in gold) / len(gold))
        by_question[it["id"]] = round(recalls[-1], 4)
        if it["id"] in naming:
            named.append(recalls[-1])

    passed = []
    from_article = []
    for it in timed:
        answer = bot.ask(it["question"])
        own = [q for q in answer.quotes if q.document_id == article_id]
        from_article.append(bool(own) or answer.status == "not_in_document")
        view = Answer(
            answer.question, answer.status, answer.text, own, answer.claims, answer.backend
        )
        passed.append(judge(it, view, article.text).passed)

    return {
        "size": args.size,
        "mode": "server" if args.url else "embedded",
        "documents": report.documents,
        "passages": report.passages,
        "build_s": round(build, 2),
        "passages_per_s": round(report.passages / build, 1),
        "embed_s": round(report.embed_seconds, 2),
        "embed_passages_per_s": round(report.embedded / max(report.embed_seconds, 1e-9), 1),
        "store_s": round(report.store_seconds, 2),
        "derived_s": round(report.derived_seconds, 2),
        "parse_s": round(report.parse_seconds, 2),
        "resync_s": round(resync, 3),
        "resync_embedded": again.embedded if again else None,
        "disk_mb": round(folder_bytes(cache) / 2**20, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "question_embed_p50_ms": round(percentile(embed_ms, 50), 2),
        "retrieval_p50_ms": round(percentile(retrieval_ms, 50), 1),
        "retrieval_p95_ms": round(percentile(retrieval_ms, 95), 1),
        "answer_p50_ms": round(percentile(answer_ms, 50), 1),
        "answer_p95_ms": round(percentile(answer_ms, 95), 1),
        "recall_at_5": round(statistics.mean(recalls), 4) if recalls else None,
        "recall_questions": len(recalls),
        "recall_at_5_naming": round(statistics.mean(named), 4) if named else None,
        "naming_questions": len(named),
        "recall_by_question": by_question,
        "article_pass": round(sum(passed) / len(passed), 4),
        "timed_questions": len(timed),
        "embed_backend": bot.embedder.backend,
    }


def cold_question() -> str:
    """The question every cold process asks: the first the article answers."""
    return next(it["question"] for it in load_items() if it["expected_status"] == "answered")


def cold_worker(args: argparse.Namespace) -> dict[str, Any]:
    """A fresh process's first question against an index that exists, timed by stage; the
    stages run in the order a first ``ask`` would run them, so they add up to its cost."""
    started = time.time() - args.launched  # interpreter start and this script's imports
    t0 = time.perf_counter()
    from assistant.core import Assistant

    imports = time.perf_counter() - t0
    paths = corpus_paths(Path(args.docs), args.size)
    question = cold_question()

    t0 = time.perf_counter()
    import chromadb  # noqa: F401  (the index would import it; timed apart)

    chroma_import = time.perf_counter() - t0
    bot = Assistant(
        documents=paths, backend="extractive", cache_dir=Path(args.cache), chroma_url=args.url
    )
    report = bot.index.last_sync
    opened = time.perf_counter() - t0
    if report is None or report.embedded or report.rebuilt_store or report.added:
        raise SystemExit(f"cold open re-indexed instead of loading the index: {report}")

    t0 = time.perf_counter()
    bot.embedder.warm()
    model = time.perf_counter() - t0

    t0 = time.perf_counter()
    answer = bot.ask(question)
    first = time.perf_counter() - t0
    return {
        "cold_start_s": round(started, 3),
        "cold_import_s": round(imports, 3),
        "cold_open_s": round(opened, 3),
        "cold_chroma_import_s": round(chroma_import, 3),
        "cold_lexicon_s": round(report.derived_seconds, 3),
        "cold_model_s": round(model, 3),
        "cold_answer_s": round(first, 3),
        "cold_total_s": round(opened + model + first, 3),
        "cold_peak_rss_mb": round(peak_rss_mb(), 1),
        "cold_answer_status": answer.status,
    }


def worker_argv(kind: str, size: int, work: Path, cache: Path, url: str) -> list[str]:
    """This script again as a ``--worker`` or ``--cold-worker`` for one size and store."""
    return [
        *(sys.executable, __file__, kind, "--size", str(size), "--docs", str(work / "docs")),
        *("--cache", str(cache), "--url", url),
    ]


def run_cold(
    args: argparse.Namespace, size: int, work: Path, cache: Path, url: str
) -> dict[str, Any]:
    """``--cold-runs`` fresh processes against the built index; the median run by total,
    with every run's total and the process's wall time (start to exit) alongside."""
    runs = []
    for _ in range(args.cold_runs):
        launched = time.time()
        t0 = time.perf_counter()
        out = subprocess.run(
            [*worker_argv("--cold-worker", size, work, cache, url), "--launched", repr(launched)],
            stdout=subprocess.PIPE,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - t0
        if out.returncode != 0:
            raise SystemExit(f"cold run for {size} documents failed")
        runs.append({**json.loads(out.stdout.strip().splitlines()[-1]), "cold_process_s": wall})
    runs.sort(key=lambda r: r["cold_total_s"])
    best = dict(runs[(len(runs) - 1) // 2])
    best["cold_process_s"] = round(best["cold_process_s"], 3)
    best["cold_runs_total_s"] = [r["cold_total_s"] for r in runs]
    return best


def run_one(args: argparse.Namespace, size: int, mode: str, work: Path) -> dict[str, Any]:
    cache = work / f"cache-{size}-{mode}"
    shutil.rmtree(cache, ignore_errors=True)
    server = None
    url = ""
    server_dir = work / f"server-{size}"
    if mode == "server":
        shutil.rmtree(server_dir, ignore_errors=True)
        server, url = start_chroma(server_dir, work / f"server-{size}.log")
    try:
        cmd = [
            *worker_argv("--worker", size, work, cache, url),
            *("--questions", str(args.questions), "--repeat", str(args.repeat)),
            *("--naming", str(work / "naming.json")),
        ]
        if args.progress:
            cmd.append("--progress")
        out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
        if out.returncode != 0:
            raise SystemExit(f"worker for {size} documents ({mode}) failed")
        result = json.loads(out.stdout.strip().splitlines()[-1])
        if server is not None:
            result["server_peak_rss_mb"] = round(peak_rss_mb(server.pid), 1)
            result["disk_mb"] = round(result["disk_mb"] + folder_bytes(server_dir) / 2**20, 1)
        if args.cold_runs > 0:
            print(f"{size} documents, {mode} store: cold first question…", flush=True)
            result.update(run_cold(args, size, work, cache, url))
    finally:
        if server is not None:
            stop_process(server)
    shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(server_dir, ignore_errors=True)
    return result


# -- report --------------------------------------------------------------------------------------


def cold_cells(r: dict) -> str:
    """The cold columns of one row (dashes when the cold runs were skipped)."""
    if "cold_total_s" not in r:
        return "| – | – | – |"
    return (
        f"| {r['cold_start_s'] + r['cold_import_s']:.2f} "
        f"| {r['cold_open_s']:.2f} + {r['cold_model_s']:.2f} + {r['cold_answer_s']:.2f} "
        f"= {r['cold_total_s']:.2f} | {r['cold_peak_rss_mb']:.0f} |"
    )


def table(results: list[dict], embeds: list[dict], machine: dict) -> str:
    lines = [
        "| documents | passages | store | build s | passages/s | embed passages/s | resync s "
        "| disk MB | peak RSS MB | retrieval p50 / p95 ms | answer p50 / p95 ms "
        "| recall@5 naming / all | article pass "
        "| cold start s | cold open + model + first answer = total s | cold RSS MB |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        rss = f"{r['peak_rss_mb']:.0f}"
        if "server_peak_rss_mb" in r:
            rss += f" + {r['server_peak_rss_mb']:.0f} server"
        lines.append(
            f"| {r['size']:,} | {r['passages']:,} | {r['mode']} | {r['build_s']:.1f} "
            f"| {r['passages_per_s']:.0f} | {r['embed_passages_per_s']:.0f} "
            f"| {r['resync_s']:.2f} | {r['disk_mb']:.1f} | {rss} "
            f"| {r['retrieval_p50_ms']:.1f} / {r['retrieval_p95_ms']:.1f} "
            f"| {r['answer_p50_ms']:.1f} / {r['answer_p95_ms']:.1f} "
            f"| {r['recall_at_5_naming']:.3f} / {r['recall_at_5']:.3f} "
            f"| {r['article_pass']:.1%} {cold_cells(r)}"
        )
    if embeds:
        lines += [
            "",
            "| embedding backend | passages/s | one question p50 / p95 ms | load s |",
            "|---|---:|---:|---:|",
        ]
        for e in embeds:
            lines.append(
                f"| {e['backend']} | {e['passages_per_s']:.0f} "
                f"| {e['question_p50_ms']:.1f} / {e['question_p95_ms']:.1f} | {e['load_s']:.1f} |"
            )
    lines += [
        "",
        f"Machine: {machine['cpus']} CPUs, Python {machine['python']}; load average "
        f"{machine['load_start']} at start, {machine['load_end']} at end; embedding backend "
        f"{results[0]['embed_backend'] if results else '?'}, "
        f"{results[0]['timed_questions'] if results else 0} timed questions.",
    ]
    sizes = sorted({r["size"] for r in results})
    first = next((r for r in results if r["size"] == sizes[0]), None) if sizes else None
    last = next(
        (r for r in results if first and r["size"] == sizes[-1] and r["mode"] == first["mode"]),
        None,
    )
    if len(sizes) > 1 and first and last:
        was, now = first["recall_by_question"], last["recall_by_question"]
        lost = sorted(q for q in now if now[q] < was.get(q, 0.0))
        lines += [
            "",
            f"Recall@5 lower at {sizes[-1]:,} documents than at {sizes[0]:,} ({first['mode']}): "
            + (", ".join(lost) if lost else "none")
            + ".",
        ]
    if any("cold_total_s" in r for r in results):
        runs = max(len(r.get("cold_runs_total_s", [])) for r in results)
        lines += [
            "",
            f"Cold: a fresh process per run against the index just built, the median of {runs} "
            "run(s) by total; nothing in it is warm but the OS page cache (and, in server "
            "mode, the running `chroma run` server). Start is interpreter start and imports, "
            "not in the total; open is `Assistant(documents=...)` with its index (Chroma, "
            "manifest, file stats, lexicon/BM25/vocabulary load); model is the embedding "
            "model's load; cold RSS is that process's peak. Every run asks "
            f"{cold_question()!r}.",
        ]
    return "\n".join(lines)


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cold = any("cold_total_s" in r for r in results)
    fig, axes = plt.subplots(2 if cold else 1, 2, figsize=(12, 9 if cold else 4.5), squeeze=False)
    (left, right) = axes[0]
    for mode, style in (("embedded", "-"), ("server", "--")):
        rows = sorted((r for r in results if r["mode"] == mode), key=lambda r: r["size"])
        if not rows:
            continue
        sizes = [r["size"] for r in rows]
        for key, label in (("answer", "answer"), ("retrieval", "retrieval")):
            left.plot(
                sizes,
                [r[f"{key}_p50_ms"] for r in rows],
                style,
                marker="o",
                label=f"{label} p50 ({mode})",
            )
            left.fill_between(
                sizes,
                [r[f"{key}_p50_ms"] for r in rows],
                [r[f"{key}_p95_ms"] for r in rows],
                alpha=0.1,
            )
        right.plot(sizes, [r["build_s"] for r in rows], style, marker="o", label=f"{mode}")
    left.axhline(100, color="grey", linewidth=0.8, linestyle=":")
    left.set(xscale="log", xlabel="documents in the corpus", ylabel="warm latency, ms")
    left.set_title("Warm latency (p50, band to p95)")
    left.legend(fontsize=8)
    right.set(xscale="log", yscale="log", xlabel="documents in the corpus", ylabel="seconds")
    right.set_title("Index build time (from scratch)")
    right.legend(fontsize=8)
    if cold:
        plot_cold(results, *axes[1])
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def plot_cold(results: list[dict], bars: Any, memory: Any) -> None:
    """Bottom row: the cold first question by stage, and peak memory, build vs cold."""
    from matplotlib.patches import Patch

    rows = [
        {**r, "cold_rest_s": r["cold_open_s"] - r["cold_chroma_import_s"]}
        for r in results
        if "cold_total_s" in r
    ]
    sizes = sorted({r["size"] for r in rows})
    stages = (
        ("cold_chroma_import_s", "open: import Chroma"),
        ("cold_rest_s", "open: the rest (manifest, stats, lexicon)"),
        ("cold_model_s", "load embedding model"),
        ("cold_answer_s", "first answer"),
    )
    for m, (mode, hatch) in enumerate((("embedded", ""), ("server", "//"))):
        for i, size in enumerate(sizes):
            row = next((r for r in rows if r["mode"] == mode and r["size"] == size), None)
            if row is None:
                continue
            x, bottom = i + (m - 0.5) * 0.4, 0.0
            for s, (key, _) in enumerate(stages):
                bars.bar(
                    x, row[key], 0.38, bottom=bottom, color=f"C{s}", hatch=hatch, edgecolor="white"
                )
                bottom += row[key]
            bars.text(x, bottom, f"{row['cold_total_s']:.2f}", ha="center", va="bottom", fontsize=8)
    handles = [Patch(color=f"C{s}", label=label) for s, (_, label) in enumerate(stages)]
    handles += [
        Patch(facecolor="white", edgecolor="grey", label="embedded (left)"),
        Patch(facecolor="white", edgecolor="grey", hatch="//", label="server (right)"),
    ]
    bars.set_xticks(range(len(sizes)), [f"{s:,}" for s in sizes])
    bars.set(xlabel="documents in the corpus", ylabel="seconds")
    bars.set_title("Cold first question in a fresh process (start and imports apart)")
    bars.set_ylim(0, 1.35 * max((r["cold_total_s"] for r in rows), default=1.0))  # legend room
    bars.legend(handles=handles, fontsize=8, loc="upper left", ncol=2)

    for mode, style in (("embedded", "-"), ("server", "--")):
        own = sorted((r for r in rows if r["mode"] == mode), key=lambda r: r["size"])
        if not own:
            continue
        sizes_of = [r["size"] for r in own]
        for c, (key, label) in enumerate(
            (("peak_rss_mb", "build process"), ("cold_peak_rss_mb", "cold process"))
        ):
            memory.plot(
                sizes_of,
                [r[key] for r in own],
                style,
                color=f"C{c + 3}",
                marker="o",
                label=f"{label} ({mode})",
            )
    memory.set(xscale="log", xlabel="documents in the corpus", ylabel="peak RSS, MB")
    memory.set_ylim(bottom=0)
    memory.set_title("Peak memory (the Chroma server's own not included)")
    memory.legend(fontsize=8)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--sizes",
        default="1,100,1000,10000",
        help="comma-separated corpus sizes (e.g. 1,100 for a quick run)",
    )
    ap.add_argument("--modes", default="embedded,server", help="embedded, server or both")
    ap.add_argument("--out", type=Path, default=ROOT / "bench-corpus")
    ap.add_argument("--questions", type=int, default=40, help="questions timed per size")
    ap.add_argument("--repeat", type=int, default=1, help="timed passes over the questions")
    ap.add_argument("--embed-backends", default="torch,onnx,onnx-int8")
    ap.add_argument("--embed-passages", type=int, default=2000)
    ap.add_argument(
        "--cold-runs",
        type=int,
        default=3,
        help="fresh processes timing a first question per size and mode (0: none)",
    )
    ap.add_argument("--progress", action="store_true", help="progress bars while indexing")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--cold-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--launched", type=float, default=0.0, help=argparse.SUPPRESS)
    ap.add_argument("--embed-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--docs", default="", help=argparse.SUPPRESS)
    ap.add_argument("--cache", default="", help=argparse.SUPPRESS)
    ap.add_argument("--url", default="", help=argparse.SUPPRESS)
    ap.add_argument("--naming", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        print(json.dumps(worker(args)))
        return 0
    if args.cold_worker:
        print(json.dumps(cold_worker(args)))
        return 0
    if args.embed_only:
        rows = embed_bench(args.embed_passages, args.embed_backends.split(","))
        print(json.dumps(rows))
        return 0

    machine = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_start": round(os.getloadavg()[0], 2),
    }
    sizes = [int(s) for s in args.sizes.split(",") if s]
    modes = [m for m in args.modes.split(",") if m]
    out: Path = args.out
    work = ROOT / ".cache" / "bench-corpus"  # generated articles, indexes, server data
    out.mkdir(parents=True, exist_ok=True)
    print(f"writing {max(sizes) - 1} generated articles to {work / 'docs'}", flush=True)
    write_corpus(work / "docs", max(sizes) - 1, start=1)
    (work / "naming.json").write_text(json.dumps(naming_questions(max(sizes))))

    embeds: list[dict] = []
    if args.embed_backends:
        print("embedding backends…", flush=True)
        res = subprocess.run(
            [
                sys.executable,
                __file__,
                "--embed-only",
                "--embed-backends",
                args.embed_backends,
                "--embed-passages",
                str(args.embed_passages),
            ],
            stdout=subprocess.PIPE,
            text=True,
            check=False,
        )
        if res.returncode == 0:
            embeds = json.loads(res.stdout.strip().splitlines()[-1])

    results = []
    for size in sizes:
        for mode in modes:
            print(f"{size} documents, {mode} store…", flush=True)
            result = run_one(args, size, mode, work)
            results.append(result)
            print(json.dumps(result), flush=True)
            (out / "results.json").write_text(
                json.dumps({"machine": machine, "embedding": embeds, "corpus": results}, indent=1)
            )
    machine["load_end"] = round(os.getloadavg()[0], 2)
    (out / "results.json").write_text(
        json.dumps({"machine": machine, "embedding": embeds, "corpus": results}, indent=1)
    )
    text = table(results, embeds, machine)
    (out / "table.md").write_text(text + "\n")
    plot(results, out / "corpus-bench.png")
    print(text)
    print(f"\nwritten: {out / 'table.md'}, {out / 'results.json'}, {out / 'corpus-bench.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
