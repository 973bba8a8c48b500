"""The LLM path against a real local model server: every question of a set answered by the
model, and what the verifier made of it.

``python -m assistant.eval.llm_run`` starts llama-cpp-python's server with the packaged
gemma-3-270m base model (the ``local`` extra), answers the article's dev questions through
the real ``openai`` client, streaming, and prints: how many answers came from the model,
the quotes it offered and the verifier removed, the claims marked unsupported, and the
median and worst answer times.  The tests run the same function and assert on its rows.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.answerers import Answerer
from assistant.eval.run import DATA, load_jsonl
from assistant.types import Answer, Draft

if TYPE_CHECKING:
    from assistant.core import Assistant
    from assistant.retrieve import Retrieval


class Recording(Answerer):
    """An answerer that passes everything through and keeps each draft, so a run can
    compare what the model offered with what reached the user."""

    def __init__(self, inner: Answerer) -> None:
        self.inner = inner
        self.name = inner.name
        self.drafts: list[Draft] = []

    @property
    def label(self) -> str:  # type: ignore[override]
        return self.inner.label

    def answer(
        self, question: str, retrieval: Retrieval, history: Sequence[dict] = ()
    ) -> Iterator[str | Draft]:
        for item in self.inner.answer(question, retrieval, history):
            if isinstance(item, Draft):
                self.drafts.append(item)
            yield item

    def rewrite(self, question: str, history: Sequence[dict]) -> str | None:
        return self.inner.rewrite(question, history)

    def close(self) -> None:
        self.inner.close()


@dataclass
class Row:
    """One question: the model's draft (None when it failed), the answer, the time."""

    id: str
    question: str
    answer: Answer
    draft: Draft | None
    seconds: float
    deltas: int  # text pieces streamed before the answer
    offered: list[str] = field(default_factory=list)  # every quote string the model offered
    invented: list[str] = field(default_factory=list)  # offered, but not in the document


def _squash(text: str) -> str:
    return " ".join(text.split())


def run(bot: Assistant, questions: Sequence[dict], progress: bool = False) -> list[Row]:
    """Ask each question through ``bot.stream`` (as the page does) with a recording answerer."""
    recording = Recording(bot.answerer)
    llm = bot.with_answerer(recording)
    document = _squash(bot.document.text) if bot.document else ""
    rows: list[Row] = []
    items = questions
    if progress:
        from tqdm import tqdm

        items = tqdm(questions, desc="model answers", unit="question", file=sys.stderr)
    for q in items:
        before = len(recording.drafts)
        started = time.perf_counter()
        deltas, answer = 0, None
        for item in llm.stream(q["question"]):
            if isinstance(item, Answer):
                answer = item
            else:
                deltas += 1
        assert answer is not None
        seconds = time.perf_counter() - started
        draft = recording.drafts[-1] if len(recording.drafts) > before else None
        offered = [quote for c in (draft.claims if draft else []) for quote in c.quotes]
        invented = [quote for quote in offered if _squash(quote) not in document]
        rows.append(
            Row(q.get("id", ""), q["question"], answer, draft, seconds, deltas, offered, invented)
        )
    return rows


def summary(rows: Sequence[Row]) -> dict:
    """The figures a closing note gives."""
    times = sorted(r.seconds for r in rows)
    claims = [c for r in rows for c in r.answer.claims]
    return {
        "questions": len(rows),
        "from_model": sum(r.answer.backend == "openai" and r.draft is not None for r in rows),
        "fallbacks": sum(r.answer.backend != "openai" for r in rows),
        "output_modes": sorted({r.answer.output_mode for r in rows if r.answer.output_mode}),
        "model_status": {
            s: sum(r.draft is not None and r.draft.status == s for r in rows)
            for s in ("answered", "not_in_document")
        },
        "answer_status": {
            s: sum(r.answer.status == s for r in rows) for s in ("answered", "not_in_document")
        },
        "quotes_offered": sum(len(r.offered) for r in rows),
        # offered strings not verbatim in the document; the verifier removes them or, for a
        # near miss, shows the document's own words instead
        "quotes_not_verbatim": sum(len(r.invented) for r in rows),
        "quotes_removed_by_verifier": sum(r.answer.removed_quotes for r in rows),
        "not_verbatim_quotes_shown": sum(
            any(_squash(q.text) == _squash(i) for q in r.answer.quotes for i in r.invented)
            for r in rows
        ),
        "claims": len(claims),
        "claims_unsupported": sum(not c.supported for c in claims),
        "claims_without_quote": sum(not c.quotes for c in claims),
        "claims_without_quote_marked_supported": sum(c.supported and not c.quotes for c in claims),
        "answers_cut_off_at_cap": sum(
            any("cut off" in n for n in (r.draft.notices if r.draft else [])) for r in rows
        ),
        "streamed_answers": sum(r.deltas > 0 for r in rows),
        "median_s": round(statistics.median(times), 2) if times else None,
        "p90_s": round(times[int(0.9 * (len(times) - 1))], 2) if times else None,
        "worst_s": round(times[-1], 2) if times else None,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m assistant.eval.llm_run", description=__doc__)
    ap.add_argument("--questions", type=Path, default=DATA / "questions.jsonl")
    ap.add_argument("--limit", type=int, default=None, help="only the first N questions")
    ap.add_argument("--out", type=Path, default=None, help="write the rows and figures (JSON)")
    args = ap.parse_args(argv)

    from assistant.core import Assistant
    from assistant.local_model import LocalModelServer

    questions = load_jsonl(args.questions)[: args.limit]
    with LocalModelServer() as server:
        bot = Assistant(settings=server.settings())
        rows = run(bot, questions, progress=True)
    figures = summary(rows)
    print(json.dumps(figures, indent=2))
    if args.out:
        args.out.write_text(
            json.dumps(
                {
                    "summary": figures,
                    "rows": [
                        {
                            "id": r.id,
                            "question": r.question,
                            "seconds": round(r.seconds, 2),
                            "draft": asdict(r.draft) if r.draft else None,
                            "answer": r.answer.to_full_dict(),
                            "invented": r.invented,
                        }
                        for r in rows
                    ],
                },
                indent=1,
                ensure_ascii=False,
            ),
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
