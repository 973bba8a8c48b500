"""The reading set as an evaluation: every document answered on its own, as an uploaded
document would be, and judged by one contract.

Answerable: status ``answered`` and a quote overlapping the gold evidence.  Unanswerable:
status ``not_in_document``.  Claim pairs: the verifier's verdict against the label
(precision and recall of "supported").  Rows of the sealed split carry ids, tags and
verdicts only: no question, answer or document text leaves this module for them.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

from assistant.core import Assistant
from assistant.eval.reading import ReadingDoc
from assistant.eval.run import NaiveBaseline, percentile
from assistant.types import Answer
from index.settings import PRESETS, Settings

#: The systems compared: how each is made from the base settings.
SYSTEMS: dict[str, Callable[[Settings], Settings] | None] = {
    "default": lambda s: s,
    "gated": lambda s: s.replace(**PRESETS["gated"]),
    "rules": lambda s: s.replace(**PRESETS["rules"]),
    "naive-keyword": None,
    "always-abstain": None,
}


def spans(text: str, pieces: list[str]) -> list[tuple[int, int]]:
    """Every occurrence of each verbatim piece (gold evidence may repeat in a document)."""
    out = []
    for piece in pieces:
        start = text.find(piece)
        while start >= 0:
            out.append((start, start + len(piece)))
            start = text.find(piece, start + 1)
    return out


def correct(question: dict, answer: Answer, text: str) -> bool:
    if not question["answerable"]:
        return answer.status == "not_in_document"
    if answer.status != "answered":
        return False
    gold = spans(text, question.get("evidence") or [])
    return any(q.start < e and s < q.end for q in answer.quotes for s, e in gold)


def abstain(question: str) -> Answer:
    return Answer(question, "not_in_document", "The document does not say.", [], [], "abstain")


def run_split(
    docs: list[ReadingDoc],
    base: Settings,
    systems: list[str],
    cache: Path,
    progress: bool = True,
) -> dict:
    """Each system over every document of the split: rows and summaries."""
    from tqdm.auto import tqdm

    rows: dict[str, list[dict]] = defaultdict(list)
    claims: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    total = sum(len(d.questions) for d in docs) * len(systems)
    bar = tqdm(total=total, desc="reading set", unit="q", disable=not progress)
    for doc in docs:
        settings = base.replace(index={"cache_dir": str(cache)})
        bots: dict[str, Assistant] = {}
        for name in systems:
            make = SYSTEMS[name]
            derived = make(settings) if make else settings.replace(answering={"method": "rules"})
            bots[name] = Assistant(doc.path, backend="extractive", settings=derived)
        text = bots[systems[0]].document.text
        naive = NaiveBaseline(bots[systems[0]]) if "naive-keyword" in systems else None
        for name, bot in bots.items():
            ask = {
                "naive-keyword": naive.ask if naive else None,
                "always-abstain": abstain,
            }.get(name, bot.ask)
            for q in doc.questions:
                t0 = time.perf_counter()
                answer = ask(q["question"])
                ms = (time.perf_counter() - t0) * 1000
                row = {
                    "system": name,
                    "document": doc.slug,
                    "id": q["id"],
                    "answerable": q["answerable"],
                    "kind": q.get("kind") or q.get("tag"),
                    "tag": q.get("tag"),
                    "status": answer.status,
                    "correct": correct(q, answer, text),
                    "latency_ms": round(ms, 2),
                }
                if not doc.sealed:
                    row["question"] = q["question"]
                    row["answer"] = answer.text
                rows[name].append(row)
                bar.update(1)
            if name in ("default", "rules"):
                for c in doc.claims:
                    verdict = bot.verifier.check(c["claim"], c["evidence"], bot.document)
                    claims[name].append((verdict.supported, bool(c["supported"])))
    bar.close()
    return {
        "documents": len(docs),
        "systems": [summarise(name, rows[name], claims.get(name)) for name in systems],
        "rows": [r for name in systems for r in rows[name]],
    }


def summarise(name: str, rows: list[dict], claims: list[tuple[bool, bool]] | None) -> dict:
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    by_tag: dict[str, list[bool]] = defaultdict(list)
    by_kind: dict[str, list[bool]] = defaultdict(list)
    for r in unanswerable:
        by_tag[r["tag"]].append(r["correct"])
    for r in answerable:
        by_kind[r["kind"]].append(r["correct"])
    lat = [r["latency_ms"] for r in rows]
    out = {
        "system": name,
        "questions": len(rows),
        "overall": _share(r["correct"] for r in rows),
        "answerable": _share(r["correct"] for r in answerable),
        "unanswerable": _share(r["correct"] for r in unanswerable),
        "answerable_n": len(answerable),
        "unanswerable_n": len(unanswerable),
        "unanswerable_by_tag": {t: _share(v) for t, v in sorted(by_tag.items())},
        "answerable_by_kind": {k: _share(v) for k, v in sorted(by_kind.items())},
        "latency_ms_p50": round(percentile(lat, 0.5), 2),
        "latency_ms_p95": round(percentile(lat, 0.95), 2),
        "latency_ms_mean": round(statistics.mean(lat), 2) if lat else 0.0,
    }
    if claims:
        tp = sum(p and t for p, t in claims)
        fp = sum(p and not t for p, t in claims)
        fn = sum(not p and t for p, t in claims)
        out["claims"] = {
            "pairs": len(claims),
            "precision": round(tp / max(1, tp + fp), 4),
            "recall": round(tp / max(1, tp + fn), 4),
            "accuracy": round(sum(p == t for p, t in claims) / len(claims), 4),
        }
    return out


def _share(values) -> float:
    values = list(values)
    return round(sum(values) / len(values), 4) if values else 0.0


def report_lines(title: str, result: dict) -> list[str]:
    systems = result["systems"]
    lines = [
        f"## {title} ({result['documents']} documents, {systems[0]['questions']} questions)",
        "",
        "| system | overall | answerable | unanswerable | claim P | claim R | p50 ms | p95 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in systems:
        c = s.get("claims") or {}
        lines.append(
            f"| {s['system']} | {s['overall']:.1%} | {s['answerable']:.1%} "
            f"({s['answerable_n']}) | {s['unanswerable']:.1%} ({s['unanswerable_n']}) | "
            f"{c.get('precision', float('nan')):.3f} | {c.get('recall', float('nan')):.3f} | "
            f"{s['latency_ms_p50']} | {s['latency_ms_p95']} |"
        )
    lines += _breakdown(
        "Unanswerable, by how the question was made:", "tag", "unanswerable_by_tag", systems
    )
    lines += _breakdown("Answerable, by kind:", "kind", "answerable_by_kind", systems)
    return lines


def _breakdown(heading: str, label: str, key: str, systems: list[dict]) -> list[str]:
    """One table: a row per value of ``key``'s breakdown, a column per system."""
    rows = sorted({r for s in systems for r in s[key]})
    lines = ["", heading, "", f"| {label} | " + " | ".join(s["system"] for s in systems) + " |"]
    lines.append("|---|" + "---:|" * len(systems))
    for r in rows:
        lines.append(f"| {r} | " + " | ".join(f"{s[key].get(r, 0.0):.0%}" for s in systems) + " |")
    return lines


def plot(path: Path, results: dict[str, dict]) -> None:
    """Bars per system: overall / answerable / unanswerable for each evaluated set, and the
    unanswerable questions by tag for the first set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, axes = plt.subplots(1, len(names) + 1, figsize=(6 * (len(names) + 1), 4.8))
    for ax, name in zip(axes, names, strict=False):
        systems = results[name]["systems"]
        metrics = ["overall", "answerable", "unanswerable"]
        width = 0.8 / len(systems)
        for i, s in enumerate(systems):
            ax.bar(
                [x + i * width for x in range(len(metrics))],
                [s[m] for m in metrics],
                width,
                label=s["system"],
            )
        ax.set_xticks([x + 0.4 - width / 2 for x in range(len(metrics))], metrics)
        ax.set_ylim(0, 1.05)
        ax.axhline(0.8, color="grey", lw=0.8, ls="--")
        ax.set_title(name)
        ax.legend(fontsize=8)
    first = results[names[0]]["systems"]
    tags = sorted({t for s in first for t in s["unanswerable_by_tag"]})
    ax = axes[-1]
    width = 0.8 / len(first)
    for i, s in enumerate(first):
        ax.bar(
            [x + i * width for x in range(len(tags))],
            [s["unanswerable_by_tag"].get(t, 0.0) for t in tags],
            width,
            label=s["system"],
        )
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(tags))], tags, rotation=40, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"{names[0]}: unanswerable by tag")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def tag_counts(rows: list[dict], system: str) -> Counter:
    """Wrong answers of one system, by tag (unanswerable) or kind (answerable)."""
    return Counter(
        r["tag"] or r["kind"] for r in rows if r["system"] == system and not r["correct"]
    )
