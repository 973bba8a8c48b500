"""Evaluation: run a question set against a backend and measure what matters.

Pass means: the right status; for answers, quotes that overlap the gold evidence and an
answer that mentions what it must and nothing it must not.  Metrics also cover quote
validity (verbatim at offsets), retrieval recall@k, abstention, claim support on the
labelled pairs, latency, and tokens/cost for LLM backends.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from assistant.core import Assistant
from assistant.types import Answer, Quote
from index.text import content_terms, normalise

DATA = Path(__file__).resolve().parents[2] / "tests" / "data"


def load_jsonl(path: Path) -> list[dict]:
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def _mentions(haystack: str, needle: str) -> bool:
    n = normalise(needle)
    pattern = (
        (r"\b" if n[:1].isalnum() else "") + re.escape(n) + (r"\b" if n[-1:].isalnum() else "")
    )
    return re.search(pattern, haystack) is not None


def _spans(doc_text: str, pieces: list[str]) -> list[tuple[int, int]]:
    out = []
    for piece in pieces:
        pos = doc_text.find(piece)
        if pos >= 0:
            out.append((pos, pos + len(piece)))
    return out


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


@dataclass
class Judged:
    passed: bool
    reasons: list[str]


def judge(item: dict, answer: Answer, doc_text: str) -> Judged:
    reasons: list[str] = []
    if answer.status != item["expected_status"]:
        reasons.append(f"status {answer.status} != {item['expected_status']}")
    seen = normalise(answer.text + " " + " ".join(q.text for q in answer.quotes))
    if item["expected_status"] == "answered" and answer.status == "answered":
        gold = _spans(doc_text, item.get("gold_evidence", []))
        quoted = [(q.start, q.end) for q in answer.quotes]
        hit = [any(_overlaps(g, q) for q in quoted) for g in gold]
        need_all = item.get("evidence_mode", "any") == "all"
        if gold and not (all(hit) if need_all else any(hit)):
            reasons.append("gold evidence not quoted")
        for entry in item.get("must_mention", []):
            options = entry if isinstance(entry, list) else [entry]
            if not any(_mentions(seen, o) for o in options):
                reasons.append(f"missing mention {options}")
    for bad in item.get("must_not_mention", []):
        if _mentions(normalise(answer.text), bad):
            reasons.append(f"mentions forbidden {bad!r}")
    return Judged(not reasons, reasons)


def quote_valid(q: Quote, doc_text: str) -> bool:
    return doc_text[q.start : q.end] == q.text


class NaiveBaseline:
    """Best keyword-overlap sentence, answered whenever any keyword matches."""

    name = "naive-keyword"

    def __init__(self, bot: Assistant) -> None:
        self.bot = bot
        self.terms = {s.id: set(content_terms(s.text)) for s in bot.document.sentences}

    def ask(self, question: str) -> Answer:
        q = set(content_terms(question))
        best = max(self.bot.document.sentences, key=lambda s: (len(q & self.terms[s.id]), -s.start))
        if not q & self.terms[best.id]:
            return Answer(
                question, "not_in_document", "The document does not say.", [], [], self.name
            )
        quote = Quote(best.text, best.start, best.end, best.section, best.footnotes)
        return Answer(question, "answered", f"“{best.text}” [1]", [quote], [], self.name)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def claim_support_metrics(bot: Assistant, pairs: list[dict]) -> dict:
    """Verifier precision/recall on labelled (statement, evidence, label) pairs."""
    tp = fp = fn = tn = 0
    mistakes = []
    for pair in pairs:
        verdict = bot.verifier.check(pair["statement"], pair["evidence"], bot.document)
        if verdict.supported and pair["label"]:
            tp += 1
        elif verdict.supported:
            fp += 1
            mistakes.append({"id": pair["id"], "predicted": True})
        elif pair["label"]:
            fn += 1
            reason = verdict.reason
            mistakes.append(
                {"id": pair["id"], "predicted": False, "reason": reason and reason.code}
            )
        else:
            tn += 1
    return {
        "pairs": len(pairs),
        "precision": round(tp / (tp + fp), 4) if tp + fp else 0.0,
        "recall": round(tp / (tp + fn), 4) if tp + fn else 0.0,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "mistakes": mistakes,
    }


def run_system(name: str, ask, bot: Assistant, items: list[dict], k: int, progress: bool) -> dict:
    from tqdm.auto import tqdm

    doc_text = bot.document.text
    rows = []
    for item in tqdm(items, desc=name, unit="q", disable=not progress):
        t0 = time.perf_counter()
        try:
            answer = ask(item["question"])
            error = None
        except Exception as exc:  # an evaluation must finish and report, not crash
            answer = Answer(item["question"], "not_in_document", f"ERROR: {exc}", [], [], name)
            error = repr(exc)
        latency = (time.perf_counter() - t0) * 1000
        verdict = judge(item, answer, doc_text)
        recall = None
        gold = _spans(doc_text, item.get("gold_evidence", []))
        if (
            gold
            and item["expected_status"] == "answered"
            and hasattr(bot, "retrieve")
            and name != NaiveBaseline.name
        ):
            mode = {"bm25-only": "bm25", "dense-only": "dense"}.get(name, bot.retrieval_mode)
            hits = bot.retrieve(item["question"], mode=mode).hits[:k]
            spans = [(h.passage.start, h.passage.end) for h in hits]
            recall = sum(any(_overlaps(g, s) for s in spans) for g in gold) / len(gold)
        rows.append(
            {
                "system": name,
                "id": item["id"],
                "category": item["category"],
                "question": item["question"],
                "expected_status": item["expected_status"],
                "status": answer.status,
                "passed": verdict.passed,
                "reasons": verdict.reasons,
                "latency_ms": round(latency, 2),
                "quotes_valid": all(quote_valid(q, doc_text) for q in answer.quotes),
                "n_quotes": len(answer.quotes),
                "recall_at_k": recall,
                "usage": answer.usage.__dict__ if answer.usage else None,
                "error": error,
                "answer": answer.to_dict(),
            }
        )
    return summarise(name, rows, k)


def summarise(name: str, rows: list[dict], k: int) -> dict:
    by_cat: dict[str, list[bool]] = defaultdict(list)
    for r in rows:
        by_cat[r["category"]].append(r["passed"])
    n_quotes = sum(r["n_quotes"] for r in rows)
    valid = sum(r["n_quotes"] for r in rows if r["quotes_valid"])
    predicted_abstain = [r for r in rows if r["status"] == "not_in_document"]
    expected_abstain = [r for r in rows if r["expected_status"] == "not_in_document"]
    both = [r for r in predicted_abstain if r["expected_status"] == "not_in_document"]
    recalls = [r["recall_at_k"] for r in rows if r["recall_at_k"] is not None]
    lat = [r["latency_ms"] for r in rows]
    tokens_in = sum((r["usage"] or {}).get("prompt_tokens", 0) for r in rows)
    tokens_out = sum((r["usage"] or {}).get("completion_tokens", 0) for r in rows)
    costs = [(r["usage"] or {}).get("cost_usd") for r in rows if r["usage"]]
    return {
        "system": name,
        "questions": len(rows),
        "pass_rate": round(sum(r["passed"] for r in rows) / max(1, len(rows)), 4),
        "pass_rate_by_category": {c: round(sum(v) / len(v), 4) for c, v in sorted(by_cat.items())},
        "quote_validity": round(valid / n_quotes, 4) if n_quotes else 1.0,
        "quotes": n_quotes,
        f"retrieval_recall_at_{k}": round(statistics.mean(recalls), 4) if recalls else None,
        "abstention_precision": round(len(both) / len(predicted_abstain), 4)
        if predicted_abstain
        else 0.0,
        "abstention_recall": round(len(both) / len(expected_abstain), 4)
        if expected_abstain
        else 0.0,
        "latency_ms_p50": round(percentile(lat, 0.5), 2),
        "latency_ms_p95": round(percentile(lat, 0.95), 2),
        "prompt_tokens": tokens_in,
        "completion_tokens": tokens_out,
        "cost_usd": round(sum(c for c in costs if c is not None), 6)
        if any(c is not None for c in costs)
        else None,
        "errors": sum(1 for r in rows if r["error"]),
        "rows": rows,
    }
