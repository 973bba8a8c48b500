"""Record every answer of the article's question sets, to compare two versions of the code.

    python benchmarks/answers_snapshot.py record OUT.jsonl [--corpus-size 100]
    python benchmarks/answers_snapshot.py diff BEFORE.jsonl AFTER.jsonl

``record`` asks every question of ``tests/data/questions*.jsonl`` of the article alone, of
the article among generated articles (``benchmarks/corpus_gen.py``), and through the OpenAI
backend against the scripted stand-in server (single and corpus), and writes one line per
answer (``Answer.to_dict()``) plus one per claim pair (the verifier's verdict).  ``diff``
lists what changed; quote ``document_id`` values are compared as they are (content hashes).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks"), str(ROOT / "tests")]
DATA = ROOT / "tests" / "data"
SETS = ("questions.jsonl", "questions_heldout.jsonl", "questions_train.jsonl")
PAIRS = ("claim_pairs.jsonl", "claim_pairs_heldout.jsonl")


def _items(name: str) -> list[dict]:
    path = DATA / name
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def record(out: Path, corpus_size: int) -> None:
    from corpus_gen import write_corpus
    from scripted_server import ScriptedServer, first_passage_responder
    from tqdm.auto import tqdm

    from assistant.core import Assistant, default_document
    from assistant.eval.run import claim_support_metrics

    work = Path(tempfile.mkdtemp(prefix="snapshot-"))
    try:
        docs = work / "docs"
        write_corpus(docs, corpus_size - 1, start=1)
        shutil.copy(default_document(), docs / "article-00000.txt")
        cache = work / "cache"
        with ScriptedServer(responder=first_passage_responder) as server:
            llm = dict(backend="openai", base_url=server.url, api_key="sk-snapshot", max_retries=0)
            configs = {
                "single": Assistant(backend="extractive", cache_dir=cache),
                "corpus": Assistant(documents=docs, backend="extractive", cache_dir=cache),
                "single-openai": Assistant(cache_dir=cache, **llm),
                "corpus-openai": Assistant(documents=docs, cache_dir=cache, **llm),
            }
            with out.open("w", encoding="utf-8") as fh:
                for config, bot in configs.items():
                    for name in SETS:
                        items = _items(name)
                        if config.endswith("openai") and name != "questions.jsonl":
                            continue  # the stand-in model's path: one set is enough
                        for item in tqdm(items, desc=f"{config} {name}", unit="q"):
                            answer = bot.ask(item["question"])
                            row = {
                                "config": config,
                                "set": name,
                                "id": item["id"],
                                "answer": answer.to_dict(),
                            }
                            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                single = configs["single"]
                for name in PAIRS:
                    metrics = claim_support_metrics(single, _items(name))
                    row = {"config": "claims", "set": name, "id": "metrics", "answer": metrics}
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def diff(before: Path, after: Path) -> int:
    def load(path: Path) -> dict:
        rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
        for r in rows:  # a verdict's reason is wording (a code since the reasons became codes)
            for m in r["answer"].get("mistakes", []) if r["config"] == "claims" else []:
                m.pop("reason", None)
        return {(r["config"], r["set"], r["id"]): r["answer"] for r in rows}

    a, b = load(before), load(after)
    changed = 0
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            changed += 1
            print(f"--- {key}")
            print(f"  before: {json.dumps(a.get(key), ensure_ascii=False)[:1500]}")
            print(f"  after:  {json.dumps(b.get(key), ensure_ascii=False)[:1500]}")
    configs = sorted({k[0] for k in a})
    print(f"{changed} of {len(set(a) | set(b))} answers differ ({', '.join(configs)})")
    return 1 if changed else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("out", type=Path)
    r.add_argument("--corpus-size", type=int, default=100)
    d = sub.add_parser("diff")
    d.add_argument("before", type=Path)
    d.add_argument("after", type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "record":
        record(args.out, args.corpus_size)
        return 0
    return diff(args.before, args.after)


if __name__ == "__main__":
    sys.exit(main())
