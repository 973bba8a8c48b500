"""``python -m assistant.eval``: run a question set and write results, summary, report, plot."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

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
    ap.add_argument("--document", type=Path, default=None)
    ap.add_argument("--model", default=None)
    ap.add_argument("--base-url", default=None)
    ap.add_argument("--api-key", default=None)
    ap.add_argument("--k", type=int, default=None, help="retrieval depth (default: settings)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N questions")
    ap.add_argument("--no-compare", action="store_true", help="skip the ablation systems")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)

    from assistant.core import Assistant
    from index.settings import Settings

    settings = Settings.load(args.settings) if args.settings else Settings.from_env()
    args.k = args.k or settings.retrieval.k
    items = load_jsonl(args.questions)[: args.limit]
    options = dict(
        model=args.model, base_url=args.base_url, api_key=args.api_key, settings=settings
    )
    full = Assistant(args.document, backend=args.backend, k=args.k, **options)
    progress = not args.quiet
    systems = [run_system(f"full ({args.backend})", full.ask, full, items, args.k, progress)]
    if not args.no_compare:
        for mode in ("bm25", "dense"):
            bot = Assistant(
                args.document, backend=args.backend, retrieval=mode, k=args.k, **options
            )
            systems.append(run_system(f"{mode}-only", bot.ask, bot, items, args.k, progress))
        naive = NaiveBaseline(full)
        systems.append(run_system(NaiveBaseline.name, naive.ask, full, items, args.k, progress))
    pairs = load_jsonl(args.pairs) if args.pairs.exists() else []
    claims = claim_support_metrics(full, pairs) if pairs else None
    held = load_jsonl(args.pairs_heldout) if args.pairs_heldout.exists() else []
    claims_heldout = claim_support_metrics(full, held) if held else None

    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "results.jsonl").open("w", encoding="utf-8") as fh:
        for system in systems:
            for row in system["rows"]:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    summary = {
        "questions_file": str(args.questions),
        "backend": args.backend,
        "k": args.k,
        "systems": [{k: v for k, v in s.items() if k != "rows"} for s in systems],
        "settings": settings.to_dict(),
        "claim_support": claims,
        "claim_support_heldout": claims_heldout,
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    write_report(args.out / "report.md", summary, systems)
    write_plot(args.out / "report.png", systems)
    head = summary["systems"][0]
    print(
        f"{head['system']}: pass {head['pass_rate']:.1%} · quote validity "
        f"{head['quote_validity']:.1%} · abstention P/R {head['abstention_precision']:.2f}/"
        f"{head['abstention_recall']:.2f} · p50 {head['latency_ms_p50']} ms"
    )
    for s in summary["systems"][1:]:
        print(f"{s['system']}: pass {s['pass_rate']:.1%}")
    for label, c in (("claim support", claims), ("claim support (held-out)", claims_heldout)):
        if c:
            print(f"{label}: precision {c['precision']:.3f} recall {c['recall']:.3f}")
    print(f"wrote {args.out}/report.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
