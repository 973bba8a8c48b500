"""Readable outputs of an evaluation: a Markdown report and a PNG plot."""

from __future__ import annotations

from pathlib import Path


def write_report(path: Path, summary: dict, systems: list[dict]) -> None:
    k = summary["k"]
    lines = [
        "# Evaluation report",
        "",
        f"Questions: `{summary['questions_file']}` · backend: {summary['backend']} · k = {k}",
        "",
        "| system | pass | quote validity | recall@k | abstention P | abstention R "
        "| p50 ms | p95 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in summary["systems"]:
        recall = s.get(f"retrieval_recall_at_{k}")
        lines.append(
            f"| {s['system']} | {s['pass_rate']:.1%} | {s['quote_validity']:.1%} | "
            f"{'' if recall is None else f'{recall:.2f}'} | {s['abstention_precision']:.2f} | "
            f"{s['abstention_recall']:.2f} | {s['latency_ms_p50']} | {s['latency_ms_p95']} |"
        )
    head = summary["systems"][0]
    if head["prompt_tokens"] or head["completion_tokens"]:
        cost = head["cost_usd"]
        lines += [
            "",
            f"Tokens ({head['system']}): {head['prompt_tokens']} prompt, "
            f"{head['completion_tokens']} completion; cost: "
            + ("unknown (model price not known)" if cost is None else f"${cost:.4f}"),
        ]
    cats = sorted(head["pass_rate_by_category"])
    lines += [
        "",
        "## Pass rate by category",
        "",
        "| category | " + " | ".join(s["system"] for s in summary["systems"]) + " |",
    ]
    lines.append("|---|" + "---|" * len(summary["systems"]))
    for c in cats:
        vals = [s["pass_rate_by_category"].get(c, 0.0) for s in summary["systems"]]
        lines.append(f"| {c} | " + " | ".join(f"{v:.0%}" for v in vals) + " |")
    lines += ["", "## Claim verification on labelled pairs", ""]
    for label, key in (("development", "claim_support"), ("held-out", "claim_support_heldout")):
        claims = summary.get(key)
        if claims:
            lines.append(
                f"- {label}: {claims['pairs']} pairs, precision {claims['precision']:.3f}, recall "
                f"{claims['recall']:.3f} (tp {claims['tp']}, fp {claims['fp']}, "
                f"fn {claims['fn']}, tn {claims['tn']})"
            )
    failures = [r for r in systems[0]["rows"] if not r["passed"]]
    lines += ["", f"## Failures of {head['system']} ({len(failures)})", ""]
    for r in failures:
        lines.append(f"- `{r['id']}` {r['question']} — {'; '.join(r['reasons'])}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_plot(path: Path, systems: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cats = sorted(systems[0]["pass_rate_by_category"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 5), gridspec_kw={"width_ratios": [3, 1]})
    width = 0.8 / len(systems)
    for i, s in enumerate(systems):
        vals = [s["pass_rate_by_category"].get(c, 0.0) for c in cats]
        ax1.bar([x + i * width for x in range(len(cats))], vals, width, label=s["system"])
    ax1.set_xticks([x + 0.4 - width / 2 for x in range(len(cats))], cats, rotation=40, ha="right")
    ax1.set_ylim(0, 1.05)
    ax1.set_ylabel("pass rate")
    ax1.set_title("Pass rate by category")
    ax1.legend(fontsize=8)
    ax2.boxplot([[r["latency_ms"] for r in s["rows"]] for s in systems], showfliers=False)
    ax2.set_xticks(
        range(1, len(systems) + 1), [s["system"] for s in systems], rotation=40, ha="right"
    )
    ax2.set_ylabel("latency (ms)")
    ax2.set_title("Latency per question")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
