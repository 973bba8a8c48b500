"""``python -m assistant.eval``: the article's question set and the reading set, side by side.

Systems: the full assistant with its backend (offline: the ``reader`` preset by default),
the ``gated`` and ``rules`` presets, the best keyword-overlap sentence and
"always the document does not say"; ``--ablations`` adds BM25-only and dense-only
retrieval.  Writes results, summary, report and plots to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from assistant.eval.reading import ROOT as READING_ROOT
from assistant.eval.reading import load_set
from assistant.eval.reading_eval import SYSTEMS, abstain, plot, report_lines, run_split
from assistant.eval.report import write_plot, write_report
from assistant.eval.run import DATA, NaiveBaseline, claim_support_metrics, load_jsonl, run_system


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m assistant.eval", description=__doc__)
    ap.add_argument("--questions", type=Path, default=DATA / "questions.jsonl")
    ap.add_argument("--pairs", type=Path, default=DATA / "claim_pairs.jsonl")
    ap.add_argument("--pairs-heldout", type=Path, default=DATA / "claim_pairs_heldout.jsonl")
    ap.add_argument("--out", type=Path, required=True, help="folder for the outputs")
    ap.add_argument("--backend", default="extractive", help="extractive, openai or a plug-in")
    ap.add_argument(
        "--settings", type=Path, default=None, help="a TOML or JSON settings file (see Settings)"
    )
    ap.add_argument("--preset", default=None, help="named settings: gated, reader or rules")
    ap.add_argument("--document", type=Path, default=None)
    ap.add_argument("--model", default=None)
    ap.add_argument("--base-url", default=None)
    ap.add_argument("--api-key", default=None)
    ap.add_argument("--k", type=int, default=None, help="retrieval depth (default: settings)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N questions")
    ap.add_argument(
        "--reading",
        choices=["test", "dev", "none"],
        default="test",
        help="which reading-set split to evaluate too (test: the sealed documents)",
    )
    ap.add_argument("--no-compare", action="store_true", help="the full system alone")
    ap.add_argument("--ablations", action="store_true", help="also BM25-only and dense-only")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)

    from assistant.core import Assistant
    from index.settings import Settings

    if args.settings:
        settings = Settings.load(args.settings)
    else:
        settings = Settings.preset(args.preset) if args.preset else Settings.from_env()
    args.k = args.k or settings.retrieval.k
    items = load_jsonl(args.questions)[: args.limit]
    options = dict(model=args.model, base_url=args.base_url, api_key=args.api_key)
    full = Assistant(args.document, backend=args.backend, k=args.k, settings=settings, **options)
    progress = not args.quiet
    head = f"full ({args.backend})"
    systems = [run_system(head, full.ask, full, items, args.k, progress)]
    rules = None
    if not args.no_compare:
        rules_settings = SYSTEMS["rules"](settings)
        rules = Assistant(args.document, backend="extractive", k=args.k, settings=rules_settings)
        systems.append(run_system("rules", rules.ask, rules, items, args.k, progress))
        if args.backend == "extractive" and settings.answering.method != "gated":
            gated = Assistant(
                args.document, backend="extractive", k=args.k, settings=SYSTEMS["gated"](settings)
            )
            systems.append(run_system("gated", gated.ask, gated, items, args.k, progress))
        naive = NaiveBaseline(full)
        systems.append(run_system(NaiveBaseline.name, naive.ask, full, items, args.k, progress))
        systems.append(run_system("always-abstain", abstain, full, items, args.k, progress))
    if args.ablations:
        for mode in ("bm25", "dense"):
            bot = Assistant(
                args.document, backend=args.backend, retrieval=mode, k=args.k, settings=settings
            )
            systems.append(run_system(f"{mode}-only", bot.ask, bot, items, args.k, progress))
    claim_sets = {}
    for key, path in (("claim_support", args.pairs), ("claim_support_heldout", args.pairs_heldout)):
        pairs = load_jsonl(path) if path.exists() else []
        if pairs:
            claim_sets[key] = claim_support_metrics(full, pairs)
            if rules is not None:
                claim_sets[f"{key}_rules"] = claim_support_metrics(rules, pairs)

    reading = None
    if args.reading != "none":
        split = args.reading
        docs = load_set(READING_ROOT, (split,))
        names = ["default"] if args.no_compare else list(SYSTEMS)
        with tempfile.TemporaryDirectory(prefix="eval-reading-") as cache:
            reading = run_split(docs, settings, names, Path(cache), progress)
        reading["split"] = split

    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "results.jsonl").open("w", encoding="utf-8") as fh:
        for system in systems:
            for row in system["rows"]:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    summary = {
        "questions_file": str(args.questions),
        "backend": args.backend,
        "k": args.k,
        "settings": settings.to_dict(),
        "systems": [{k: v for k, v in s.items() if k != "rows"} for s in systems],
        **claim_sets,
    }
    if reading is not None:
        with (args.out / "reading.jsonl").open("w", encoding="utf-8") as fh:
            for row in reading["rows"]:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        summary["reading"] = {k: v for k, v in reading.items() if k != "rows"}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    write_report(args.out / "report.md", summary, systems)
    write_plot(args.out / "report.png", systems)
    if reading is not None:
        title = f"Reading set, {reading['split']} split"
        extra = report_lines(title, reading)
        with (args.out / "report.md").open("a", encoding="utf-8") as fh:
            fh.write("\n" + "\n".join(extra) + "\n")
        plot(args.out / "reading.png", {title: reading})
    first = summary["systems"][0]
    print(
        f"{first['system']}: pass {first['pass_rate']:.1%} · quote validity "
        f"{first['quote_validity']:.1%} · abstention P/R {first['abstention_precision']:.2f}/"
        f"{first['abstention_recall']:.2f} · p50 {first['latency_ms_p50']} ms"
    )
    for s in summary["systems"][1:]:
        print(f"{s['system']}: pass {s['pass_rate']:.1%}")
    for key, c in claim_sets.items():
        print(f"{key}: precision {c['precision']:.3f} recall {c['recall']:.3f}")
    if reading is not None:
        for s in reading["systems"]:
            c = s.get("claims")
            tail = f" · claims P/R {c['precision']:.3f}/{c['recall']:.3f}" if c else ""
            print(
                f"reading {reading['split']} {s['system']}: overall {s['overall']:.1%} · "
                f"answerable {s['answerable']:.1%} · unanswerable {s['unanswerable']:.1%} · "
                f"p50 {s['latency_ms_p50']} ms{tail}"
            )
    print(f"wrote {args.out}/report.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
