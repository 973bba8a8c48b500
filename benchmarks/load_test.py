"""Load test: many concurrent chat sessions against the running page, through gradio_client.

    .venv/bin/python benchmarks/load_test.py                      # or: make load-test
    .venv/bin/python benchmarks/load_test.py --sessions 20 --questions 500 --timeout 900
    .venv/bin/python benchmarks/load_test.py --url http://127.0.0.1:7860/ --pid 12345

Without ``--url`` it starts ``python -m assistant serve`` on a free 127.0.0.1 port (the
offline backend, the default cache), waits until the page answers, and stops it at the end.
Each session is its own ``Client`` holding its own conversation: questions from
``tests/data/questions.jsonl`` with a follow-up after every two, sent to ``/chat``
with that session's history only.  Every answer is checked:

  errors        any exception, timeout or malformed answer (target: none)
  isolation     the answer is to this session's question, and a follow-up was read with
                this session's previous question (``standalone_question``); the same
                question with the same history always gets the same answer
  verbatim      every quote is the document's text at its offsets
  latency       p50 / p95 / max per question, as the client sees it, and throughput
  memory        the server's RSS after a warm-up and after the run (``--max-growth-mb``)

Exit status 0 only if there were no errors, no isolation or verbatim failures, the run
finished within ``--timeout`` and memory grew less than the bound.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import free_port, stop_process

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "tests" / "data" / "questions.jsonl"
FOLLOW_UPS = ["and how many police were injured?", "and what about Russia?", "and why?"]
HISTORY_TURNS = 6

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


@dataclass
class Report:
    """What one load run measured."""

    sessions: int
    questions: int = 0
    errors: list[str] = field(default_factory=list)
    isolation_failures: list[str] = field(default_factory=list)
    verbatim_failures: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    rss_before_mb: float | None = None
    rss_after_mb: float | None = None
    timed_out: bool = False

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        data = sorted(self.latencies_ms)
        return data[min(len(data) - 1, round(p / 100 * (len(data) - 1)))]

    @property
    def growth_mb(self) -> float | None:
        if self.rss_before_mb is None or self.rss_after_mb is None:
            return None
        return self.rss_after_mb - self.rss_before_mb

    def summary(self) -> dict[str, Any]:
        return {
            "sessions": self.sessions,
            "questions": self.questions,
            "errors": len(self.errors),
            "isolation_failures": len(self.isolation_failures),
            "verbatim_failures": len(self.verbatim_failures),
            "timed_out": self.timed_out,
            "wall_s": round(self.wall_s, 1),
            "throughput_qps": round(self.questions / self.wall_s, 2) if self.wall_s else None,
            "p50_ms": round(self.percentile(50), 1),
            "p95_ms": round(self.percentile(95), 1),
            "max_ms": round(max(self.latencies_ms), 1) if self.latencies_ms else None,
            "mean_ms": round(statistics.fmean(self.latencies_ms), 1) if self.latencies_ms else None,
            "rss_before_mb": self.rss_before_mb,
            "rss_after_mb": self.rss_after_mb,
            "rss_growth_mb": None if self.growth_mb is None else round(self.growth_mb, 1),
        }

    def ok(self, max_growth_mb: float) -> bool:
        grown = self.growth_mb is not None and self.growth_mb > max_growth_mb
        failures = self.errors or self.isolation_failures or self.verbatim_failures
        return not (failures or self.timed_out or grown)


def rss_mb(pid: int | None) -> float | None:
    """Resident memory of ``pid`` in MB (Linux ``/proc``), None if unknown."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def load_questions(limit: int | None = None) -> list[str]:
    rows = [json.loads(x) for x in QUESTIONS.read_text(encoding="utf-8").splitlines() if x]
    return [r["question"] for r in rows][:limit]


def _decode(result: Any) -> dict:
    return json.loads(result) if isinstance(result, str) else result


def _norm(text: str) -> str:
    return " ".join(text.split())


class Run:
    """Shared bookkeeping of one load run (thread-safe)."""

    def __init__(self, report: Report, text: str | None, deadline: float) -> None:
        self.report = report
        self.text = text
        self.deadline = deadline
        self.lock = threading.Lock()
        self.first_answer: dict[str, str] = {}

    def record(self, latency_ms: float) -> None:
        with self.lock:
            self.report.questions += 1
            self.report.latencies_ms.append(latency_ms)

    def fail(self, kind: str, message: str) -> None:
        with self.lock:
            getattr(self.report, kind).append(message)

    def consistent(self, key: str, answer_text: str) -> bool:
        with self.lock:
            return self.first_answer.setdefault(key, answer_text) == answer_text


def session(run: Run, url: str, number: int, plan: list[str], request_timeout: float) -> None:
    """One user: a fresh Client, its own history, each answer checked against it."""
    from gradio_client import Client

    try:
        client = Client(url, verbose=False)
    except Exception as exc:
        run.fail("errors", f"session {number}: cannot connect: {exc!r}")
        return
    history: list[dict[str, str]] = []
    for question in plan:
        if time.monotonic() > run.deadline:
            run.report.timed_out = True
            return
        sent_history = history[-HISTORY_TURNS:]
        started = time.perf_counter()
        try:
            job = client.submit(question=question, history=sent_history, api_name="/chat")
            data = _decode(job.result(timeout=request_timeout))
        except Exception as exc:
            run.fail("errors", f"session {number}: {question!r}: {type(exc).__name__}: {exc}")
            continue
        run.record((time.perf_counter() - started) * 1000)
        where = f"session {number}: {question!r}"
        if not isinstance(data, dict) or data.get("status") not in {"answered", "not_in_document"}:
            run.fail("errors", f"{where}: malformed answer {str(data)[:200]}")
            continue
        if _norm(data["question"]) != _norm(question):
            run.fail("isolation_failures", f"{where}: got the answer to {data['question']!r}")
        if question in FOLLOW_UPS:
            earlier = [t["content"] for t in sent_history if t["role"] == "user"]
            standalone = data.get("standalone_question") or ""
            if not earlier or not standalone.startswith(earlier[-1]):
                run.fail(
                    "isolation_failures",
                    f"{where}: follow-up read as {standalone!r}, previous {earlier[-1:]}",
                )
        key = json.dumps([question, sent_history])
        if not run.consistent(key, data["text"]):
            run.fail("isolation_failures", f"{where}: a different answer to the same exchange")
        if run.text is not None:
            for q in data["quotes"]:
                if run.text[q["start"] : q["end"]] != q["text"]:
                    run.fail("verbatim_failures", f"{where}: quote at {q['start']} not verbatim")
        history += [
            {"role": "user", "content": question},
            {"role": "assistant", "content": data["text"]},
        ]


def plans(sessions: int, total: int) -> list[list[str]]:
    """Each session's questions: distinct openings, a follow-up after every second one."""
    pool = load_questions()
    out: list[list[str]] = [[] for _ in range(sessions)]
    for i in range(total):
        s = i % sessions
        turn = len(out[s])
        if turn % 3 == 2:
            out[s].append(FOLLOW_UPS[(s + turn) % len(FOLLOW_UPS)])
        else:
            out[s].append(pool[(s * 7 + turn) % len(pool)])
    return out


def run_load(
    url: str,
    sessions: int = 20,
    questions: int = 500,
    timeout: float = 900.0,
    pid: int | None = None,
    document_text: str | None = None,
    request_timeout: float = 120.0,
    warmup: int = 5,
) -> Report:
    """Run the load against ``url``; ``pid`` is the server's, for its memory."""
    from gradio_client import Client

    report = Report(sessions=sessions)
    warm = Client(url, verbose=False)
    for question in load_questions(warmup):
        warm.predict(question=question, history=[], api_name="/chat")
    report.rss_before_mb = rss_mb(pid)
    run = Run(report, document_text, time.monotonic() + timeout)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=sessions) as pool:
        futures = [
            pool.submit(session, run, url, n, plan, request_timeout)
            for n, plan in enumerate(plans(sessions, questions))
        ]
        for f in futures:
            f.result()
    report.wall_s = time.perf_counter() - started
    report.rss_after_mb = rss_mb(pid)
    return report


# -- running the server ----------------------------------------------------------------------


def start_server(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``python -m assistant serve`` on a free loopback port, offline; returns (proc, url)."""
    import httpx

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"OPENAI_API_KEY", "ASSISTANT_HOST"}}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "assistant", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(url + "config", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise SystemExit("server did not start within 300 s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--url", help="a running page (default: start one on 127.0.0.1)")
    ap.add_argument("--pid", type=int, help="the running page's process id, for its memory")
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--questions", type=int, default=500, help="questions in all")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds for the whole run")
    ap.add_argument("--max-growth-mb", type=float, default=100.0)
    ap.add_argument("--json", type=Path, help="also write the summary here")
    args = ap.parse_args(argv)

    from assistant.core import default_document
    from index.load import load_document

    text = load_document(default_document()).text
    proc = None
    url, pid = args.url, args.pid
    if url is None:
        log = Path(os.environ.get("TMPDIR", "/tmp")) / f"load-test-server-{os.getpid()}.log"
        print(f"starting the page (log: {log}) …", flush=True)
        proc, url = start_server(log)
        pid = proc.pid
    try:
        print(f"{args.sessions} sessions, {args.questions} questions against {url}", flush=True)
        report = run_load(url, args.sessions, args.questions, args.timeout, pid, text)
    finally:
        if proc is not None:
            stop_process(proc, timeout=15)
    summary = report.summary()
    summary["load_average"] = os.getloadavg()
    summary["cores"] = os.cpu_count()
    print(json.dumps(summary, indent=1))
    for kind in ("errors", "isolation_failures", "verbatim_failures"):
        for line in getattr(report, kind)[:10]:
            print(f"{kind}: {line}")
    if args.json:
        args.json.write_text(json.dumps({**summary, "report": asdict(report)}, indent=1))
    ok = report.ok(args.max_growth_mb)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
