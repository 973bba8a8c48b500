"""Cost against corpus size: the shipped article hidden among generated articles.

    .venv/bin/python benchmarks/corpus_bench.py [--sizes 1,100,1000,10000]
        [--modes embedded,server] [--out bench-corpus] [--questions 40]

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
import socket
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

from bench import percentile  # noqa: E402  (the same percentile as benchmarks/bench.py)
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def stop_chroma(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


# -- embedding backends --------------------------------------------------------------------------


def embed_bench(n_passages: int, backends: list[str]) -> list[dict]:
    """Passages per second and one-question latency for each embedding backend."""
    from index.embed import Embedder
    from index.load import parse_text
    from index.store import passage_view

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


def worker(args: argparse.Namespace) -> dict[str, Any]:
    from assistant.core import Assistant, default_document
    from assistant.eval.run import _overlaps, _spans, judge
    from assistant.types import Answer

    docs = Path(args.docs)
    paths = [default_document()] + [docs / f"article-{i:05d}.txt" for i in range(1, args.size)]
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
    recalls, named = [], []
    for it in gold_items:
        gold = _spans(article.text, it["gold_evidence"])
        if not gold:
            continue
        hits = bot.retrieve(it["question"]).hits[:5]
        spans = [
            (h.passage.start, h.passage.end) for h in hits if h.passage.document_id == article_id
        ]
        recalls.append(sum(any(_overlaps(g, s) for s in spans) for g in gold) / len(gold))
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
        "article_pass": round(sum(passed) / len(passed), 4),
        "timed_questions": len(timed),
        "embed_backend": bot.embedder.backend,
    }


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
            sys.executable,
            __file__,
            "--worker",
            "--size",
            str(size),
            "--docs",
            str(work / "docs"),
            "--cache",
            str(cache),
            "--questions",
            str(args.questions),
            "--repeat",
            str(args.repeat),
            "--url",
            url,
            "--naming",
            str(work / "naming.json"),
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
    finally:
        if server is not None:
            stop_chroma(server)
    shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(server_dir, ignore_errors=True)
    return result


# -- report --------------------------------------------------------------------------------------


def table(results: list[dict], embeds: list[dict], machine: dict) -> str:
    lines = [
        "| documents | passages | store | build s | passages/s | embed passages/s | resync s "
        "| disk MB | peak RSS MB | retrieval p50 / p95 ms | answer p50 / p95 ms "
        "| recall@5 naming / all | article pass |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
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
            f"| {r['article_pass']:.1%} |"
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
    return "\n".join(lines)


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
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
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1,100,1000,10000")
    ap.add_argument("--modes", default="embedded,server")
    ap.add_argument("--out", type=Path, default=ROOT / "bench-corpus")
    ap.add_argument("--questions", type=int, default=40, help="questions timed per size")
    ap.add_argument("--repeat", type=int, default=1, help="timed passes over the questions")
    ap.add_argument("--embed-backends", default="torch,onnx,onnx-int8")
    ap.add_argument("--embed-passages", type=int, default=2000)
    ap.add_argument("--progress", action="store_true", help="progress bars while indexing")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
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
