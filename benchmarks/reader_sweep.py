"""Choose the reader's threshold and the rules that stay beside it, on dev data only.

    python benchmarks/reader_sweep.py [--model FOLDER] [--out sweep.json]

For every question of the reading set's dev split and of the article's development set
(``tests/data/questions.jsonl``) it records, once: the candidates retrieval offers, the
reader's probability for each, what each rule would decide, and which candidates
overlap the gold evidence.  Then it replays the offline answerer's decision for every
threshold, runner-up share and set of rules (the ``reader`` method), and for every gate
floor (the ``gated`` method: the hand-written answerer, stopped when no candidate reaches
the floor), and prints the tables the settings' defaults were chosen from (the sealed
test split is never read).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.core import Assistant  # noqa: E402
from assistant.eval.reading import ROOT as READING  # noqa: E402
from assistant.eval.reading import load_set  # noqa: E402
from assistant.eval.reading_eval import spans  # noqa: E402
from assistant.extractive import UNGATED, Scored  # noqa: E402
from assistant.reader import Reader  # noqa: E402
from index.settings import Settings  # noqa: E402

RULES = ("footnotes", "missing_names", "typed", "relation")


@dataclass
class Case:
    source: str  # "reading" or "article"
    answerable: bool
    tag: str
    probs: list[float]  # per candidate, in retrieval order
    gold: list[bool]  # per candidate: overlaps the gold evidence
    fired: dict[str, bool]  # rule -> abstains (or, for footnotes, decides)
    footnote_correct: bool  # when the footnote rule decides: is its answer right?
    rules_answered: bool = False  # the hand-written answerer answers
    rules_correct: bool = False  # ... and is right (answered with a gold quote / abstained)
    ungated: bool = False  # the rules quote a label (title, heading, caption), not judged


def _overlap(passage, spans) -> bool:
    return any(passage.start < e and s < passage.end for s, e in spans)


def cases_for(bot: Assistant, reader: Reader, questions: list[dict], source: str) -> list[Case]:
    doc = bot.document
    answerer = bot.offline.for_document(doc)
    out = []
    for q in questions:
        retrieval = bot.retrieve(q["question"])
        own = retrieval.per_document[0]
        passages = [h.passage for h in own.hits]
        probs = [float(p) for p in reader.answers(q["question"], passages, doc)]
        gold_spans = spans(doc.text, q["evidence"]) if q["answerable"] else []
        gold = [_overlap(p, gold_spans) for p in passages]
        order = sorted(range(len(passages)), key=lambda i: -probs[i])
        scored = [Scored(own.hits[i], own.coverage[passages[i].id], probs[i]) for i in order]
        missing = own.missing_entities
        only_years = all(t.kind == "number" for t in missing)
        typed, _ = answerer._typed(own, scored) if scored else ([], None)
        footnote = answerer._footnote_question(q["question"])
        footnote_ok = False
        if footnote is not None:
            if not q["answerable"]:
                footnote_ok = footnote.status == "not_in_document"
            else:
                quoted = [doc.text.find(c.quotes[0]) for c in footnote.claims]
                found = [
                    (s, s + len(c.quotes[0])) for s, c in zip(quoted, footnote.claims, strict=True)
                ]
                footnote_ok = footnote.status == "answered" and any(
                    a < e and s < b for a, b in found for s, e in gold_spans
                )
        fired = {
            "footnotes": footnote is not None,
            "missing_names": bool(missing)
            and not (only_years and scored and answerer._dated_match(own, scored[0])),
            "typed": bool(scored) and not typed,
            "relation": bool(scored) and answerer._relation_unmet(own, scored) is not None,
        }
        ruled = answerer._by_rules(own, True, answerer._footnote_question(q["question"]))
        quoted = [(doc.text.find(t), len(t)) for c in ruled.claims for t in c.quotes]
        hit = any(s >= 0 and s < e and a < s + n for s, n in quoted for a, e in gold_spans)
        answered = ruled.status == "answered"
        labels = {h.passage.text for h in own.hits if h.passage.section in UNGATED}
        out.append(
            Case(
                source,
                q["answerable"],
                q.get("tag") or "",
                probs,
                gold,
                fired,
                footnote_ok,
                rules_answered=answered,
                rules_correct=(answered and hit) if q["answerable"] else not answered,
                ungated=answered and any(t in labels for c in ruled.claims for t in c.quotes),
            )
        )
    return out


def decide_gated(case: Case, floor: float) -> bool:
    """The ``gated`` method: the rules answer unless no candidate reaches ``floor``."""
    if case.fired["footnotes"]:
        return case.footnote_correct
    if not case.rules_answered or case.ungated:
        return case.rules_correct
    if not case.probs or max(case.probs) < floor:
        return not case.answerable
    return case.rules_correct


def decide(case: Case, rules: tuple[str, ...], threshold: float, ratio: float) -> bool:
    """Is the answerer right on this case with these settings?"""
    if "footnotes" in rules and case.fired["footnotes"]:
        return case.footnote_correct
    if any(case.fired[r] for r in rules if r != "footnotes") or not case.probs:
        return not case.answerable
    top = max(case.probs)
    if top < threshold:
        return not case.answerable
    if not case.answerable:
        return False
    floor = max(threshold, ratio * top)
    picked = sorted(
        (i for i, p in enumerate(case.probs) if p >= floor), key=lambda i: -case.probs[i]
    )
    return any(case.gold[i] for i in picked[:3])


def score(cases: list[Case], rules, threshold, ratio) -> dict:
    right = [decide(c, rules, threshold, ratio) for c in cases]
    a = [r for r, c in zip(right, cases, strict=True) if c.answerable]
    u = [r for r, c in zip(right, cases, strict=True) if not c.answerable]
    return {
        "overall": round(sum(right) / max(1, len(right)), 4),
        "answerable": round(sum(a) / max(1, len(a)), 4),
        "unanswerable": round(sum(u) / max(1, len(u)), 4),
    }


def ceiling(cases: list[Case]) -> dict:
    """Where the reader's errors come from: how often retrieval offers a gold passage at
    all, how often the reader ranks one first, and how well its best probability tells
    answerable questions from the rest (AUC)."""
    from sklearn.metrics import roc_auc_score

    answerable = [c for c in cases if c.answerable and c.probs]
    offered = [c for c in answerable if any(c.gold)]
    first = [c for c in offered if c.gold[max(range(len(c.probs)), key=c.probs.__getitem__)]]
    judged = [c for c in cases if c.probs]
    auc = roc_auc_score([c.answerable for c in judged], [max(c.probs) for c in judged])
    return {
        "gold_offered": round(len(offered) / max(1, len(answerable)), 4),
        "gold_ranked_first": round(len(first) / max(1, len(answerable)), 4),
        "auc_best_probability": round(float(auc), 4),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    reader = Reader(args.model)
    base = Settings().replace(answering={"method": "rules"}, verification={"method": "rules"})
    cases: list[Case] = []
    with tempfile.TemporaryDirectory(prefix="sweep-") as cache:
        settings = base.replace(index={"cache_dir": cache})
        for doc in load_set(READING, ("dev",)):
            bot = Assistant(doc.path, backend="extractive", settings=settings)
            cases += cases_for(bot, reader, doc.questions, "reading")
        article = [
            json.loads(x) for x in (ROOT / "tests/data/questions.jsonl").read_text().splitlines()
        ]
        article = [
            {
                "question": q["question"],
                "answerable": q["expected_status"] == "answered",
                "evidence": q["gold_evidence"],
                "tag": q["category"],
            }
            for q in article
        ]
        bot = Assistant(backend="extractive", settings=settings)
        cases += cases_for(bot, reader, article, "article")
    reading = [c for c in cases if c.source == "reading"]
    arts = [c for c in cases if c.source == "article"]
    for name, part in (("reading", reading), ("article", arts)):
        print(f"{name} dev, the reader's ceiling and ranking:", json.dumps(ceiling(part)))
    rows = []
    for n in range(len(RULES) + 1):
        for rules in itertools.combinations(RULES, n):
            for t in [x / 100 for x in range(5, 96, 5)]:
                for ratio in (0.3, 0.5, 0.7, 0.9):
                    rows.append(
                        {
                            "rules": list(rules),
                            "threshold": t,
                            "ratio": ratio,
                            "reading": score(reading, rules, t, ratio),
                            "article": score(arts, rules, t, ratio),
                        }
                    )
    rows.sort(key=lambda r: -r["reading"]["overall"])
    print("best on the reading dev split (article development set beside):")
    for r in rows[:15]:
        print(json.dumps(r))
    for rules in [(), *((r,) for r in RULES), RULES]:
        best = max(
            (r for r in rows if tuple(r["rules"]) == rules), key=lambda r: r["reading"]["overall"]
        )
        print("rules", rules, "best:", json.dumps(best))
    print("gated (the rules answer, the reader can stop them), by floor:")
    gated = []
    for floor in [0.0, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5]:
        row = {"floor": floor}
        for name, part in (("reading", reading), ("article", arts)):
            right = [decide_gated(c, floor) for c in part]
            a = [r for r, c in zip(right, part, strict=True) if c.answerable]
            u = [r for r, c in zip(right, part, strict=True) if not c.answerable]
            row[name] = {
                "overall": round(sum(right) / max(1, len(right)), 4),
                "answerable": round(sum(a) / max(1, len(a)), 4),
                "unanswerable": round(sum(u) / max(1, len(u)), 4),
            }
        row["mean"] = round((row["reading"]["overall"] + row["article"]["overall"]) / 2, 4)
        gated.append(row)
        print(json.dumps(row))
    a = Settings().answering
    rules = tuple(r for r in RULES if getattr(a, f"rule_{r}"))
    print(f"the default's rules {rules}, threshold {a.answer_threshold}, runner-up share")
    print(f"{a.reader_runner_up}, by how many candidates (best first) the reader reads:")
    by_candidates = []
    for n in range(3, 9):
        row = {"candidates": n}
        for name, part in (("reading", reading), ("article", arts)):
            cut = [dataclasses.replace(c, probs=c.probs[:n], gold=c.gold[:n]) for c in part]
            row[name] = score(cut, rules, a.answer_threshold, a.reader_runner_up)
        row["mean"] = round((row["reading"]["overall"] + row["article"]["overall"]) / 2, 4)
        by_candidates.append(row)
        print(json.dumps(row))
    if args.out:
        out = {"reader": rows, "gated": gated, "by_candidates": by_candidates}
        args.out.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
